package soft

import (
	"encoding/binary"
	"fmt"

	"github.com/brick-storage/brick/verbs"
)

// Terminate layer, error type and code (RFC 5040 §7, RFC 5041 §7,
// RFC 5044 §8; IANA "RDDP" registry).
const (
	layerRDMAP = 0x0
	layerDDP   = 0x1
	layerLLP   = 0x2

	// RDMAP error types.
	etypeLocalCatastrophic = 0x0
	etypeRemoteProtection  = 0x1
	etypeRemoteOperation   = 0x2
	// DDP error types.
	etypeDDPTagged   = 0x1
	etypeDDPUntagged = 0x2
	// LLP error type.
	etypeMPA = 0x0

	// RDMAP Remote Protection codes.
	codeInvalidSTag = 0x00
	codeBounds      = 0x01
	codeRights      = 0x02
	codeNotAssoc    = 0x03
	// Remote Protection or Remote Operation (RFC 5040 §7.2; Linux siw
	// sends the former when the STag belongs to another stream or PD).
	codeCannotInvalidate = 0x09
	// RDMAP Remote Operation codes.
	codeUnexpectedOp = 0x06
	codeCatStream    = 0x07
	codeUnspecified  = 0xff
	// DDP Tagged Buffer codes.
	codeTInvalidSTag = 0x00
	codeTBounds      = 0x01
	codeTNotAssoc    = 0x02
	// DDP Untagged Buffer codes.
	codeUMSNNoBuf  = 0x02
	codeUMSNRange  = 0x03
	codeUInvalidMO = 0x04
	codeUTooLong   = 0x05
	// MPA codes.
	codeMPACRC = 0x02
	codeMPALen = 0x03

	// Header control bits in the third Terminate control byte.
	termM = 0x80 // terminated segment's ULPDU_Length is included
	termD = 0x40 // terminated DDP header is included
	termR = 0x20 // terminated RDMAP (Read Request) header is included

	// siwHdrCt: where Linux siw puts M, D and R (see parseTerm).
	siwHdrCt = 0x07
)

// termMsg is a Terminate message's content. ddp holds the ULPDU_Length
// and DDP/RDMAP header of the segment that caused it (ddpN bytes, 0 when
// absent); rdma holds a terminated Read Request header when hasR.
type termMsg struct {
	layer, etype, code uint8
	ddp                [mpaLenSize + maxHdrSize]byte
	ddpN               int
	rdma               [readReqSize]byte
	hasR               bool
}

func newTerm(layer, etype, code uint8) *termMsg {
	return &termMsg{layer: layer, etype: etype, code: code}
}

// withSegment records the terminated segment's length+header bytes.
func (t *termMsg) withSegment(lenAndHdr []byte) *termMsg {
	t.ddpN = copy(t.ddp[:], lenAndHdr)
	return t
}

func (t *termMsg) withReadReq(b []byte) *termMsg {
	t.hasR = copy(t.rdma[:], b) == readReqSize
	return t
}

func (t *termMsg) String() string {
	return fmt.Sprintf("terminate layer %d type %d code %#02x", t.layer, t.etype, t.code)
}

// appendPayload encodes the Terminate header (RFC 5040 §4.8).
func (t *termMsg) appendPayload(dst []byte) []byte {
	var flags byte
	if t.ddpN > 0 {
		flags |= termM | termD
	}
	if t.hasR {
		flags |= termR
	}
	dst = append(dst, t.layer<<4|t.etype&0x0f, t.code, flags, 0)
	dst = append(dst, t.ddp[:t.ddpN]...)
	if t.hasR {
		dst = append(dst, t.rdma[:]...)
	}
	return dst
}

// parseTerm decodes a received Terminate payload.
func parseTerm(b []byte) (*termMsg, error) {
	if len(b) < termCtrlSize || len(b) > maxTermSize {
		return nil, fmt.Errorf("%w: terminate payload of %d bytes", errFraming, len(b))
	}
	layer, etype, flags := b[0]>>4, b[0]&0x0f, b[2]
	if flags&siwHdrCt != 0 && flags&(termM|termD|termR) == 0 {
		// Linux siw declares the control word with little-endian
		// bitfields, so on x86 its Layer and EType nibbles are swapped
		// and M, D, R sit in the low bits of the third byte. Its
		// Terminates for remote faults carry M, D and R, which tells the
		// layouts apart; one without them reads as RFC 5040 says.
		layer, etype = b[0]&0x0f, b[0]>>4
		flags = (flags&0x01)<<7 | (flags&0x02)<<5 | (flags&0x04)<<3
	}
	t := newTerm(layer, etype, b[1])
	rest := b[termCtrlSize:]
	if flags&termD != 0 {
		if len(rest) < mpaLenSize+ctrlSize {
			return nil, fmt.Errorf("%w: short terminated DDP header", errFraming)
		}
		n := mpaLenSize + hdrLen(rest[mpaLenSize])
		if len(rest) < n {
			return nil, fmt.Errorf("%w: short terminated DDP header", errFraming)
		}
		t.withSegment(rest[:n])
		rest = rest[n:]
	}
	if flags&termR != 0 {
		if len(rest) < readReqSize {
			return nil, fmt.Errorf("%w: short terminated RDMAP header", errFraming)
		}
		t.withReadReq(rest[:readReqSize])
	}
	return t, nil
}

// segment decodes the terminated segment's header, if any.
func (t *termMsg) segment() (header, bool) {
	if t.ddpN < mpaLenSize+ctrlSize {
		return header{}, false
	}
	b := t.ddp[mpaLenSize:t.ddpN]
	var h header
	h.tagged = b[0]&ddpTagged != 0
	h.op = b[1] & rdmapOpMask
	if h.tagged && len(b) >= taggedHdrSize {
		h.stag = binary.BigEndian.Uint32(b[2:6])
		h.to = binary.BigEndian.Uint64(b[6:14])
		return h, true
	}
	if !h.tagged && len(b) >= untaggedHdrSize {
		h.qn = binary.BigEndian.Uint32(b[6:10])
		h.msn = binary.BigEndian.Uint32(b[10:14])
		return h, true
	}
	return header{}, false
}

// status maps a received Terminate to the completion status of the work
// request that caused it. A Send that found no posted receive completes
// with StatusRNR; one larger than the receive buffer with
// StatusRemoteInvalidRequest.
func (t *termMsg) status() verbs.Status {
	switch {
	case t.layer == layerRDMAP && t.etype == etypeRemoteProtection,
		t.layer == layerDDP && t.etype == etypeDDPTagged:
		return verbs.StatusRemoteAccess
	case t.layer == layerDDP && t.etype == etypeDDPUntagged && t.code == codeUMSNNoBuf:
		return verbs.StatusRNR
	case t.layer == layerDDP && t.etype == etypeDDPUntagged:
		return verbs.StatusRemoteInvalidRequest
	case t.layer == layerLLP:
		return verbs.StatusTransport
	}
	return verbs.StatusRemoteOp
}

// termForFault builds the Terminate for a refused tagged access: a Write
// (DDP tagged buffer errors, except access rights which only RDMAP has)
// or a Read Request (RDMAP remote protection errors).
func termForFault(f accessFault, write bool) *termMsg {
	if write && f != faultRights {
		code := uint8(codeTInvalidSTag)
		switch f {
		case faultBounds:
			code = codeTBounds
		case faultNotAssoc:
			code = codeTNotAssoc
		}
		return newTerm(layerDDP, etypeDDPTagged, code)
	}
	code := uint8(codeInvalidSTag)
	switch f {
	case faultBounds:
		code = codeBounds
	case faultRights:
		code = codeRights
	case faultNotAssoc:
		code = codeNotAssoc
	}
	return newTerm(layerRDMAP, etypeRemoteProtection, code)
}

func (f accessFault) String() string {
	switch f {
	case faultSTag:
		return "invalid STag"
	case faultNotAssoc:
		return "STag of another protection domain"
	case faultBounds:
		return "base or bounds violation"
	case faultRights:
		return "access rights violation"
	}
	return "no fault"
}

// rxTerminate handles the peer's Terminate: find the request it refers to
// (by STag/TO for a Write, by MSN for a Send or Read; else the oldest
// outstanding one) and fail the QP.
func (q *QP) rxTerminate(payload []byte) error {
	t, err := parseTerm(payload)
	if err != nil {
		return err
	}
	st := t.status()
	q.mu.Lock()
	q.setFaultLocked(q.termCulpritLocked(t, st), st, true)
	sentinel := verbs.ErrCompletion
	if st == verbs.StatusRemoteAccess {
		sentinel = verbs.ErrRemoteAccess
	}
	err = fmt.Errorf("soft: peer sent %v (%v): %w", t, st, sentinel)
	if !q.broken {
		q.broken = true
		q.err = err
	}
	q.mu.Unlock()
	return err
}

// termCulpritLocked is the send request a peer Terminate refers to: the one
// its segment names, else the oldest transmitted request that could have
// caused its error. A plain Send cannot cause an access fault, and Sends
// wait for their completion fence only lazily (see the QP comment), so an
// unconfirmed Send older than the faulting Read must not take its error
// (siw's Terminate for an invalid STag names no segment we match).
func (q *QP) termCulpritLocked(t *termMsg, st verbs.Status) uint64 {
	n := uint64(len(q.sq))
	if h, ok := t.segment(); ok {
		for s := q.sqHead; s < q.sqTx; s++ {
			if termMatches(&q.sq[s%n], h) {
				return s
			}
		}
	}
	if st == verbs.StatusRemoteAccess {
		for s := q.sqHead; s < q.sqTx; s++ {
			if q.sq[s%n].wr.Op != verbs.OpSend {
				return s
			}
		}
	}
	return q.sqHead
}

func termMatches(e *sqe, h header) bool {
	switch {
	case h.tagged && h.op == opWrite:
		return e.wr.Op == verbs.OpWrite && e.wr.RKey == h.stag &&
			h.to >= e.wr.Remote && h.to-e.wr.Remote <= uint64(e.wr.Local.Length)
	case h.tagged && h.op == opAtomicWrite:
		return e.wr.Op == verbs.OpAtomicWrite && e.wr.RKey == h.stag && e.wr.Remote == h.to
	case !h.tagged && h.qn == qnSend:
		return (e.wr.Op == verbs.OpSend || e.wr.Op == verbs.OpSendInv) && e.msn == h.msn
	case !h.tagged && h.qn == qnReadReq:
		return (e.wr.Op == verbs.OpRead || e.wr.Op == verbs.OpFlush) && e.msn == h.msn
	}
	return false
}
