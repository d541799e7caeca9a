package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/internal/blockstamp"
	"github.com/brick-storage/brick/protocol"
)

// readGens reads a block's two stamps and returns their generations (0 for
// a block never written, which reads as zeros); a stamp that is not a
// well-formed stamp of this block fails the test.
func readGens(t *testing.T, h *client.Handle) [2]uint64 {
	t.Helper()
	var gens [2]uint64
	got := make([]byte, blockstamp.Size)
	for i, off := range blockstamp.Offsets {
		if _, err := h.ReadAt(got, off); err != nil {
			t.Fatalf("read block %#x: %v", h.ID, err)
		}
		gen := blockstamp.Gen(got)
		if gen == 0 && bytes.Equal(got, make([]byte, len(got))) {
			continue // never written: zeros
		}
		if !bytes.Equal(got, blockstamp.Make(h.ID, gen)) {
			t.Fatalf("block %#x at %#x holds bytes that are no stamp of this block: %x…", h.ID, off, got[:32])
		}
		gens[i] = gen
	}
	return gens
}

// TestTierCrashStorm kills brickd with SIGKILL while a small pmem (8
// frames) and a tier (64 slots) shuffle 48 blocks: workers map blocks
// read-write in a loop, check them, write a new generation and unmap, so
// that every map of a cold block promotes it and demotes another, and the
// background mover demotes under the low watermark. After every restart
// each block must hold exactly the last generation acknowledged for it (or,
// for the blocks being written at the kill, the one before or after, stamp
// by stamp), and every frame and slot in use must hold exactly one block.
func TestTierCrashStorm(t *testing.T) {
	const blocks, workers, rounds = 48, 4, 3
	dir := t.TempDir()
	args := brickdArgs(dir, "--pmem-size", "18MiB", // superblock + 8 frames
		"--tier", filepath.Join(dir, "tier"), "--tier-size", "128MiB")
	d := startDaemon(t, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	dial := func(addr string) *client.Client {
		t.Helper()
		c, err := client.Dial(ctx, addr, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	id := func(i int) uint64 { return uint64(i+1) * 2 * mib }

	// gen[i] is the last generation acknowledged for block i (both stamps
	// written, persisted, unmapped); busy[i] says a worker was writing
	// gen[i]+1 when the kill came.
	gen := make([]uint64, blocks)
	busy := make([]bool, blocks)

	c := dial(d.Addr)
	for i := range blocks {
		if err := c.Alloc(ctx, id(i)); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()

	var tieredSeen uint64
	for round := range rounds {
		// Storm, then SIGKILL after a random number of completed steps.
		var done atomic.Int64
		killAt := int64(20 + rand.IntN(40))
		reached := make(chan struct{})
		var once sync.Once
		var wg sync.WaitGroup
		var mu sync.Mutex // guards gen and busy
		stormCtx, stopStorm := context.WithCancel(ctx)
		for w := range workers {
			wc := dial(d.Addr)
			wg.Go(func() {
				defer wc.Close()
				rng := rand.New(rand.NewPCG(uint64(round), uint64(w)))
				for stormCtx.Err() == nil {
					i := w + workers*rng.IntN(blocks/workers) // each worker owns its blocks
					mu.Lock()
					next := gen[i] + 1
					busy[i] = true
					mu.Unlock()
					if err := writeGen(stormCtx, wc, id(i), next, false); err != nil {
						if errors.Is(err, errCorrupt) {
							t.Errorf("round %d: %v", round, err)
						}
						return // the brick is gone: busy[i] stays set
					}
					mu.Lock()
					gen[i], busy[i] = next, false
					mu.Unlock()
					if done.Add(1) == killAt {
						once.Do(func() { close(reached) })
					}
				}
			})
		}
		select {
		case <-reached:
		case <-time.After(2 * time.Minute):
			t.Fatalf("round %d: the storm made no progress\n%s", round, d.log)
		}
		d.kill()
		stopStorm()
		wg.Wait()

		// Restart and check every block.
		d = startDaemon(t, args...)
		c := dial(d.Addr)
		for i := range blocks {
			h, err := c.Map(ctx, id(i), protocol.MapReadOnly)
			if err != nil {
				t.Fatalf("round %d: map block %d after the kill: %v\n%s", round, i, err, d.log)
			}
			gens := readGens(t, h)
			for _, g := range gens {
				if g != gen[i] && !(busy[i] && g == gen[i]+1) {
					t.Fatalf("round %d: block %d holds generation %d, acknowledged %d (being written: %v)", round, i, g, gen[i], busy[i])
				}
			}
			if err := h.Unmap(ctx); err != nil {
				t.Fatal(err)
			}
			if busy[i] { // settle it: write a whole generation past both
				gen[i] = max(gens[0], gens[1]) + 1
				if err := writeGen(ctx, c, id(i), gen[i], true); err != nil {
					t.Fatal(err)
				}
				busy[i] = false
			}
		}
		st := settledStatus(t, ctx, c)
		if st.Blocks != blocks || st.Tiered < blocks-st.Frames {
			t.Fatalf("round %d: status after restart: %+v", round, st)
		}
		tieredSeen += st.Tiered
		c.Close()
	}
	if tieredSeen == 0 {
		t.Fatal("no block was ever on the tier")
	}
}

// writeGen maps block id read-write, checks both stamps agree (unless the
// block may be torn: settling a block that was being written at a kill),
// writes generation g into both, persists and unmaps.
func writeGen(ctx context.Context, c *client.Client, id, g uint64, mayBeTorn bool) error {
	h, err := c.Map(ctx, id, protocol.MapReadWrite)
	if err != nil {
		return err
	}
	got := make([]byte, blockstamp.Size)
	var prev [2]uint64
	for k, off := range blockstamp.Offsets {
		if _, err := h.ReadAt(got, off); err != nil {
			return err
		}
		prev[k] = blockstamp.Gen(got)
		if prev[k] != 0 && !bytes.Equal(got, blockstamp.Make(id, prev[k])) {
			return fmt.Errorf("block %#x at %#x is no stamp: %w", id, off, errCorrupt)
		}
	}
	if !mayBeTorn && (prev[0] != prev[1] || (prev[0] != g-1 && prev[0] != 0)) {
		return fmt.Errorf("block %#x holds generations %v before writing %d: %w", id, prev, g, errCorrupt)
	}
	for _, off := range blockstamp.Offsets {
		if _, err := h.WriteAt(blockstamp.Make(id, g), off); err != nil {
			return err
		}
	}
	if err := h.Persist(ctx, 0, 2*mib); err != nil {
		return err
	}
	return h.Unmap(ctx)
}

var errCorrupt = errors.New("unexpected block content")

// settledStatus polls the status until no move is in flight (every frame
// and slot in use holds one block) and returns it; a leak never settles.
func settledStatus(t *testing.T, ctx context.Context, c *client.Client) *protocol.StatusReply {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		framesUsed, slotsUsed := st.Frames-st.FreeFrames, st.TierSlots-st.TierFreeSlots
		if st.Mapped == 0 && framesUsed+slotsUsed == st.Blocks && slotsUsed == st.Tiered {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("frames or slots leaked: %d frames and %d slots used for %d blocks (%d tiered)", framesUsed, slotsUsed, st.Blocks, st.Tiered)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
	}
}
