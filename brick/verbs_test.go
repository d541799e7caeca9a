package brick_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
)

// TestVerbErrors: every verb's error cases, as the protocol numbers them.
func TestVerbErrors(t *testing.T) {
	e := newEnv(t, envOpts{})
	a, b := e.dial(), e.dial()
	ctx := e.ctx
	for _, id := range []uint64{block, 2 * block, 3 * block, 4 * block} {
		wantErr(t, "alloc", a.Alloc(ctx, id), nil)
	}
	mapErr := func(c *client.Client, id uint64, flags uint32) error {
		_, err := c.Map(ctx, id, flags)
		return err
	}
	ro, rw, sh := protocol.MapReadOnly, protocol.MapReadWrite, protocol.MapShared
	steps := []struct {
		name string
		err  error
		want error
	}{
		{"alloc unaligned", a.Alloc(ctx, 4096), client.ErrInvalid},
		{"alloc twice", a.Alloc(ctx, block), client.ErrExist},
		{"free unallocated", a.Free(ctx, 9*block), client.ErrNotFound},
		{"map unallocated", mapErr(a, 9*block, ro), client.ErrNotFound},
		{"map no access", mapErr(a, block, 0), client.ErrInvalid},
		{"map ro and rw", mapErr(a, block, ro|rw), client.ErrInvalid},
		{"unmap unmapped", a.Unmap(ctx, block), client.ErrNotMapped},
		{"unmap unallocated", a.Unmap(ctx, 9*block), client.ErrNotFound},
		{"a maps 1 rw", mapErr(a, block, rw), nil},
		{"a maps 1 again", mapErr(a, block, ro), client.ErrBusy},
		{"b maps 1 rw", mapErr(b, block, rw), client.ErrBusy},
		{"b maps 1 ro", mapErr(b, block, ro), client.ErrBusy},
		{"b unmaps a's map", b.Unmap(ctx, block), client.ErrNotMapped},
		{"free mapped", b.Free(ctx, block), client.ErrBusy},
		{"a maps 2 ro", mapErr(a, 2*block, ro), nil},
		{"b maps 2 ro", mapErr(b, 2*block, ro), nil},
		{"b maps 3 rw shared", mapErr(b, 3*block, rw|sh), nil},
		{"a maps 3 rw shared", mapErr(a, 3*block, rw|sh), nil},
		{"a maps 4 rw", mapErr(a, 4*block, rw), nil},
		{"b maps 4 rw shared over exclusive", mapErr(b, 4*block, rw|sh), client.ErrBusy},
		{"a unmaps 1", a.Unmap(ctx, block), nil},
		{"b maps 1 rw now", mapErr(b, block, rw), nil},
	}
	for _, s := range steps {
		wantErr(t, s.name, s.err, s.want)
	}
}

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
	if st, err := a.Status(ctx); err != nil || st.Mapped != 0 || st.Blocks != 2 {
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
	// The freed map's key is dead: a Write through it faults (and ends
	// that session).
	c := e.dial()
	wantErr(t, "c allocs 5", c.Alloc(ctx, 5*block), nil)
	hc, err := c.Map(ctx, 5*block, protocol.MapReadWrite)
	wantErr(t, "c maps 5", err, nil)
	stale := *hc // a copy the client does not know is freed: the brick must refuse it
	wantErr(t, "c frees 5 with its handle", hc.Free(ctx), nil)
	if _, err := stale.WriteAt([]byte("late"), 0); !errors.Is(err, verbs.ErrRemoteAccess) {
		t.Fatalf("a write through the freed map: got %v, want a remote access error", err)
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

// TestPersist: GPSPM on the file backend, refusal on volatile memory, and
// the persist request's own checks.
func TestPersist(t *testing.T) {
	for _, file := range []bool{true, false} {
		e := newEnv(t, envOpts{file: file})
		// Ask for GPSPM only: over the software RNIC a file would get FLUSH
		// (TestPowerFailMethods covers every method).
		c, err := client.Dial(e.ctx, e.addr, client.Options{PersistFeatures: protocol.FeatureGPSPM})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		wantErr(t, "alloc", c.Alloc(e.ctx, 0), nil)
		h, err := c.Map(e.ctx, 0, protocol.MapReadWrite)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.WriteAt([]byte("hello"), 100); err != nil {
			t.Fatal(err)
		}
		if !file {
			if h.Method != protocol.PersistNone {
				t.Fatalf("anonymous memory announced %v", h.Method)
			}
			wantErr(t, "persist volatile", h.Persist(e.ctx, 0, 5), client.ErrVolatile)
			continue
		}
		// FLUSH where the RNIC negotiated it (the software RNIC does).
		if h.Method != protocol.PersistGPSPM && h.Method != protocol.PersistFlush {
			t.Fatalf("file backend announced %v", h.Method)
		}
		wantErr(t, "persist", h.Persist(e.ctx, 100, 5), nil)
		b, err := e.store.Lookup(0)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.region.Frame(b.Frame)[100:105]; string(got) != "hello" {
			t.Fatalf("frame holds %q", got)
		}
		// The brick checks what the client library would not send.
		bad := *h
		bad.Length = 4 * block
		wantErr(t, "persist past the end", bad.Persist(e.ctx, block, 8), client.ErrInvalid)
		wantErr(t, "persist unmapped", h.Unmap(e.ctx), nil)
		wantErr(t, "persist after unmap", h.Persist(e.ctx, 0, 8), client.ErrNotMapped)
	}
}

// TestNoSpaceAndZeroReuse: ENOSPC when frames run out, and a freed frame
// comes back zeroed to the next owner.
func TestNoSpaceAndZeroReuse(t *testing.T) {
	e := newEnv(t, envOpts{frames: 3, file: true})
	c := e.dial()
	for i := uint64(0); i < 3; i++ {
		wantErr(t, "alloc", c.Alloc(e.ctx, i*block), nil)
	}
	wantErr(t, "alloc past capacity", c.Alloc(e.ctx, 7*block), client.ErrNoSpace)

	secret := make([]byte, block)
	rand.Read(secret)
	h, err := c.Map(e.ctx, block, protocol.MapReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt(secret, 0); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "unmap", h.Unmap(e.ctx), nil)
	wantErr(t, "free", c.Free(e.ctx, block), nil)
	wantErr(t, "alloc reuses the frame", c.Alloc(e.ctx, 7*block), nil)
	h, err = c.Map(e.ctx, 7*block, protocol.MapReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, block)
	if _, err := h.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, make([]byte, block)) {
		t.Fatal("a reused frame still holds the previous owner's bytes")
	}
}

// TestRevokeOnDisconnect: a session's maps die with it.
func TestRevokeOnDisconnect(t *testing.T) {
	e := newEnv(t, envOpts{})
	a, b := e.dial(), e.dial()
	wantErr(t, "alloc", a.Alloc(e.ctx, 0), nil)
	if _, err := a.Map(e.ctx, 0, protocol.MapReadWrite); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Map(e.ctx, 0, protocol.MapReadWrite); !isBusy(err) {
		t.Fatalf("map while a holds it: %v", err)
	}
	a.Close()
	e.waitSessions(1)
	if _, err := b.Map(e.ctx, 0, protocol.MapReadWrite); err != nil {
		t.Fatalf("map after a left: %v", err)
	}
	if st, _ := b.Status(e.ctx); st.Mapped != 1 || st.Sessions != 1 {
		t.Fatalf("status %+v", st)
	}
}

func isBusy(err error) bool { return err != nil && errorsIs(err, client.ErrBusy) }

// TestSharedWriterAndReader: two sessions map one block read-write and
// shared; one writes the whole block over and over while the other reads
// it. The bytes read are some mix of the two writes, as RDMA has it, but
// both sessions must survive: the software RNIC once ended the reader's
// (or, for two writers, a writer's) as corrupted, its CRC taken over
// memory that changed before the kernel copied it.
func TestSharedWriterAndReader(t *testing.T) {
	e := newEnv(t, envOpts{})
	w, r := e.dial(), e.dial()
	wantErr(t, "alloc", w.Alloc(e.ctx, block), nil)
	flags := protocol.MapReadWrite | protocol.MapShared
	hw, err := w.Map(e.ctx, block, flags)
	if err != nil {
		t.Fatal(err)
	}
	hr, err := r.Map(e.ctx, block, flags)
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 40
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, hw.Length)
		for i := range rounds {
			for j := range buf {
				buf[j] = byte(i + j)
			}
			if _, err := hw.WriteAt(buf, 0); err != nil {
				done <- fmt.Errorf("write %d: %w", i, err)
				return
			}
		}
		done <- nil
	}()
	buf := make([]byte, hr.Length)
	for i := range rounds {
		if _, err := hr.ReadAt(buf, 0); err != nil {
			t.Fatalf("read %d while the block is written: %v", i, err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
