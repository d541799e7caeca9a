package soft

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/brick-storage/brick/verbs"
)

// This file holds the wire side of brick's negotiated extensions, ATOMIC
// WRITE and FLUSH (see doc.go for opcodes and layouts).

// opAllowed reports whether an inbound opcode may appear on this
// connection: the extension opcodes only when negotiated.
func (q *QP) opAllowed(op uint8) bool {
	switch op {
	case opAtomicWrite:
		return q.caps.AtomicWrite
	case opFlushReq, opFlushResp:
		return q.caps.Flush
	}
	return true
}

// sendAtomic sends an ATOMIC WRITE of the 8 local bytes at off.
func (q *QP) sendAtomic(m *mr, off int, stag uint32, to uint64) error {
	hdr := q.tx.hdr[:mpaLenSize+taggedHdrSize]
	putTagged(hdr[mpaLenSize:], opAtomicWrite, true, stag, to)
	if err := q.uncork(); err != nil {
		return err
	}
	m.mu.RLock()
	if m.dead {
		m.mu.RUnlock()
		return errLocalRevoked
	}
	return q.corkFPDU(hdr, m.buf[off:off+atomicSize], m)
}

// sendFlushReq sends a FLUSH Request on queue 1 (it shares the Read
// Request MSNs and the peer's IRD).
func (q *QP) sendFlushReq(r taggedBuf, msn uint32) error {
	hdr := q.tx.hdr[:mpaLenSize+untaggedHdrSize+flushReqSize]
	putUntagged(hdr[mpaLenSize:], opFlushReq, true, qnReadReq, msn, 0)
	r.put(hdr[mpaLenSize+untaggedHdrSize:])
	return q.corkFPDU(hdr, nil, nil)
}

// rxAtomic places a checked ATOMIC WRITE: AccessRemoteAtomic, an 8-byte
// aligned target, then one 8-byte store, so that a reader of the memory
// sees the old or the new value, never a mix.
func (q *QP) rxAtomic(h *header, seg, payload []byte) {
	if len(payload) != atomicSize || !h.last {
		q.terminate(newTerm(layerRDMAP, etypeRemoteOperation, codeUnspecified).withSegment(seg),
			fmt.Errorf("%w: ATOMIC WRITE of %d bytes", errFraming, len(payload)))
		return
	}
	m, off, f := q.pd.acquire(h.stag, h.to, atomicSize, verbs.AccessRemoteAtomic)
	if f == faultNone && uintptr(unsafe.Pointer(&m.buf[off]))%8 != 0 {
		m.mu.RUnlock()
		f = faultBounds
	}
	if f != faultNone {
		q.terminate(termForFault(f, false).withSegment(seg),
			fmt.Errorf("soft: ATOMIC WRITE to STag %#x at %#x: %v: %w", h.stag, h.to, f, verbs.ErrRemoteAccess))
		return
	}
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&m.buf[off])), binary.NativeEndian.Uint64(payload))
	if m.hooks != nil {
		m.hooks.Placed(m.hookOff+off, atomicSize)
	}
	m.mu.RUnlock()
}

// rxFlushReq performs an inbound FLUSH in stream order — after every
// placement before it — and queues its response behind the Read
// Responses already queued.
func (q *QP) rxFlushReq(h *header, seg, payload []byte) {
	r, err := parseFlushReq(payload)
	if !q.admitReadQueue(h, seg, err == nil, "FLUSH Request", flushReqSize) {
		return
	}
	m, off, f := q.pd.acquire(r.stag, r.to, uint64(r.size), verbs.AccessFlushPersistent)
	if f != faultNone {
		q.terminate(termForFault(f, false).withSegment(seg),
			fmt.Errorf("soft: FLUSH of STag %#x [%#x,+%d): %v: %w", r.stag, r.to, r.size, f, verbs.ErrRemoteAccess))
		return
	}
	if m.hooks != nil && r.size > 0 {
		err = m.hooks.Flush(m.hookOff+off, int(r.size))
	}
	m.mu.RUnlock()
	if err != nil {
		q.terminate(newTerm(layerRDMAP, etypeRemoteOperation, codeUnspecified).withSegment(seg),
			fmt.Errorf("soft: FLUSH of STag %#x [%#x,+%d): %w", r.stag, r.to, r.size, err))
		return
	}
	q.queueIRQ(irqe{rr: readReq{srcSTag: r.stag, srcTO: r.to}, msn: h.msn, flush: true}, seg)
}

// commitFlushResp completes the oldest outstanding request, which must be
// the FLUSH the response names, and every request before it.
func (q *QP) commitFlushResp(h *header, seg []byte, plen int) {
	q.mu.Lock()
	if q.orqHead == q.orqTail {
		q.mu.Unlock()
		q.terminate(newTerm(layerRDMAP, etypeRemoteOperation, codeUnexpectedOp).withSegment(seg),
			fmt.Errorf("%w: FLUSH Response without a FLUSH Request", errFraming))
		return
	}
	e := &q.orq[q.orqHead%uint64(len(q.orq))]
	if !e.flush || e.stag != h.stag || e.to != h.to || plen != 0 || !h.last || q.rx.respPlaced != 0 {
		q.mu.Unlock()
		q.terminate(newTerm(layerRDMAP, etypeRemoteOperation, codeUnexpectedOp).withSegment(seg),
			fmt.Errorf("%w: FLUSH Response for STag %#x does not match the oldest outstanding request", errFraming, h.stag))
		return
	}
	upTo := e.seq + 1
	*e = orqe{}
	q.orqHead++
	q.confirmed = max(q.confirmed, upTo)
	q.completeLocked()
	kick := q.ordDoneLocked()
	q.mu.Unlock()
	if kick {
		q.kick()
	}
}
