// Package client is the initiator library: it connects to a brick, issues
// the five verbs, and reads and writes mapped blocks with one-sided RDMA.
//
// A Client is one session (one queue pair) and is safe for concurrent use:
// requests are pipelined up to the depth the brick announced in its hello,
// and replies are matched to callers by request ID. Data operations on a
// Handle go straight to the brick's memory with RDMA Write and Read; the
// brick's CPU is not involved. Writes are persistent only once
// Handle.Persist returns, by the method the brick chose for the handle.
package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
	"github.com/brick-storage/brick/verbs/providers"
)

// Options configure a client.
type Options struct {
	// Provider overrides the transport chosen by the address's scheme.
	Provider verbs.Provider
	// RecvDepth bounds outstanding requests from this side (default 16).
	RecvDepth int
	// StagingSize is the registered buffer data operations copy through
	// (default 2 MiB, one block).
	StagingSize int
	// AuthKey is the brick's pre-shared key (protocol.ReadKeyFile reads
	// one). With a key, the client and the brick prove it to each other
	// before any verb, and a brick that does not authenticate is refused:
	// it could be anyone. Without one, a brick that requires a key refuses
	// the session (ErrPermission).
	AuthKey []byte
	// KeepAlive is how long the client may send nothing before it pings
	// the brick (0: a third of the session timeout the brick announced;
	// negative: never). A brick that answers nothing for three intervals
	// while the client waits on it is presumed dead: the session fails
	// with ErrClosed.
	KeepAlive time.Duration
	// OptionalCRC: on tcp://, do not ask the brick for the MPA CRC, so
	// that the connection uses one only if the brick asks. A brick on the
	// software RNIC always does; a brick on Linux siw does not, and needs
	// this for a block one session reads while another writes it
	// (docs/rdma.md). rdma:// ignores it.
	OptionalCRC bool
	// PersistFeatures, if not zero, restricts the persist methods the
	// client asks for (protocol.FeatureAPM, FeatureFlush); GPSPM is always
	// asked for. Zero asks for every method the library implements.
	PersistFeatures uint64
}

// features are what this client can use: asked for in the hello.
const features = protocol.FeatureGPSPM | protocol.FeatureAPM | protocol.FeatureFlush |
	protocol.FeatureFreeUnmap | protocol.FeatureAllocMap | protocol.FeatureUnmapKey

// msgWR marks send work requests that carry messages (the low bits are the
// send slot); data work requests count up from zero.
const msgWR = 1 << 63

// Client is one session with a brick.
type Client struct {
	qp        verbs.QP
	hello     protocol.HelloReply
	depth     int // requests in flight (the brick's and our receive depth)
	sendDepth int // the queue pair's send queue

	// recv and send are registered slabs of message slots: RecvDepth
	// receive slots and depth send slots, protocol.MaxMessage bytes each
	// (a reply may be as long as any message).
	recv, send *verbs.Slots
	sendSlots  chan int // free message send slots
	// sendTurn holds one token: its holder reaps the send CQ (reapSend)
	// into sendWCs.
	sendTurn chan struct{}
	sendWCs  []verbs.WC
	credits  chan struct{} // a token per request the brick can take

	stage struct {
		sync.Mutex // serialises use of the staging buffer
		mem        []byte
		mr         verbs.MR
	}

	nextReq atomic.Uint64
	nextWR  atomic.Uint64

	authed   bool
	lastSend atomic.Int64 // unix nanos of the last request sent
	lastRecv atomic.Int64 // unix nanos of the last reply received

	mu struct {
		sync.Mutex
		replies map[uint64]chan reply    // outstanding requests by ID
		data    map[uint64]chan verbs.WC // outstanding data WRs by ID
		err     error                    // why the session ended
		// dataDone is set when the send CQ is drained: data waiters are
		// then failed here rather than by their real completion.
		dataDone bool
		buffers  map[*Buffer]struct{} // registered buffers not yet freed
	}
	// dataSlots holds a token per data work request the send queue has
	// room for beside the message sends, so concurrent data operations
	// wait for room instead of failing with a full queue.
	dataSlots chan struct{}
	done      chan struct{} // closed when the session has ended
	wg        sync.WaitGroup
}

type reply struct {
	h   protocol.Header
	m   protocol.Message
	err error
}

// CheckAddr refuses, with ErrAddress, an address Dial could never dial:
// one verbs.ParseAddr refuses (no or an unknown scheme, no port, a port
// past 65535), or one without a host or with port 0, which only a
// listener may have.
func CheckAddr(addr string) error {
	_, hostport, err := verbs.ParseAddr(addr)
	if err != nil {
		return err
	}
	if host, port, _ := net.SplitHostPort(hostport); host == "" || port == "0" {
		return fmt.Errorf("%w: address %q: a dial needs a host and a port other than 0", ErrAddress, addr)
	}
	return nil
}

// Dial connects to the brick at addr (tcp://host:port or rdma://host:port).
// A malformed address, or one this build cannot dial, is ErrAddress; a
// brick that refuses the session says why with ErrPermission (its key),
// ErrLimit (its session limits) or ErrNotSupported (no common protocol
// version); a brick that cannot be reached returns the transport's error
// (syscall.ECONNREFUSED, a timeout of ctx, ...).
func Dial(ctx context.Context, addr string, opts Options) (*Client, error) {
	if err := CheckAddr(addr); err != nil {
		return nil, err
	}
	p, hostport, err := providers.ForAddrWith(addr, providers.Options{OptionalCRC: opts.OptionalCRC})
	if err != nil {
		if !errors.Is(err, ErrAddress) {
			err = fmt.Errorf("%w: %w", ErrAddress, err)
		}
		return nil, err
	}
	if opts.Provider != nil {
		p = opts.Provider
	}
	if opts.RecvDepth <= 0 {
		opts.RecvDepth = 16
	}
	if opts.StagingSize <= 0 {
		opts.StagingSize = 2 << 20
	}
	if opts.AuthKey != nil {
		if err := protocol.CheckKey(opts.AuthKey); err != nil {
			return nil, err
		}
	}
	asked := askedFeatures(opts)
	hello := protocol.HelloRequest{
		MinVersion: protocol.MinVersion, MaxVersion: protocol.MaxVersion,
		Features: asked, RecvDepth: uint16(opts.RecvDepth),
	}
	// The send queue holds the message sends (at most RecvDepth) and as
	// many data operations again.
	cfg := verbs.QPConfig{SendDepth: 2 * opts.RecvDepth, RecvDepth: opts.RecvDepth}
	qp, err := p.Dial(ctx, hostport, cfg, hello.Marshal())
	if err != nil {
		return nil, dialErr(addr, err)
	}
	c := &Client{qp: qp, done: make(chan struct{}), sendDepth: cfg.SendDepth}
	c.mu.replies = make(map[uint64]chan reply)
	c.mu.data = make(map[uint64]chan verbs.WC)
	if err := c.acceptHello(addr, asked, opts); err != nil {
		qp.Close()
		return nil, err
	}
	if err := c.setup(opts); err != nil {
		c.release()
		return nil, err
	}
	now := time.Now().UnixNano()
	c.lastSend.Store(now)
	c.lastRecv.Store(now)
	c.wg.Add(1)
	go c.recvLoop()
	if opts.AuthKey != nil {
		if err := c.authenticate(ctx, opts.AuthKey); err != nil {
			c.Close()
			return nil, fmt.Errorf("brick at %s: %w", addr, err)
		}
	}
	interval := opts.KeepAlive
	if interval == 0 {
		interval = time.Duration(c.hello.TimeoutMS) * time.Millisecond / 3
	}
	if interval > 0 {
		c.wg.Add(1)
		go c.keepAlive(interval)
	}
	return c, nil
}

// askedFeatures are the features the hello asks for.
func askedFeatures(opts Options) uint64 {
	asked := features
	if opts.PersistFeatures != 0 {
		asked = opts.PersistFeatures&features | protocol.FeatureGPSPM
	}
	if opts.AuthKey != nil {
		asked |= protocol.FeatureAuth
	}
	return asked
}

// dialErr explains a failed connection, with the brick's refusal if it
// sent one.
func dialErr(addr string, err error) error {
	var rej *verbs.RejectedError
	if errors.As(err, &rej) {
		var hr protocol.HelloReply
		if hr.Unmarshal(rej.PrivateData) == nil && hr.Status != protocol.StatusOK {
			return fmt.Errorf("brick at %s refused the session: %w", addr, hr.Status.Err())
		}
	}
	return fmt.Errorf("connect to brick at %s: %w", addr, err)
}

// acceptHello reads the brick's hello reply into c.hello and c.depth, and
// refuses a brick that answered what the client cannot use.
func (c *Client) acceptHello(addr string, asked uint64, opts Options) error {
	if err := c.hello.Unmarshal(c.qp.PrivateData()); err != nil {
		return fmt.Errorf("brick at %s: bad hello reply: %w", addr, err)
	}
	if c.hello.Version < protocol.MinVersion || c.hello.Version > protocol.MaxVersion {
		return fmt.Errorf("brick at %s chose protocol version %d: %w", addr, c.hello.Version, protocol.ErrVersion)
	}
	if extra := c.hello.Features &^ (asked | protocol.FeatureAuth); extra != 0 {
		return fmt.Errorf("brick at %s granted features %#x nobody asked for: %w", addr, extra, protocol.ErrProtocol)
	}
	switch brickAuth := c.hello.Features&protocol.FeatureAuth != 0; {
	case brickAuth && opts.AuthKey == nil:
		return fmt.Errorf("brick at %s requires authentication and no key was given: %w", addr, protocol.ErrPermission)
	case !brickAuth && opts.AuthKey != nil:
		return fmt.Errorf("brick at %s does not authenticate (it has no key), so it cannot prove it is the brick; refusing it because a key was given: %w: %w",
			addr, ErrBrickHasNoKey, protocol.ErrPermission)
	}
	c.depth = min(opts.RecvDepth, int(c.hello.RecvDepth))
	if c.depth <= 0 {
		return fmt.Errorf("brick at %s offers no request slots: %w", addr, protocol.ErrProtocol)
	}
	return nil
}

// authenticate proves the key to the brick and checks the brick's proof.
func (c *Client) authenticate(ctx context.Context, key []byte) error {
	var nonce [protocol.NonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return err
	}
	tr := protocol.TranscriptOf(&c.hello, nonce)
	m, err := c.call(ctx, &protocol.AuthRequest{Proof: protocol.ClientProof(key, &tr), Nonce: nonce})
	if err != nil {
		if errors.Is(err, protocol.ErrPermission) {
			return fmt.Errorf("the brick refused the key (not the key it was given): %w", err)
		}
		return fmt.Errorf("authentication: %w", err)
	}
	if !protocol.ProofEqual(m.(*protocol.AuthReply).Proof, protocol.BrickProof(key, &tr)) {
		return fmt.Errorf("the brick's answer does not prove the key (an impostor, or a brick with another key): %w", protocol.ErrPermission)
	}
	c.authed = true
	return nil
}

// Authenticated reports whether the session proved a pre-shared key both
// ways. A session with a brick that has no key is not.
func (c *Client) Authenticated() bool { return c.authed }

// Ping sends a keep-alive and waits for the brick's answer.
func (c *Client) Ping(ctx context.Context) error {
	if _, err := c.call(ctx, &protocol.PingRequest{}); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// keepAlive pings when the client has sent nothing for interval, and
// fails the session when the brick has answered nothing for three
// intervals while something waits on it.
func (c *Client) keepAlive(interval time.Duration) {
	defer c.wg.Done()
	dead := 3 * interval
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		now := time.Now()
		c.mu.Lock()
		waiting := len(c.mu.replies) > 0
		c.mu.Unlock()
		if waiting && now.Sub(time.Unix(0, c.lastRecv.Load())) > dead {
			c.fail(fmt.Errorf("%w: the brick answered nothing for %v; presuming it dead", ErrClosed, dead))
			c.qp.Close()
			return
		}
		if now.Sub(time.Unix(0, c.lastSend.Load())) < interval {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), dead)
		err := c.Ping(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			c.fail(fmt.Errorf("%w: the brick did not answer a keep-alive within %v; presuming it dead", ErrClosed, dead))
			c.qp.Close()
			return
		}
	}
}

func (c *Client) setup(opts Options) error {
	var err error
	pd := c.qp.PD()
	if c.recv, err = verbs.NewSlots(pd, opts.RecvDepth, protocol.MaxMessage, verbs.AccessLocalWrite); err != nil {
		return err
	}
	if c.send, err = verbs.NewSlots(pd, c.depth, protocol.MaxMessage, 0); err != nil {
		return err
	}
	if c.stage.mem, err = verbs.AllocMemory(opts.StagingSize); err != nil {
		return err
	}
	if c.stage.mr, err = pd.Register(c.stage.mem, verbs.AccessLocalWrite); err != nil {
		return err
	}
	for i := 0; i < opts.RecvDepth; i++ {
		if err := c.postRecv(i); err != nil {
			return err
		}
	}
	c.sendSlots = make(chan int, c.depth)
	c.credits = make(chan struct{}, c.depth)
	for i := 0; i < c.depth; i++ {
		c.sendSlots <- i
		c.credits <- struct{}{}
	}
	c.sendTurn = make(chan struct{}, 1)
	c.sendTurn <- struct{}{}
	c.sendWCs = make([]verbs.WC, c.sendDepth)
	c.dataSlots = make(chan struct{}, c.sendDepth-c.depth)
	for i := 0; i < cap(c.dataSlots); i++ {
		c.dataSlots <- struct{}{}
	}
	return nil
}

func (c *Client) postRecv(slot int) error {
	return c.qp.PostRecv(c.recv.RecvWR(slot))
}

// MPACRC says whether the session's connection carries the MPA CRC: "on"
// or "off" over tcp://, where the software RNIC negotiated it (off only
// with Options.OptionalCRC, against a brick that did not ask for it
// either, such as one on Linux siw); "" over rdma://, where the kernel
// negotiates and does not say.
func (c *Client) MPACRC() string {
	switch {
	case !c.qp.Device().Software:
		return ""
	case c.qp.Caps().NoCRC:
		return "off"
	}
	return "on"
}

// Hello is what the brick said when the session started.
func (c *Client) Hello() protocol.HelloReply { return c.hello }

// Close ends the session; the brick revokes every map it holds. The
// revocation follows the connection's end at the brick, which Close does
// not wait for: another session may find a block this one mapped busy
// (ErrBusy) for a moment after Close returns.
func (c *Client) Close() error {
	c.qp.Close()
	c.wg.Wait()
	c.release()
	return nil
}

func (c *Client) release() {
	c.qp.Close()
	// Operations still running fail on the closed queue pair; wait for
	// them to leave the buffers (the staging buffer is used under
	// c.stage, the message buffers under c.mu) before freeing them.
	c.stage.Lock()
	defer c.stage.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recv.Free()
	c.send.Free()
	if c.stage.mr != nil {
		c.stage.mr.Deregister()
	}
	// Buffers the caller has not freed lose their registration with the
	// session; their memory stays the caller's until Buffer.Free.
	for b := range c.mu.buffers {
		b.deregisterLocked()
	}
	verbs.FreeMemory(c.stage.mem)
	c.recv, c.send, c.stage.mr, c.stage.mem = nil, nil, nil, nil
}

// fail ends the session with err, failing every outstanding operation.
func (c *Client) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.err != nil {
		return
	}
	c.mu.err = err
	close(c.done)
	for id, ch := range c.mu.replies {
		ch <- reply{err: err}
		delete(c.mu.replies, id)
	}
	// Data waiters get their real completions (a remote access error, then
	// flushes) from reapSend, which fails those left once the send CQ is
	// drained.
}

// failData fails the data waiters left when the send CQ is drained.
func (c *Client) failData() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.dataDone = true
	for id, ch := range c.mu.data {
		ch <- verbs.WC{ID: id, Status: verbs.StatusFlushed}
		delete(c.mu.data, id)
	}
}

// Done is closed when the session has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the session ended, nil while it lives.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.err
}
