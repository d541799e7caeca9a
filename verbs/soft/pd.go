package soft

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/brick-storage/brick/verbs"
)

// pd is a protection domain. A region records its PD, and every access
// compares the two. In the software RNIC every QP has its own PD, so qp
// (nil for PDs made by tests) is the one queue pair a memory window of
// this PD can be bound to.
type pd struct {
	qp *QP

	// hooked is the copy-on-write list of live regions registered with
	// Hooks, read without locks by the receive path (ReadServed);
	// hookedMu serialises its writers.
	hookedMu sync.Mutex
	hooked   atomic.Pointer[[]*mr]
}

func newPD() *pd { return &pd{} }

// setHooked adds m to (or removes it from) the PD's hooked regions.
func (p *pd) setHooked(m *mr, add bool) {
	p.hookedMu.Lock()
	defer p.hookedMu.Unlock()
	var cur []*mr
	if l := p.hooked.Load(); l != nil {
		cur = *l
	}
	next := make([]*mr, 0, len(cur)+1)
	for _, o := range cur {
		if o != m {
			next = append(next, o)
		}
	}
	if add {
		next = append(next, m)
	}
	p.hooked.Store(&next)
}

// readServed tells every live hooked region of the PD that a Read Request
// was answered after every placement before it.
func (q *QP) readServed() {
	l := q.pd.hooked.Load()
	if l == nil {
		return
	}
	for _, m := range *l {
		m.mu.RLock()
		if !m.dead {
			m.hooks.ReadServed()
		}
		m.mu.RUnlock()
	}
}

// accessFault says why a tagged access was refused.
type accessFault uint8

const (
	faultNone     accessFault = iota
	faultSTag                 // no such (live) STag
	faultNotAssoc             // STag of another PD
	faultBounds               // range outside the region
	faultRights               // access right missing
)

// acquire validates a remote access to [to, to+n) with right need and, on
// success, returns the region read-locked (the caller must m.mu.RUnlock)
// with the offset of to.
func (p *pd) acquire(stag uint32, to, n uint64, need verbs.Access) (*mr, int, accessFault) {
	m := lookupSTag(stag)
	if m == nil {
		return nil, 0, faultSTag
	}
	if m.pd != p || (m.qp != nil && m.qp != p.qp) {
		return nil, 0, faultNotAssoc
	}
	m.mu.RLock()
	if m.dead {
		m.mu.RUnlock()
		return nil, 0, faultSTag
	}
	off, ok := m.span(to, n)
	if !ok {
		m.mu.RUnlock()
		return nil, 0, faultBounds
	}
	if m.access&need != need {
		m.mu.RUnlock()
		return nil, 0, faultRights
	}
	return m, off, faultNone
}

// local resolves a local SGE at post time. needWrite asks for
// AccessLocalWrite (receive buffers, Read sinks), as verbs do.
func (p *pd) local(sge verbs.SGE, needWrite bool) (*mr, int, error) {
	m := lookupSTag(sge.LKey)
	if m == nil || m.pd != p || m.parent != nil {
		return nil, 0, fmt.Errorf("%w: lkey %#x is not registered in this queue pair's PD", verbs.ErrInvalid, sge.LKey)
	}
	off, ok := m.span(sge.Addr, uint64(sge.Length))
	if !ok {
		return nil, 0, fmt.Errorf("%w: SGE [%#x, +%d) outside %v", verbs.ErrInvalid, sge.Addr, sge.Length, m)
	}
	if needWrite && m.access&verbs.AccessLocalWrite == 0 {
		return nil, 0, fmt.Errorf("%w: %v lacks AccessLocalWrite", verbs.ErrInvalid, m)
	}
	return m, off, nil
}
