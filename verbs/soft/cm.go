package soft

import (
	"bufio"
	"fmt"
	"net"
	"time"

	"github.com/brick-storage/brick/verbs"
)

// Connection setup (doc.go): what the MPA Request and Reply settle. The
// frames themselves are mpa.go's; the listener that reads Requests is
// listener.go's.

// negotiated is what connection setup settled beyond RFC 5044.
type negotiated struct {
	rev     uint8
	ext     uint8  // extension flags both ends offered
	peerIRD uint16 // 0: not announced (no enhanced connection data)
	rtr     uint8  // RFC 6581 peer-to-peer mode: the RTR the initiator sends first (rtr*)
	noCRC   bool   // neither the request nor the reply asked for the MPA CRC
}

// RTR types (RFC 6581 §7): the first FPDU of an initiator in
// peer-to-peer mode.
const (
	rtrNone  = iota
	rtrRead  // zero-length RDMA Read: what we send and prefer to receive
	rtrWrite // zero-length RDMA Write: accepted like any zero-length Write
	rtrSend  // zero-length Send: consumed by the RNIC, never by a receive
)

// apply configures q before it starts.
func (n negotiated) apply(q *QP) {
	q.caps.AtomicWrite = n.ext&extAtomicWr != 0
	q.caps.Flush = n.ext&extFlush != 0
	q.peerIRD = uint64(n.peerIRD)
	q.noCRC, q.tx.batch.noCRC, q.caps.NoCRC = n.noCRC, n.noCRC, n.noCRC
	switch {
	case n.rtr == rtrRead && !q.passive:
		q.rtr = true
		q.kick()
	case n.rtr == rtrSend && q.passive:
		q.rx.rtrSend = true
	}
}

// ourIRD is the inbound Read/FLUSH depth we announce (our IRQ size).
const ourIRD = min(maxIRD, enhIRDORD)

// request is our MPA Request and the extensions it offers: revision 2
// (RFC 6581) in peer-to-peer mode offering a zero-length RDMA Read as
// RTR, or revision 1 for a provider that speaks only RFC 5044.
func (p provider) request(cfg verbs.QPConfig, privateData []byte) (req []byte, ours uint8) {
	ours = extAll &^ p.noExt
	if p.rev1 {
		return appendMPA(nil, false, false, privateData), ours
	}
	// The extension offer rides in the flags byte, not in the private
	// data, which another stack hands to its caller whole.
	return mpaFrame{crc: !p.optionalCRC, rev: mpaRev2, enhanced: true, ext: ours,
		pd: appendConnData(nil, enhanced{ird: ourIRD, ord: uint16(min(2*cfg.SendDepth, enhIRDORD)), p2p: true, readRTR: true},
			extHdr{}, privateData)}.marshal(nil), ours
}

// replied interprets the MPA Reply to our request.
func (p provider) replied(rep mpaFrame, ours uint8) (negotiated, []byte, error) {
	// RFC 5044: the CRC is used when either side asks for it. A revision
	// 1 request always asks.
	neg := negotiated{rev: rep.rev, noCRC: p.optionalCRC && !p.rev1 && !rep.crc}
	if rep.rev == mpaRev1 || !rep.enhanced {
		// An RFC 5044 peer, or revision 2 without the enhanced data:
		// no IRD/ORD, no peer-to-peer mode, no extensions.
		if p.rev1 && rep.rev == mpaRev2 {
			return neg, nil, fmt.Errorf("%w: revision 2 reply to a revision 1 request", errMPA)
		}
		return neg, rep.pd, nil
	}
	if p.rev1 {
		return neg, nil, fmt.Errorf("%w: revision 2 reply to a revision 1 request", errMPA)
	}
	e, x, user, err := parseConnData(rep.pd, ours&rep.ext != 0)
	if err != nil {
		return neg, nil, err
	}
	if e.p2p && (!e.readRTR || e.zeroRTR || e.writeRTR) {
		return neg, nil, fmt.Errorf("%w: reply selects an RTR type other than the zero-length Read we offered", errMPA)
	}
	// An announced IRD of 0 still takes the one Read our completion
	// fences need (RFC 6581 lets the responder raise what we asked).
	neg.peerIRD = max(e.ird, 1)
	if e.p2p {
		neg.rtr = rtrRead
	}
	if x.present {
		neg.ext = x.flags & ours
	}
	return neg, user, nil
}

// connReq interprets the Request req the listener read on conn: the
// caller's private data, and the revision, enhanced data and extensions
// of our Reply. It answers a revision 2 Request in revision 2 (with
// the enhanced data only if the Request had them), unless the provider
// speaks only revision 1.
func (p provider) connReq(conn net.Conn, br *bufio.Reader, req mpaFrame) (*connReq, error) {
	cr := &connReq{conn: conn, br: br, pd: req.pd, remote: conn.RemoteAddr().String(), rev: mpaRev1,
		noCRC: p.optionalCRC && !req.crc}
	switch {
	case req.rev == mpaRev2 && req.enhanced:
		e, _, user, err := parseConnData(req.pd, false)
		if err != nil {
			return nil, err
		}
		cr.pd = user
		if !p.rev1 {
			cr.rev, cr.enhanced, cr.enh = mpaRev2, true, e
			cr.ext = req.ext &^ p.noExt & extAll
		}
	case req.rev == mpaRev2 && !p.rev1:
		cr.rev = mpaRev2 // echoed, without enhanced data (as siw does)
	}
	return cr, nil
}

// negotiated is what the Reply settles. In peer-to-peer mode we choose
// the initiator's RTR among those it offered: Read, else Write, else
// Send (RFC 6581 §7); an initiator that offered none gets Read.
func (c *connReq) negotiated() negotiated {
	n := negotiated{rev: c.rev, noCRC: c.noCRC}
	if !c.enhanced {
		return n
	}
	n.ext, n.peerIRD = c.ext, max(c.enh.ird, 1)
	if c.enh.p2p {
		switch {
		case c.enh.readRTR:
			n.rtr = rtrRead
		case c.enh.writeRTR:
			n.rtr = rtrWrite
		case c.enh.zeroRTR:
			n.rtr = rtrSend
		default:
			n.rtr = rtrRead
		}
	}
	return n
}

// reply writes the MPA Reply within DefaultTimeout, in the request's
// revision: with the enhanced data when the request had them, and the
// extension header when it offered extensions we accept.
func (c *connReq) reply(reject bool, cfg verbs.QPConfig, pd []byte) error {
	f := mpaFrame{reply: true, reject: reject, crc: !c.noCRC, rev: c.rev, pd: pd}
	if c.enhanced {
		n := c.negotiated()
		ord := uint16(min(2*cfg.SendDepth, enhIRDORD))
		if c.enh.ird > 0 {
			ord = min(ord, c.enh.ird)
		}
		f.enhanced, f.ext = true, n.ext
		f.pd = appendConnData(nil,
			enhanced{ird: ourIRD, ord: ord, p2p: n.rtr != rtrNone,
				readRTR: n.rtr == rtrRead, writeRTR: n.rtr == rtrWrite, zeroRTR: n.rtr == rtrSend},
			extHdr{present: n.ext != 0, flags: n.ext}, pd)
	}
	c.conn.SetDeadline(time.Now().Add(verbs.DefaultTimeout))
	_, err := c.conn.Write(f.marshal(nil))
	c.conn.SetDeadline(time.Time{})
	if err != nil {
		return fmt.Errorf("soft: sending MPA reply: %w", err)
	}
	return nil
}
