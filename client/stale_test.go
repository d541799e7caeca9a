package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
)

// TestUnmappedHandle: a handle whose Unmap has returned refuses data
// operations, Persist and a second Unmap with ErrNotMapped, without a word
// to the brick: the session and its other handles live on, and a newer
// map of the same block is not revoked by the old handle. Free still
// frees the block.
func TestUnmappedHandle(t *testing.T) {
	c, ctx := dialBrick(t)
	const id, other = client.BlockSize, 2 * client.BlockSize
	old, err := c.AllocMap(ctx, id, protocol.MapReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	keep, err := c.AllocMap(ctx, other, protocol.MapReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Unmap(ctx); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	for name, op := range map[string]func() error{
		"WriteAt": func() error { _, err := old.WriteAt(buf, 0); return err },
		"ReadAt":  func() error { _, err := old.ReadAt(buf, 0); return err },
		"Persist": func() error { return old.Persist(ctx, 0, 8) },
		"Unmap":   func() error { return old.Unmap(ctx) },
	} {
		if err := op(); !errors.Is(err, client.ErrNotMapped) {
			t.Errorf("%s through the unmapped handle: %v, want ErrNotMapped", name, err)
		}
	}
	newer, err := c.Map(ctx, id, protocol.MapReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Unmap(ctx); !errors.Is(err, client.ErrNotMapped) {
		t.Fatalf("old handle's Unmap with a newer map: %v", err)
	}
	for _, h := range []*client.Handle{newer, keep} {
		if _, err := h.WriteAt(buf, 0); err != nil {
			t.Fatalf("handle of %#x after the old one's refusals: %v", h.ID, err)
		}
	}
	if err := newer.Unmap(ctx); err != nil {
		t.Fatal(err)
	}
	if err := old.Free(ctx); err != nil {
		t.Fatalf("Free through the unmapped handle: %v", err)
	}
	if ext, err := c.List(ctx, id, id); err != nil || len(ext) != 0 {
		t.Fatalf("after Free: %v, %v; want no block", ext, err)
	}
}

// TestClientRefusals: what the client refuses before the brick is asked
// leaves the session serving: Persist through a read-only handle, a verb
// with a context already done (nothing is sent, so nothing is allocated),
// a List whose first ID is past its last.
func TestClientRefusals(t *testing.T) {
	c, ctx := dialBrick(t)
	const id = client.BlockSize
	ro, err := c.AllocMap(ctx, id, protocol.MapReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	if err := ro.Persist(ctx, 0, 8); !errors.Is(err, client.ErrAccess) {
		t.Errorf("Persist through a read-only handle (%s): %v, want ErrAccess", ro.Method, err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	for i := range 20 {
		if err := c.Alloc(done, uint64(i+2)*client.BlockSize); !errors.Is(err, context.Canceled) {
			t.Fatalf("Alloc with a cancelled context: %v", err)
		}
	}
	if _, err := c.List(ctx, 2*id, id); !errors.Is(err, client.ErrInvalid) {
		t.Errorf("List(2, 1): %v, want ErrInvalid", err)
	}
	ext, err := c.List(ctx, 0, client.MaxID)
	if err != nil || len(ext) != 1 || ext[0].Blocks != 1 {
		t.Fatalf("List after cancelled Allocs: %v, %v; want only block %#x", ext, err, id)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("the session after the refusals: %v", err)
	}
}

// TestDataFaultEndsSession: an RDMA fault at the brick ends the session,
// and the client says so at once: the error matches ErrClosed as well as
// ErrRemoteAccess, Err is set and Done closed when the call returns.
func TestDataFaultEndsSession(t *testing.T) {
	c, ctx := dialBrick(t)
	h, err := c.AllocMap(ctx, client.BlockSize, protocol.MapReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	bent := *h
	bent.Length *= 2 // past the window the brick granted
	_, err = bent.WriteAt(make([]byte, 8), int64(h.Length))
	if !errors.Is(err, client.ErrRemoteAccess) || !errors.Is(err, client.ErrClosed) {
		t.Fatalf("write past the block: %v, want ErrRemoteAccess and ErrClosed", err)
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done not closed when the faulting call returned")
	}
	if c.Err() == nil {
		t.Fatal("Err is nil after the fault")
	}
}

// TestAdminRevokedHandle: an administrator revokes a session's map and the
// session maps the block again. The old handle's Unmap and Free name its
// own key, so they get ErrNotMapped and ErrBusy and the newer map keeps
// working. A brick without FeatureUnmapKey cannot tell the two maps apart:
// there the old handle's Unmap revokes the newer map, and its Free revokes
// it and frees the block (the hazard the key removes).
func TestAdminRevokedHandle(t *testing.T) {
	addr, ctx := startBrick(t)
	admin, err := client.Dial(ctx, addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	// remapped returns a handle whose map the admin revoked, and the
	// session's newer map of the same block.
	remapped := func(t *testing.T, c *client.Client, id uint64) (old, newer *client.Handle) {
		old, err := c.AllocMap(ctx, id, protocol.MapReadWrite)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := admin.RevokeSession(ctx, c.SessionID()); err != nil || n != 1 {
			t.Fatalf("admin revoke: %d maps, %v", n, err)
		}
		if newer, err = c.Map(ctx, id, protocol.MapReadWrite); err != nil {
			t.Fatal(err)
		}
		return old, newer
	}
	t.Run("Free", func(t *testing.T) {
		bothPaths(t, ctx, addr, protocol.FeatureUnmapKey, "unkeyed Free", func(t *testing.T, i int, c *client.Client) {
			id := uint64(i+3) * client.BlockSize
			old, newer := remapped(t, c, id)
			err := old.Free(ctx)
			if i == 1 {
				if err != nil {
					t.Fatalf("unkeyed Free of the old handle: %v, want it to revoke the newer map and free", err)
				}
				if ext, err := c.List(ctx, id, id); err != nil || len(ext) != 0 {
					t.Fatalf("after the unkeyed Free: %v, %v; want the block freed", ext, err)
				}
				return
			}
			if !errors.Is(err, client.ErrBusy) {
				t.Fatalf("old handle's Free: %v, want ErrBusy (the newer map holds the block)", err)
			}
			if _, err := newer.WriteAt([]byte("still mapped"), 0); err != nil {
				t.Fatalf("newer map after the old handle's Free: %v", err)
			}
			if err := newer.Free(ctx); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("Unmap", func(t *testing.T) {
		bothPaths(t, ctx, addr, protocol.FeatureUnmapKey, "unkeyed Unmap", func(t *testing.T, i int, c *client.Client) {
			id := uint64(i+1) * client.BlockSize
			old, newer := remapped(t, c, id)
			err := old.Unmap(ctx)
			if i == 1 {
				if err != nil {
					t.Fatalf("unkeyed Unmap of the old handle: %v, want it to revoke the newer map", err)
				}
				if err := newer.Unmap(ctx); !errors.Is(err, client.ErrNotMapped) {
					t.Fatalf("newer handle after the unkeyed Unmap: %v, want ErrNotMapped", err)
				}
				return
			}
			if !errors.Is(err, client.ErrNotMapped) {
				t.Fatalf("old handle's Unmap: %v, want ErrNotMapped", err)
			}
			if _, err := newer.WriteAt([]byte("still mapped"), 0); err != nil {
				t.Fatalf("newer map after the old handle's Unmap: %v", err)
			}
			if err := newer.Unmap(ctx); err != nil {
				t.Fatal(err)
			}
		})
	})
}
