// Package blockstamp is what tests write into blocks to catch a block
// served in another's place, or an old copy brought back: 4 KiB holding the
// block's ID and a generation, at the start and at the end of the block.
// Production code never imports it.
package blockstamp

import (
	"encoding/binary"

	"github.com/brick-storage/brick/protocol"
)

// Size is the length of a stamp.
const Size = 4096

// Offsets are where a block's two stamps go: its first and its last 4 KiB.
var Offsets = [2]int64{0, protocol.BlockSize - Size}

// Make is the stamp of generation gen of block id: 16-byte slots of the
// ID and the generation, the generation mixed with the slot's offset so
// that slots moved within the stamp do not match either.
func Make(id, gen uint64) []byte {
	b := make([]byte, Size)
	for i := 0; i < len(b); i += 16 {
		binary.LittleEndian.PutUint64(b[i:], id)
		binary.LittleEndian.PutUint64(b[i+8:], gen^uint64(i))
	}
	return b
}

// Gen is the generation b claims to be a stamp of; only comparing b with
// Make(id, Gen(b)) tells whether it is one.
func Gen(b []byte) uint64 { return binary.LittleEndian.Uint64(b[8:]) }
