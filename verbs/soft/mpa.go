package soft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MPA Request/Reply frame (RFC 5044 §7.1).
const (
	mpaKeyReq    = "MPA ID Req Frame"
	mpaKeyRep    = "MPA ID Rep Frame"
	mpaKeySize   = 16
	mpaHdrSize   = 20 // key(16) flags(1) rev(1) PD_Length(2)
	mpaMaxPD     = 512
	mpaRev       = 1
	mpaFlagM     = 0x80 // markers
	mpaFlagC     = 0x40 // CRC
	mpaFlagR     = 0x20 // reject (reply only)
	mpaFlagsMask = 0xe0
)

// errMPA marks a malformed or unacceptable MPA Request/Reply.
var errMPA = errors.New("soft: bad MPA frame")

// mpaFrame is a decoded MPA Request or Reply.
type mpaFrame struct {
	reply   bool
	markers bool
	crc     bool
	reject  bool
	rev     uint8
	pd      []byte
}

// appendMPA encodes an MPA frame. We never ask for markers and always ask
// for CRC.
func appendMPA(dst []byte, reply, reject bool, pd []byte) []byte {
	if reply {
		dst = append(dst, mpaKeyRep...)
	} else {
		dst = append(dst, mpaKeyReq...)
	}
	flags := byte(mpaFlagC)
	if reject {
		flags |= mpaFlagR
	}
	dst = append(dst, flags, mpaRev)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(pd)))
	return append(dst, pd...)
}

// parseMPAHeader decodes the fixed 20 bytes and returns the private data
// length that follows. It rejects a wrong key, a revision other than 1,
// markers (not supported), R in a request and PD_Length > 512.
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
	if f.rev != mpaRev {
		return f, 0, fmt.Errorf("%w: revision %d, want %d", errMPA, f.rev, mpaRev)
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
