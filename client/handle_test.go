package client_test

import (
	"errors"
	"testing"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
)

// TestHandleFree: Handle.Free leaves no map and no block, in one round
// trip or, with a brick that does not offer FeatureFreeUnmap, as Unmap
// then Free; a map by another session makes it ErrBusy either way, and
// the same call succeeds once that map is gone.
func TestHandleFree(t *testing.T) {
	addr, ctx := startBrick(t)
	other, err := client.Dial(ctx, addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	bothPaths(t, ctx, addr, protocol.FeatureFreeUnmap, "unmap then free", func(t *testing.T, i int, c *client.Client) {
		id := uint64(2*i) * client.BlockSize
		for _, id := range []uint64{id, id + client.BlockSize} {
			if err := c.Alloc(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		h, err := c.Map(ctx, id, protocol.MapReadWrite)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Free(ctx); err != nil {
			t.Fatalf("free: %v", err)
		}
		shared, err := c.Map(ctx, id+client.BlockSize, protocol.MapReadOnly)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Map(ctx, id+client.BlockSize, protocol.MapReadOnly); err != nil {
			t.Fatal(err)
		}
		if err := shared.Free(ctx); !errors.Is(err, client.ErrBusy) {
			t.Fatalf("free of a block another session maps: got %v, want ErrBusy", err)
		}
		if err := other.Unmap(ctx, id+client.BlockSize); err != nil {
			t.Fatal(err)
		}
		// A refused Free may be tried again, on either path (Unmap
		// then Free had unmapped before the Free was refused).
		if err := shared.Free(ctx); err != nil {
			t.Fatalf("free again once the other map is gone: %v", err)
		}
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Blocks != 0 || st.Mapped != 0 {
			t.Fatalf("status %+v: want no blocks and no maps", st)
		}
	})
}
