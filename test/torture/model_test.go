package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBlockWrite: the extent map gives the same bytes as applying every
// write to a flat copy of the block, later writes winning.
func TestBlockWrite(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const id = 0x200000
	var b block
	flat := make([]byte, blockSize)
	got := make([]byte, blockSize)
	for i := range 400 {
		off, n := randomRange(rng)
		if i%2 == 0 { // crowd half the writes together, so they overlap
			n = 1 + n%8192
			off = rng.Int64N(64 << 10)
		}
		seed := rng.Uint64() | 1
		b.write(extent{Off: off, Len: n, Seed: seed, Seq: uint64(i)})
		fill(flat[off:off+n], id, seed, off)
		if i%20 == 19 {
			b.expected(id, got)
			if d := firstDiff(got, flat); d >= 0 {
				t.Fatalf("after write %d of [%d, %d): offset %d differs", i, off, off+n, d)
			}
		}
		for j := 1; j < len(b.extents); j++ {
			if p := b.extents[j-1]; p.Off+p.Len > b.extents[j].Off {
				t.Fatalf("extents overlap: %+v %+v", p, b.extents[j])
			}
		}
	}
	// The bytes depend on the block and the offset, not only the seed.
	a, c := make([]byte, 64), make([]byte, 64)
	fill(a, id, 7, 0)
	fill(c, id+blockSize, 7, 0)
	if bytes.Equal(a, c) {
		t.Error("two blocks written with one seed hold the same bytes")
	}
	fill(c, id, 7, 8)
	if bytes.Equal(a, c) {
		t.Error("one seed at two offsets gives the same bytes")
	}
}

// TestLogReplay: a log replays into the state its records describe: acks
// apply, refusals do not, an intent without an ack is in flight, a torn last
// line is ignored and cut before appending; the checkpoint reads back the same.
func TestLogReplay(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log")
	base := uint64(defaultBase)
	log := logMagic + "\nblocks 10000000000 4\ncycles 2\nseq 10\ntotals 1 2 3 4 5\n" +
		"b 10000000000 0:100:abc:3\n" +
		"i 10 a 10000200000\na 10\n" + // acknowledged alloc of block 1
		"i 11 w 10000200000 50 10 def\na 11\n" + // acknowledged write
		"i 12 f 10000000000\nn 12\n" + // refused free of block 0
		"i 13 a 10000400000\n" + // alloc in flight on block 2
		"i 14 w 10000200000 55 1"
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := loadLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.set != (blockSet{base: base, n: 4}) || s.cycles != 2 || s.nextSeq != 14 || s.totals != (totals{1, 2, 3, 4, 5}) {
		t.Errorf("checkpoint: %+v", s)
	}
	if s.acked != (totals{Allocs: 1, Writes: 1, Bytes: 10}) {
		t.Errorf("acked since the checkpoint: %+v", s.acked)
	}
	want := []block{
		{allocated: true, extents: []extent{{0, 100, 0xabc, 3}}},
		{allocated: true, extents: []extent{{50, 10, 0xdef, 11}}},
		{}, {},
	}
	for i := range want {
		if !blockEqual(s.blocks[i], want[i]) {
			t.Errorf("block %d: %+v, want %+v", i, s.blocks[i], want[i])
		}
	}
	if len(s.pending) != 1 || s.pending[2] != (op{Seq: 13, Kind: opAlloc, ID: base + 2*blockSize}) {
		t.Errorf("in flight: %+v", s.pending)
	}

	// Appending cuts the torn line.
	lw, err := openLog(path, s)
	if err != nil {
		t.Fatal(err)
	}
	o, err := lw.intent(op{Kind: opFree, ID: base})
	if err == nil {
		err = lw.ack(o)
	}
	lw.close()
	if err != nil {
		t.Fatal(err)
	}
	if s, err = loadLog(path); err != nil {
		t.Fatal(err)
	}
	if o.Seq != 14 || s.blocks[0].allocated || s.acked.Frees != 1 {
		t.Errorf("after appending free #%d: block 0 %+v, acked %+v", o.Seq, s.blocks[0], s.acked)
	}

	if err := s.writeCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	r, err := loadLog(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range s.blocks {
		if !blockEqual(r.blocks[i], s.blocks[i]) {
			t.Errorf("block %d after the checkpoint: %+v, want %+v", i, r.blocks[i], s.blocks[i])
		}
	}

	// A second intent on a block with one in flight cannot happen.
	bad := logMagic + "\nblocks 10000000000 4\ni 1 a 10000000000\ni 2 f 10000000000\n"
	os.WriteFile(path, []byte(bad), 0o644)
	if _, err := loadLog(path); err == nil || !strings.Contains(err.Error(), "inconsistent") {
		t.Errorf("two intents in flight on one block: %v", err)
	}
}

func blockEqual(a, b block) bool {
	if a.allocated != b.allocated || len(a.extents) != len(b.extents) {
		return false
	}
	for i := range a.extents {
		if a.extents[i] != b.extents[i] {
			return false
		}
	}
	return true
}
