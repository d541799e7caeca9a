package soft

import (
	"fmt"

	"github.com/brick-storage/brick/verbs"
)

// BindMW binds a type-2 memory window over [off, off+length) of region,
// which must be of this QP's PD and registered with AccessMWBind. The
// window has its own STag, is usable only through this QP and grants the
// rights verbs.CheckWindowRights allows. It stays bound after the QP ends, until it is
// invalidated (locally, by the peer's Send with Invalidate, or by the
// region's Deregister, which invalidates every window over the region).
func (q *QP) BindMW(region verbs.MR, off, length int, access verbs.Access) (verbs.MW, error) {
	m, ok := region.(*mr)
	if !ok || m.parent != nil {
		return nil, fmt.Errorf("%w: bind a window over %T: not a software RNIC memory region", verbs.ErrInvalid, region)
	}
	if m.pd != q.pd {
		return nil, fmt.Errorf("%w: bind a window over %v: region of another protection domain", verbs.ErrInvalid, m)
	}
	if m.access&verbs.AccessMWBind == 0 {
		return nil, fmt.Errorf("%w: bind a window over %v: region lacks AccessMWBind", verbs.ErrInvalid, m)
	}
	if off < 0 || length <= 0 || off > len(m.buf) || length > len(m.buf)-off {
		return nil, fmt.Errorf("%w: window [%d, +%d) outside %v", verbs.ErrInvalid, off, length, m)
	}
	if err := verbs.CheckWindowRights(access, m.access); err != nil {
		return nil, fmt.Errorf("bind a window over %v: %w", m, err)
	}
	q.mu.Lock()
	broken := q.broken
	q.mu.Unlock()
	if broken {
		return nil, fmt.Errorf("soft: bind window: %w", verbs.ErrClosed)
	}
	w := &mr{pd: q.pd, qp: q, parent: m, buf: m.buf[off : off+length : off+length], addr: m.addr + uint64(off),
		access: access, hooks: m.hooks, hookOff: m.hookOff + off, closed: true}
	m.wmu.Lock()
	defer m.wmu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("soft: bind a window over %v: %w", m, verbs.ErrClosed)
	}
	if err := allocSTag(w); err != nil {
		return nil, err
	}
	if m.windows == nil {
		m.windows = make(map[*mr]struct{})
	}
	m.windows[w] = struct{}{}
	return &mw{w}, nil
}

// mw is a bound memory window.
type mw struct{ m *mr }

func (w *mw) RKey() uint32   { return w.m.stag }
func (w *mw) Addr() uint64   { return w.m.addr }
func (w *mw) Len() int       { return len(w.m.buf) }
func (w *mw) String() string { return fmt.Sprintf("mw(stag=%#x len=%d)", w.m.stag, len(w.m.buf)) }

// Invalidate revokes the window: it waits for an access in progress (one
// FPDU, or a stable key's Read Response batch until written) and removes
// the STag. Invalidating a window that is already
// invalid (by the peer, its region's Deregister or an earlier call) is
// not an error.
func (w *mw) Invalidate() error {
	w.m.revoke()
	return nil
}

// invalidateRemote performs the invalidation a Send with Invalidate asks
// for: stag must be a live region or window of this QP's PD (a window
// bound to this QP). It returns the Terminate to send when it refuses.
//
// It runs on the receive goroutine and waits, like Deregister, for an
// FPDU the send goroutine may be transmitting from the memory. A Read
// Request for the STag that arrived before the Send with Invalidate but
// was not answered yet then fails with a remote access error.
func (q *QP) invalidateRemote(stag uint32) *termMsg {
	m := lookupSTag(stag)
	if m == nil {
		return newTerm(layerRDMAP, etypeRemoteOperation, codeCannotInvalidate)
	}
	if m.pd != q.pd || (m.qp != nil && m.qp != q) {
		return newTerm(layerRDMAP, etypeRemoteProtection, codeCannotInvalidate)
	}
	if m.revoke() {
		return newTerm(layerRDMAP, etypeRemoteOperation, codeCannotInvalidate)
	}
	return nil
}
