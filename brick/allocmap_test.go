package brick_test

import (
	"bytes"
	"testing"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
)

// TestAllocMap: an AllocMapRequest places the new block in a zeroed frame
// with the read-write mark of a read-write map already in its record;
// whatever it refuses (an allocated ID, the session's map limit, a full
// brick) leaves no block behind; and a freed frame reaches the next
// owner's AllocMap as zeros.
func TestAllocMap(t *testing.T) {
	e := newEnv(t, envOpts{frames: 2, file: true, maxMaps: 1})
	ctx := e.ctx
	p := e.dialRaw(rawHello(protocol.FeatureAllocMap))
	if p.hello.Features&protocol.FeatureAllocMap == 0 {
		t.Fatal("the brick does not offer FeatureAllocMap")
	}
	p.send(0, frame(t, protocol.TypeAllocMap, 1, &protocol.AllocMapRequest{MapRequest: protocol.MapRequest{ID: 0, Flags: protocol.MapReadWrite}}))
	h, m, err := p.reply(ctx)
	if err != nil || h.Status != protocol.StatusOK || h.Type != protocol.TypeAllocMap|protocol.ReplyBit {
		t.Fatalf("alloc-map reply %+v err %v", h, err)
	}
	if r := m.(*protocol.AllocMapReply); r.Access != protocol.AccessRead|protocol.AccessWrite || r.Length != block {
		t.Fatalf("alloc-map reply %+v: want a read-write 2 MiB handle", r)
	}
	if b, err := e.store.Lookup(0); err != nil || !b.Resident() || !b.MarkedRW {
		t.Fatalf("block 0 after a read-write alloc-map: %+v, %v; want in a frame and marked", b, err)
	}
	// Flags the client library would not send.
	p.send(1, frame(t, protocol.TypeAllocMap, 2, &protocol.AllocMapRequest{MapRequest: protocol.MapRequest{ID: block, Flags: protocol.MapReadOnly | protocol.MapReadWrite}}))
	if h, _, err := p.reply(ctx); err != nil || h.Status != protocol.StatusInvalid {
		t.Fatalf("alloc-map with both map flags: reply %+v err %v, want %v", h, err, protocol.StatusInvalid)
	}

	c := e.dial()
	var c1 *client.Handle // c's one map
	for _, tc := range []struct {
		name  string
		id    uint64
		flags uint32
		want  error
	}{
		{"allocated", 0, protocol.MapReadOnly, client.ErrExist},
		{"no map flags", 1 * block, 0, client.ErrInvalid},
		{"unaligned", 1*block + 4096, protocol.MapReadOnly, client.ErrInvalid},
		{"read-only", 1 * block, protocol.MapReadOnly, nil},
		{"over the map limit", 2 * block, protocol.MapReadOnly, client.ErrLimit},
	} {
		hc, err := c.AllocMap(ctx, tc.id, tc.flags)
		wantErr(t, tc.name, err, tc.want)
		if tc.want == nil {
			c1 = hc
			if b, err := e.store.Lookup(tc.id); err != nil || !b.Resident() || b.MarkedRW {
				t.Fatalf("block after a read-only alloc-map: %+v, %v; want in a frame, unmarked", b, err)
			}
			if hc.Writable() {
				t.Fatal("a read-only alloc-map gave a writable handle")
			}
		}
	}
	st, err := c.Status(ctx)
	wantErr(t, "status", err, nil)
	if st.Blocks != 2 || st.Mapped != 2 {
		t.Fatalf("status %+v: want the two blocks that were allocated, both mapped", st)
	}

	// Both frames are taken: a third block has nowhere to go.
	d := e.dial()
	_, err = d.AllocMap(ctx, 3*block, protocol.MapReadWrite)
	wantErr(t, "alloc-map on a full brick", err, client.ErrNoSpace)

	// The next owner of a written frame reads zeros: with one frame free,
	// the two blocks below take the same frame in turn.
	wantErr(t, "c frees 1 through its handle", c1.Free(ctx), nil)
	hw, err := d.AllocMap(ctx, 4*block, protocol.MapReadWrite)
	wantErr(t, "d alloc-maps 4", err, nil)
	if _, err := hw.WriteAt(bytes.Repeat([]byte{0xa5}, block), 0); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "d frees 4", hw.Free(ctx), nil)
	hn, err := d.AllocMap(ctx, 5*block, protocol.MapReadOnly)
	wantErr(t, "d alloc-maps 5", err, nil)
	got := make([]byte, block)
	if _, err := hn.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, make([]byte, block)) {
		t.Fatal("the next owner of a freed frame reads the previous owner's bytes")
	}
}
