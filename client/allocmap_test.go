package client_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
)

// TestAllocMap: AllocMap gives a handle to a new, zeroed block, in one
// round trip or, with a brick that does not offer FeatureAllocMap, as
// Alloc then Map; an allocated ID is ErrExist and bad flags ErrInvalid,
// and neither leaves a block or a map behind.
func TestAllocMap(t *testing.T) {
	addr, ctx := startBrick(t)
	bothPaths(t, ctx, addr, protocol.FeatureAllocMap, "alloc then map", func(t *testing.T, i int, c *client.Client) {
		id := uint64(2*i) * client.BlockSize
		h, err := c.AllocMap(ctx, id, protocol.MapReadWrite)
		if err != nil {
			t.Fatal(err)
		}
		if !h.Writable() || h.ID != id || h.Length != client.BlockSize {
			t.Fatalf("handle %+v: want a writable 2 MiB handle on %#x", h, id)
		}
		got := make([]byte, 4096)
		if _, err := h.ReadAt(got, client.BlockSize-4096); err != nil || !bytes.Equal(got, make([]byte, 4096)) {
			t.Fatalf("a new block's last page: err %v, zero %v", err, bytes.Equal(got, make([]byte, 4096)))
		}
		want := bytes.Repeat([]byte{byte(i + 1)}, 4096)
		if _, err := h.WriteAt(want, 8192); err != nil {
			t.Fatal(err)
		}
		if _, err := h.ReadAt(got, 8192); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read back: err %v, equal %v", err, bytes.Equal(got, want))
		}
		if _, err := c.AllocMap(ctx, id, protocol.MapReadOnly); !errors.Is(err, client.ErrExist) {
			t.Fatalf("alloc-map of an allocated block: got %v, want ErrExist", err)
		}
		if _, err := c.AllocMap(ctx, id+client.BlockSize, 0); !errors.Is(err, client.ErrInvalid) {
			t.Fatalf("alloc-map without map flags: got %v, want ErrInvalid", err)
		}
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Blocks != 1 || st.Mapped != 1 {
			t.Fatalf("status %+v: want the one block, mapped once", st)
		}
		if err := h.Free(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
