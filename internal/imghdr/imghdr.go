// Package imghdr is the header at the start of each of brick's on-disk
// images: the pmem region's superblock and the slow tier's file. Both are
// 44 bytes, little-endian, and differ only in their magic and in what the
// unit and count measure (frames or slots):
//
//	offset  size  field
//	     0     8  magic (one per kind of image)
//	     8     4  version
//	    12     4  unit: the frame or slot size in bytes
//	    16     8  count: the number of frames or slots
//	    24    16  UUID (the region's; the tier records its region's)
//	    40     4  CRC-32C (Castagnoli) of bytes [0, 40)
//
// The image's own package checks the version and the geometry: what they
// must be is its business, not the layout's. The errors for a refused
// header are this package's (errors.go), whichever kind it is.
package imghdr

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/brick-storage/brick/internal/crc32c"
)

// Size is the length of the header in bytes.
const Size = 44

// Field offsets (exported for tests that damage one field).
const (
	OffMagic   = 0
	OffVersion = 8
	OffUnit    = 12
	OffCount   = 16
	OffUUID    = 24
	OffCRC     = 40
)

// Header is a decoded header.
type Header struct {
	Version uint32
	Unit    uint32 // frame or slot size in bytes
	Count   uint64 // number of frames or slots
	UUID    [16]byte
}

// Kind is one kind of image: its magic, and its name in errors.
type Kind struct {
	Magic [8]byte
	Name  string // "pmem superblock", "tier header"
}

// Encode writes h into b, which must hold at least Size bytes.
func (k Kind) Encode(b []byte, h Header) {
	_ = b[Size-1]
	copy(b[OffMagic:], k.Magic[:])
	binary.LittleEndian.PutUint32(b[OffVersion:], h.Version)
	binary.LittleEndian.PutUint32(b[OffUnit:], h.Unit)
	binary.LittleEndian.PutUint64(b[OffCount:], h.Count)
	copy(b[OffUUID:], h.UUID[:])
	Seal(b)
}

// Seal writes the checksum of the header in b: Encode does, and so do
// tests that change a field and want only that change to be noticed.
func Seal(b []byte) {
	binary.LittleEndian.PutUint32(b[OffCRC:], crc32c.Checksum(b[:OffCRC]))
}

// Decode reads the header at the start of b, checking its length, magic
// and checksum (in that order).
func (k Kind) Decode(b []byte) (Header, error) {
	var h Header
	if len(b) < Size {
		return h, fmt.Errorf("%s of %d bytes, want %d: %w", k.Name, len(b), Size, ErrBadMagic)
	}
	if !bytes.Equal(b[OffMagic:OffMagic+len(k.Magic)], k.Magic[:]) {
		return h, fmt.Errorf("%s magic %q, want %q: %w", k.Name, b[OffMagic:OffMagic+len(k.Magic)], k.Magic[:], ErrBadMagic)
	}
	stored, computed := binary.LittleEndian.Uint32(b[OffCRC:]), crc32c.Checksum(b[:OffCRC])
	if stored != computed {
		return h, fmt.Errorf("%s checksum stored %#08x, computed %#08x: %w", k.Name, stored, computed, ErrBadChecksum)
	}
	h.Version = binary.LittleEndian.Uint32(b[OffVersion:])
	h.Unit = binary.LittleEndian.Uint32(b[OffUnit:])
	h.Count = binary.LittleEndian.Uint64(b[OffCount:])
	copy(h.UUID[:], b[OffUUID:OffUUID+16])
	return h, nil
}

// IsZero reports whether the header in b is all zero: an image sized but
// never formatted (a crash between the two leaves one).
func IsZero(b []byte) bool {
	for _, c := range b[:Size] {
		if c != 0 {
			return false
		}
	}
	return true
}
