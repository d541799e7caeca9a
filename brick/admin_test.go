package brick_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
)

// sessionOf finds session id in the admin's list.
func sessionOf(t *testing.T, e *env, admin *client.Client, id uint64) *protocol.SessionInfo {
	t.Helper()
	list, err := admin.Sessions(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range list {
		if list[i].ID == id {
			return &list[i]
		}
	}
	return nil
}

// TestRevokeSessionMaps: an admin revokes another session's maps; its
// keys are dead when the reply comes, the session stays and maps again.
func TestRevokeSessionMaps(t *testing.T) {
	e := newEnv(t, envOpts{frames: 4})
	ctx := e.ctx
	user, admin := e.dial(), e.dial()
	for _, id := range []uint64{block, 2 * block} {
		wantErr(t, "alloc", user.Alloc(ctx, id), nil)
	}
	rw, err := user.Map(ctx, block, protocol.MapReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	ro, err := user.Map(ctx, 2*block, protocol.MapReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rw.WriteAt([]byte("before"), 0); err != nil {
		t.Fatal(err)
	}

	info := sessionOf(t, e, admin, user.SessionID())
	if info == nil {
		t.Fatalf("session %d not listed", user.SessionID())
	}
	wantHeld := []protocol.HeldMap{{ID: block, Flags: protocol.HeldRW}, {ID: 2 * block}}
	if info.Maps != 2 || len(info.Held) != 2 || info.Held[0] != wantHeld[0] || info.Held[1] != wantHeld[1] {
		t.Fatalf("listed maps %d %+v, want %+v", info.Maps, info.Held, wantHeld)
	}
	if info.Peer == "" || info.Flags&protocol.SessionReady == 0 || info.Flags&protocol.SessionSelf != 0 || info.Flags&protocol.SessionKeyProved != 0 {
		t.Fatalf("session record %+v", info)
	}
	if self := sessionOf(t, e, admin, admin.SessionID()); self == nil || self.Flags&protocol.SessionSelf == 0 {
		t.Fatalf("the asking session is not marked as itself: %+v", self)
	}

	n, err := admin.RevokeSession(ctx, user.SessionID())
	if err != nil || n != 2 {
		t.Fatalf("revoke: %d maps, %v; want 2", n, err)
	}
	if info := sessionOf(t, e, admin, user.SessionID()); info == nil || info.Maps != 0 {
		t.Fatalf("after revoke the session is %+v, want listed without maps", info)
	}
	n, err = admin.RevokeSession(ctx, user.SessionID())
	if err != nil || n != 0 {
		t.Fatalf("second revoke: %d maps, %v; want 0", n, err)
	}
	// The session stays: it maps the block again and reads what it wrote.
	again, err := user.Map(ctx, block, protocol.MapReadWrite)
	if err != nil {
		t.Fatalf("map after revoke: %v", err)
	}
	got := make([]byte, 6)
	if _, err := again.ReadAt(got, 0); err != nil || !bytes.Equal(got, []byte("before")) {
		t.Fatalf("read through the new map: %q, %v", got, err)
	}
	// The revoked key is dead (this error ends the user's connection).
	if _, err := ro.ReadAt(got, 0); !errors.Is(err, verbs.ErrRemoteAccess) {
		t.Fatalf("read through a revoked key: %v, want a remote access error", err)
	}
}

// TestEndSession: an admin ends another session; when the reply comes the
// session is gone and its block is free to map read-write.
func TestEndSession(t *testing.T) {
	e := newEnv(t, envOpts{frames: 4})
	ctx := e.ctx
	user, admin := e.dial(), e.dial()
	wantErr(t, "alloc", user.Alloc(ctx, block), nil)
	if _, err := user.Map(ctx, block, protocol.MapReadWrite); err != nil {
		t.Fatal(err)
	}
	n, err := admin.EndSession(ctx, user.SessionID())
	if err != nil || n != 1 {
		t.Fatalf("end: %d maps, %v; want 1", n, err)
	}
	if got := e.srv.Sessions(); got != 1 {
		t.Fatalf("%d sessions after the end, want 1 (the admin's)", got)
	}
	if _, err := admin.Map(ctx, block, protocol.MapReadWrite); err != nil {
		t.Fatalf("map after the holder was ended: %v", err)
	}
	<-user.Done()
	if _, err := user.Map(ctx, block, protocol.MapReadOnly); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("ended session still serves: %v", err)
	}
	for _, tc := range []struct {
		name string
		id   uint64
		want error
	}{
		{"the ended one", user.SessionID(), protocol.ErrNoSession},
		{"unknown", 1 << 40, protocol.ErrNoSession},
		{"itself", admin.SessionID(), protocol.ErrInvalid},
	} {
		_, err := admin.EndSession(ctx, tc.id)
		wantErr(t, "end "+tc.name, err, tc.want)
	}
	_, err = admin.RevokeSession(ctx, 1<<40)
	wantErr(t, "revoke unknown session", err, protocol.ErrNoSession)
}

// TestRevokeMap: an admin's unmap revokes the map of a block whichever
// sessions hold it.
func TestRevokeMap(t *testing.T) {
	e := newEnv(t, envOpts{frames: 4})
	ctx := e.ctx
	a, b, admin := e.dial(), e.dial(), e.dial()
	wantErr(t, "alloc", a.Alloc(ctx, block), nil)
	wantErr(t, "alloc", a.Alloc(ctx, 2*block), nil)
	for _, c := range []*client.Client{a, b} {
		if _, err := c.Map(ctx, block, protocol.MapReadOnly); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Map(ctx, 2*block, protocol.MapReadOnly); err != nil {
		t.Fatal(err)
	}
	n, err := admin.RevokeMap(ctx, block)
	if err != nil || n != 2 {
		t.Fatalf("revoke block: %d maps, %v; want 2", n, err)
	}
	if info := sessionOf(t, e, admin, a.SessionID()); info == nil || len(info.Held) != 1 || info.Held[0].ID != 2*block {
		t.Fatalf("the other map of the session must stay: %+v", info)
	}
	for _, tc := range []struct {
		name string
		id   uint64
		want error
	}{
		{"no longer mapped", block, protocol.ErrNotMapped},
		{"not allocated", 3 * block, protocol.ErrNotFound},
		{"unaligned", block + 1, protocol.ErrInvalid},
	} {
		_, err := admin.RevokeMap(ctx, tc.id)
		wantErr(t, "revoke "+tc.name, err, tc.want)
	}
	// Unmap by the holder itself now finds nothing to unmap.
	wantErr(t, "unmap after revoke", b.Unmap(ctx, block), protocol.ErrNotMapped)
}

// TestFreeRange: a range frees its unmapped blocks, leaves mapped ones,
// skips IDs never allocated, and pages through more than one request's
// bound.
func TestFreeRange(t *testing.T) {
	const n = protocol.MaxFreeRange + 5
	e := newEnv(t, envOpts{frames: n}) // a frame per block: alloc counts them
	ctx := e.ctx
	c, holder := e.dial(), e.dial()
	for i := uint64(1); i <= n; i++ {
		if i == 7 {
			continue // a hole in the range
		}
		wantErr(t, "alloc", c.Alloc(ctx, i*block), nil)
	}
	for _, id := range []uint64{3 * block, 200 * block} {
		if _, err := holder.Map(ctx, id, protocol.MapReadOnly); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name        string
		first, last uint64
		want        client.FreeRangeResult
		err         error
	}{
		{"unaligned", block + 1, 2 * block, client.FreeRangeResult{}, protocol.ErrInvalid},
		{"backwards", 2 * block, block, client.FreeRangeResult{}, protocol.ErrInvalid},
		{"one block", 2 * block, 2 * block, client.FreeRangeResult{Freed: 1}, nil},
		{"nothing allocated", (n + 1) * block, (n + 9) * block, client.FreeRangeResult{}, nil},
		{"all, over several pages", 0, (n + 9) * block, client.FreeRangeResult{Freed: n - 4, Busy: 2, FirstBusy: 3 * block}, nil},
	}
	for _, tc := range tests {
		got, err := c.FreeRange(ctx, tc.first, tc.last)
		wantErr(t, tc.name, err, tc.err)
		if got != tc.want {
			t.Fatalf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
	ext, err := c.List(ctx, 0, ^uint64(0))
	if err != nil {
		t.Fatal(err)
	}
	want := []protocol.Extent{{First: 3 * block, Blocks: 1, State: protocol.StateMappedRO}, {First: 200 * block, Blocks: 1, State: protocol.StateMappedRO}}
	if len(ext) != 2 || ext[0] != want[0] || ext[1] != want[1] {
		t.Fatalf("left %+v, want the mapped blocks %+v", ext, want)
	}
}

// TestAdminNeedsKey: with a key, the admin verbs are refused before the
// session proves it, like any verb (and end the session); the list tells
// sessions that proved the key from those still authenticating.
func TestAdminNeedsKey(t *testing.T) {
	e := newEnv(t, envOpts{authKey: testKey})
	admin, err := client.Dial(e.ctx, e.addr, client.Options{AuthKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	pending := e.dialRaw(rawHello(protocol.FeatureAuth))
	info := sessionOf(t, e, admin, pending.hello.SessionID)
	if info == nil || info.Flags&(protocol.SessionReady|protocol.SessionKeyProved) != 0 {
		t.Fatalf("a session still authenticating is listed as %+v", info)
	}
	if self := sessionOf(t, e, admin, admin.SessionID()); self == nil || self.Flags&protocol.SessionKeyProved == 0 || self.Flags&protocol.SessionReady == 0 {
		t.Fatalf("a session that proved the key is listed as %+v", self)
	}
	for _, tc := range []struct {
		name string
		t    protocol.Type
		m    protocol.Message
	}{
		{"sessions", protocol.TypeSessions, &protocol.SessionsRequest{}},
		{"revoke", protocol.TypeRevoke, &protocol.RevokeRequest{Session: admin.SessionID(), Flags: protocol.RevokeEnd}},
		{"free range", protocol.TypeFreeRange, &protocol.FreeRangeRequest{First: 0, Last: block}},
	} {
		p := e.dialRaw(rawHello(protocol.FeatureAuth))
		p.send(0, frame(t, tc.t, 1, tc.m))
		h, _, err := p.reply(e.ctx)
		if err != nil || h.Status != protocol.StatusPermission {
			t.Fatalf("%s before auth: reply %+v err %v, want StatusPermission", tc.name, h, err)
		}
		p.ended(e.ctx, tc.name)
	}
	if _, err := admin.Sessions(e.ctx); err != nil {
		t.Fatalf("the admin session was disturbed: %v", err)
	}
}

// TestRevokeWaitsForUnmapUnderWay: an admin revoking a map whose own
// session is already unmapping it answers only once that revocation is
// done: its reply still means the key is dead.
func TestRevokeWaitsForUnmapUnderWay(t *testing.T) {
	g := newStallGate(t)
	e := newEnv(t, envOpts{frames: 4, wrap: func(l verbs.Listener) verbs.Listener { return stallListener{l, g} }})
	peer, unmapped := stalledUnmap(t, e, g, block)
	for name, revoke := range map[string]func(ctx context.Context, c *client.Client) error{
		"block": func(ctx context.Context, c *client.Client) error { _, err := c.RevokeMap(ctx, block); return err },
		"session": func(ctx context.Context, c *client.Client) error {
			_, err := c.RevokeSession(ctx, peer.SessionID())
			return err
		},
	} {
		// The admin's own session is given up with its call: a new one each.
		admin, err := client.Dial(e.ctx, e.addr, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(e.ctx, 300*time.Millisecond)
		err = revoke(ctx, admin)
		cancel()
		admin.Close()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("revoke by %s answered (%v) while the key's revocation was still stalled", name, err)
		}
	}
	g.open()
	if err := <-unmapped; err != nil {
		t.Fatalf("the session's own unmap: %v", err)
	}
	_, err := e.dial().RevokeMap(e.ctx, block)
	wantErr(t, "revoke after the unmap", err, protocol.ErrNotMapped)
}
