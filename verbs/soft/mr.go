package soft

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/brick-storage/brick/verbs"
)

// mr is a registered region. mu is held for reading by every placement or
// transmission that touches buf (an FPDU placed, a batch or cork of FPDUs
// written from it, a Read Response's bytes copied out) and for writing by
// Deregister, which then sets dead: once Deregister returns no access is
// in progress and every later one sees dead.
//
// A memory window is an mr too, with parent set: its buf is a sub-slice
// of the parent's, it is valid only on qp and it shares the parent's
// hooks (hookOff is its offset in the parent's buffer, for Hooks calls).
type mr struct {
	pd      *pd
	buf     []byte
	addr    uint64
	access  verbs.Access
	stag    uint32
	hooks   verbs.Hooks // nil unless registered with hooks
	hookOff int         // offset of buf in the hooked registration
	qp      *QP         // window: the queue pair it is bound to
	parent  *mr         // window: the region it is bound over

	mu           sync.RWMutex
	dead         bool // mu: revoked (deregistered or invalidated)
	deregistered bool // mu: Deregister was called

	// wmu guards the windows bound over this region and closed, set when
	// the region is revoked so that no window binds afterwards.
	wmu     sync.Mutex
	windows map[*mr]struct{}
	closed  bool
}

// The STag table is process-wide so that a key of another PD can be told
// apart from a key that does not exist (different Terminate codes).
// An STag is index<<8 | key: the 24-bit index advances monotonically
// (wrapping only after 2^24 registrations, skipping live ones), the key
// byte is random, so STags are not reused quickly and are hard to guess.
//
// Every inbound operation and every posted buffer looks an STag up, and a
// brick binds and revokes a window per Map and Unmap of every session: a
// sync.Map lets lookups run without a lock and keeps the binds of
// different sessions from waiting on one another, where one RWMutex over
// the table made them queue (brickd's mutex profile under 64 sessions of
// control verbs).
var stags struct {
	m    sync.Map // uint32 → *mr
	next atomic.Uint32
}

func init() { stags.next.Store(rand.Uint32N(1 << 24)) }

func lookupSTag(stag uint32) *mr {
	m, _ := stags.m.Load(stag)
	r, _ := m.(*mr)
	return r
}

// Register pins nothing: buf must stay valid and unmoved until Deregister.
func (p *pd) Register(buf []byte, access verbs.Access) (verbs.MR, error) {
	return p.register(buf, access, nil)
}

// RegisterWith registers buf with data-path hooks: the receive goroutine
// calls Placed after each inbound RDMA Write segment or ATOMIC WRITE lands
// in the region (or a window over it), ReadServed on every hooked region
// of the PD when an RDMA Read Request arrives (after the placements before
// it in the stream), and Flush for an inbound FLUSH of the region.
func (p *pd) RegisterWith(buf []byte, access verbs.Access, opts verbs.RegisterOptions) (verbs.MR, error) {
	return p.register(buf, access, opts.Hooks)
}

// regionAccess are the rights a region may be registered with.
const regionAccess = verbs.AccessLocalWrite | verbs.AccessRemoteWrite | verbs.AccessRemoteRead |
	verbs.AccessRemoteAtomic | verbs.AccessFlushPersistent | verbs.AccessMWBind | verbs.AccessStable

func (p *pd) register(buf []byte, access verbs.Access, hooks verbs.Hooks) (*mr, error) {
	if len(buf) == 0 {
		return nil, fmt.Errorf("%w: registering an empty buffer", verbs.ErrInvalid)
	}
	if access&^regionAccess != 0 {
		return nil, fmt.Errorf("%w: unknown access bits %#x", verbs.ErrInvalid, access)
	}
	if access&verbs.AccessStable != 0 && access&(verbs.AccessLocalWrite|verbs.AccessRemoteWrite|verbs.AccessRemoteAtomic) != 0 {
		return nil, fmt.Errorf("%w: a region that may be written cannot promise its memory is stable", verbs.ErrInvalid)
	}
	m := &mr{pd: p, buf: buf, addr: uint64(uintptr(unsafe.Pointer(&buf[0]))), access: access, hooks: hooks}
	if err := allocSTag(m); err != nil {
		return nil, err
	}
	if hooks != nil {
		p.setHooked(m, true)
	}
	return m, nil
}

// allocSTag gives m a fresh STag and enters it in the table.
func allocSTag(m *mr) error {
	for range 1 << 24 {
		index := stags.next.Add(1) & (1<<24 - 1)
		if index == 0 {
			continue // STag 0 is never handed out
		}
		m.stag = index<<8 | uint32(rand.N(256)) // m is not published yet
		if _, used := stags.m.LoadOrStore(m.stag, m); !used {
			return nil
		}
	}
	return fmt.Errorf("%w: STag space exhausted", verbs.ErrNotSupported)
}

func (m *mr) LKey() uint32   { return m.stag }
func (m *mr) RKey() uint32   { return m.stag }
func (m *mr) Addr() uint64   { return m.addr }
func (m *mr) Len() int       { return len(m.buf) }
func (m *mr) String() string { return fmt.Sprintf("mr(stag=%#x len=%d)", m.stag, len(m.buf)) }

// Deregister waits for in-flight accesses (each bounded by one FPDU on the
// socket, or for a stable key by one batch of Read Responses; a peer that
// stalls holds it until the QP is closed or its write deadline fails it),
// then revokes the STag. Memory windows bound over the region are
// invalidated first, with the same guarantee: when Deregister returns no
// operation through the region or any of its windows is in progress or
// will start. Deregistering a region the peer already invalidated (Send
// with Invalidate) is not an error; deregistering twice is.
func (m *mr) Deregister() error {
	m.mu.Lock()
	if m.deregistered {
		m.mu.Unlock()
		return fmt.Errorf("soft: deregister %v: %w", m, verbs.ErrClosed)
	}
	m.deregistered = true
	m.mu.Unlock()
	m.revoke()
	return nil
}

// revoke invalidates the windows bound over m, waits for accesses in
// progress through m and removes its STag. It reports whether m was
// already revoked.
func (m *mr) revoke() bool {
	m.wmu.Lock()
	m.closed = true
	ws := m.windows
	m.windows = nil
	m.wmu.Unlock()
	for w := range ws {
		w.revoke()
	}
	m.mu.Lock()
	if m.dead {
		m.mu.Unlock()
		return true
	}
	m.dead = true
	m.mu.Unlock()
	stags.m.CompareAndDelete(m.stag, m)
	if p := m.parent; p != nil {
		p.wmu.Lock()
		delete(p.windows, m)
		p.wmu.Unlock()
	} else if m.hooks != nil {
		m.pd.setHooked(m, false)
	}
	return false
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
