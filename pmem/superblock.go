package pmem

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"github.com/brick-storage/brick/internal/crc32c"
	"github.com/brick-storage/brick/internal/imghdr"
)

// The superblock is the image header of package imghdr (unit: the frame
// size; count: the data frames), followed by the binding slots; the layout
// is drawn in the package doc. The rest of frame 0 is reserved and zero.
const (
	superblockSize = imghdr.Size

	// Version 2 adds two binding slots, each in a cache line of its own,
	// after the header. Bind overwrites only the older slot, so a write
	// torn by a crash leaves the other one intact.
	sbOffBindA = 64
	sbOffBindB = 128
	bindSize   = 32
	// Offsets inside a slot.
	bindOffStore    = 0
	bindOffGen      = 16
	bindOffReserved = 24
	bindOffChecksum = 28
	// sbAreaSize is how much of frame 0 a version-2 superblock uses.
	sbAreaSize = sbOffBindB + bindSize

	superblockVersion = 2
	superblockV1      = 1
)

var superblockKind = imghdr.Kind{
	Magic: [8]byte{'B', 'R', 'I', 'C', 'K', 'P', 'M', 0},
	Name:  "pmem superblock",
}

// Binding is what a superblock records of the metadata store that maps the
// region's frames: the store's identity and a generation that the store
// and the superblock advance together (brickd does it when it opens and
// when it stops cleanly). A zero Store means no store has been recorded:
// the region holds no blocks.
type Binding struct {
	Store      [16]byte
	Generation uint64
}

// Bound reports whether a store is recorded.
func (b Binding) Bound() bool { return b.Store != [16]byte{} }

// superblock is the decoded header.
type superblock struct {
	version   uint32
	frameSize uint32
	frames    uint64
	uuid      [16]byte
	binding   Binding
	// newest is the offset of the slot holding binding, 0 when none does.
	newest int
}

// newUUID returns a random version-4 UUID.
func newUUID() ([16]byte, error) {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return u, fmt.Errorf("pmem: generating region UUID: %w", err)
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u, nil
}

// encode writes sb's header into b, which must hold at least
// superblockSize bytes. Binding slots are written by encodeSlot.
func (sb *superblock) encode(b []byte) {
	superblockKind.Encode(b, imghdr.Header{Version: sb.version, Unit: sb.frameSize, Count: sb.frames, UUID: sb.uuid})
}

// encodeSlot writes binding bd into the slot s (bindSize bytes).
func encodeSlot(s []byte, bd Binding) {
	_ = s[bindSize-1]
	copy(s[bindOffStore:], bd.Store[:])
	binary.LittleEndian.PutUint64(s[bindOffGen:], bd.Generation)
	binary.LittleEndian.PutUint32(s[bindOffReserved:], 0)
	binary.LittleEndian.PutUint32(s[bindOffChecksum:], crc32c.Checksum(s[:bindOffChecksum]))
}

// slotState classifies a binding slot.
type slotState int

const (
	slotEmpty   slotState = iota // all zero: never written
	slotValid                    // checksum matches
	slotDamaged                  // neither: a torn write or corruption
)

func decodeSlot(s []byte) (Binding, slotState) {
	var bd Binding
	if allZero(s[:bindSize]) {
		return bd, slotEmpty
	}
	if crc32c.Checksum(s[:bindOffChecksum]) != binary.LittleEndian.Uint32(s[bindOffChecksum:]) ||
		binary.LittleEndian.Uint32(s[bindOffReserved:]) != 0 {
		return bd, slotDamaged
	}
	copy(bd.Store[:], s[bindOffStore:])
	bd.Generation = binary.LittleEndian.Uint64(s[bindOffGen:])
	return bd, slotValid
}

// decodeBinding reads the two slots of a version-2 superblock. The valid
// slot with the higher generation wins. One damaged slot is a torn Bind and
// is ignored; two damaged slots are corruption.
func decodeBinding(b []byte) (Binding, int, error) {
	a, sa := decodeSlot(b[sbOffBindA:])
	c, sc := decodeSlot(b[sbOffBindB:])
	switch {
	case sa == slotValid && (sc != slotValid || a.Generation >= c.Generation):
		return a, sbOffBindA, nil
	case sc == slotValid:
		return c, sbOffBindB, nil
	case sa == slotDamaged && sc == slotDamaged:
		return Binding{}, 0, fmt.Errorf("both metadata binding records are damaged: %w", imghdr.ErrBadChecksum)
	}
	// Empty, or one torn write next to an empty slot: the first Bind writes
	// both slots, so a crash inside it is the only way to get here, and
	// then no block was ever allocated.
	return Binding{}, 0, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// isZeroHeader reports whether the superblock area is unformatted.
func isZeroHeader(b []byte) bool { return imghdr.IsZero(b) }

// decodeSuperblock validates the header in b against an image of size bytes.
func decodeSuperblock(b []byte, size int64) (superblock, error) {
	var sb superblock
	if len(b) < sbAreaSize {
		return sb, fmt.Errorf("image shorter than a superblock: %w", imghdr.ErrGeometry)
	}
	h, err := superblockKind.Decode(b)
	if err != nil {
		return sb, err
	}
	sb.version, sb.frameSize, sb.frames, sb.uuid = h.Version, h.Unit, h.Count, h.UUID
	switch sb.version {
	case superblockVersion:
		bd, slot, err := decodeBinding(b)
		if err != nil {
			return sb, err
		}
		sb.binding, sb.newest = bd, slot
	case superblockV1:
		// No binding slots: whatever lies past the header is ignored.
	default:
		return sb, fmt.Errorf("superblock version %d, this brick reads versions %d and %d: %w", sb.version, superblockV1, superblockVersion, imghdr.ErrVersion)
	}
	if sb.frameSize != FrameSize {
		return sb, fmt.Errorf("superblock frame size %d, this brick uses %d: %w", sb.frameSize, FrameSize, imghdr.ErrGeometry)
	}
	frames, ok := checkFrameCount(size)
	if !ok || sb.frames != frames {
		return sb, fmt.Errorf("superblock says %d data frames, image of %d bytes holds %d: %w", sb.frames, size, frames, imghdr.ErrGeometry)
	}
	return sb, nil
}

// formatOrValidate formats an unformatted header in place (unless format
// is false: then ErrUnformatted) or validates an existing one. It reports
// whether it formatted; the caller makes a fresh header durable.
func formatOrValidate(b []byte, size int64, format bool) (sb superblock, formatted bool, err error) {
	if isZeroHeader(b) {
		if !format {
			return sb, false, fmt.Errorf("the header is all zero: %w", ErrUnformatted)
		}
		frames, ok := checkFrameCount(size)
		if !ok {
			return sb, false, fmt.Errorf("%d bytes: %w", size, ErrInvalidSize)
		}
		u, err := newUUID()
		if err != nil {
			return sb, false, err
		}
		sb = superblock{version: superblockVersion, frameSize: FrameSize, frames: frames, uuid: u}
		clear(b[:sbAreaSize])
		sb.encode(b)
		return sb, true, nil
	}
	sb, err = decodeSuperblock(b, size)
	return sb, false, err
}

// bind records bd in the superblock in b (the mapped frame 0) and makes it
// durable with flush, one slot at a time: a crash leaves the previous
// binding or the new one readable. A version-1 header is upgraded to
// version 2 after its slots are written. sb is updated.
func (sb *superblock) bind(b []byte, bd Binding, flush func([]byte) error) error {
	slots := []int{sbOffBindA, sbOffBindB} // first Bind: both
	switch sb.newest {
	case sbOffBindA:
		slots = []int{sbOffBindB}
	case sbOffBindB:
		slots = []int{sbOffBindA}
	}
	if sb.version == superblockV1 {
		// Bytes past a version-1 header were never written by a brick.
		clear(b[superblockSize:sbAreaSize])
	}
	for _, off := range slots {
		encodeSlot(b[off:off+bindSize], bd)
		if err := flush(b[off : off+bindSize]); err != nil {
			return fmt.Errorf("pmem: recording the metadata binding: %w", err)
		}
		sb.newest = off
	}
	sb.binding = bd
	if sb.version == superblockV1 {
		sb.version = superblockVersion
		sb.encode(b)
		if err := flush(b[:superblockSize]); err != nil {
			return fmt.Errorf("pmem: upgrading the superblock to version %d: %w", superblockVersion, err)
		}
	}
	return nil
}
