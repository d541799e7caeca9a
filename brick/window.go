package brick

import (
	"errors"
	"fmt"
	"sync"

	"github.com/brick-storage/brick/pmem"
	"github.com/brick-storage/brick/verbs"
)

// Memory windows. When the session's queue pair offers them
// (Caps().MemoryWindows), the session registers every data frame ONCE —
// one region over the contiguous span from Frame(0) to the end of the last
// frame — and each Map binds a type-2 window over its block's frame:
// read-only maps get a read-only window. Unmap invalidates the window
// before it replies, the session's end invalidates the rest (by
// deregistering the region). That replaces a registration per map, which
// on hardware pins and translates 2 MiB per Map, by a bind. Where windows
// are missing, or the frames are not one span, each map registers its own
// frame.
//
// The client may unmap with a Send with Invalidate of the handle's rkey:
// the window is then already invalid when Unmap runs, which
// MW.Invalidate treats as done.

// windows is a session's registration for memory windows.
type windows struct {
	mu       sync.Mutex
	mr       verbs.MR // every data frame; nil until the first Map
	disabled bool     // no windows: per-map registrations
}

// windowAccess is the session region's own access. It has no remote
// right: only the windows bound per map open memory to the peer, so the
// region's key is worthless to a client that guesses it.
const windowAccess = verbs.AccessLocalWrite | verbs.AccessMWBind | verbs.AccessFlushPersistent

// windowRegion returns the session's region for binding windows,
// registering it on first use, or nil when maps must register their own.
func (ss *session) windowRegion() (verbs.MR, error) {
	w := &ss.win
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mr != nil || w.disabled {
		return w.mr, nil
	}
	if !ss.qp.Caps().MemoryWindows {
		w.disabled = true
		return nil, nil
	}
	span := ss.srv.region.DataSpan()
	if len(span) == 0 {
		ss.log.Info("the region has no data frames; registering per map instead of binding memory windows")
		w.disabled = true
		return nil, nil
	}
	hooks, err := pmem.HooksFor(ss.srv.region, span)
	if err != nil {
		return nil, fmt.Errorf("brick: hooks for the data frames: %w", err)
	}
	mr, err := ss.qp.PD().RegisterWith(span, windowAccess, verbs.RegisterOptions{Hooks: hooks})
	if errors.Is(err, verbs.ErrNotSupported) {
		ss.log.Info("cannot register the data frames for memory windows; registering per map", "err", err)
		w.disabled = true
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("brick: register the data frames: %w", err)
	}
	w.mr = mr
	return mr, nil
}

// bindWindow binds m's window over its frame with the remote rights of
// access. It reports false when the session registers per map instead.
func (s *Server) bindWindow(ss *session, m *mapping, access verbs.Access) (bool, error) {
	mr, err := ss.windowRegion()
	if err != nil || mr == nil {
		return false, err
	}
	mw, err := ss.qp.BindMW(mr, int(m.frame)*pmem.FrameSize, pmem.FrameSize, access&^verbs.AccessLocalWrite)
	if err != nil {
		return false, fmt.Errorf("brick: bind a memory window over block %#x: %w", m.id, err)
	}
	m.mw = mw
	return true, nil
}

// endWindows drops the session's region; every window over it is
// invalidated with it (unmapAll has normally done that already).
func (ss *session) endWindows() {
	w := &ss.win
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mr != nil {
		if err := w.mr.Deregister(); err != nil {
			ss.log.Error("deregistering the data frames", "err", err)
		}
		w.mr = nil
	}
}
