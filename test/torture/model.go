package main

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/brick-storage/brick/protocol"
)

const blockSize = protocol.BlockSize

// extent is a range of a block whose bytes came from one write.
type extent struct {
	Off, Len int64
	Seed     uint64 // the write's content seed
	Seq      uint64 // the write's log record, for diagnostics
}

// block is what the model knows about one block ID: allocated or not, and
// the writes that decide its bytes (zero where no extent covers it).
type block struct {
	allocated bool
	extents   []extent // sorted by Off, not overlapping
}

// write lays a write over the block: later writes take precedence, so the
// extents it covers are cut back or dropped.
func (b *block) write(e extent) {
	end := e.Off + e.Len
	out := make([]extent, 0, len(b.extents)+2)
	for _, x := range b.extents {
		xend := x.Off + x.Len
		if xend <= e.Off || x.Off >= end {
			out = append(out, x)
			continue
		}
		if x.Off < e.Off {
			out = append(out, extent{Off: x.Off, Len: e.Off - x.Off, Seed: x.Seed, Seq: x.Seq})
		}
		if xend > end {
			out = append(out, extent{Off: end, Len: xend - end, Seed: x.Seed, Seq: x.Seq})
		}
	}
	out = append(out, e)
	slices.SortFunc(out, func(a, b extent) int { return int(a.Off - b.Off) })
	b.extents = out
}

// expected fills p (one whole block) with the bytes the model says block id
// holds.
func (b *block) expected(id uint64, p []byte) {
	clear(p)
	for _, e := range b.extents {
		fill(p[e.Off:e.Off+e.Len], id, e.Seed, e.Off)
	}
}

// at returns the extent covering offset off, if any.
func (b *block) at(off int64) (extent, bool) {
	for _, e := range b.extents {
		if off >= e.Off && off < e.Off+e.Len {
			return e, true
		}
	}
	return extent{}, false
}

// fill writes the content of a write with seed into p, which sits at offset
// off of block id. A byte depends on the seed, the block and its offset in
// the block, so bytes landing in the wrong block or at the wrong offset are
// caught as surely as stale ones.
func fill(p []byte, id, seed uint64, off int64) {
	var w [8]byte
	i := 0
	for i < len(p) {
		pos := off + int64(i)
		word := uint64(pos) / 8
		binary.LittleEndian.PutUint64(w[:], mix(seed^id*0x9e3779b97f4a7c15^word*0xbf58476d1ce4e5b9))
		i += copy(p[i:], w[pos%8:])
	}
}

// mix is splitmix64's finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// blockSet is the fixed set of block IDs a log works on: n blocks from base.
type blockSet struct {
	base uint64
	n    int
}

func (s blockSet) id(i int) uint64 { return s.base + uint64(i)*blockSize }

func (s blockSet) last() uint64 { return s.id(s.n - 1) }

// index is the position of id in the set, or -1.
func (s blockSet) index(id uint64) int {
	if id < s.base || (id-s.base)%blockSize != 0 || (id-s.base)/blockSize >= uint64(s.n) {
		return -1
	}
	return int((id - s.base) / blockSize)
}

func (s blockSet) String() string { return fmt.Sprintf("%d blocks from %#x", s.n, s.base) }
