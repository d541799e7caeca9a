//go:build ibverbs

package ibverbs

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"sync"

	"github.com/brick-storage/brick/verbs"
)

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
