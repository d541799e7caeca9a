package soft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"time"

	"github.com/brick-storage/brick/verbs"
)

// txState is owned by whoever holds QP.txMu (the send goroutine, or a
// poster transmitting small messages itself): the header and trailer of the
// FPDU being framed, the cork of small FPDUs not yet written, the batch of
// large ones and the outbound MSNs.
type txState struct {
	hdr     [mpaLenSize + untaggedHdrSize + readReqSize]byte
	trl     [3 + crcSize]byte
	term    [maxTermSize]byte
	cork    txCork
	batch   txBatch
	sendMSN uint32
	readMSN uint32
	termMSN uint32
	budget  int // txReceiver: bytes the socket takes without blocking
}

// Corking. Small FPDUs (a 4 KiB Write and the completion fence behind it,
// a Read Response and the Read Request that follows) are framed into a
// cork and written together when the sender runs out of work, or the cork
// fills: one system call where each FPDU cost one. On loopback a write is
// the costliest step of a small operation, since it runs the receiver's
// TCP input too. Payloads stay zero-copy: the cork holds the read lock of
// at most one region, whose payload it points into, until it is written.
const (
	// corkMax: payloads up to this many bytes are corked; longer ones
	// go in a txBatch of their own.
	corkMax = 4096
	// corkFPDUs bounds the FPDUs of one cork.
	corkFPDUs = 8
)

// txCork is the small FPDUs gathered for one writev.
type txCork struct {
	hdrs [corkFPDUs][mpaLenSize + untaggedHdrSize + readReqSize]byte
	trls [corkFPDUs][3 + crcSize]byte
	iov  [3 * corkFPDUs][]byte
	bufs net.Buffers
	n    int // FPDUs gathered
	m    *mr // region whose read lock the cork holds (a payload points into it)
}

// fpduBatch bounds the FPDUs of one message gathered into one writev:
// 16 × 64 KiB is 1 MiB and 48 iovecs. One system call per FPDU was the
// software RNIC's largest cost; a batch keeps the payloads zero-copy (the
// iovecs point into registered memory) while the region's read lock is
// held for one batch, which also bounds how long a Deregister waits.
const fpduBatch = 16

// txBatch is the FPDUs of one batch: headers and trailers live here, the
// payload iovecs point into registered memory.
type txBatch struct {
	hdrs [fpduBatch][mpaLenSize + untaggedHdrSize]byte
	trls [fpduBatch][3 + crcSize]byte
	iov  [3 * fpduBatch][]byte
	bufs net.Buffers
	n    int // FPDUs gathered
}

// nextHdr returns the header buffer of the batch's next FPDU, size bytes
// including the ULPDU_Length field.
func (b *txBatch) nextHdr(size int) []byte { return b.hdrs[b.n][:size] }

// full reports whether the batch holds fpduBatch FPDUs.
func (b *txBatch) full() bool { return b.n == fpduBatch }

// add frames the FPDU whose header nextHdr returned with payload, CRC and
// all, into the batch.
func (b *txBatch) add(hdr, payload []byte) {
	trl := b.trls[b.n][:]
	t := frameTrailer(hdr, payload, trl)
	b.iov[3*b.n], b.iov[3*b.n+1], b.iov[3*b.n+2] = hdr, payload, t
	b.n++
}

// flush writes the batch with one writev (q.transmit) and empties it.
func (b *txBatch) flush(q *QP) error {
	if b.n == 0 {
		return nil
	}
	b.bufs = b.iov[:3*b.n]
	err := q.transmit(&b.bufs)
	clear(b.iov[:3*b.n]) // drop references to registered memory
	b.n = 0
	return err
}

// corkFPDU frames hdr (which starts with two bytes for ULPDU_Length) and
// payload as one FPDU into the cork, writing the cork first if it is full.
// The header is copied; the payload must stay valid until the cork is
// written: payload of region m (non-nil) is, as the caller hands the cork
// m's read lock, which it took after uncork.
func (q *QP) corkFPDU(hdr, payload []byte, m *mr) error {
	c := &q.tx.cork
	if c.n == corkFPDUs {
		if err := q.flushCork(); err != nil {
			if m != nil {
				m.mu.RUnlock()
			}
			return err
		}
	}
	h := c.hdrs[c.n][:len(hdr)]
	copy(h, hdr)
	trl := frameTrailer(h, payload, c.trls[c.n][:])
	c.iov[3*c.n], c.iov[3*c.n+1], c.iov[3*c.n+2] = h, payload, trl
	c.n++
	if m != nil {
		c.m = m
	}
	return nil
}

// uncork writes the cork if it holds a region's read lock: it must,
// before the sender takes another one (a read lock taken twice deadlocks
// against a Deregister waiting in between) or writes a batch.
func (q *QP) uncork() error {
	if q.tx.cork.m == nil {
		return nil
	}
	return q.flushCork()
}

// dropCork empties the cork without writing it.
func (q *QP) dropCork() {
	c := &q.tx.cork
	clear(c.iov[:3*c.n])
	c.n = 0
	if c.m != nil {
		c.m.mu.RUnlock()
		c.m = nil
	}
}

// flushCork writes the corked FPDUs and releases the region they point
// into.
func (q *QP) flushCork() error {
	c := &q.tx.cork
	if c.n == 0 {
		return nil
	}
	c.bufs = c.iov[:3*c.n]
	err := q.transmit(&c.bufs)
	clear(c.iov[:3*c.n])
	c.n = 0
	if c.m != nil {
		c.m.mu.RUnlock()
		c.m = nil
	}
	return err
}

// transmit writes bufs within stallTimeout.
func (q *QP) transmit(bufs *net.Buffers) error {
	q.conn.SetWriteDeadline(time.Now().Add(stallTimeout))
	sent, err := bufs.WriteTo(q.conn)
	if err == nil {
		return nil // no net.Error to escape to the heap: no allocation
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		err = fmt.Errorf("soft: the peer took %d bytes in %v, then nothing (%v): %w", sent, stallTimeout, err, verbs.ErrStalled)
		// Recorded now, while the caller still holds the region lock:
		// what the receiver finds once the region is revoked is a
		// consequence.
		q.mu.Lock()
		if !q.broken {
			q.broken, q.err = true, err
		}
		q.mu.Unlock()
	}
	return err
}

// frameTrailer fills hdr's ULPDU_Length and returns the pad and CRC that
// follow payload, built in trl.
func frameTrailer(hdr, payload, trl []byte) []byte {
	ulen := len(hdr) - mpaLenSize + len(payload)
	binary.BigEndian.PutUint16(hdr, uint16(ulen))
	crc := crc32.Update(0, castagnoli, hdr)
	crc = crc32.Update(crc, castagnoli, payload)
	pad := padLen(ulen)
	clear(trl[:pad])
	crc = crc32.Update(crc, castagnoli, trl[:pad])
	binary.LittleEndian.PutUint32(trl[pad:], crc)
	return trl[:pad+crcSize]
}

// errLocalRevoked: a local region was deregistered under a posted request.
var errLocalRevoked = errors.New("soft: local memory region deregistered under a posted request")

// txLoop transmits queued Read Responses, the send queue, completion
// fences and a final Terminate. The MPA responder first waits for the
// initiator's first FPDU (RFC 5044 §7.1.2).
func (q *QP) txLoop() {
	defer func() {
		q.txMu.Lock() // wait for a poster transmitting
		q.txEnded = true
		q.txMu.Unlock()
		close(q.txDone)
	}()
	if q.passive {
		select {
		case <-q.firstRx:
		case <-q.closing:
			return
		}
	}
	for {
		select {
		case <-q.wake:
		case <-q.closing:
			return
		}
		q.txMu.Lock()
		_, err := q.drainLocked(txSender)
		q.txMu.Unlock()
		if err != nil {
			q.fail(err)
			return
		}
	}
}

// txInline transmits what the send queue holds from the poster's
// goroutine when nobody else is transmitting and the work is small,
// saving the wake-up of the send goroutine (a futex wake, a large share
// of a 4 KiB operation's cost); otherwise, or for the first large message
// met, it wakes the send goroutine. A small write seldom blocks (the
// socket buffer takes it) and never for longer than stallTimeout. The
// receive goroutine has its own, stricter rule (rxServe).
func (q *QP) txInline() {
	if !q.started.Load() || !q.txMu.TryLock() {
		q.kick()
		return
	}
	if q.txEnded {
		q.txMu.Unlock()
		return
	}
	select {
	case <-q.firstRx:
	default: // the MPA responder must wait for the first FPDU
		q.txMu.Unlock()
		q.kick()
		return
	}
	deferred, err := q.drainLocked(txPoster)
	q.txMu.Unlock()
	if err != nil {
		q.fail(err)
		return
	}
	if deferred {
		q.kick()
	}
}

// txMode says who transmits: what txStep may send.
type txMode int

const (
	txSender   txMode = iota // the send goroutine: everything
	txPoster                 // a poster (txInline): messages up to corkMax
	txReceiver               // the receive goroutine (rxServe): answers to Read and FLUSH Requests, within q.tx.budget
)

// drainLocked sends until nothing is left (or, for a poster or the
// receiver, until something it may not send is next: deferred), then
// writes the cork. q.txMu is held.
func (q *QP) drainLocked(mode txMode) (deferred bool, err error) {
	for {
		more, deferred, err := q.txStep(mode)
		if err != nil {
			q.dropCork() // the QP fails: release the region
			return false, err
		}
		if deferred || !more {
			return deferred, q.flushCork()
		}
	}
}

// txStep sends one message and says whether there may be more to send.
// It reports deferred when the next message is not mode's to send.
func (q *QP) txStep(mode txMode) (more, deferred bool, err error) {
	inline := mode != txSender
	q.mu.Lock()
	if q.txStop {
		q.mu.Unlock()
		return false, false, nil
	}
	if q.irqHead < q.irqTail {
		r := q.irq[q.irqHead%uint64(len(q.irq))]
		if inline && !r.flush && r.rr.size > corkMax {
			q.mu.Unlock()
			return false, true, nil
		}
		if mode == txReceiver {
			cost := fpduOverhead
			if !r.flush {
				cost += int(r.rr.size)
			}
			if cost > q.tx.budget {
				q.mu.Unlock()
				return false, true, nil
			}
			q.tx.budget -= cost
		}
		q.irqHead++
		q.mu.Unlock()
		return true, false, q.serveRead(r)
	}
	if mode == txReceiver {
		other := q.term != nil || q.rtr || q.sqTx < q.sqTail || q.unfenced
		q.mu.Unlock()
		return false, other, nil
	}
	if q.term != nil && inline {
		q.mu.Unlock()
		return false, true, nil // the send goroutine writes the Terminate
	}
	if q.term != nil {
		t := q.term
		q.term = nil
		q.txStop = true
		q.mu.Unlock()
		q.writeTerminate(t) // best effort: the QP is failing anyway
		close(q.termSent)
		return false, false, nil
	}
	if q.broken {
		q.mu.Unlock()
		return false, false, nil
	}
	if q.rtr {
		// RFC 6581 peer-to-peer mode: a zero-length Read is the RTR,
		// the first FPDU; its Response confirms nothing.
		q.rtr = false
		msn := q.tx.readMSN
		q.tx.readMSN++
		q.pushORQLocked(orqe{seq: 0, fence: true})
		q.mu.Unlock()
		return true, false, q.sendReadReq(readReq{}, msn)
	}
	if q.sqTx < q.sqTail {
		seq := q.sqTx
		e := &q.sq[seq%uint64(len(q.sq))]
		if (e.wr.Op == verbs.OpRead || e.wr.Op == verbs.OpFlush) && q.ordFullLocked() {
			q.mu.Unlock()
			return false, false, nil // a Read Response will kick us
		}
		if inline && e.wr.Local.Length > corkMax && e.wr.Op != verbs.OpRead && e.wr.Op != verbs.OpFlush {
			q.mu.Unlock()
			return false, true, nil
		}
		q.sqTx++
		switch e.wr.Op {
		case verbs.OpSend, verbs.OpSendInv:
			e.msn = q.tx.sendMSN
			q.tx.sendMSN++
			q.unfenced = true
		case verbs.OpWrite, verbs.OpAtomicWrite:
			q.unfenced = true
		case verbs.OpRead:
			e.msn = q.tx.readMSN
			q.tx.readMSN++
			q.pushORQLocked(orqe{seq: seq, stag: e.wr.Local.LKey, to: e.wr.Local.Addr,
				size: e.wr.Local.Length, mr: e.mr, off: e.off})
			q.unfenced = false
		case verbs.OpFlush:
			e.msn = q.tx.readMSN
			q.tx.readMSN++
			q.pushORQLocked(orqe{seq: seq, flush: true, stag: e.wr.RKey, to: e.wr.Remote})
			q.unfenced = false
		}
		w := *e
		q.mu.Unlock()
		var err error
		switch w.wr.Op {
		case verbs.OpSend:
			err = q.sendSend(w.mr, w.off, int(w.wr.Local.Length), w.msn, opSend, 0)
		case verbs.OpSendInv:
			err = q.sendSend(w.mr, w.off, int(w.wr.Local.Length), w.msn, opSendInv, w.wr.InvalidateRKey)
		case verbs.OpWrite:
			err = q.sendWrite(w.mr, w.off, int(w.wr.Local.Length), w.wr.RKey, w.wr.Remote)
		case verbs.OpAtomicWrite:
			err = q.sendAtomic(w.mr, w.off, w.wr.RKey, w.wr.Remote)
		case verbs.OpFlush:
			err = q.sendFlushReq(flushReq{stag: w.wr.RKey, to: w.wr.Remote, size: w.wr.Local.Length}, w.msn)
		case verbs.OpRead:
			err = q.sendReadReq(readReq{sinkSTag: w.wr.Local.LKey, sinkTO: w.wr.Local.Addr,
				size: w.wr.Local.Length, srcSTag: w.wr.RKey, srcTO: w.wr.Remote}, w.msn)
		}
		if errors.Is(err, errLocalRevoked) {
			q.mu.Lock()
			q.setFaultLocked(seq, verbs.StatusLocalProt, false)
			q.mu.Unlock()
		}
		return true, false, err
	}
	if q.unfenced && !q.ordFullLocked() {
		// Completion fence: a zero-length Read whose Response confirms
		// every Send/Write before it.
		q.unfenced = false
		msn := q.tx.readMSN
		q.tx.readMSN++
		q.pushORQLocked(orqe{seq: q.sqTx, fence: true})
		q.mu.Unlock()
		return true, false, q.sendReadReq(readReq{}, msn)
	}
	q.mu.Unlock()
	return false, false, nil
}

// pushORQLocked records an outstanding Read before its request goes out.
// The ORQ holds at most SendDepth Reads and SendDepth fences (a fence
// always covers at least one outstanding Send/Write), so it cannot fill.
func (q *QP) pushORQLocked(e orqe) {
	q.orq[q.orqTail%uint64(len(q.orq))] = e
	q.orqTail++
}

// sendWrite sends an RDMA Write from local memory, one FPDU per
// maxSegPayload, a batch of FPDUs per writev, holding the region's read
// lock per batch only.
func (q *QP) sendWrite(m *mr, off, n int, stag uint32, to uint64) error {
	return q.sendSegments(m, off, n, func(hdr []byte, sent int, last bool) {
		putTagged(hdr[mpaLenSize:], opWrite, last, stag, to+uint64(sent))
	}, taggedHdrSize)
}

// sendSend sends an untagged Send (or Send with Invalidate of inv) on
// queue 0.
func (q *QP) sendSend(m *mr, off, n int, msn uint32, op uint8, inv uint32) error {
	return q.sendSegments(m, off, n, func(hdr []byte, sent int, last bool) {
		putUntaggedInv(hdr[mpaLenSize:], op, last, qnSend, msn, uint32(sent), inv)
	}, untaggedHdrSize)
}

// sendSegments sends n bytes at off of local region m as FPDUs whose
// headers (hdrSize bytes after ULPDU_Length) put fills in, batched.
func (q *QP) sendSegments(m *mr, off, n int, put func(hdr []byte, sent int, last bool), hdrSize int) error {
	if err := q.uncork(); err != nil {
		return err
	}
	if n <= corkMax {
		m.mu.RLock()
		if m.dead {
			m.mu.RUnlock()
			return errLocalRevoked
		}
		hdr := q.tx.hdr[:mpaLenSize+hdrSize]
		put(hdr, 0, true)
		return q.corkFPDU(hdr, m.buf[off:off+n], m)
	}
	if err := q.flushCork(); err != nil { // what precedes the batch
		return err
	}
	b := &q.tx.batch
	for sent := 0; ; {
		m.mu.RLock()
		if m.dead {
			m.mu.RUnlock()
			return errLocalRevoked
		}
		last := false
		for !last && !b.full() {
			k := min(n-sent, maxSegPayload)
			last = sent+k == n
			hdr := b.nextHdr(mpaLenSize + hdrSize)
			put(hdr, sent, last)
			b.add(hdr, m.buf[off+sent:off+sent+k])
			sent += k
		}
		err := b.flush(q)
		m.mu.RUnlock()
		if err != nil || last {
			return err
		}
	}
}

// sendReadReq sends an RDMA Read Request on queue 1.
func (q *QP) sendReadReq(r readReq, msn uint32) error {
	hdr := q.tx.hdr[:mpaLenSize+untaggedHdrSize+readReqSize]
	putUntagged(hdr[mpaLenSize:], opReadReq, true, qnReadReq, msn, 0)
	r.put(hdr[mpaLenSize+untaggedHdrSize:])
	return q.corkFPDU(hdr, nil, nil)
}

// serveRead answers an inbound Read Request from registered memory,
// re-validating the source per FPDU so that a Deregister between FPDUs
// stops it (the request was validated on arrival too).
func (q *QP) serveRead(r irqe) error {
	hdr := q.tx.hdr[:mpaLenSize+taggedHdrSize]
	if r.flush {
		putTagged(hdr[mpaLenSize:], opFlushResp, true, r.rr.srcSTag, r.rr.srcTO)
		return q.corkFPDU(hdr, nil, nil)
	}
	n := int(r.rr.size)
	if n == 0 {
		putTagged(hdr[mpaLenSize:], opReadResp, true, r.rr.sinkSTag, r.rr.sinkTO)
		return q.corkFPDU(hdr, nil, nil)
	}
	if err := q.uncork(); err != nil {
		return err
	}
	if n > corkMax {
		if err := q.flushCork(); err != nil { // what precedes the batch
			return err
		}
	} else {
		m, off, f := q.pd.acquire(r.rr.srcSTag, r.rr.srcTO, uint64(n), verbs.AccessRemoteRead)
		if f != faultNone {
			q.txFault(termForFault(f, false).withSegment(readReqSegment(r)).withReadReq(readReqBytes(r.rr)),
				fmt.Errorf("soft: serving RDMA Read of STag %#x: %v: %w", r.rr.srcSTag, f, verbs.ErrRemoteAccess))
			return nil
		}
		putTagged(hdr[mpaLenSize:], opReadResp, true, r.rr.sinkSTag, r.rr.sinkTO)
		ReadBytesServed.Add(uint64(n))
		return q.corkFPDU(hdr, m.buf[off:off+n], m)
	}
	b := &q.tx.batch
	for sent := 0; sent < n; {
		// Validate (and read-lock) the batch's whole source range.
		span := min(n-sent, fpduBatch*maxSegPayload)
		m, off, f := q.pd.acquire(r.rr.srcSTag, r.rr.srcTO+uint64(sent), uint64(span), verbs.AccessRemoteRead)
		if f != faultNone {
			q.txFault(termForFault(f, false).withSegment(readReqSegment(r)).withReadReq(readReqBytes(r.rr)),
				fmt.Errorf("soft: serving RDMA Read of STag %#x: %v: %w", r.rr.srcSTag, f, verbs.ErrRemoteAccess))
			return nil
		}
		for done := 0; done < span; {
			k := min(span-done, maxSegPayload)
			hdr := b.nextHdr(mpaLenSize + taggedHdrSize)
			putTagged(hdr[mpaLenSize:], opReadResp, sent+done+k == n, r.rr.sinkSTag, r.rr.sinkTO+uint64(sent+done))
			b.add(hdr, m.buf[off+done:off+done+k])
			done += k
		}
		// Counted before the writev: once the bytes are on the wire the
		// initiator may see the Read complete before this goroutine runs.
		ReadBytesServed.Add(uint64(span))
		err := b.flush(q)
		m.mu.RUnlock()
		if err != nil {
			return err
		}
		sent += span
	}
	return nil
}

// txFault handles a fault found while transmitting: it is earlier in the
// stream than anything the receiver may have found since, so its
// Terminate goes out now and replaces a pending one.
func (q *QP) txFault(t *termMsg, err error) {
	q.mu.Lock()
	if !q.broken {
		q.broken = true
		q.err = err
	}
	q.term = nil
	stopped := q.txStop
	q.txStop = true
	q.mu.Unlock()
	q.writeTerminate(t)
	if !stopped {
		close(q.termSent)
	}
	q.dying.Store(true)
	q.conn.SetReadDeadline(time.Now().Add(termTimeout))
}

// writeTerminate sends a Terminate on queue 2, after the corked FPDUs
// that precede it.
func (q *QP) writeTerminate(t *termMsg) error {
	hdr := q.tx.hdr[:mpaLenSize+untaggedHdrSize]
	putUntagged(hdr[mpaLenSize:], opTerminate, true, qnTerminate, q.tx.termMSN, 0)
	q.tx.termMSN++
	if err := q.corkFPDU(hdr, t.appendPayload(q.tx.term[:0]), nil); err != nil {
		return err
	}
	return q.flushCork()
}

// readReqSegment rebuilds the ULPDU_Length and DDP header of a received
// Read Request for a Terminate.
func readReqSegment(r irqe) []byte {
	var b [mpaLenSize + untaggedHdrSize]byte
	binary.BigEndian.PutUint16(b[:], untaggedHdrSize+readReqSize)
	putUntagged(b[mpaLenSize:], opReadReq, true, qnReadReq, r.msn, 0)
	return b[:]
}

func readReqBytes(r readReq) []byte {
	var b [readReqSize]byte
	r.put(b[:])
	return b[:]
}
