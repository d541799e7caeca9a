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
	"strconv"
	"sync"
	"syscall"
	"unsafe"

	"github.com/brick-storage/brick/verbs"
)

// Options configure the provider.
type Options struct {
	// Netdev, if set, names the network interface (e.g. ens1f0) whose
	// RDMA device serves every connection (brickd --rdma-netdev).
	Netdev string
}

// Provider is the libibverbs/librdmacm provider for the rdma:// scheme.
type Provider struct {
	opts Options

	nd struct {
		once sync.Once
		dev  *netdev
		err  error
	}
}

var _ verbs.Provider = (*Provider)(nil)

// New returns the provider. It touches no device: the first Listen or
// Dial probes for one.
func New(opts Options) *Provider { return &Provider{opts: opts} }

// Scheme is "rdma".
func (p *Provider) Scheme() string { return "rdma" }

// ready probes for a device and, with Options.Netdev, maps the interface
// to its RDMA device. Both answers are cached.
func (p *Provider) ready() (*netdev, error) {
	if err := probeDevices(); err != nil {
		return nil, err
	}
	if p.opts.Netdev == "" {
		return nil, nil
	}
	p.nd.once.Do(func() { p.nd.dev, p.nd.err = lookupNetdev(p.opts.Netdev) })
	return p.nd.dev, p.nd.err
}

// checkDevice refuses an id that rdma_cm bound to another device than the
// one --rdma-netdev chose.
func checkDevice(nd *netdev, id *C.struct_rdma_cm_id) error {
	if nd == nil {
		return nil
	}
	if got := C.GoString(C.brick_id_device_name(id)); got != nd.ibdev {
		return fmt.Errorf("%w: the route goes through RDMA device %s, not %s (the device of %s)", verbs.ErrInvalid, got, nd.ibdev, nd.name)
	}
	return nil
}

// Listen binds an rdma_cm listener on hostport. With Options.Netdev a
// wildcard host means the interface's first address, and a named host must
// be one of its addresses.
func (p *Provider) Listen(ctx context.Context, hostport string, cfg verbs.ListenConfig) (verbs.Listener, error) {
	nd, err := p.ready()
	if err != nil {
		return nil, err
	}
	ip, port, err := resolveHostPort(ctx, hostport)
	if err != nil {
		return nil, err
	}
	if nd != nil {
		switch {
		case ip == nil || ip.IsUnspecified():
			ip = nd.addrs[0]
		case !nd.has(ip):
			return nil, fmt.Errorf("%w: %s is not an address of %s (--rdma-netdev)", verbs.ErrInvalid, ip, nd.name)
		}
	}
	if ip == nil {
		ip = net.IPv4zero
	}
	backlog := cfg.Backlog
	if backlog <= 0 {
		backlog = 128
	}
	ec, id, err := listenCMID(ip, port, backlog, hostport)
	if err != nil {
		return nil, err
	}
	l := &listener{
		p: p, nd: nd, ec: ec, id: id,
		addr: net.JoinHostPort(ip.String(), strconv.Itoa(int(C.brick_src_port(id)))),
		reqs: make(chan *connRequest, backlog),
		done: make(chan struct{}),
		dead: make(chan struct{}),
	}
	l.wg.Add(1)
	go l.loop()
	return l, nil
}

// listenCMID binds and listens a CM ID of its own on ip:port. Port 0 is
// tried again (dialAttempts) on EADDRINUSE: on iWARP the rdma_cm picks the
// port from its own port space, and the RNIC's TCP listener then binds it
// in the kernel's, where a TCP connection may hold it (seen in the lab:
// siw's listener for the Flush subtest of TestCrossSoft, beside the
// software RNIC's kernel sockets). A named port is the caller's to choose.
func listenCMID(ip net.IP, port uint16, backlog int, hostport string) (*eventChannel, *C.struct_rdma_cm_id, error) {
	b := ipBytes(ip)
	for attempt := 1; ; attempt++ {
		ec, id, err := newCMID()
		if err != nil {
			return nil, nil, err
		}
		rc := C.brick_listen(id, (*C.uint8_t)(unsafe.Pointer(&b[0])), C.int(len(b)), C.uint16_t(port), C.int(backlog))
		if rc == 0 {
			return ec, id, nil
		}
		C.rdma_destroy_id(id)
		ec.destroy()
		err = cmError("listen on "+hostport, int(rc))
		if port != 0 || attempt == dialAttempts || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, err
		}
	}
}

// Dial connects to hostport: address and route resolution, a PD, CQs and
// QP on the resolved device, then rdma_connect with privateData; from the
// start again on EADDRINUSE (dialAttempts).
func (p *Provider) Dial(ctx context.Context, hostport string, cfg verbs.QPConfig, privateData []byte) (verbs.QP, error) {
	nd, err := p.ready()
	if err != nil {
		return nil, err
	}
	if len(privateData) > MaxConnectData { // before any CM work; framed once the device is known
		_, err := encodePrivateData("connect", privateData, MaxConnectData, padded)
		return nil, err
	}
	ip, port, err := resolveHostPort(ctx, hostport)
	if err != nil {
		return nil, err
	}
	if ip == nil {
		return nil, fmt.Errorf("%w: dial %q: no host", verbs.ErrInvalid, hostport)
	}
	for attempt := 1; ; attempt++ {
		qp, err := p.dialOnce(ctx, nd, ip, port, hostport, cfg, privateData)
		if err == nil || attempt == dialAttempts || !errors.Is(err, syscall.EADDRINUSE) || ctx.Err() != nil {
			return qp, err
		}
	}
}

// dialAttempts bounds Dial's tries on EADDRINUSE (and listenCMID's, on
// port 0). On iWARP the rdma_cm
// picks the source port from its own port space, and the RNIC's TCP
// socket then binds it in the kernel's: a port some other TCP connection
// holds (one in TIME_WAIT too) fails the connect with EADDRINUSE (the
// lab has met it: siw dialling the software RNIC's listener); a new CM ID
// gets another port.
const dialAttempts = 3

// dialOnce is one try of Dial, on a CM ID of its own.
func (p *Provider) dialOnce(ctx context.Context, nd *netdev, ip net.IP, port uint16, hostport string, cfg verbs.QPConfig, privateData []byte) (verbs.QP, error) {
	ec, id, err := newCMID()
	if err != nil {
		return nil, err
	}
	fail := func(err error) (verbs.QP, error) {
		C.rdma_destroy_id(id)
		ec.destroy()
		return nil, fmt.Errorf("brick: rdma dial %s: %w", hostport, err)
	}
	if err := resolveRoute(ctx, ec, id, nd, ip, port); err != nil {
		return fail(err)
	}
	f := framingOf(id)
	wire, err := encodePrivateData("connect", privateData, MaxConnectData, f)
	if err != nil {
		return fail(err)
	}
	c, err := newConn(id, ec, cfg)
	if err != nil {
		return fail(err)
	}
	c.remote = hostport
	if err := c.connect(ctx, wire, f); err != nil {
		c.abort()
		return nil, fmt.Errorf("brick: rdma dial %s: %w", hostport, err)
	}
	c.start()
	return c, nil
}

// resolveRoute resolves id's address and route to ip:port, from the
// configured netdev's address if there is one, and checks the device
// the route goes through.
func resolveRoute(ctx context.Context, ec *eventChannel, id *C.struct_rdma_cm_id, nd *netdev, ip net.IP, port uint16) error {
	timeoutMS := C.int(verbs.DefaultTimeout.Milliseconds())
	var src []byte
	if nd != nil {
		src = ipBytes(nd.addrs[0])
	}
	dst := ipBytes(ip)
	if rc := C.brick_resolve_addr(id, bytesPtr(src), C.int(len(src)), bytesPtr(dst), C.int(len(dst)), C.uint16_t(port), timeoutMS); rc != 0 {
		return cmError("resolve address", int(rc))
	}
	if err := expect(ctx, ec, id, C.RDMA_CM_EVENT_ADDR_RESOLVED); err != nil {
		return err
	}
	if rc := C.brick_resolve_route(id, timeoutMS); rc != 0 {
		return cmError("resolve route", int(rc))
	}
	if err := expect(ctx, ec, id, C.RDMA_CM_EVENT_ROUTE_RESOLVED); err != nil {
		return err
	}
	return checkDevice(nd, id)
}

// connect sends the connection request with wire (framed by f) and waits
// until the peer accepts, keeping its private data. The caller aborts c
// on error.
func (c *conn) connect(ctx context.Context, wire []byte, f framing) error {
	if rc := C.brick_connect(c.id, unsafe.Pointer(bytesPtr(wire)), C.int(len(wire)), C.int(c.dev.maxRdAtom), C.int(c.dev.maxInitRdAtm)); rc != 0 {
		return cmError("connect", int(rc))
	}
	ev, err := c.ec.await(ctx, c.id)
	if err != nil {
		return err
	}
	switch ev.kind {
	case C.RDMA_CM_EVENT_ESTABLISHED:
	case C.RDMA_CM_EVENT_REJECTED:
		// A consumer reject carries our framing; a reject by the CM
		// (no listener, timeouts) carries none we can trust.
		data, derr := decodePrivateData(ev.data, f)
		if derr != nil {
			data = nil
		}
		return &verbs.RejectedError{PrivateData: data}
	default:
		return fmt.Errorf("connection failed: %s (status %d)", ev, ev.status)
	}
	if c.private, err = decodePrivateData(ev.data, f); err != nil {
		return fmt.Errorf("accept %w", err)
	}
	return nil
}

// expect waits for one setup event of the given kind.
func expect(ctx context.Context, ec *eventChannel, id *C.struct_rdma_cm_id, kind C.int) error {
	ev, err := ec.await(ctx, id)
	if err != nil {
		return err
	}
	if ev.kind != kind {
		return fmt.Errorf("%s (status %d), want %s", ev, ev.status, C.GoString(C.rdma_event_str(uint32(kind))))
	}
	return nil
}

func bytesPtr(b []byte) *C.uint8_t {
	if len(b) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0]))
}

func unsafePointer[T any](p *T) unsafe.Pointer { return unsafe.Pointer(p) }
