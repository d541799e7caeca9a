package soft

import (
	"errors"
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

// ordFullLocked reports whether the peer's announced IRD (RFC 6581) is
// used up by our outstanding Reads, FLUSHes and fences; if so the sender
// waits and the next response kicks it (ordDoneLocked).
func (q *QP) ordFullLocked() bool {
	full := q.peerIRD > 0 && q.orqTail-q.orqHead >= q.peerIRD
	q.ordWait = q.ordWait || full
	return full
}

// ordDoneLocked is called when a response retired an outstanding request:
// it says whether the sender waits for that.
func (q *QP) ordDoneLocked() bool {
	w := q.ordWait
	q.ordWait = false
	return w
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

// sendReadReq sends an RDMA Read Request on queue 1.
func (q *QP) sendReadReq(r readReq, msn uint32) error {
	hdr := q.tx.hdr[:mpaLenSize+untaggedHdrSize+readReqSize]
	putUntagged(hdr[mpaLenSize:], opReadReq, true, qnReadReq, msn, 0)
	r.put(hdr[mpaLenSize+untaggedHdrSize:])
	return q.corkFPDU(hdr, nil, nil)
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
