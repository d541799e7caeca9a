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
