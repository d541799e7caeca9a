package tier

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// The header is the first HeaderSize bytes of the file, little-endian like
// the pmem superblock:
//
//	offset  size  field
//	     0     8  magic "BRICKTR\x00"
//	     8     4  version (1)
//	    12     4  slot size in bytes (SlotSize)
//	    16     8  number of slots
//	    24    16  UUID of the brick (its pmem region's UUID)
//	    40     4  CRC-32C (Castagnoli) of bytes [0, 40)
//
// The rest of the header is zero. An all-zero header is unformatted (a
// crash between sizing the file and writing the header leaves one) and is
// formatted on open.
const (
	hdrOffMagic   = 0
	hdrOffVersion = 8
	hdrOffSlot    = 12
	hdrOffSlots   = 16
	hdrOffUUID    = 24
	hdrOffCRC     = 40
	hdrLen        = 44

	headerVersion = 1
)

var magic = [8]byte{'B', 'R', 'I', 'C', 'K', 'T', 'R', 0}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type header struct {
	slots uint64
	uuid  [16]byte
}

func (h header) marshal() []byte {
	b := make([]byte, HeaderSize)
	copy(b[hdrOffMagic:], magic[:])
	binary.LittleEndian.PutUint32(b[hdrOffVersion:], headerVersion)
	binary.LittleEndian.PutUint32(b[hdrOffSlot:], SlotSize)
	binary.LittleEndian.PutUint64(b[hdrOffSlots:], h.slots)
	copy(b[hdrOffUUID:], h.uuid[:])
	binary.LittleEndian.PutUint32(b[hdrOffCRC:], crc32.Checksum(b[:hdrOffCRC], castagnoli))
	return b
}

// unmarshalHeader decodes b (at least hdrLen bytes). zero reports an
// unformatted (all-zero) header.
func unmarshalHeader(b []byte) (h header, zero bool, err error) {
	if len(b) < hdrLen {
		return header{}, false, fmt.Errorf("header of %d bytes, want %d: %w", len(b), hdrLen, ErrBadMagic)
	}
	if bytes.Count(b[:hdrLen], []byte{0}) == hdrLen {
		return header{}, true, nil
	}
	if !bytes.Equal(b[hdrOffMagic:hdrOffMagic+8], magic[:]) {
		return header{}, false, ErrBadMagic
	}
	if got, want := binary.LittleEndian.Uint32(b[hdrOffCRC:]), crc32.Checksum(b[:hdrOffCRC], castagnoli); got != want {
		return header{}, false, fmt.Errorf("checksum %#x, computed %#x: %w", got, want, ErrBadChecksum)
	}
	if v := binary.LittleEndian.Uint32(b[hdrOffVersion:]); v != headerVersion {
		return header{}, false, fmt.Errorf("version %d, this brick reads %d: %w", v, headerVersion, ErrVersion)
	}
	if sz := binary.LittleEndian.Uint32(b[hdrOffSlot:]); sz != SlotSize {
		return header{}, false, fmt.Errorf("slot size %d, want %d: %w", sz, SlotSize, ErrGeometry)
	}
	h.slots = binary.LittleEndian.Uint64(b[hdrOffSlots:])
	if h.slots == 0 || h.slots > maxSlots {
		return header{}, false, fmt.Errorf("%d slots: %w", h.slots, ErrGeometry)
	}
	copy(h.uuid[:], b[hdrOffUUID:])
	return h, false, nil
}
