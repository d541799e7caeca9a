package alloc2m

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/wal"

	"github.com/brick-storage/brick/internal/crc32c"
)

// Pebble 2.1 has no strict WAL recovery mode. Replaying a log, it stops at
// the first chunk that does not check out and, unless a WAL sync chunk in a
// *later 32 KiB block* proves the damaged bytes had been synced, takes that
// point for the end of a log torn by a crash: every later record is dropped
// without an error. A brick's log is small (a verb is a few dozen bytes),
// so it usually lives in one block and damage anywhere in it silently loses
// acknowledged allocations, frees and placements.
//
// checkWALs closes the gap before Pebble opens the store (a writable open
// would flush what it replayed and delete the evidence): it walks each log's
// chunks and, at the first bad one, looks through the whole rest of the file,
// the damaged block included, for an intact WAL sync chunk of the same log
// whose synced offset lies past the damage. Such a chunk was written after
// a sync that made the damaged bytes durable, so they are corruption, not a
// torn tail. Logs written before Pebble's FormatWALSyncChunks carry no
// synced offsets and cannot be judged; Open ratchets every store past it.
//
// The chunk format (pebble/record): 32 KiB blocks of chunks that never
// straddle a block; a chunk is CRC (4, masked CRC-32C of what follows the
// length), length (2), encoding (1), then for the recyclable encodings 5-8
// the log number (4), and for the WAL sync encodings 9-12 also the synced
// offset (8), then the payload. A block ends in zeros when the next header
// does not fit.
const (
	walBlockSize        = 32 << 10
	walLegacyHeader     = 7
	walRecyclableHeader = walLegacyHeader + 4
	walSyncHeader       = walRecyclableHeader + 8
)

// walCRC is Pebble's masked CRC-32C.
func walCRC(b []byte) uint32 {
	c := crc32c.Checksum(b)
	return (c>>15 | c<<17) + 0xa282ead8
}

// walHeaderSize is the header size for a chunk encoding; 0 if unknown.
func walHeaderSize(enc byte) int {
	switch {
	case enc >= 1 && enc <= 4:
		return walLegacyHeader
	case enc >= 5 && enc <= 8:
		return walRecyclableHeader
	case enc >= 9 && enc <= 12:
		return walSyncHeader
	}
	return 0
}

// checkWALs checks every write-ahead log in dir; see above.
func checkWALs(fsys vfs.FS, dir string) error {
	names, err := fsys.List(dir)
	if err != nil {
		return fmt.Errorf("listing %s: %w", dir, err)
	}
	for _, name := range names {
		num, _, ok := wal.ParseLogFilename(name)
		if !ok {
			continue
		}
		data, err := readFile(fsys, fsys.PathJoin(dir, name))
		if err != nil {
			return fmt.Errorf("reading write-ahead log %s: %w", name, err)
		}
		bad := firstBadChunk(data, uint32(num))
		if bad < 0 {
			continue
		}
		if synced, ok := syncedPast(data, uint32(num), bad); ok {
			return fmt.Errorf("write-ahead log %s is damaged at byte %d, but a later record says the log had been synced to byte %d, so records after the damage were acknowledged and would be lost: %w",
				name, bad, synced, ErrCorrupt)
		}
	}
	return nil
}

func readFile(fsys vfs.FS, path string) ([]byte, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// firstBadChunk returns the offset of the first chunk of log num in data
// that does not check out, or -1 if the log ends cleanly (at the end of the
// data, or at an end-of-log trailer).
func firstBadChunk(data []byte, num uint32) int {
	for blk := 0; blk < len(data); blk += walBlockSize {
		b := data[blk:min(blk+walBlockSize, len(data))]
		end := 0
		for end+walLegacyHeader <= len(b) {
			h := b[end:]
			sum, n, enc := binary.LittleEndian.Uint32(h), int(binary.LittleEndian.Uint16(h[4:])), h[6]
			if sum == 0 && n == 0 && enc == 0 {
				if end+walRecyclableHeader > len(b) || (end+walSyncHeader > len(b) && allZero(b[end:])) {
					end = len(b) // padding at the end of a block
					break
				}
				return blk + end
			}
			hs := walHeaderSize(enc)
			if hs == 0 || end+hs+n > len(b) {
				return blk + end
			}
			if hs > walLegacyHeader {
				if ln := binary.LittleEndian.Uint32(h[7:]); ln != num {
					if ln == num+1 {
						return -1 // the end-of-log trailer
					}
					return blk + end
				}
			}
			if walCRC(h[6:hs+n]) != sum {
				return blk + end
			}
			end += hs + n
		}
		if !allZero(b[end:]) {
			return blk + end // a torn header at the end
		}
	}
	return -1
}

// syncedPast looks for an intact WAL sync chunk of log num after offset bad
// whose synced offset is past bad.
func syncedPast(data []byte, num uint32, bad int) (uint64, bool) {
	for p := bad + 1; p+walSyncHeader <= len(data); p++ {
		h := data[p:]
		if enc := h[6]; enc < 9 || enc > 12 || binary.LittleEndian.Uint32(h[7:]) != num {
			continue
		}
		synced := binary.LittleEndian.Uint64(h[11:])
		blockEnd := min((p/walBlockSize+1)*walBlockSize, len(data))
		end := p + walSyncHeader + int(binary.LittleEndian.Uint16(h[4:]))
		if synced <= uint64(bad) || end > blockEnd {
			continue
		}
		if walCRC(h[6:end-p]) == binary.LittleEndian.Uint32(h) {
			return synced, true
		}
	}
	return 0, false
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
