//go:build ibverbs

package ibverbs

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/brick-storage/brick/verbs"
)

// listener owns a listening rdma_cm id and its event channel. Its
// goroutine (loop) takes connection requests, moves each to a channel of
// its own and queues it for Accept.
type listener struct {
	p    *Provider
	nd   *netdev
	ec   *eventChannel
	id   *C.struct_rdma_cm_id
	addr string
	reqs chan *connRequest // bounded by the backlog
	done chan struct{}     // closed by Close
	dead chan struct{}     // closed when loop ends (Close or a broken channel)
	wg   sync.WaitGroup
	once sync.Once
}

func (l *listener) Addr() string { return l.addr }

func (l *listener) Accept(ctx context.Context) (verbs.ConnRequest, error) {
	select {
	case cr := <-l.reqs:
		return cr, nil
	case <-l.done:
		return nil, fmt.Errorf("brick: rdma listener %s: %w", l.addr, verbs.ErrClosed)
	case <-l.dead:
		return nil, fmt.Errorf("brick: rdma listener %s: event channel failed: %w", l.addr, verbs.ErrClosed)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *listener) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.ec.stop()
		l.wg.Wait()
		for {
			select {
			case cr := <-l.reqs:
				cr.Reject(nil)
				continue
			default:
			}
			break
		}
		C.rdma_destroy_id(l.id)
		l.ec.destroy()
	})
	return nil
}

func (l *listener) loop() {
	defer l.wg.Done()
	defer close(l.dead)
	for {
		ev, err := l.ec.next()
		if err != nil {
			return // closed, or the channel broke: nothing more arrives
		}
		if ev.kind != C.RDMA_CM_EVENT_CONNECT_REQUEST {
			continue // DEVICE_REMOVAL and the like: Accept keeps waiting
		}
		l.request(ev)
	}
}

// request queues a connection request, or refuses it when it is malformed
// or the backlog is full.
func (l *listener) request(ev cmEvent) {
	data, err := decodePrivateData(ev.data, framingOf(ev.id))
	if err == nil {
		err = checkDevice(l.nd, ev.id)
	}
	if err != nil {
		C.brick_reject(ev.id, nil, 0)
		C.rdma_destroy_id(ev.id)
		return
	}
	ec, err := newEventChannel()
	if err != nil {
		C.brick_reject(ev.id, nil, 0)
		C.rdma_destroy_id(ev.id)
		return
	}
	if rc, _ := C.rdma_migrate_id(ev.id, ec.ch); rc != 0 {
		C.brick_reject(ev.id, nil, 0)
		C.rdma_destroy_id(ev.id)
		ec.destroy()
		return
	}
	cr := &connRequest{id: ev.id, ec: ec, data: data, remote: peerAddr(ev.id), respRes: ev.respRes, initDepth: ev.initDepth}
	select {
	case l.reqs <- cr:
	default:
		cr.Reject(nil)
	}
}

// connRequest is a request moved to its own event channel.
type connRequest struct {
	id                 *C.struct_rdma_cm_id
	ec                 *eventChannel
	data               []byte
	remote             string
	respRes, initDepth uint8 // the peer's Read resources
	answered           atomic.Bool
}

func (r *connRequest) PrivateData() []byte { return r.data }
func (r *connRequest) RemoteAddr() string  { return r.remote }

func (r *connRequest) answer() error {
	if !r.answered.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: connection request already answered", verbs.ErrInvalid)
	}
	return nil
}

// Reject refuses the connection with privateData.
func (r *connRequest) Reject(privateData []byte) error {
	wire, err := encodePrivateData("reject", privateData, MaxRejectData, framingOf(r.id))
	if err != nil {
		return err
	}
	if err := r.answer(); err != nil {
		return err
	}
	rc := C.brick_reject(r.id, unsafe.Pointer(bytesPtr(wire)), C.int(len(wire)))
	C.rdma_destroy_id(r.id)
	r.ec.destroy()
	if rc != 0 {
		return cmError("reject", int(rc))
	}
	return nil
}

// Accept creates the connection's PD, CQs and QP, lets prepare post
// receives, answers with privateData and waits for ESTABLISHED.
func (r *connRequest) Accept(cfg verbs.QPConfig, privateData []byte, prepare func(verbs.QP) error) (verbs.QP, error) {
	wire, err := encodePrivateData("accept", privateData, MaxAcceptData, framingOf(r.id))
	if err != nil {
		return nil, err
	}
	if err := r.answer(); err != nil {
		return nil, err
	}
	c, err := newConn(r.id, r.ec, cfg)
	if err != nil {
		C.brick_reject(r.id, nil, 0)
		C.rdma_destroy_id(r.id)
		r.ec.destroy()
		return nil, err
	}
	c.private, c.remote = r.data, r.remote
	if prepare != nil {
		if err := prepare(c); err != nil {
			C.brick_reject(r.id, nil, 0)
			c.abort()
			return nil, err
		}
	}
	// Never promise more Read resources than the peer can use or the
	// device has.
	resp := min(c.dev.maxRdAtom, int(r.initDepth))
	init := min(c.dev.maxInitRdAtm, int(r.respRes))
	if rc := C.brick_accept(r.id, unsafe.Pointer(bytesPtr(wire)), C.int(len(wire)), C.int(resp), C.int(init)); rc != 0 {
		c.abort()
		return nil, cmError("accept", int(rc))
	}
	ev, err := r.ec.await(context.Background(), r.id)
	if err == nil && ev.kind != C.RDMA_CM_EVENT_ESTABLISHED {
		err = fmt.Errorf("brick: rdma accept: %s (status %d)", ev, ev.status)
	}
	if err != nil {
		c.abort()
		return nil, err
	}
	c.start()
	return c, nil
}
