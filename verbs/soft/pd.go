package soft

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"unsafe"

	"github.com/brick-storage/brick/verbs"
)

// pd is a protection domain. It holds no state of its own: a region
// records its PD, and every access compares the two.
type pd struct {
	_ byte // non-zero size so that every PD has a distinct address
}

func newPD() *pd { return &pd{} }

// mr is a registered region. mu is held for reading by every placement or
// transmission that touches buf (one FPDU at a time) and for writing by
// Deregister, which then sets dead: once Deregister returns no access is
// in progress and every later one sees dead.
type mr struct {
	pd     *pd
	buf    []byte
	addr   uint64
	access verbs.Access
	stag   uint32

	mu   sync.RWMutex
	dead bool
}

// The STag table is process-wide so that a key of another PD can be told
// apart from a key that does not exist (different Terminate codes).
// An STag is index<<8 | key: the 24-bit index advances monotonically
// (wrapping only after 2^24 registrations, skipping live ones), the key
// byte is random, so STags are not reused quickly and are hard to guess.
var stags = struct {
	sync.RWMutex
	m    map[uint32]*mr
	next uint32
}{m: make(map[uint32]*mr), next: rand.Uint32N(1 << 24)}

func lookupSTag(stag uint32) *mr {
	stags.RLock()
	m := stags.m[stag]
	stags.RUnlock()
	return m
}

// Register pins nothing: buf must stay valid and unmoved until Deregister.
func (p *pd) Register(buf []byte, access verbs.Access) (verbs.MR, error) {
	if len(buf) == 0 {
		return nil, fmt.Errorf("%w: registering an empty buffer", verbs.ErrInvalid)
	}
	if access&^(verbs.AccessLocalWrite|verbs.AccessRemoteWrite|verbs.AccessRemoteRead) != 0 {
		return nil, fmt.Errorf("%w: unknown access bits %#x", verbs.ErrInvalid, access)
	}
	m := &mr{pd: p, buf: buf, addr: uint64(uintptr(unsafe.Pointer(&buf[0]))), access: access}
	stags.Lock()
	defer stags.Unlock()
	for range 1 << 24 {
		stags.next = (stags.next + 1) & (1<<24 - 1)
		if stags.next == 0 {
			continue // STag 0 is never handed out
		}
		stag := stags.next<<8 | uint32(rand.N(256))
		if _, used := stags.m[stag]; !used {
			m.stag = stag
			stags.m[stag] = m
			return m, nil
		}
	}
	return nil, fmt.Errorf("%w: STag space exhausted", verbs.ErrNotSupported)
}

func (m *mr) LKey() uint32   { return m.stag }
func (m *mr) RKey() uint32   { return m.stag }
func (m *mr) Addr() uint64   { return m.addr }
func (m *mr) Len() int       { return len(m.buf) }
func (m *mr) String() string { return fmt.Sprintf("mr(stag=%#x len=%d)", m.stag, len(m.buf)) }

// Deregister waits for in-flight accesses (each bounded by one FPDU on the
// socket; a peer that stalls mid-FPDU holds it until the QP is closed),
// then revokes the STag.
func (m *mr) Deregister() error {
	m.mu.Lock()
	if m.dead {
		m.mu.Unlock()
		return fmt.Errorf("soft: deregister %v: %w", m, verbs.ErrClosed)
	}
	m.dead = true
	m.mu.Unlock()
	stags.Lock()
	delete(stags.m, m.stag)
	stags.Unlock()
	return nil
}

// span returns the offset of [to, to+n) inside m, or false when the range
// is not inside the region (overflow-safe).
func (m *mr) span(to, n uint64) (int, bool) {
	if to < m.addr {
		return 0, false
	}
	off := to - m.addr
	size := uint64(len(m.buf))
	if off > size || n > size-off {
		return 0, false
	}
	return int(off), true
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
	if m.pd != p {
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
	if m == nil || m.pd != p {
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
