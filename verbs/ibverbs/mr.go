//go:build ibverbs

package ibverbs

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/brick-storage/brick/verbs"
)

// protDomain is a connection's protection domain.
type protDomain struct {
	conn *conn
	hw   *C.struct_ibv_pd

	mu struct {
		sync.Mutex
		regions map[uint32]*memRegion // live regions by lkey
	}
}

// checkLocal reports whether sge lies inside a live region of this PD
// registered under its lkey.
func (p *protDomain) checkLocal(sge verbs.SGE) error {
	p.mu.Lock()
	m := p.mu.regions[sge.LKey]
	p.mu.Unlock()
	if m == nil {
		return fmt.Errorf("%w: lkey %#x is not a live region of this protection domain", verbs.ErrInvalid, sge.LKey)
	}
	if sge.Addr < m.addr || sge.Addr-m.addr > uint64(m.n) || uint64(sge.Length) > uint64(m.n)-(sge.Addr-m.addr) {
		return fmt.Errorf("%w: local [%#x, +%d) outside region of lkey %#x", verbs.ErrInvalid, sge.Addr, sge.Length, sge.LKey)
	}
	return nil
}

// Register registers buf, which must lie outside the Go heap (see
// checkRegistrable).
func (p *protDomain) Register(buf []byte, access verbs.Access) (verbs.MR, error) {
	return p.RegisterWith(buf, access, verbs.RegisterOptions{})
}

// RegisterWith is Register; Hooks are ignored because the NIC places data,
// serves Reads and executes FLUSH itself.
func (p *protDomain) RegisterWith(buf []byte, access verbs.Access, _ verbs.RegisterOptions) (verbs.MR, error) {
	if err := checkRegistrable(buf); err != nil {
		return nil, err
	}
	if access&verbs.AccessFlushPersistent != 0 && accessFlushPersistent == 0 {
		return nil, notSupported("brick: rdma register: FLUSH access needs brick built with -tags rdmacore45 (rdma-core >= 45 headers)")
	}
	if p.conn.closed.Load() {
		return nil, p.conn.errClosed()
	}
	addr := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(buf))))
	var cerr C.int
	hw := C.brick_reg_mr(p.hw, C.uint64_t(addr), C.size_t(len(buf)), ibvAccess(access), &cerr)
	if hw == nil {
		return nil, cmError(fmt.Sprintf("register %d bytes", len(buf)), int(cerr))
	}
	p.conn.ref()
	m := &memRegion{pd: p, hw: hw, addr: addr, n: len(buf), access: access, lkey: uint32(hw.lkey), rkey: uint32(hw.rkey)}
	p.mu.Lock()
	if p.mu.regions == nil {
		p.mu.regions = make(map[uint32]*memRegion)
	}
	p.mu.regions[m.lkey] = m
	p.mu.Unlock()
	return m, nil
}

// ibvAccess translates access rights. Remote write and atomic rights need
// local write in the verbs API, so they imply it.
func ibvAccess(a verbs.Access) C.int {
	var f C.int
	if a&(verbs.AccessLocalWrite|verbs.AccessRemoteWrite|verbs.AccessRemoteAtomic) != 0 {
		f |= C.IBV_ACCESS_LOCAL_WRITE
	}
	if a&verbs.AccessRemoteWrite != 0 {
		f |= C.IBV_ACCESS_REMOTE_WRITE
	}
	if a&verbs.AccessRemoteRead != 0 {
		f |= C.IBV_ACCESS_REMOTE_READ
	}
	if a&verbs.AccessRemoteAtomic != 0 {
		f |= C.IBV_ACCESS_REMOTE_ATOMIC
	}
	if a&verbs.AccessMWBind != 0 {
		f |= C.IBV_ACCESS_MW_BIND
	}
	if a&verbs.AccessFlushPersistent != 0 {
		f |= C.int(accessFlushPersistent)
	}
	return f
}

// memRegion is a registered memory region.
type memRegion struct {
	pd         *protDomain
	hw         *C.struct_ibv_mr
	addr       uint64
	n          int
	access     verbs.Access
	lkey, rkey uint32
	once       sync.Once
}

func (m *memRegion) LKey() uint32 { return m.lkey }
func (m *memRegion) RKey() uint32 { return m.rkey }
func (m *memRegion) Addr() uint64 { return m.addr }
func (m *memRegion) Len() int     { return m.n }

// Deregister revokes the region: ibv_dereg_mr returns once the NIC no
// longer uses the keys.
func (m *memRegion) Deregister() error {
	var err error
	done := false
	m.once.Do(func() {
		done = true
		m.pd.mu.Lock()
		delete(m.pd.mu.regions, m.lkey)
		m.pd.mu.Unlock()
		if rc := C.ibv_dereg_mr(m.hw); rc != 0 {
			err = fmt.Errorf("brick: rdma deregister: %w", errno(int(rc)))
		}
		m.pd.conn.unref()
	})
	if !done {
		return fmt.Errorf("brick: rdma memory region: %w", verbs.ErrClosed)
	}
	return err
}

// memWindow is a bound type-2 memory window.
type memWindow struct {
	conn *conn
	hw   *C.struct_ibv_mw
	rkey uint32
	addr uint64
	n    int
	once sync.Once
}

func (w *memWindow) RKey() uint32 { return w.rkey }
func (w *memWindow) Addr() uint64 { return w.addr }
func (w *memWindow) Len() int     { return w.n }

// Invalidate deallocates the window. The kernel destroys the NIC object
// before ibv_dealloc_mw returns, so no operation with its key runs after.
// A window the peer invalidated (Send with Invalidate) deallocates the
// same way.
func (w *memWindow) Invalidate() error {
	var err error
	w.once.Do(func() {
		if rc := C.ibv_dealloc_mw(w.hw); rc != 0 {
			err = fmt.Errorf("brick: rdma invalidate memory window: %w", errno(int(rc)))
		}
		w.conn.unref()
	})
	return err
}
