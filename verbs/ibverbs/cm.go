//go:build ibverbs

package ibverbs

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/brick-storage/brick/verbs"
)

// pollFile waits for a librdmacm/libibverbs fd in Go's network poller. It
// holds a dup of the fd: closing it wakes waiters and leaves the library's
// fd alone. The fd is switched to non-blocking (the flag lives in the
// shared file description), so the library calls return EAGAIN instead of
// blocking a thread.
type pollFile struct {
	f  *os.File
	rc syscall.RawConn
}

func newPollFile(fd C.int, name string) (*pollFile, error) {
	if err := unix.SetNonblock(int(fd), true); err != nil {
		return nil, fmt.Errorf("brick: rdma %s: set non-blocking: %w", name, err)
	}
	d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("brick: rdma %s: dup: %w", name, err)
	}
	f := os.NewFile(uintptr(d), name)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("brick: rdma %s: %w", name, err)
	}
	return &pollFile{f: f, rc: rc}, nil
}

// read calls fn until it reports done, waiting for readability in between.
// It fails once the file is closed or its deadline passes.
func (p *pollFile) read(fn func() (done bool)) error {
	return p.rc.Read(func(uintptr) bool { return fn() })
}

func (p *pollFile) close() { p.f.Close() }

// eventChannel is an rdma_cm event channel.
type eventChannel struct {
	ch *C.struct_rdma_event_channel
	pf *pollFile
}

func newEventChannel() (*eventChannel, error) {
	ch, err := C.rdma_create_event_channel()
	if ch == nil {
		return nil, fmt.Errorf("brick: rdma create event channel: %w", err)
	}
	pf, err := newPollFile(ch.fd, "rdma-cm-channel")
	if err != nil {
		C.rdma_destroy_event_channel(ch)
		return nil, err
	}
	return &eventChannel{ch: ch, pf: pf}, nil
}

// newCMID makes an rdma_cm ID on an event channel of its own.
func newCMID() (*eventChannel, *C.struct_rdma_cm_id, error) {
	ec, err := newEventChannel()
	if err != nil {
		return nil, nil, err
	}
	var id *C.struct_rdma_cm_id
	if rc := C.brick_create_id(ec.ch, &id); rc != 0 {
		ec.destroy()
		return nil, nil, cmError("create id", int(rc))
	}
	return ec, id, nil
}

// cmEvent is a copied, acknowledged rdma_cm event.
type cmEvent struct {
	id     *C.struct_rdma_cm_id
	kind   C.int
	status int
	data   []byte // raw private data, as delivered (maybe padded)
	// The peer's RDMA Read resources, from a connection request.
	respRes, initDepth uint8
}

func (e cmEvent) String() string {
	return C.GoString(C.rdma_event_str(uint32(e.kind)))
}

// next waits for the next event. It fails with os.ErrClosed (wrapped)
// after stop and os.ErrDeadlineExceeded after a deadline.
func (e *eventChannel) next() (cmEvent, error) {
	var ev C.struct_brick_cm_event
	var rc C.int
	err := e.pf.read(func() bool {
		rc = C.brick_get_event(e.ch, &ev)
		return rc != -C.EAGAIN
	})
	if err != nil {
		return cmEvent{}, err
	}
	if rc != 0 {
		return cmEvent{}, cmError("get event", int(rc))
	}
	return cmEvent{
		id: ev.id, kind: ev.event, status: int(ev.status),
		data:    C.GoBytes(unsafePointer(&ev.private_data[0]), ev.private_data_len),
		respRes: uint8(ev.responder_resources), initDepth: uint8(ev.initiator_depth),
	}, nil
}

// await waits for an event on id during connection setup, bounded by ctx
// or, without a deadline, verbs.DefaultTimeout. Events for other ids are
// dropped (a setup channel serves one id).
func (e *eventChannel) await(ctx context.Context, id *C.struct_rdma_cm_id) (cmEvent, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(verbs.DefaultTimeout)
	}
	e.pf.f.SetReadDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { e.pf.f.SetReadDeadline(time.Unix(1, 0)) })
	defer func() {
		stop()
		e.pf.f.SetReadDeadline(time.Time{})
	}()
	for {
		ev, err := e.next()
		if err != nil {
			if ctx.Err() != nil {
				return ev, fmt.Errorf("brick: rdma connection setup: %w", ctx.Err())
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return ev, fmt.Errorf("brick: rdma connection setup timed out: %w", context.DeadlineExceeded)
			}
			return ev, err
		}
		if ev.id == id {
			return ev, nil
		}
	}
}

// stop wakes and ends waiters; destroy frees the channel once every id on
// it is destroyed.
func (e *eventChannel) stop() { e.pf.close() }

func (e *eventChannel) destroy() {
	e.pf.close()
	C.rdma_destroy_event_channel(e.ch)
}

// resolveHostPort turns host:port into an IP (nil for a wildcard) and port.
func resolveHostPort(ctx context.Context, hostport string) (net.IP, uint16, error) {
	host, ps, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: address %q: %v", verbs.ErrInvalid, hostport, err)
	}
	port, err := strconv.ParseUint(ps, 10, 16)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: port %q: %v", verbs.ErrInvalid, ps, err)
	}
	if host == "" {
		return nil, uint16(port), nil
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip, uint16(port), nil
	}
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return nil, 0, fmt.Errorf("brick: cannot resolve %q: %v", host, err)
	}
	return ips[0], uint16(port), nil
}

// ipBytes returns the 4- or 16-byte form C wants.
func ipBytes(ip net.IP) []byte {
	if ip4 := ip.To4(); ip4 != nil {
		return ip4
	}
	return ip.To16()
}

func peerAddr(id *C.struct_rdma_cm_id) string {
	var a C.struct_brick_addr
	C.brick_peer_addr(id, &a)
	if a.iplen == 0 {
		return ""
	}
	ip := net.IP(C.GoBytes(unsafePointer(&a.ip[0]), a.iplen))
	return net.JoinHostPort(ip.String(), strconv.Itoa(int(a.port)))
}

// framingOf is how the CM of the device id is bound to carries private data.
func framingOf(id *C.struct_rdma_cm_id) framing {
	if C.brick_id_iwarp(id) != 0 {
		return exact
	}
	return padded
}

// warmCM has librdmacm open its device contexts, which it keeps for the
// life of the process (one fd per RDMA device): tests call it before they
// take a baseline of open files.
func warmCM() {
	if probeDevices() != nil {
		return
	}
	if d := C.rdma_get_devices(nil); d != nil {
		C.rdma_free_devices(d)
	}
}
