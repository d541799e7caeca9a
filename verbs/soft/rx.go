package soft

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/brick-storage/brick/internal/crc32c"
	"github.com/brick-storage/brick/verbs"
)

// rxState is owned by the receive goroutine.
type rxState struct {
	hdr   [mpaLenSize + maxHdrSize]byte // ULPDU_Length + header of the current FPDU
	small [maxTermSize]byte             // Read Request / Terminate payload
	trl   [3 + crcSize]byte

	sendMSN uint32 // next expected MSN per untagged queue
	readMSN uint32
	termMSN uint32

	recvOn  bool // a Send is being placed into recv
	recv    rqe
	recvLen uint32

	respPlaced  uint32 // bytes of the head ORQ entry placed so far
	respDropped uint32 // bytes dropped from a zero-length Read's Response (siw)

	// rtrSend: we chose the zero-length Send RTR (RFC 6581) as MPA
	// responder. The first Send, if it is zero-length, is the RTR and
	// takes no receive; any other first Send ends the wait.
	rtrSend bool
	rtrOn   bool // the Send being received is that RTR

	// discard takes payload a zero-length Read's Response should not have
	// carried (siw's quirk); allocated on first use, as most QPs never
	// see one and a brick holds thousands of QPs.
	discard []byte

	room     roomProbe // rxServe's view of the send buffer
	serveDue bool      // answers queued in the IRQ since the last rxServe
}

// receive reads FPDUs until the connection ends. Read Response and Send
// payloads are read from the socket straight into registered memory and
// the CRC computed over the placed bytes; Write payloads go through a
// staging buffer (stage.go).
func (q *QP) receive() error {
	for {
		if q.dying.Load() {
			// Let the peer read our Terminate; return when it closes
			// or termTimeout passes.
			io.Copy(io.Discard, q.br)
			return q.Err()
		}
		err := q.rxFPDU()
		if err != nil && err != errStop {
			return err
		}
		if q.rx.serveDue && (err == errStop || !q.fpduBuffered()) {
			q.rx.serveDue = false
			q.rxServe()
		}
	}
}

// fpduBuffered says whether the read buffer holds the whole next FPDU, so
// that receiving it reads nothing from the socket, and it is not a FLUSH
// Request, which may wait for the medium. Until then the receive
// goroutine keeps the answers it owes (rxServe), to send them with one
// writev: a 4 KiB Write's fence and the Read Request behind it arrive
// together and are answered together.
func (q *QP) fpduBuffered() bool {
	n := q.br.Buffered()
	if n < mpaLenSize+ctrlSize {
		return false
	}
	b, err := q.br.Peek(mpaLenSize + ctrlSize)
	if err != nil || b[mpaLenSize+1]&rdmapOpMask == opFlushReq {
		return false
	}
	ulen := int(binary.BigEndian.Uint16(b))
	return n >= mpaLenSize+ulen+padLen(ulen)+crcSize
}

// rxFPDU receives one FPDU: the header, the payload (placed as it
// arrives), the trailer, and then, the CRC being good, what the FPDU
// does. errStop means the FPDU was refused and a Terminate is on its way,
// which also ends the payload's placement; any other error ends the
// connection.
func (q *QP) rxFPDU() error {
	h, seg, ulen, err := q.rxHeader()
	if err != nil {
		return err
	}
	plen := ulen - hdrLen(seg[mpaLenSize])
	crc, err := q.rxPayload(&h, seg, plen, q.sum(0, seg))
	if err == errStop {
		return errStop
	}
	if err != nil {
		return fmt.Errorf("soft: connection ended: %w", err)
	}
	pad := padLen(ulen)
	rx := &q.rx
	if _, err := io.ReadFull(q.br, rx.trl[:pad+crcSize]); err != nil {
		return fmt.Errorf("soft: connection ended: %w", err)
	}
	crc = q.sum(crc, rx.trl[:pad])
	if got := binary.LittleEndian.Uint32(rx.trl[pad:]); got != crc && !q.noCRC {
		q.terminate(newTerm(layerLLP, etypeMPA, codeMPACRC).withSegment(seg),
			fmt.Errorf("%w: CRC %#08x, want %#08x", errFraming, got, crc))
		return errStop
	}
	return q.rxCommit(&h, seg, plen)
}

// sum folds b into the FPDU's CRC, or does nothing on a connection
// without the MPA CRC (the trailer's field is then not checked).
func (q *QP) sum(crc uint32, b []byte) uint32 {
	if q.noCRC {
		return 0
	}
	return crc32c.Update(crc, b)
}

// rxHeader reads an FPDU's ULPDU_Length and DDP/RDMAP header and decodes
// the header, which seg holds after the ULPDU_Length field. A malformed
// header or an opcode not negotiated is terminated (errStop).
func (q *QP) rxHeader() (h header, seg []byte, ulen int, err error) {
	b := q.rx.hdr[:]
	if _, err := io.ReadFull(q.br, b[:mpaLenSize+ctrlSize]); err != nil {
		return h, nil, 0, fmt.Errorf("soft: connection ended: %w", err)
	}
	q.firstOnce.Do(func() { close(q.firstRx) })
	ulen = int(binary.BigEndian.Uint16(b))
	hl := hdrLen(b[mpaLenSize])
	if ulen < hl {
		q.terminate(newTerm(layerLLP, etypeMPA, codeMPALen),
			fmt.Errorf("%w: ULPDU_Length %d below header length %d", errFraming, ulen, hl))
		return h, nil, 0, errStop
	}
	seg = b[:mpaLenSize+hl]
	if _, err := io.ReadFull(q.br, seg[mpaLenSize+ctrlSize:]); err != nil {
		return h, nil, 0, fmt.Errorf("soft: connection ended: %w", err)
	}
	h, _, err = parseHeader(seg[mpaLenSize:])
	if err == nil && !q.opAllowed(h.op) {
		err = fmt.Errorf("%w: extension opcode %#x was not negotiated", errFraming, h.op)
	}
	if err != nil {
		q.terminate(newTerm(layerRDMAP, etypeRemoteOperation, codeUnexpectedOp).withSegment(seg), err)
		return h, nil, 0, errStop
	}
	return h, seg, ulen, nil
}

// rxPayload reads the plen payload bytes of the FPDU whose header is h,
// folding them into crc: Write, Read Response and Send payloads straight
// into their memory, the small payloads of the other opcodes into
// q.rx.small.
func (q *QP) rxPayload(h *header, seg []byte, plen int, crc uint32) (uint32, error) {
	switch h.op {
	case opWrite:
		return q.rxWrite(h, seg, plen, crc)
	case opReadResp:
		return q.rxReadResp(h, seg, plen, crc)
	case opSend, opSendInv:
		return q.rxSend(h, seg, plen, crc)
	}
	// Read/FLUSH Request and Response, Terminate, ATOMIC WRITE
	small := q.rx.small[:]
	if plen > len(small) {
		q.terminate(newTerm(layerRDMAP, etypeRemoteOperation, codeUnspecified).withSegment(seg),
			fmt.Errorf("%w: opcode %d with %d-byte payload", errFraming, h.op, plen))
		return crc, errStop
	}
	_, err := io.ReadFull(q.br, small[:plen])
	if err == nil {
		crc = q.sum(crc, small[:plen])
	}
	return crc, err
}

// rxCommit acts on an FPDU whose CRC checked out: completes a Send or a
// Read, queues the answer to a Read or FLUSH Request, performs an ATOMIC
// WRITE. A Terminate from the peer ends the connection with its error.
func (q *QP) rxCommit(h *header, seg []byte, plen int) error {
	small := q.rx.small[:] // the payload, for the opcodes rxPayload put there
	switch h.op {
	case opSend, opSendInv:
		q.commitSend(h, seg)
	case opReadResp:
		q.commitReadResp(h, seg)
	case opReadReq:
		q.rxReadReq(h, seg, small[:plen])
	case opAtomicWrite:
		q.rxAtomic(h, seg, small[:plen])
	case opFlushReq:
		q.rxFlushReq(h, seg, small[:plen])
	case opFlushResp:
		q.commitFlushResp(h, seg, plen)
	case opTerminate:
		return q.rxTerminate(small[:plen])
	}
	return nil
}

// rxWrite places one RDMA Write segment after checking the STag, its PD,
// the range and RemoteWrite.
//
// A zero-length Write places nothing and is not checked: Linux siw sends
// one with STag 1 as its peer-to-peer RTR and checks none itself.
func (q *QP) rxWrite(h *header, seg []byte, plen int, crc uint32) (uint32, error) {
	if plen == 0 {
		return crc, nil
	}
	m, off, f := q.pd.acquire(h.stag, h.to, uint64(plen), verbs.AccessRemoteWrite)
	if f != faultNone {
		q.terminate(termForFault(f, true).withSegment(seg),
			fmt.Errorf("soft: RDMA Write to STag %#x [%#x,+%d): %v: %w", h.stag, h.to, plen, f, verbs.ErrRemoteAccess))
		return crc, errStop
	}
	// Staged (stage.go): the CRC must cover the bytes as they came, and
	// the region may change under us.
	stage := segStages.get()
	src := (*stage)[:plen]
	n, err := io.ReadFull(q.br, src)
	crc = q.sum(crc, src[:n])
	copy(m.buf[off:off+n], src[:n])
	segStages.put(stage)
	WriteBytesPlaced.Add(uint64(n))
	if m.hooks != nil && n > 0 {
		m.hooks.Placed(m.hookOff+off, n)
	}
	m.mu.RUnlock()
	return crc, err
}

// rxReadResp places one Read Response segment into the sink of the oldest
// outstanding Read, which it must match exactly.
func (q *QP) rxReadResp(h *header, seg []byte, plen int, crc uint32) (uint32, error) {
	q.mu.Lock()
	if q.orqHead == q.orqTail {
		q.mu.Unlock()
		q.terminate(newTerm(layerRDMAP, etypeRemoteOperation, codeUnexpectedOp).withSegment(seg),
			fmt.Errorf("%w: Read Response without a Read Request", errFraming))
		return crc, errStop
	}
	e := q.orq[q.orqHead%uint64(len(q.orq))]
	q.mu.Unlock()
	placed := q.rx.respPlaced
	if e.flush {
		q.terminate(newTerm(layerRDMAP, etypeRemoteOperation, codeUnexpectedOp).withSegment(seg),
			fmt.Errorf("%w: Read Response while a FLUSH is the oldest outstanding request", errFraming))
		return crc, errStop
	}
	if h.stag != e.stag {
		q.terminate(newTerm(layerDDP, etypeDDPTagged, codeTInvalidSTag).withSegment(seg),
			fmt.Errorf("%w: Read Response for STag %#x, want %#x", errFraming, h.stag, e.stag))
		return crc, errStop
	}
	if e.size == 0 && plen > 0 && h.to == e.to+uint64(q.rx.respDropped) {
		// Linux siw (6.1) answers a zero-length Read, such as our
		// completion fences, with as many bytes as the last message it
		// transmitted (a stale length in its send WQE), in as many
		// segments. Nothing is to be placed: checked by the CRC and
		// dropped.
		q.rx.respDropped += uint32(plen)
		return q.drop(plen, crc)
	}
	if h.to != e.to+uint64(placed) || uint64(placed)+uint64(plen) > uint64(e.size) {
		q.terminate(newTerm(layerDDP, etypeDDPTagged, codeTBounds).withSegment(seg),
			fmt.Errorf("%w: Read Response at %#x+%d outside the sink", errFraming, h.to, plen))
		return crc, errStop
	}
	if plen > 0 {
		m := e.mr
		m.mu.RLock()
		if m.dead {
			m.mu.RUnlock()
			q.mu.Lock()
			q.setFaultLocked(e.seq, verbs.StatusLocalProt, false)
			q.mu.Unlock()
			return crc, errLocalRevoked
		}
		dst := m.buf[e.off+int(placed) : e.off+int(placed)+plen]
		_, err := io.ReadFull(q.br, dst)
		crc = q.sum(crc, dst)
		m.mu.RUnlock()
		if err != nil {
			return crc, err
		}
	}
	q.rx.respPlaced += uint32(plen)
	return crc, nil
}

// drop reads and discards n payload bytes, folding them into crc.
func (q *QP) drop(n int, crc uint32) (uint32, error) {
	if q.rx.discard == nil && n > 0 {
		q.rx.discard = make([]byte, 4096)
	}
	for n > 0 {
		b := q.rx.discard[:min(n, len(q.rx.discard))]
		if _, err := io.ReadFull(q.br, b); err != nil {
			return crc, err
		}
		crc = q.sum(crc, b)
		n -= len(b)
	}
	return crc, nil
}

// commitReadResp completes the head Read when its last segment checked out:
// the Read and every request before it are done.
func (q *QP) commitReadResp(h *header, seg []byte) {
	if !h.last {
		return
	}
	q.mu.Lock()
	e := &q.orq[q.orqHead%uint64(len(q.orq))]
	if q.rx.respPlaced != e.size {
		q.mu.Unlock()
		q.terminate(newTerm(layerDDP, etypeDDPTagged, codeTBounds).withSegment(seg),
			fmt.Errorf("%w: Read Response of %d bytes for a %d-byte Read", errFraming, q.rx.respPlaced, e.size))
		return
	}
	upTo := e.seq + 1
	if e.fence {
		upTo = e.seq
	}
	*e = orqe{}
	q.orqHead++
	q.confirmed = max(q.confirmed, upTo)
	q.completeLocked()
	kick := q.ordDoneLocked() // a Read may wait for the peer's IRD
	q.mu.Unlock()
	q.rx.respPlaced, q.rx.respDropped = 0, 0
	if kick {
		q.kick()
	}
}

// rxSend places one Send segment into the oldest posted receive.
func (q *QP) rxSend(h *header, seg []byte, plen int, crc uint32) (uint32, error) {
	rx := &q.rx
	if h.msn != rx.sendMSN {
		q.terminate(newTerm(layerDDP, etypeDDPUntagged, codeUMSNRange).withSegment(seg),
			fmt.Errorf("%w: Send MSN %d, want %d", errFraming, h.msn, rx.sendMSN))
		return crc, errStop
	}
	if h.mo != rx.recvLen {
		q.terminate(newTerm(layerDDP, etypeDDPUntagged, codeUInvalidMO).withSegment(seg),
			fmt.Errorf("%w: Send MO %d, want %d", errFraming, h.mo, rx.recvLen))
		return crc, errStop
	}
	if rx.rtrSend {
		rx.rtrSend = false
		rx.rtrOn = h.op == opSend && h.mo == 0 && h.last && plen == 0
		if rx.rtrOn {
			return crc, nil
		}
	}
	if !rx.recvOn {
		q.mu.Lock()
		if q.rqHead == q.rqTail {
			q.mu.Unlock()
			q.terminate(newTerm(layerDDP, etypeDDPUntagged, codeUMSNNoBuf).withSegment(seg),
				fmt.Errorf("soft: Send arrived with no receive posted: %w", verbs.ErrCompletion))
			return crc, errStop
		}
		i := q.rqHead % uint64(len(q.rq))
		rx.recv = q.rq[i]
		q.rq[i] = rqe{}
		q.rqHead++
		rx.recvOn = true
		q.mu.Unlock()
	}
	if uint64(h.mo)+uint64(plen) > uint64(rx.recv.wr.Local.Length) {
		q.rcq.push(verbs.WC{ID: rx.recv.wr.ID, Op: verbs.OpRecv, Status: verbs.StatusLocalLength})
		rx.recvOn = false
		q.terminate(newTerm(layerDDP, etypeDDPUntagged, codeUTooLong).withSegment(seg),
			fmt.Errorf("soft: Send of more than %d bytes overflows the %d-byte receive buffer: %w",
				uint64(h.mo)+uint64(plen), rx.recv.wr.Local.Length, verbs.ErrCompletion))
		return crc, errStop
	}
	if plen > 0 {
		m := rx.recv.mr
		m.mu.RLock()
		if m.dead {
			m.mu.RUnlock()
			q.rcq.push(verbs.WC{ID: rx.recv.wr.ID, Op: verbs.OpRecv, Status: verbs.StatusLocalProt})
			rx.recvOn = false
			q.terminate(newTerm(layerRDMAP, etypeLocalCatastrophic, 0).withSegment(seg), errLocalRevoked)
			return crc, errStop
		}
		off := rx.recv.off + int(h.mo)
		dst := m.buf[off : off+plen]
		_, err := io.ReadFull(q.br, dst)
		crc = q.sum(crc, dst)
		m.mu.RUnlock()
		if err != nil {
			return crc, err
		}
	}
	rx.recvLen += uint32(plen)
	return crc, nil
}

// commitSend completes the receive on the last segment. A Send with
// Invalidate first invalidates the STag it names (RFC 5040 §6.10); if
// that is refused the receive completes with StatusRemoteInvalidRequest
// and the stream is terminated.
func (q *QP) commitSend(h *header, seg []byte) {
	rx := &q.rx
	if !h.last {
		return
	}
	if rx.rtrOn {
		rx.rtrOn = false
		rx.sendMSN++
		return
	}
	var inv uint32
	if h.op == opSendInv {
		if t := q.invalidateRemote(h.inv); t != nil {
			q.rcq.push(verbs.WC{ID: rx.recv.wr.ID, Op: verbs.OpRecv, Status: verbs.StatusRemoteInvalidRequest})
			rx.recvOn = false
			rx.recv = rqe{}
			q.terminate(t.withSegment(seg),
				fmt.Errorf("soft: Send with Invalidate of STag %#x refused: %w", h.inv, verbs.ErrRemoteAccess))
			return
		}
		inv = h.inv
	}
	q.rcq.push(verbs.WC{ID: rx.recv.wr.ID, Op: verbs.OpRecv, ByteLen: rx.recvLen, Invalidated: inv})
	rx.recvOn = false
	rx.recv = rqe{}
	rx.recvLen = 0
	rx.sendMSN++
}
