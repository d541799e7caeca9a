package alloc2m

import (
	"encoding/binary"
	"fmt"
)

// Key layout. All integers are big-endian, so that Pebble's byte order is
// numeric order and a prefix scan over block records returns ascending IDs.
//
//	key                      value
//	"m/schema"               u32  schema version (schemaVersion)
//	"m/uuid"                 [16] UUID of the pmem region this metadata maps
//	"m/frames"               u64  data frames in the region when last opened
//	"b" + u64 ID             block record, see below
//
// A block record (version 1) is 10 bytes:
//
//	offset  size  field
//	     0     1  record version (1)
//	     1     1  flags: bit 0 = flagMarkedRW, other bits zero
//	     2     8  data frame index
//
// Every decoded field is bound-checked; a record that fails is reported as
// ErrCorrupt at Open instead of being trusted.
const (
	keyMetaSchema = "m/schema"
	keyMetaUUID   = "m/uuid"
	keyMetaFrames = "m/frames"

	blockPrefix   = 'b'
	blockKeyLen   = 1 + 8
	schemaVersion = 1

	recordVersion = 1
	recordLen     = 10

	// flagMarkedRW: the block was handed out read-write and the handle
	// has not been returned; set durably before the handle exists.
	flagMarkedRW = 1 << 0
	knownFlags   = flagMarkedRW
)

// blockKey returns the Pebble key of block id.
func blockKey(id uint64) []byte {
	k := make([]byte, blockKeyLen)
	k[0] = blockPrefix
	binary.BigEndian.PutUint64(k[1:], id)
	return k
}

// decodeBlockKey returns the ID in a block key.
func decodeBlockKey(k []byte) (uint64, error) {
	if len(k) != blockKeyLen || k[0] != blockPrefix {
		return 0, fmt.Errorf("block key %x: length %d, want %d: %w", k, len(k), blockKeyLen, ErrCorrupt)
	}
	id := binary.BigEndian.Uint64(k[1:])
	if id%BlockSize != 0 {
		return 0, fmt.Errorf("block key %x: ID %#x not aligned: %w", k, id, ErrCorrupt)
	}
	return id, nil
}

// encodeRecord returns the value of a block record.
func encodeRecord(frame uint64, flags uint8) []byte {
	v := make([]byte, recordLen)
	v[0] = recordVersion
	v[1] = flags
	binary.BigEndian.PutUint64(v[2:], frame)
	return v
}

// decodeRecord decodes and checks a block record's value.
func decodeRecord(v []byte) (frame uint64, flags uint8, err error) {
	if len(v) < 1 {
		return 0, 0, fmt.Errorf("empty block record: %w", ErrCorrupt)
	}
	if v[0] != recordVersion {
		return 0, 0, fmt.Errorf("block record version %d, this brick reads %d: %w", v[0], recordVersion, ErrCorrupt)
	}
	if len(v) != recordLen {
		return 0, 0, fmt.Errorf("block record of %d bytes, want %d: %w", len(v), recordLen, ErrCorrupt)
	}
	flags = v[1]
	if flags&^knownFlags != 0 {
		return 0, 0, fmt.Errorf("block record flags %#02x has unknown bits: %w", flags, ErrCorrupt)
	}
	return binary.BigEndian.Uint64(v[2:]), flags, nil
}

// encodeU64 and encodeU32 encode meta values.
func encodeU64(x uint64) []byte { return binary.BigEndian.AppendUint64(nil, x) }
func encodeU32(x uint32) []byte { return binary.BigEndian.AppendUint32(nil, x) }
