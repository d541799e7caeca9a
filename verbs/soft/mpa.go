package soft

import (
	"encoding/binary"
	"fmt"
	"io"
)

// MPA Request/Reply frame (RFC 5044 §7.1, RFC 6581).
const (
	mpaKeyReq  = "MPA ID Req Frame"
	mpaKeyRep  = "MPA ID Rep Frame"
	mpaKeySize = 16
	mpaHdrSize = 20 // key(16) flags(1) rev(1) PD_Length(2)
	mpaMaxPD   = 512
	mpaRev1    = 1 // RFC 5044
	mpaRev2    = 2 // RFC 6581 enhanced connection setup

	// Flags byte. M, C and R are RFC 5044's. S is how the Linux iWARP
	// stacks (siw, cxgb4) mark a revision 2 frame whose private data
	// starts with the enhanced connection data; a revision 2 frame
	// without S carries none. siw's GSO bit says it accepts FPDUs larger
	// than the MSS (we always do; ignored). The low bits carry brick's
	// extension offer (see ext* and doc.go); every other peer sends them
	// zero, as RFC 5044 asks of reserved bits.
	mpaFlagM   = 0x80 // markers
	mpaFlagC   = 0x40 // CRC
	mpaFlagR   = 0x20 // reject (reply only)
	mpaFlagS   = 0x10 // enhanced connection data present (revision 2)
	mpaFlagGSO = 0x08 // Linux siw's GSO hint
)

// mpaFrame is a decoded MPA Request or Reply.
type mpaFrame struct {
	reply    bool
	markers  bool
	crc      bool
	reject   bool
	enhanced bool  // S: pd starts with the enhanced connection data
	ext      uint8 // brick extension bits of the flags byte (revision 2 with S)
	rev      uint8
	pd       []byte
}

// marshal encodes f. We never send markers.
func (f mpaFrame) marshal(dst []byte) []byte {
	if f.reply {
		dst = append(dst, mpaKeyRep...)
	} else {
		dst = append(dst, mpaKeyReq...)
	}
	var flags byte
	if f.crc {
		flags |= mpaFlagC
	}
	if f.reject {
		flags |= mpaFlagR
	}
	if f.rev == mpaRev2 && f.enhanced {
		flags |= mpaFlagS | f.ext&extAll
	}
	dst = append(dst, flags, f.rev)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(f.pd)))
	return append(dst, f.pd...)
}

// appendMPA encodes a revision 1 MPA frame with CRC.
func appendMPA(dst []byte, reply, reject bool, pd []byte) []byte {
	return mpaFrame{reply: reply, reject: reject, crc: true, rev: mpaRev1, pd: pd}.marshal(dst)
}

// appendMPARev encodes an MPA frame of revision rev with CRC. For
// revision 2, pd must begin with the enhanced connection data
// (appendConnData): the frame carries S.
func appendMPARev(dst []byte, reply, reject bool, rev uint8, pd []byte) []byte {
	return mpaFrame{reply: reply, reject: reject, crc: true, rev: rev, enhanced: rev == mpaRev2, pd: pd}.marshal(dst)
}

// parseMPAHeader decodes the fixed 20 bytes and returns the private data
// length that follows. It rejects a wrong key, a revision other than 1
// or 2, markers (not supported), R in a request, PD_Length > 512 and a
// revision 2 frame with S too short for the enhanced connection data.
// Every other flag is accepted: CRC off in a request (we answer with CRC
// on, which RFC 5044 lets a responder choose, unless Options.OptionalCRC),
// siw's GSO bit, reserved bits.
func parseMPAHeader(b []byte, wantReply bool) (mpaFrame, int, error) {
	var f mpaFrame
	if len(b) < mpaHdrSize {
		return f, 0, fmt.Errorf("%w: short frame", errMPA)
	}
	key := mpaKeyReq
	if wantReply {
		key = mpaKeyRep
	}
	if string(b[:mpaKeySize]) != key {
		return f, 0, fmt.Errorf("%w: key %q, want %q", errMPA, b[:mpaKeySize], key)
	}
	flags := b[16]
	f.reply = wantReply
	f.markers = flags&mpaFlagM != 0
	f.crc = flags&mpaFlagC != 0
	f.reject = flags&mpaFlagR != 0
	f.rev = b[17]
	n := int(binary.BigEndian.Uint16(b[18:20]))
	if f.rev != mpaRev1 && f.rev != mpaRev2 {
		return f, 0, fmt.Errorf("%w: revision %d, want 1 or 2", errMPA, f.rev)
	}
	if f.rev == mpaRev2 && flags&mpaFlagS != 0 {
		f.enhanced, f.ext = true, flags&extAll
	}
	if f.markers {
		return f, 0, fmt.Errorf("%w: markers requested, not supported", errMPA)
	}
	if f.reject && !wantReply {
		return f, 0, fmt.Errorf("%w: reject bit in a request", errMPA)
	}
	if n > mpaMaxPD {
		return f, 0, fmt.Errorf("%w: private data length %d > %d", errMPA, n, mpaMaxPD)
	}
	if f.enhanced && n < enhSize {
		return f, 0, fmt.Errorf("%w: revision 2 frame flags enhanced connection data but has %d bytes of private data, want >= %d", errMPA, n, enhSize)
	}
	return f, n, nil
}

// parseMPA decodes a whole MPA frame from b (used by tests and fuzzing).
func parseMPA(b []byte, wantReply bool) (mpaFrame, error) {
	f, n, err := parseMPAHeader(b, wantReply)
	if err != nil {
		return f, err
	}
	if len(b) != mpaHdrSize+n {
		return f, fmt.Errorf("%w: %d bytes for private data length %d", errMPA, len(b)-mpaHdrSize, n)
	}
	f.pd = append([]byte(nil), b[mpaHdrSize:]...)
	return f, nil
}

// readMPA reads one MPA frame from r, bounding the private data before
// allocating it.
func readMPA(r io.Reader, wantReply bool) (mpaFrame, error) {
	var hdr [mpaHdrSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return mpaFrame{}, fmt.Errorf("soft: reading MPA frame: %w", err)
	}
	f, n, err := parseMPAHeader(hdr[:], wantReply)
	if err != nil {
		return f, err
	}
	f.pd = make([]byte, n)
	if _, err := io.ReadFull(r, f.pd); err != nil {
		return f, fmt.Errorf("soft: reading MPA private data: %w", err)
	}
	return f, nil
}

// Enhanced connection data (RFC 6581 §9), the first 4 bytes of the
// private data of a revision 2 MPA Request and Reply that carry S, and
// brick's extension header, which follows it in a Reply to a Request
// that offered extensions (only this software RNIC does). See doc.go for
// the layout.
const (
	enhSize      = 4
	enhIRDORD    = 0x3fff // IRD / ORD: 14 bits each
	enhP2P       = 0x8000 // in the IRD half: peer-to-peer mode, RTR follows
	enhZeroRTR   = 0x4000 // in the IRD half: zero-length FPDU (Send) RTR
	enhWriteRTR  = 0x8000 // in the ORD half: zero-length RDMA Write RTR
	enhReadRTR   = 0x4000 // in the ORD half: zero-length RDMA Read RTR
	extSize      = 8
	extMagic     = "BrkX"
	extVersion   = 1
	extAtomicWr  = 0x04 // ATOMIC WRITE (opcode opAtomicWrite); also its bit in the MPA flags byte
	extFlush     = 0x02 // FLUSH (opcodes opFlushReq, opFlushResp); likewise
	extAll       = extAtomicWr | extFlush
	connDataSize = enhSize + extSize

	// MaxPrivateData is the most private data a caller may pass to Dial,
	// Accept or Reject: MPA's 512 bytes minus the enhanced connection
	// data and the extension header that may precede it in a Reply.
	MaxPrivateData = mpaMaxPD - connDataSize
)

// enhanced is decoded RFC 6581 enhanced connection data.
type enhanced struct {
	ird, ord                        uint16
	p2p, zeroRTR, writeRTR, readRTR bool
}

// extHdr is brick's extension header in a Reply: present when the
// responder is this software RNIC and the Request offered extensions;
// flags are the offered ones it accepts.
type extHdr struct {
	present bool
	flags   uint8
}

// appendConnData encodes the enhanced connection data, the extension
// header (when present) and the caller's private data.
func appendConnData(dst []byte, e enhanced, x extHdr, user []byte) []byte {
	ird, ord := e.ird&enhIRDORD, e.ord&enhIRDORD
	if e.p2p {
		ird |= enhP2P
	}
	if e.zeroRTR {
		ird |= enhZeroRTR
	}
	if e.writeRTR {
		ord |= enhWriteRTR
	}
	if e.readRTR {
		ord |= enhReadRTR
	}
	dst = binary.BigEndian.AppendUint16(dst, ird)
	dst = binary.BigEndian.AppendUint16(dst, ord)
	if x.present {
		dst = append(dst, extMagic...)
		dst = append(dst, extVersion, x.flags, 0, 0)
	}
	return append(dst, user...)
}

// parseConnData splits revision 2 private data into the enhanced data,
// the extension header (only with wantExt, and recognised by its magic
// and version: a Reply from siw echoes our extension bits without one)
// and the caller's private data, which aliases pd.
func parseConnData(pd []byte, wantExt bool) (enhanced, extHdr, []byte, error) {
	var e enhanced
	var x extHdr
	if len(pd) < enhSize {
		return e, x, nil, fmt.Errorf("%w: %d bytes of enhanced connection data, want %d", errMPA, len(pd), enhSize)
	}
	ird, ord := binary.BigEndian.Uint16(pd), binary.BigEndian.Uint16(pd[2:])
	e = enhanced{ird: ird & enhIRDORD, ord: ord & enhIRDORD,
		p2p: ird&enhP2P != 0, zeroRTR: ird&enhZeroRTR != 0,
		writeRTR: ord&enhWriteRTR != 0, readRTR: ord&enhReadRTR != 0}
	rest := pd[enhSize:]
	if wantExt && len(rest) >= extSize && string(rest[:4]) == extMagic && rest[4] == extVersion {
		if rest[6] != 0 || rest[7] != 0 {
			return e, x, nil, fmt.Errorf("%w: reserved extension header bytes %#x %#x", errMPA, rest[6], rest[7])
		}
		x = extHdr{present: true, flags: rest[5]}
		rest = rest[extSize:]
	}
	return e, x, rest, nil
}
