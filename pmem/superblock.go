package pmem

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Superblock field offsets; the layout is drawn in the package doc. The rest
// of frame 0 is reserved and zero.
const (
	sbOffMagic     = 0
	sbOffVersion   = 8
	sbOffFrameSize = 12
	sbOffFrames    = 16
	sbOffUUID      = 24
	sbOffChecksum  = 40
	superblockSize = 44

	superblockVersion = 1
)

var superblockMagic = [8]byte{'B', 'R', 'I', 'C', 'K', 'P', 'M', 0}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// superblock is the decoded header.
type superblock struct {
	version   uint32
	frameSize uint32
	frames    uint64
	uuid      [16]byte
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

// encode writes sb into b, which must hold at least superblockSize bytes.
func (sb *superblock) encode(b []byte) {
	_ = b[superblockSize-1]
	copy(b[sbOffMagic:], superblockMagic[:])
	binary.LittleEndian.PutUint32(b[sbOffVersion:], sb.version)
	binary.LittleEndian.PutUint32(b[sbOffFrameSize:], sb.frameSize)
	binary.LittleEndian.PutUint64(b[sbOffFrames:], sb.frames)
	copy(b[sbOffUUID:], sb.uuid[:])
	binary.LittleEndian.PutUint32(b[sbOffChecksum:], crc32.Checksum(b[:sbOffChecksum], castagnoli))
}

// isZeroHeader reports whether the superblock area is unformatted.
func isZeroHeader(b []byte) bool {
	for _, c := range b[:superblockSize] {
		if c != 0 {
			return false
		}
	}
	return true
}

// decodeSuperblock validates the header in b against an image of size bytes.
func decodeSuperblock(b []byte, size int64) (superblock, error) {
	var sb superblock
	if len(b) < superblockSize {
		return sb, fmt.Errorf("image shorter than a superblock: %w", ErrGeometry)
	}
	if !bytes.Equal(b[sbOffMagic:sbOffMagic+8], superblockMagic[:]) {
		return sb, ErrBadMagic
	}
	want := binary.LittleEndian.Uint32(b[sbOffChecksum:])
	if got := crc32.Checksum(b[:sbOffChecksum], castagnoli); got != want {
		return sb, fmt.Errorf("stored %#08x, computed %#08x: %w", want, got, ErrBadChecksum)
	}
	sb.version = binary.LittleEndian.Uint32(b[sbOffVersion:])
	sb.frameSize = binary.LittleEndian.Uint32(b[sbOffFrameSize:])
	sb.frames = binary.LittleEndian.Uint64(b[sbOffFrames:])
	copy(sb.uuid[:], b[sbOffUUID:sbOffUUID+16])
	if sb.version != superblockVersion {
		return sb, fmt.Errorf("version %d, this brick reads version %d: %w", sb.version, superblockVersion, ErrVersion)
	}
	if sb.frameSize != FrameSize {
		return sb, fmt.Errorf("frame size %d, this brick uses %d: %w", sb.frameSize, FrameSize, ErrGeometry)
	}
	frames, ok := checkFrameCount(size)
	if !ok || sb.frames != frames {
		return sb, fmt.Errorf("superblock says %d data frames, image of %d bytes holds %d: %w", sb.frames, size, frames, ErrGeometry)
	}
	return sb, nil
}

// formatOrValidate formats an unformatted header in place or validates an
// existing one. It reports whether it formatted; the caller makes a fresh
// header durable.
func formatOrValidate(b []byte, size int64) (sb superblock, formatted bool, err error) {
	if isZeroHeader(b) {
		frames, ok := checkFrameCount(size)
		if !ok {
			return sb, false, fmt.Errorf("%d bytes: %w", size, ErrInvalidSize)
		}
		u, err := newUUID()
		if err != nil {
			return sb, false, err
		}
		sb = superblock{version: superblockVersion, frameSize: FrameSize, frames: frames, uuid: u}
		sb.encode(b)
		return sb, true, nil
	}
	sb, err = decodeSuperblock(b, size)
	return sb, false, err
}
