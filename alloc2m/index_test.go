package alloc2m

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestIndexReopenAndChange checks the index against a model while blocks
// read at Open (the compact base) and blocks changed since (the tree) mix:
// after each reopen, random allocs, frees, placements and marks land on
// both, and Walk, Lookup and Stats must agree with the model.
func TestIndexReopenAndChange(t *testing.T) {
	defer func(n int) { walkChunk = n }(walkChunk)
	walkChunk = 7 // cross chunk boundaries often
	fsys := vfs.NewMem()
	const frames = 64
	model := map[uint64]Block{}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 4 {
		s := openMem(t, fsys, frames)
		check := func(step string) {
			t.Helper()
			var got []Block
			s.Walk(0, MaxID, func(b Block) bool { got = append(got, b); return true })
			var want []Block
			for _, b := range model {
				want = append(want, b)
			}
			slices.SortFunc(want, func(a, b Block) int { return cmpU64(a.ID, b.ID) })
			if !slices.Equal(got, want) {
				t.Fatalf("round %d, %s: Walk = %v, want %v", round, step, got, want)
			}
			if n := s.Stats().Blocks; n != uint64(len(model)) {
				t.Fatalf("round %d, %s: Stats().Blocks = %d, want %d", round, step, n, len(model))
			}
			for id, b := range model {
				if got, err := s.Lookup(id); err != nil || got != b {
					t.Fatalf("round %d, %s: Lookup(%#x) = %v, %v; want %v", round, step, id, got, err, b)
				}
			}
		}
		// Unclean is what a mark left at the last stop means.
		for id, b := range model {
			b.Unclean = b.MarkedRW
			model[id] = b
		}
		check("reopened")
		for op := range 60 {
			id := uint64(rng.IntN(100)) * BlockSize
			b, exists := model[id]
			var err error
			switch {
			case !exists && len(model) < frames:
				err = s.Alloc(id)
				model[id] = Block{ID: id}
			case exists && b.Loc.Kind == Nowhere && rng.IntN(2) == 0:
				b, err = s.Place(id, Location{}, nil)
				model[id] = b
			case exists && rng.IntN(3) == 0:
				err = s.MarkRW(id)
				b.MarkedRW = true
				model[id] = b
			case exists && rng.IntN(3) == 0:
				err = s.ClearRW(id)
				b.MarkedRW, b.Unclean = false, false
				model[id] = b
			case exists:
				err = s.Free(id)
				delete(model, id)
			}
			if err != nil {
				t.Fatalf("round %d, op %d on %#x: %v", round, op, id, err)
			}
			if op%15 == 0 {
				check(fmt.Sprintf("op %d", op))
			}
		}
		check("end of round")
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestIndexDuplicateFrame checks that two blocks on one frame are refused
// at Open, naming both, when both sit in the compact base.
func TestIndexDuplicateFrame(t *testing.T) {
	fsys := vfs.NewMem()
	s := openMem(t, fsys, 8)
	mustAlloc(t, s, id(1), id(5)) // on frames 0 and 1
	if err := s.db.Set(blockKey(id(5)), encodeRecord(FrameLoc(0), 0), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, Options{UUID: testUUID, Frames: 8, FS: fsys, Logger: quiet})
	if want := fmt.Sprintf("blocks %#x and %#x both claim frame 0", id(1), id(5)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open: %v, want an error saying %q", err, want)
	}
}
