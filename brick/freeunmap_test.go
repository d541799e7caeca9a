package brick_test

import (
	"bytes"
	"testing"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
)

// TestFreeUnmap: a Free with FreeUnmap revokes the caller's own map and
// frees the block in one round trip, and the next owner reads zeros; a
// map by another session refuses it and leaves the caller's map working;
// without a map of its own the caller gets a plain Free; a plain Free of
// a mapped block is still EBUSY.
func TestFreeUnmap(t *testing.T) {
	e := newEnv(t, envOpts{})
	a, b := e.dial(), e.dial()
	ctx := e.ctx
	for _, id := range []uint64{block, 2 * block, 3 * block} {
		wantErr(t, "alloc", a.Alloc(ctx, id), nil)
	}
	h1, err := a.Map(ctx, block, protocol.MapReadWrite)
	wantErr(t, "a maps 1 rw", err, nil)
	if _, err := h1.WriteAt([]byte("the previous owner's bytes"), 0); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "a frees mapped 1 without the flag", a.Free(ctx, block), client.ErrBusy)
	wantErr(t, "a frees 1 with its handle", h1.Free(ctx), nil)
	if st, err := a.Status(ctx); err != nil || st.Mapped != 0 || st.Blocks != 2 || st.Unclean != 0 {
		t.Fatalf("after the free: status %+v err %v, want no maps and 2 blocks", st, err)
	}
	wantErr(t, "a unmaps the freed 1", a.Unmap(ctx, block), client.ErrNotFound)

	// The next owner of the ID, and of the frame, reads zeros.
	wantErr(t, "b allocs 1 again", b.Alloc(ctx, block), nil)
	hb, err := b.Map(ctx, block, protocol.MapReadOnly)
	wantErr(t, "b maps 1", err, nil)
	got := make([]byte, 64)
	if _, err := hb.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, make([]byte, len(got))) {
		t.Fatalf("the freed block's next owner reads %q", got)
	}

	// Another session's map refuses the Free before anything changes.
	h2, err := a.Map(ctx, 2*block, protocol.MapReadOnly)
	wantErr(t, "a maps 2 ro", err, nil)
	_, err = b.Map(ctx, 2*block, protocol.MapReadOnly)
	wantErr(t, "b maps 2 ro", err, nil)
	wantErr(t, "a frees 2 that b maps too", h2.Free(ctx), client.ErrBusy)
	if _, err := h2.ReadAt(got, 0); err != nil {
		t.Fatalf("a's map of 2 after the refused free: %v", err)
	}
	wantErr(t, "b frees 1 that only b maps", hb.Free(ctx), nil)

	// The raw request: no map of its own is a plain Free; unknown flags
	// and unallocated blocks are the verb's errors.
	p := e.dialRaw(rawHello(protocol.FeatureFreeUnmap))
	if p.hello.Features&protocol.FeatureFreeUnmap == 0 {
		t.Fatal("the brick does not offer FeatureFreeUnmap")
	}
	for i, tc := range []struct {
		name  string
		id    uint64
		flags uint32
		want  protocol.Status
	}{
		{"no map of its own", 3 * block, protocol.FreeUnmap, protocol.StatusOK},
		{"unallocated", 3 * block, protocol.FreeUnmap, protocol.StatusNotFound},
		{"mapped by others", 2 * block, protocol.FreeUnmap, protocol.StatusBusy},
		{"unknown flag", 2 * block, 1 << 7, protocol.StatusInvalid},
	} {
		p.send(i, frame(t, protocol.TypeFree, uint64(i+1), &protocol.FreeRequest{ID: tc.id, Flags: tc.flags}))
		h, _, err := p.reply(ctx)
		if err != nil || h.Status != tc.want {
			t.Fatalf("%s: reply %+v err %v, want %v", tc.name, h, err, tc.want)
		}
	}
}
