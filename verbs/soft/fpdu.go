package soft

import (
	"encoding/binary"
	"fmt"

	"github.com/brick-storage/brick/internal/crc32c"
)

// Sizes of the wire structures, in bytes. See doc.go for the layout.
const (
	mpaLenSize      = 2  // MPA ULPDU_Length
	crcSize         = 4  // MPA CRC32c trailer
	ctrlSize        = 2  // DDP control + RDMAP control
	taggedHdrSize   = 14 // ctrl(2) STag(4) TO(8)
	untaggedHdrSize = 18 // ctrl(2) RsvdULP(4) QN(4) MSN(4) MO(4)
	maxHdrSize      = untaggedHdrSize
	bufSize         = 16 // STag(4) TO(8) length(4): a buffer, at the start of both requests
	readReqSize     = 28 // sink buffer(16) src STag(4) src TO(8)
	flushReqSize    = 16 // buffer(16)
	atomicSize      = 8  // ATOMIC WRITE payload
	termCtrlSize    = 4  // layer/etype, code, header-control bits, reserved

	// maxTermSize bounds a received Terminate payload: control, DDP
	// segment length, the longest DDP header and a Read Request header.
	maxTermSize = termCtrlSize + mpaLenSize + untaggedHdrSize + readReqSize

	// maxSegPayload is the payload carried by one FPDU we send (MULPDU
	// minus the DDP/RDMAP header). 65472 keeps ULPDU_Length below 2^16
	// for both header kinds and makes a full tagged FPDU a multiple of 4
	// (2+14+65472 = 65488), so large transfers need no pad and cost one
	// writev per 64 KiB. Received FPDUs may be any size ULPDU_Length allows.
	maxSegPayload = 65472
)

// DDP control byte (RFC 5041 §4).
const (
	ddpTagged  = 0x80 // T: tagged buffer model
	ddpLast    = 0x40 // L: last segment of the message
	ddpVerMask = 0x03 // DV
	ddpVersion = 0x01
)

// RDMAP control byte (RFC 5040 §4.1): RV(2) Rsv(2) Opcode(4).
const (
	rdmapVerMask = 0xc0
	rdmapVersion = 0x40 // RV = 1
	rdmapOpMask  = 0x0f
)

// RDMAP opcodes (RFC 5040 §4.2).
const (
	opWrite     = 0x0
	opReadReq   = 0x1
	opReadResp  = 0x2
	opSend      = 0x3
	opSendInv   = 0x4
	opTerminate = 0x7
)

// brick's own negotiated extension opcodes: NOT standard iWARP. RFC 7306
// assigns 0x8/0x9 (Immediate Data) and 0xA/0xB (Atomic Request and
// Response); these take the unassigned 0xC..0xE and are sent only to a
// peer that offered them in the MPA extension header (see doc.go).
const (
	opAtomicWrite = 0xC // tagged: 8 bytes at (STag, TO), one store
	opFlushReq    = 0xD // untagged, queue 1: STag, TO, length
	opFlushResp   = 0xE // tagged, no payload: (STag, TO) of the request
)

// Untagged queue numbers (RFC 5040 §5).
const (
	qnSend      = 0
	qnReadReq   = 1
	qnTerminate = 2
)

// header is a decoded DDP/RDMAP header.
type header struct {
	op     uint8
	tagged bool
	last   bool
	stag   uint32 // tagged
	to     uint64 // tagged
	qn     uint32 // untagged
	msn    uint32 // untagged
	mo     uint32 // untagged
	inv    uint32 // Send with Invalidate: the STag to invalidate
}

// hdrLen is the DDP/RDMAP header length implied by the first control byte.
func hdrLen(ctrl0 byte) int {
	if ctrl0&ddpTagged != 0 {
		return taggedHdrSize
	}
	return untaggedHdrSize
}

// padLen is the pad that makes ULPDU_Length field + ULPDU a multiple of 4.
func padLen(ulpduLen int) int {
	return (4 - (mpaLenSize+ulpduLen)&3) & 3
}

// parseHeader decodes the DDP/RDMAP header at the start of b (which begins
// at the DDP control byte). It checks versions, the opcode, that the buffer
// model matches the opcode and that untagged messages use their queue.
func parseHeader(b []byte) (header, int, error) {
	var h header
	if len(b) < ctrlSize {
		return h, 0, fmt.Errorf("%w: short header", errFraming)
	}
	n := hdrLen(b[0])
	if len(b) < n {
		return h, 0, fmt.Errorf("%w: short header", errFraming)
	}
	if b[0]&ddpVerMask != ddpVersion {
		return h, n, fmt.Errorf("%w: DDP version %d", errFraming, b[0]&ddpVerMask)
	}
	if b[1]&rdmapVerMask != rdmapVersion {
		return h, n, fmt.Errorf("%w: RDMAP version %d", errFraming, b[1]>>6)
	}
	h.op = b[1] & rdmapOpMask
	h.tagged = b[0]&ddpTagged != 0
	h.last = b[0]&ddpLast != 0
	if h.tagged {
		h.stag = binary.BigEndian.Uint32(b[2:6])
		h.to = binary.BigEndian.Uint64(b[6:14])
	} else {
		h.qn = binary.BigEndian.Uint32(b[6:10])
		h.msn = binary.BigEndian.Uint32(b[10:14])
		h.mo = binary.BigEndian.Uint32(b[14:18])
		if h.op == opSendInv {
			h.inv = binary.BigEndian.Uint32(b[2:6])
		}
	}
	var wantTagged bool
	var wantQN uint32
	switch h.op {
	case opWrite, opReadResp, opAtomicWrite, opFlushResp:
		wantTagged = true
	case opReadReq, opFlushReq:
		wantQN = qnReadReq
	case opSend, opSendInv:
		wantQN = qnSend
	case opTerminate:
		wantQN = qnTerminate
	default:
		return h, n, fmt.Errorf("%w: unknown RDMAP opcode %d", errFraming, h.op)
	}
	if h.tagged != wantTagged {
		return h, n, fmt.Errorf("%w: opcode %d with wrong buffer model", errFraming, h.op)
	}
	if !h.tagged && h.qn != wantQN {
		return h, n, fmt.Errorf("%w: opcode %d on queue %d", errFraming, h.op, h.qn)
	}
	return h, n, nil
}

// putTagged writes a tagged header (14 bytes) into b.
func putTagged(b []byte, op uint8, last bool, stag uint32, to uint64) {
	_ = b[taggedHdrSize-1]
	b[0] = ddpTagged | ddpVersion
	if last {
		b[0] |= ddpLast
	}
	b[1] = rdmapVersion | op
	binary.BigEndian.PutUint32(b[2:6], stag)
	binary.BigEndian.PutUint64(b[6:14], to)
}

// putUntagged writes an untagged header (18 bytes) into b.
func putUntagged(b []byte, op uint8, last bool, qn, msn, mo uint32) {
	putUntaggedInv(b, op, last, qn, msn, mo, 0)
}

// putUntaggedInv is putUntagged with the Invalidate STag field (RsvdULP
// for every opcode but Send with Invalidate).
func putUntaggedInv(b []byte, op uint8, last bool, qn, msn, mo, inv uint32) {
	_ = b[untaggedHdrSize-1]
	b[0] = ddpVersion
	if last {
		b[0] |= ddpLast
	}
	b[1] = rdmapVersion | op
	binary.BigEndian.PutUint32(b[2:6], inv) // Invalidate STag / RsvdULP
	binary.BigEndian.PutUint32(b[6:10], qn)
	binary.BigEndian.PutUint32(b[10:14], msn)
	binary.BigEndian.PutUint32(b[14:18], mo)
}

// taggedBuf is a buffer as the Read Request and the FLUSH Request carry
// it: STag(4) TO(8) length(4). The FLUSH Request is one alone (brick's
// payload); the Read Request begins with its sink.
type taggedBuf struct {
	stag uint32
	to   uint64
	size uint32
}

func (t *taggedBuf) put(b []byte) {
	_ = b[bufSize-1]
	binary.BigEndian.PutUint32(b[0:4], t.stag)
	binary.BigEndian.PutUint64(b[4:12], t.to)
	binary.BigEndian.PutUint32(b[12:16], t.size)
}

func getTaggedBuf(b []byte) taggedBuf {
	_ = b[bufSize-1]
	return taggedBuf{binary.BigEndian.Uint32(b[0:4]), binary.BigEndian.Uint64(b[4:12]), binary.BigEndian.Uint32(b[12:16])}
}

// readReq is the RDMA Read Request header (RFC 5040 §4.4): the sink buffer,
// then the source STag and TO.
type readReq struct {
	sink    taggedBuf
	srcSTag uint32
	srcTO   uint64
}

func (r *readReq) put(b []byte) {
	_ = b[readReqSize-1]
	r.sink.put(b)
	binary.BigEndian.PutUint32(b[16:20], r.srcSTag)
	binary.BigEndian.PutUint64(b[20:28], r.srcTO)
}

func parseReadReq(b []byte) (readReq, error) {
	if len(b) != readReqSize {
		return readReq{}, fmt.Errorf("%w: read request of %d bytes", errFraming, len(b))
	}
	return readReq{getTaggedBuf(b), binary.BigEndian.Uint32(b[16:20]), binary.BigEndian.Uint64(b[20:28])}, nil
}

func parseFlushReq(b []byte) (taggedBuf, error) {
	if len(b) != flushReqSize {
		return taggedBuf{}, fmt.Errorf("%w: flush request of %d bytes", errFraming, len(b))
	}
	return getTaggedBuf(b), nil
}

// fpdu is one decoded FPDU, for tests and fuzzing; the receive path decodes
// the same fields incrementally from the socket.
type fpdu struct {
	hdr     header
	payload []byte
}

// parseFPDU decodes one complete FPDU at the start of b and returns the
// number of bytes it used. It checks ULPDU_Length against the header and
// the buffer, and the CRC32c.
func parseFPDU(b []byte) (fpdu, int, error) {
	var f fpdu
	if len(b) < mpaLenSize+ctrlSize {
		return f, 0, fmt.Errorf("%w: short FPDU", errFraming)
	}
	ulen := int(binary.BigEndian.Uint16(b))
	hl := hdrLen(b[mpaLenSize])
	if ulen < hl {
		return f, 0, fmt.Errorf("%w: ULPDU_Length %d below header %d", errFraming, ulen, hl)
	}
	total := mpaLenSize + ulen + padLen(ulen) + crcSize
	if len(b) < total {
		return f, 0, fmt.Errorf("%w: FPDU of %d bytes truncated to %d", errFraming, total, len(b))
	}
	h, _, err := parseHeader(b[mpaLenSize : mpaLenSize+hl])
	if err != nil {
		return f, 0, err
	}
	crc := crc32c.Update(0, b[:total-crcSize])
	if got := binary.LittleEndian.Uint32(b[total-crcSize:]); got != crc {
		return f, 0, fmt.Errorf("%w: CRC %#08x, want %#08x", errFraming, got, crc)
	}
	f.hdr = h
	f.payload = b[mpaLenSize+hl : mpaLenSize+ulen]
	return f, total, nil
}

// appendFPDU appends a complete FPDU with the given header bytes and
// payload to dst. The send path builds the same bytes as a writev vector.
func appendFPDU(dst, hdr, payload []byte) []byte {
	ulen := len(hdr) + len(payload)
	start := len(dst)
	dst = binary.BigEndian.AppendUint16(dst, uint16(ulen))
	dst = append(dst, hdr...)
	dst = append(dst, payload...)
	dst = append(dst, make([]byte, padLen(ulen))...)
	crc := crc32c.Update(0, dst[start:])
	return binary.LittleEndian.AppendUint32(dst, crc)
}
