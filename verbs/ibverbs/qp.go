//go:build ibverbs

package ibverbs

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/brick-storage/brick/verbs"
)

// Queue sizing. A zero QPConfig depth means defaultDepth.
const (
	defaultDepth = 16
	// mwSlots are send queue entries kept for memory window binds on
	// top of the caller's SendDepth.
	mwSlots = 16
)

// Extended send operations (ibv_wr_* API) the provider asks for.
const extAtomicWrite = uint64(C.IBV_QP_EX_WITH_ATOMIC_WRITE)

// conn is one connection: an rdma_cm id, its event channel, and the PD,
// completion channel, CQs and RC QP in C memory. It implements verbs.QP.
//
// Lifetime: Close disconnects (the QP enters the error state and the NIC
// flushes outstanding work requests) and ends the rdma_cm event goroutine.
// The verbs objects stay until the last reference is gone: the QP holds
// one and each live MR and MW one, because the PD cannot be freed under
// its regions and the caller drains flushed completions after Close. The
// completion goroutine runs until then, so CQ.Wait still wakes.
type conn struct {
	id  *C.struct_rdma_cm_id
	ec  *eventChannel
	c   *C.struct_brick_conn // C memory (calloc), freed in release
	ccf *pollFile            // the completion channel's fd
	dev deviceCaps
	cfg verbs.QPConfig

	caps     verbs.Caps
	pd       *protDomain
	scq, rcq *cq
	private  []byte
	remote   string
	device   verbs.DeviceInfo // the RDMA device serving the connection (mlx5_0, …)

	// cause is why the connection ended (Err); the first one is kept.
	cause atomic.Pointer[error]

	closed   atomic.Bool   // Close was called
	faulted  sync.Once     // an error completion ended the connection
	done     chan struct{} // closed when the connection ended
	doneOnce sync.Once
	gone     chan struct{} // closed when the verbs objects are freed
	refs     atomic.Int64  // the QP + live MRs and MWs
	wg       sync.WaitGroup
	close1   sync.Once
}

var _ verbs.QP = (*conn)(nil)

// newConn builds the verbs objects of a connection on id (whose device is
// known: after route resolution or on a connection request).
func newConn(id *C.struct_rdma_cm_id, ec *eventChannel, cfg verbs.QPConfig) (*conn, error) {
	if cfg.SendDepth == 0 {
		cfg.SendDepth = defaultDepth
	}
	if cfg.RecvDepth == 0 {
		cfg.RecvDepth = defaultDepth
	}
	if cfg.MaxReadSize == 0 {
		cfg.MaxReadSize = 2 << 20
	}
	if cfg.SendDepth < 0 || cfg.RecvDepth < 0 || cfg.MaxReadSize < 0 {
		return nil, fmt.Errorf("%w: queue pair config %+v", verbs.ErrInvalid, cfg)
	}
	if id.verbs == nil {
		return nil, fmt.Errorf("brick: rdma: connection has no device context")
	}
	dev, err := queryDevice(id.verbs)
	if err != nil {
		return nil, err
	}
	sendCap := cfg.SendDepth
	if dev.memWindows {
		sendCap += mwSlots
	}
	if dev.maxQPWR > 0 && (sendCap > dev.maxQPWR || cfg.RecvDepth > dev.maxQPWR) {
		return nil, fmt.Errorf("%w: queue depths %d/%d exceed the device's %d", verbs.ErrInvalid, sendCap, cfg.RecvDepth, dev.maxQPWR)
	}
	var ext uint64
	if dev.atomicWrite {
		ext |= extAtomicWrite
	}
	if dev.flushPersistent {
		ext |= extFlush
	}
	cc := (*C.struct_brick_conn)(C.calloc(1, C.size_t(unsafe.Sizeof(C.struct_brick_conn{}))))
	if cc == nil {
		return nil, fmt.Errorf("brick: rdma: out of memory")
	}
	var got C.uint64_t
	if rc := C.brick_conn_create(id, cc, C.int(sendCap), C.int(cfg.RecvDepth), C.uint64_t(ext), &got); rc != 0 {
		C.brick_conn_destroy(id, cc)
		C.free(unsafe.Pointer(cc))
		return nil, cmError("create queue pair", int(rc))
	}
	ccf, err := newPollFile(cc.cc.fd, "rdma-completion-channel")
	if err != nil {
		C.brick_conn_destroy(id, cc)
		C.free(unsafe.Pointer(cc))
		return nil, err
	}
	c := &conn{
		id: id, ec: ec, c: cc, ccf: ccf, dev: dev, cfg: cfg,
		done: make(chan struct{}), gone: make(chan struct{}),
		device: deviceInfo(C.GoString(C.brick_id_device_name(id))),
	}
	c.caps = verbs.Caps{
		MemoryWindows: dev.memWindows,
		AtomicWrite:   uint64(got)&extAtomicWrite != 0 && cc.qpx != nil && cc.qpx.wr_atomic_write != nil,
		Flush:         uint64(got)&extFlush != 0 && flushAvailable(cc.qpx),
		// iWARP verbs complete a Send or Write once it is sent; siw even
		// before its pages left (zero-copy transmit, Linux 6.1).
		EarlyCompletion: C.brick_id_iwarp(id) != 0,
	}
	c.pd = &protDomain{conn: c, hw: cc.pd}
	c.scq = newCQ(c, cc.scq, sendCap, cfg.SendDepth, false)
	c.rcq = newCQ(c, cc.rcq, cfg.RecvDepth, cfg.RecvDepth, true)
	c.refs.Store(1)
	return c, nil
}

// abort frees a connection that never started (setup failed).
func (c *conn) abort() {
	c.ccf.close()
	c.freeVerbs()
	close(c.done)
	close(c.gone)
}

// freeVerbs destroys the C objects, the id and the event channel.
func (c *conn) freeVerbs() {
	c.scq.forget()
	c.rcq.forget()
	C.brick_conn_destroy(c.id, c.c)
	C.free(unsafe.Pointer(c.c))
	c.c = nil
	C.rdma_destroy_id(c.id)
	c.ec.destroy()
}

// start runs the connection's two event goroutines.
func (c *conn) start() {
	c.wg.Add(2)
	go c.cmLoop()
	go c.completionLoop()
}

// cmLoop watches the connection's rdma_cm events until Close.
func (c *conn) cmLoop() {
	defer c.wg.Done()
	for {
		ev, err := c.ec.next()
		if err != nil {
			return
		}
		switch ev.kind {
		case C.RDMA_CM_EVENT_DISCONNECTED, C.RDMA_CM_EVENT_DEVICE_REMOVAL, C.RDMA_CM_EVENT_TIMEWAIT_EXIT:
			// Completes the disconnect handshake and moves the QP to
			// the error state, which flushes outstanding requests.
			C.rdma_disconnect(c.id)
			c.end(fmt.Errorf("brick: rdma queue pair to %s: the peer or the device ended the connection: %w", c.remote, verbs.ErrClosed))
		}
	}
}

// completionLoop turns completion channel events into CQ wake-ups. The
// CQs are re-armed by CQ.Wait before it sleeps.
func (c *conn) completionLoop() {
	defer c.wg.Done()
	c.ccf.read(func() bool {
		for {
			switch rc := C.brick_cq_event(c.c); rc {
			case 1:
				c.scq.signal()
			case 2:
				c.rcq.signal()
			case -C.EAGAIN:
				return false
			default:
				if rc < 0 {
					return true // the channel broke; Wait falls back to Done
				}
			}
		}
	})
}

// ended reports whether the connection is over (Close, or the peer or
// the device ended it).
func (c *conn) ended() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *conn) markDone() { c.doneOnce.Do(func() { close(c.done) }) }

// end records why the connection ended, if nothing did before, and
// marks it done.
func (c *conn) end(cause error) {
	c.cause.CompareAndSwap(nil, &cause)
	c.markDone()
}

// fault ends the connection after an unsuccessful completion: the RC QP is in
// the error state, so disconnect, and the peer learns it too (its
// rdma_cm reports DISCONNECTED). The software RNIC's Terminate does the
// same for tcp://; without this a NIC peer would wait for a timeout.
func (c *conn) fault(cause error) {
	c.faulted.Do(func() {
		if !c.closed.Load() {
			C.rdma_disconnect(c.id)
		}
		c.end(cause)
	})
}

// faultOf is the cause a completion with status st gives the connection.
// A flush is not a cause of its own (a local Close or a disconnect comes
// with one, and siw reports a peer's Terminate only by flushing), so it
// wraps ErrFlushed, not ErrCompletion: only a real fault is reported as one.
func faultOf(c *conn, wc verbs.WC) error {
	if wc.Status == verbs.StatusFlushed {
		return fmt.Errorf("brick: rdma queue pair to %s entered the error state: %w", c.remote, verbs.ErrFlushed)
	}
	return fmt.Errorf("brick: rdma queue pair to %s: %w", c.remote, wc.Err())
}

func (c *conn) ref() { c.refs.Add(1) }

// unref drops a reference; the last one frees the verbs objects.
func (c *conn) unref() {
	if c.refs.Add(-1) != 0 {
		return
	}
	c.ccf.close()
	c.ec.stop()
	c.wg.Wait()
	c.freeVerbs()
	close(c.gone)
}

func (c *conn) PD() verbs.PD          { return c.pd }
func (c *conn) PrivateData() []byte   { return c.private }
func (c *conn) SendCQ() verbs.CQ      { return c.scq }
func (c *conn) RecvCQ() verbs.CQ      { return c.rcq }
func (c *conn) RemoteAddr() string    { return c.remote }
func (c *conn) Caps() verbs.Caps      { return c.caps }
func (c *conn) Done() <-chan struct{} { return c.done }

// Close disconnects. Outstanding work requests complete as flushed.
func (c *conn) Close() error {
	c.close1.Do(func() {
		c.closed.Store(true)
		C.rdma_disconnect(c.id)
		c.ec.stop()
		c.end(c.errClosed())
		c.unref()
	})
	return nil
}

func (c *conn) errClosed() error {
	return fmt.Errorf("brick: rdma queue pair to %s: %w", c.remote, verbs.ErrClosed)
}

// Err says why the connection ended; nil while it works.
func (c *conn) Err() error {
	if p := c.cause.Load(); p != nil {
		return *p
	}
	return nil
}

// Device names the RDMA device serving the connection and its PCI
// function, so that the persistence policy can use that device's DDIO
// state (package persist).
func (c *conn) Device() verbs.DeviceInfo { return c.device }

// sysClassInfiniband is where the kernel lists RDMA devices.
const sysClassInfiniband = "/sys/class/infiniband"

var bdfRE = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$`)

// deviceInfo describes RDMA device name: its PCI function is the last
// element of the path its sysfs "device" link resolves to; software
// devices (siw, rxe) have none.
func deviceInfo(name string) verbs.DeviceInfo {
	d := verbs.DeviceInfo{Name: name}
	fn, err := filepath.EvalSymlinks(filepath.Join(sysClassInfiniband, name, "device"))
	if err != nil {
		return d
	}
	if b := filepath.Base(fn); bdfRE.MatchString(b) {
		d.PCI = b
	}
	return d
}
