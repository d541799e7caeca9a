package soft

import (
	"encoding/binary"
	"fmt"
	"syscall"
	"unsafe"

	"github.com/brick-storage/brick/verbs"
	"golang.org/x/sys/unix"
)

// Inbound RDMA Read Requests, and the answers owed to FLUSH Requests, go
// through the IRQ: the receive goroutine checks each request in stream
// order and queues it (queueIRQ), and serveRead answers it from
// registered memory, on the receive goroutine while the socket has room
// (rxServe, once no complete FPDU is left in the read buffer), else on
// the send goroutine.

// rxReadReq validates an inbound Read Request and queues it for the
// sender. The source is checked now, in stream order, and again per FPDU
// when served.
func (q *QP) rxReadReq(h *header, seg, payload []byte) {
	r, err := parseReadReq(payload)
	if !q.admitReadQueue(h, seg, err == nil, "Read Request", readReqSize) {
		return
	}
	q.readServed()
	if r.sink.size > 0 {
		m, _, f := q.pd.acquire(r.srcSTag, r.srcTO, uint64(r.sink.size), verbs.AccessRemoteRead)
		if f != faultNone {
			q.terminate(termForFault(f, false).withSegment(seg).withReadReq(payload),
				fmt.Errorf("soft: RDMA Read of STag %#x [%#x,+%d): %v: %w", r.srcSTag, r.srcTO, r.sink.size, f, verbs.ErrRemoteAccess))
			return
		}
		m.mu.RUnlock()
	}
	q.queueIRQ(irqe{rr: r, msn: h.msn}, seg)
}

// admitReadQueue admits a request on untagged queue 1, a Read or a FLUSH
// Request (parsed: its payload is well formed): it must be one whole
// segment and carry the queue's next MSN. Otherwise the QP is terminated
// and admitReadQueue returns false.
func (q *QP) admitReadQueue(h *header, seg []byte, parsed bool, what string, size int) bool {
	rx := &q.rx
	if !parsed || !h.last || h.mo != 0 {
		q.terminate(newTerm(layerDDP, etypeDDPUntagged, codeUInvalidMO).withSegment(seg),
			fmt.Errorf("%w: %s must be one %d-byte segment", errFraming, what, size))
		return false
	}
	if h.msn != rx.readMSN {
		q.terminate(newTerm(layerDDP, etypeDDPUntagged, codeUMSNRange).withSegment(seg),
			fmt.Errorf("%w: %s MSN %d, want %d", errFraming, what, h.msn, rx.readMSN))
		return false
	}
	rx.readMSN++
	return true
}

// queueIRQ queues an answer; the receive loop has it sent (rxServe).
func (q *QP) queueIRQ(e irqe, seg []byte) {
	q.mu.Lock()
	if q.irqTail-q.irqHead == uint64(len(q.irq)) {
		if len(q.irq) >= maxIRD {
			q.mu.Unlock()
			q.terminate(newTerm(layerRDMAP, etypeRemoteOperation, codeCatStream).withSegment(seg),
				fmt.Errorf("%w: more than %d outstanding Read/FLUSH Requests", errFraming, maxIRD))
			return
		}
		q.growIRQLocked()
	}
	q.irq[q.irqTail%uint64(len(q.irq))] = e
	q.irqTail++
	q.mu.Unlock()
	q.rx.serveDue = true
}

// growIRQLocked doubles the inbound Read queue, up to maxIRD. It starts
// small: a QP that serves no Reads (a brick session whose client only
// writes, or is idle) should not carry maxIRD entries, about 40 KiB.
func (q *QP) growIRQLocked() {
	irq := make([]irqe, min(max(2*len(q.irq), minIRD), maxIRD))
	for i := q.irqHead; i < q.irqTail; i++ {
		irq[i%uint64(len(irq))] = q.irq[i%uint64(len(q.irq))]
	}
	q.irq = irq
}

// The receive goroutine answers small Read and FLUSH Requests itself
// (rxServe) rather than waking the send goroutine for each: on a busy
// machine that wake-up costs more than anything else in a 4 KiB RDMA Read
// or Write but the system calls. It must never wait on the peer, who may be
// waiting for it to read, so it writes only what the socket's send buffer
// takes at once, as the kernel reports it (SO_MEMINFO: the memory queued
// against the send buffer's size), and leaves the rest to the send
// goroutine. (It may still wait behind a revocation that waits for a
// stable key's Read Response batch; stage.go.)

// rxServe sends the answers queued in the IRQ from the receive goroutine
// when the sender is idle and the socket has room for them, and wakes
// the send goroutine for whatever is left.
func (q *QP) rxServe() {
	if !q.txMu.TryLock() {
		q.kick()
		return
	}
	if q.txEnded {
		q.txMu.Unlock()
		return
	}
	q.tx.budget = q.sendRoom()
	deferred, err := q.drainLocked(txReceiver)
	q.tx.budget = 0
	q.txMu.Unlock()
	q.handOff(deferred, err)
}

// sendRoom returns how many bytes a write can surely add to the socket's
// send buffer without blocking, 0 when it cannot tell.
func (q *QP) sendRoom() int {
	p := &q.rx.room
	if !p.tried {
		p.tried = true
		if sc, ok := q.conn.(syscall.Conn); ok {
			if rc, err := sc.SyscallConn(); err == nil {
				p.rc, p.probe = rc, p.read
			}
		}
	}
	if p.rc == nil {
		return 0
	}
	p.err = nil
	if err := p.rc.Control(p.probe); err != nil || p.err != nil {
		return 0
	}
	// The kernel itself calls a socket writable only while the free space
	// is at least half the memory queued (sk_stream_min_wspace); past that
	// the answers wait for the send goroutine. Of what is free beyond that
	// margin, half: new buffers are charged with their overhead too.
	free := p.sndbuf - p.queued
	return max(0, (free-p.queued/2)/2)
}

// fpduOverhead bounds an FPDU's framing: ULPDU_Length, the longest
// header, pad and CRC.
const fpduOverhead = mpaLenSize + untaggedHdrSize + readReqSize + 3 + crcSize

// roomProbe asks the kernel about the socket's send buffer; it belongs
// to the receive goroutine and is set up on first use, so that probing
// allocates nothing.
type roomProbe struct {
	rc     syscall.RawConn // nil: cannot tell
	probe  func(fd uintptr)
	queued int // bytes of buffers queued to send, overhead included
	sndbuf int // the send buffer's size
	err    error
	tried  bool
}

// The entries of SO_MEMINFO's array (SK_MEMINFO_*, linux/sock_diag.h) that
// the probe reads, and their number.
const (
	skMemInfoSndbuf     = 3
	skMemInfoWmemQueued = 5
	skMemInfoVars       = 9
)

// read fills queued and sndbuf with one getsockopt(SO_MEMINFO), not two
// (SIOCOUTQ and SO_SNDBUF): it runs for every small Read served, and a
// system call is about a microsecond of it.
func (p *roomProbe) read(fd uintptr) {
	var info [skMemInfoVars]uint32
	size := uint32(unsafe.Sizeof(info))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO,
		uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		p.err = errno
		return
	}
	p.queued, p.sndbuf = int(info[skMemInfoWmemQueued]), int(info[skMemInfoSndbuf])
}

// serveRead answers an inbound Read Request (or FLUSH) from registered
// memory. The source is validated again as it is sent, once for a small
// Read and per batch of FPDUs for a large one, so that a Deregister while
// it is served stops it (the request was validated on arrival too).
func (q *QP) serveRead(r irqe) error {
	hdr := q.tx.hdr[:mpaLenSize+taggedHdrSize]
	if r.flush {
		putTagged(hdr[mpaLenSize:], opFlushResp, true, r.rr.srcSTag, r.rr.srcTO)
		return q.corkFPDU(hdr, nil, nil)
	}
	n := int(r.rr.sink.size)
	if n == 0 {
		putTagged(hdr[mpaLenSize:], opReadResp, true, r.rr.sink.stag, r.rr.sink.to)
		return q.corkFPDU(hdr, nil, nil)
	}
	if err := q.uncork(); err != nil {
		return err
	}
	if n > corkMax {
		if err := q.flushCork(); err != nil { // what precedes the batch
			return err
		}
		return q.serveReadBatched(r, n)
	}
	if err := q.corkRoom(); err != nil { // not under the region's lock
		return err
	}
	m, off, f := q.pd.acquire(r.rr.srcSTag, r.rr.srcTO, uint64(n), verbs.AccessRemoteRead)
	if f != faultNone {
		q.readFault(r, f)
		return nil
	}
	putTagged(hdr[mpaLenSize:], opReadResp, true, r.rr.sink.stag, r.rr.sink.to)
	ReadBytesServed.Add(uint64(n))
	err := q.corkStaged(hdr, m.buf[off:off+n])
	m.mu.RUnlock()
	return err
}

// serveReadBatched sends a Read Response of n bytes, larger than a corked
// FPDU takes, as batches of FPDUs, each one writev.
func (q *QP) serveReadBatched(r irqe, n int) error {
	b := &q.tx.batch
	defer b.unstage()
	for sent := 0; sent < n; {
		// Validate (and read-lock) the batch's whole source range.
		span := min(n-sent, fpduBatch*maxSegPayload)
		m, off, f := q.pd.acquire(r.rr.srcSTag, r.rr.srcTO+uint64(sent), uint64(span), verbs.AccessRemoteRead)
		if f != faultNone {
			q.readFault(r, f)
			return nil
		}
		// Memory the brick promises nobody stores into is sent as it is,
		// under its read lock until written; other memory from a copy
		// (stage.go), the lock let go first.
		stable := m.access&verbs.AccessStable != 0
		for done := 0; done < span; {
			k := min(span-done, maxSegPayload)
			hdr := b.nextHdr(mpaLenSize + taggedHdrSize)
			putTagged(hdr[mpaLenSize:], opReadResp, sent+done+k == n, r.rr.sink.stag, r.rr.sink.to+uint64(sent+done))
			if stable {
				b.add(hdr, m.buf[off+done:off+done+k])
			} else {
				b.addStaged(hdr, m.buf[off+done:off+done+k])
			}
			done += k
		}
		if !stable {
			m.mu.RUnlock() // the batch holds a copy
		}
		// Counted before the writev: once the bytes are on the wire the
		// initiator may see the Read complete before this goroutine runs.
		ReadBytesServed.Add(uint64(span))
		err := b.flush(q)
		if stable {
			m.mu.RUnlock()
		}
		if err != nil {
			return err
		}
		sent += span
	}
	return nil
}

// readFault fails the QP for a Read Request whose source the access check
// refused, sending the Terminate that names the request.
func (q *QP) readFault(r irqe, f accessFault) {
	q.txFault(termForFault(f, false).withSegment(readReqSegment(r)).withReadReq(readReqBytes(r.rr)),
		fmt.Errorf("soft: serving RDMA Read of STag %#x: %v: %w", r.rr.srcSTag, f, verbs.ErrRemoteAccess))
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
