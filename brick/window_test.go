package brick_test

import (
	"bytes"
	"errors"
	"testing"
	"unsafe"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
)

// TestMapWindows: on the software RNIC (memory windows) maps of one
// session are windows over its frames, with distinct keys; data goes
// through them, and after Unmap the key is dead.
func TestMapWindows(t *testing.T) {
	e := newEnv(t, envOpts{frames: 4})
	c := e.dial()
	ctx := e.ctx
	for _, id := range []uint64{block, 2 * block} {
		wantErr(t, "alloc", c.Alloc(ctx, id), nil)
	}
	h1, err := c.Map(ctx, block, protocol.MapReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := c.Map(ctx, 2*block, protocol.MapReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	base := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(e.region.Frame(0)))))
	for _, h := range []struct {
		addr uint64
		key  uint32
	}{{h1.Addr, h1.RKey}, {h2.Addr, h2.RKey}} {
		if h.addr < base || (h.addr-base)%block != 0 || h.key == 0 {
			t.Fatalf("handle at %#x (key %#x) is not a frame of the region at %#x", h.addr, h.key, base)
		}
	}
	if h1.RKey == h2.RKey || h1.Addr == h2.Addr {
		t.Fatalf("two maps share key %#x / address %#x", h1.RKey, h1.Addr)
	}
	if _, err := h1.WriteAt([]byte("window"), block-6); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 6)
	if _, err := h1.ReadAt(got, block-6); err != nil || !bytes.Equal(got, []byte("window")) {
		t.Fatalf("read back %q, %v", got, err)
	}
	stale := *h1 // a copy the client does not know is unmapped: the brick must refuse it
	wantErr(t, "unmap", h1.Unmap(ctx), nil)
	if _, err := h1.WriteAt([]byte("late"), 0); !errors.Is(err, client.ErrNotMapped) {
		t.Fatalf("write through the unmapped handle: %v, want ErrNotMapped from the client", err)
	}
	if _, err := stale.WriteAt([]byte("late"), 0); !errors.Is(err, verbs.ErrRemoteAccess) {
		t.Fatalf("write after unmap: %v, want a remote access error", err)
	}
}
