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
//	"m/slots"                u64  tier slots when last opened (absent: 0)
//	"m/store"                [16] the store's own identity (schema 3)
//	"m/gen"                  u64  the store's generation (schema 3)
//	"b" + u64 ID             block record, see below
//
// A block record is written in version 2, 12 bytes:
//
//	offset  size  field
//	     0     1  record version (2)
//	     1     1  flags: bit 0 = flagMarkedRW, other bits zero
//	     2     1  location: 0 none (never mapped: reads as zeros),
//	              1 pmem data frame, 2 tier slot
//	     3     1  reserved, zero
//	     4     8  frame or slot index (zero for none)
//
// Version 1 (schema 1, before tiering) is still read: 10 bytes, the block
// always in a frame:
//
//	offset  size  field
//	     0     1  record version (1)
//	     1     1  flags
//	     2     8  data frame index
//
// Every decoded field is bound-checked; a record that fails is reported as
// ErrCorrupt at Open instead of being trusted. Schema 2 differs from schema
// 1 only by the "m/slots" key and version-2 records; a writable Open
// upgrades the schema number before it writes either, so an older brick
// refuses the store with a clear message instead of misreading a record.
// Schema 3 adds "m/store" and "m/gen", the Identity a pmem superblock
// records (identity.go); a writable Open gives a schema-2 store its
// identity in the same batch that upgrades the schema number.
const (
	keyMetaSchema = "m/schema"
	keyMetaUUID   = "m/uuid"
	keyMetaFrames = "m/frames"
	keyMetaSlots  = "m/slots"
	keyMetaStore  = "m/store"
	keyMetaGen    = "m/gen"

	// maxCount bounds a recorded frame or slot count (8 PiB of 2 MiB
	// frames): a read-only open sizes its bitmaps from the recorded counts,
	// so a damaged one must not be trusted with an allocation.
	maxCount = 1 << 32

	blockPrefix   = 'b'
	blockKeyLen   = 1 + 8
	schemaVersion = 3
	schemaV2      = 2
	schemaV1      = 1

	recordVersion = 2
	recordLen     = 12
	recordV1      = 1
	recordV1Len   = 10

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

// encodeRecord returns the value of a block record (always the newest
// version).
func encodeRecord(loc Location, flags uint8) []byte {
	v := make([]byte, recordLen)
	v[0] = recordVersion
	v[1] = flags
	v[2] = uint8(loc.Kind)
	binary.BigEndian.PutUint64(v[4:], loc.Index)
	return v
}

// decodeRecord decodes and checks a block record's value, of either version.
func decodeRecord(v []byte) (loc Location, flags uint8, err error) {
	if len(v) < 1 {
		return Location{}, 0, fmt.Errorf("empty block record: %w", ErrCorrupt)
	}
	switch v[0] {
	case recordV1:
		if len(v) != recordV1Len {
			return Location{}, 0, fmt.Errorf("version-1 block record of %d bytes, want %d: %w", len(v), recordV1Len, ErrCorrupt)
		}
		loc = Location{Kind: InFrame, Index: binary.BigEndian.Uint64(v[2:])}
	case recordVersion:
		if len(v) != recordLen {
			return Location{}, 0, fmt.Errorf("block record of %d bytes, want %d: %w", len(v), recordLen, ErrCorrupt)
		}
		loc = Location{Kind: LocKind(v[2]), Index: binary.BigEndian.Uint64(v[4:])}
		if v[3] != 0 {
			return Location{}, 0, fmt.Errorf("block record reserved byte %#02x is not zero: %w", v[3], ErrCorrupt)
		}
		switch loc.Kind {
		case Nowhere:
			if loc.Index != 0 {
				return Location{}, 0, fmt.Errorf("block record without a location has index %d: %w", loc.Index, ErrCorrupt)
			}
		case InFrame, InSlot:
		default:
			return Location{}, 0, fmt.Errorf("block record location kind %d is unknown: %w", v[2], ErrCorrupt)
		}
	default:
		return Location{}, 0, fmt.Errorf("block record version %d, this brick reads %d and %d: %w", v[0], recordV1, recordVersion, ErrCorrupt)
	}
	flags = v[1]
	if flags&^knownFlags != 0 {
		return Location{}, 0, fmt.Errorf("block record flags %#02x has unknown bits: %w", flags, ErrCorrupt)
	}
	return loc, flags, nil
}

// encodeU64 and encodeU32 encode meta values.
func encodeU64(x uint64) []byte { return binary.BigEndian.AppendUint64(nil, x) }
func encodeU32(x uint32) []byte { return binary.BigEndian.AppendUint32(nil, x) }
