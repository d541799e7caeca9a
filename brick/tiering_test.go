package brick_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/brick-storage/brick/alloc2m"
	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/internal/blockstamp"
	"github.com/brick-storage/brick/protocol"
)

// writeStamp maps id read-write, checks it holds generation gen-1 (or
// zeros if gen is 1), writes generation gen and unmaps.
func writeStamp(t *testing.T, e *env, c *client.Client, id uint64, gen int) {
	t.Helper()
	h, err := c.Map(e.ctx, id, protocol.MapReadWrite)
	if err != nil {
		t.Fatalf("map %#x: %v", id, err)
	}
	want := make([]byte, blockstamp.Size)
	if gen > 1 {
		want = blockstamp.Make(id, uint64(gen-1))
	}
	checkStampHandle(t, h, want)
	for _, off := range blockstamp.Offsets {
		if _, err := h.WriteAt(blockstamp.Make(id, uint64(gen)), off); err != nil {
			t.Fatal(err)
		}
	}
	if h.Method == protocol.PersistGPSPM {
		wantErr(t, "persist", h.Persist(e.ctx, 0, block), nil)
	}
	wantErr(t, "unmap", h.Unmap(e.ctx), nil)
}

func checkStampHandle(t *testing.T, h *client.Handle, want []byte) {
	t.Helper()
	got := make([]byte, blockstamp.Size)
	for _, off := range blockstamp.Offsets {
		if _, err := h.ReadAt(got, off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("block %#x at %#x holds %x…, want %x…", h.ID, off, got[:16], want[:16])
		}
	}
}

func checkStamp(t *testing.T, e *env, c *client.Client, id uint64, gen int) {
	t.Helper()
	h, err := c.Map(e.ctx, id, protocol.MapReadOnly)
	if err != nil {
		t.Fatalf("map %#x: %v", id, err)
	}
	checkStampHandle(t, h, blockstamp.Make(id, uint64(gen)))
	wantErr(t, "unmap", h.Unmap(e.ctx), nil)
}

// noLeaks waits for moves in flight to finish and checks that every frame
// and slot in use holds exactly one block.
func noLeaks(t *testing.T, e *env) alloc2m.Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := e.store.Stats()
		used := (st.Frames - st.FreeFrames) + (st.Slots - st.FreeSlots)
		if used == st.Blocks-st.Unplaced && st.Slots-st.FreeSlots == st.Tiered {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("frames or slots leaked: %+v", st)
		}
		time.Sleep(time.Millisecond) // polling a condition with a deadline
	}
}

// TestTieringRoundTrip: more blocks than frames, written and read back in
// turns, so that blocks are demoted in the background and on demand and
// promoted on map; every block keeps its bytes, and List, Status and the
// counters say where they are.
func TestTieringRoundTrip(t *testing.T) {
	const frames, blocks = 4, 12
	e := newEnv(t, envOpts{frames: frames, file: true, tierSlots: 16, tierLow: 1, tierHigh: 2})
	c := e.dial()
	for i := range uint64(blocks) {
		wantErr(t, "alloc", c.Alloc(e.ctx, i*block), nil)
	}
	if st := e.store.Stats(); st.Unplaced != blocks || st.FreeFrames != frames {
		t.Fatalf("new blocks must take no frame: %+v", st)
	}
	for gen := 1; gen <= 3; gen++ {
		for i := range uint64(blocks) {
			writeStamp(t, e, c, i*block, gen)
		}
	}
	for i := range uint64(blocks) {
		checkStamp(t, e, c, i*block, 3)
	}
	st := noLeaks(t, e)
	ts := e.srv.TierStats()
	if st.Tiered < blocks-frames || ts.Demotions == 0 || ts.Promotions == 0 || ts.Placements != blocks ||
		ts.DemotedBytes != ts.Demotions*block || ts.PromotedBytes != ts.Promotions*block {
		t.Fatalf("after the round trip: store %+v, tier %+v", st, ts)
	}
	status, err := c.Status(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if status.TierSlots != 16 || status.TierFreeSlots != st.FreeSlots || status.Tiered != st.Tiered {
		t.Fatalf("status tier %d/%d/%d, store %+v", status.TierSlots, status.TierFreeSlots, status.Tiered, st)
	}
	es, err := c.List(e.ctx, 0, ^uint64(0))
	if err != nil {
		t.Fatal(err)
	}
	var tiered, resident uint64
	for _, x := range es {
		switch x.State {
		case protocol.StateTiered:
			tiered += x.Blocks
		case protocol.StateResident:
			resident += x.Blocks
		default:
			t.Fatalf("extent %+v", x)
		}
	}
	if tiered != st.Tiered || tiered+resident != blocks {
		t.Fatalf("list shows %d tiered and %d resident, store %+v", tiered, resident, st)
	}
	// Freeing a tiered block frees its slot.
	var victim uint64
	e.store.Walk(0, alloc2m.MaxID, func(b alloc2m.Block) bool {
		if b.Tiered() {
			victim = b.ID
			return false
		}
		return true
	})
	wantErr(t, "free tiered", c.Free(e.ctx, victim), nil)
	if st2 := noLeaks(t, e); st2.Tiered != st.Tiered-1 {
		t.Fatalf("after freeing a tiered block: %+v", st2)
	}
}

// TestTieringBusy: Map fails only when every frame is mapped, with EBUSY
// and a sentence; unmapping one frees room for the next promotion.
func TestTieringBusy(t *testing.T) {
	e := newEnv(t, envOpts{frames: 2, file: true, tierSlots: 4})
	c := e.dial()
	for i := range uint64(4) {
		wantErr(t, "alloc", c.Alloc(e.ctx, i*block), nil)
		writeStamp(t, e, c, i*block, 1)
	}
	h0, err := c.Map(e.ctx, 0, protocol.MapReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	h1, err := c.Map(e.ctx, block, protocol.MapReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Map(e.ctx, 2*block, protocol.MapReadOnly)
	wantErr(t, "map with every frame mapped", err, client.ErrBusy)
	if srvErr := e.srv.Demote(0); !strings.Contains(fmt.Sprint(srvErr), "mapped") {
		t.Fatalf("Demote of a mapped block: %v", srvErr)
	}
	wantErr(t, "unmap", h1.Unmap(e.ctx), nil)
	checkStamp(t, e, c, 2*block, 1) // demotes block 1
	if b, _ := e.store.Lookup(block); !b.Tiered() {
		t.Fatalf("block 1 is in %v, want the tier", b.Loc)
	}
	if b, _ := e.store.Lookup(0); !b.Resident() {
		t.Fatalf("mapped block 0 moved to %v", b.Loc)
	}
	wantErr(t, "unmap", h0.Unmap(e.ctx), nil)
	for i := range uint64(4) {
		checkStamp(t, e, c, i*block, 1)
	}
	noLeaks(t, e)
}

// TestTieringFull: with frames and slots full but for the one location
// held back, every block can still be mapped in turn (each promotion
// demotes another); one more Alloc is ENOSPC.
func TestTieringFull(t *testing.T) {
	const frames, slots = 2, 3
	e := newEnv(t, envOpts{frames: frames, file: true, tierSlots: slots})
	c := e.dial()
	capacity := uint64(frames + slots - 1)
	for i := range capacity {
		wantErr(t, "alloc", c.Alloc(e.ctx, i*block), nil)
	}
	wantErr(t, "alloc past capacity", c.Alloc(e.ctx, capacity*block), client.ErrNoSpace)
	for gen := 1; gen <= 2; gen++ {
		for i := range capacity {
			writeStamp(t, e, c, i*block, gen)
		}
	}
	for i := capacity; i > 0; i-- {
		checkStamp(t, e, c, (i-1)*block, 2)
	}
	if st := noLeaks(t, e); st.FreeFrames+st.FreeSlots != 1 {
		t.Fatalf("want exactly the held-back location free: %+v", st)
	}
}

// TestTieringZeroes: a never-mapped block reads as zeros even when the
// frame it gets held a demoted block's bytes.
func TestTieringZeroes(t *testing.T) {
	e := newEnv(t, envOpts{frames: 1, file: true, tierSlots: 4})
	c := e.dial()
	wantErr(t, "alloc", c.Alloc(e.ctx, 0), nil)
	writeStamp(t, e, c, 0, 1)
	wantErr(t, "alloc", c.Alloc(e.ctx, block), nil)
	writeStamp(t, e, c, block, 1) // checks zeros first, in block 0's old frame
	checkStamp(t, e, c, 0, 1)
	noLeaks(t, e)
}
