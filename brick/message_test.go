package brick_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/internal/testlog"
	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
	"github.com/brick-storage/brick/verbs/soft"
)

// logBuffer captures slog output in-process so tests can check what
// brickd would log.
type logBuffer = testlog.Buffer

func (e *env) waitLog(lb *logBuffer, want ...string) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, line := range strings.Split(lb.String(), "\n") {
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(line, w)
			}
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no log line with %q; log:\n%s", want, lb.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var testKey = []byte("test key: 32 bytes of not-random")

// rawPeer is a hand-driven session: it sends whatever frames a test makes.
type rawPeer struct {
	t     testing.TB
	qp    verbs.QP
	mem   []byte
	mr    verbs.MR
	n     int // send slots [0,n), receive slots [n,2n)
	hello protocol.HelloReply
}

func (e *env) dialRaw(hello protocol.HelloRequest) *rawPeer {
	e.t.Helper()
	n := 64
	qp, err := soft.New().Dial(e.ctx, strings.TrimPrefix(e.addr, "tcp://"), verbs.QPConfig{SendDepth: n, RecvDepth: n}, hello.Marshal())
	if err != nil {
		e.t.Fatal(err)
	}
	p := &rawPeer{t: e.t, qp: qp, n: n}
	if err := p.hello.Unmarshal(qp.PrivateData()); err != nil {
		e.t.Fatal(err)
	}
	if p.mem, err = verbs.AllocMemory(2 * n * protocol.MaxMessage); err != nil {
		e.t.Fatal(err)
	}
	if p.mr, err = qp.PD().Register(p.mem, verbs.AccessLocalWrite); err != nil {
		e.t.Fatal(err)
	}
	for i := n; i < 2*n; i++ {
		if err := qp.PostRecv(verbs.RecvWR{ID: uint64(i), Local: verbs.SGEOf(p.mr, i*protocol.MaxMessage, protocol.MaxMessage)}); err != nil {
			e.t.Fatal(err)
		}
	}
	e.t.Cleanup(p.close)
	return p
}

func rawHello(features uint64) protocol.HelloRequest {
	return protocol.HelloRequest{MinVersion: 1, MaxVersion: 1, Features: features, RecvDepth: 64}
}

// send posts frame from send slot i (frames up to MaxMessage; longer ones
// use consecutive slots).
func (p *rawPeer) send(i int, frame []byte) {
	p.t.Helper()
	if err := p.trySend(i, frame); err != nil {
		p.t.Fatal(err)
	}
}

func (p *rawPeer) trySend(i int, frame []byte) error {
	copy(p.mem[i*protocol.MaxMessage:], frame)
	return p.qp.PostSend(verbs.SendWR{ID: uint64(i), Op: verbs.OpSend, Local: verbs.SGEOf(p.mr, i*protocol.MaxMessage, len(frame))})
}

// reply waits for the next reply frame.
func (p *rawPeer) reply(ctx context.Context) (protocol.Header, protocol.Message, error) {
	var wc [1]verbs.WC
	if _, err := p.qp.RecvCQ().Wait(ctx, wc[:]); err != nil {
		return protocol.Header{}, nil, err
	}
	if err := wc[0].Err(); err != nil {
		return protocol.Header{}, nil, err
	}
	return protocol.Decode(p.mem[int(wc[0].ID)*protocol.MaxMessage:][:wc[0].ByteLen])
}

// ended waits until the brick has ended the session.
func (p *rawPeer) ended(ctx context.Context, what string) {
	p.t.Helper()
	select {
	case <-p.qp.Done():
	case <-ctx.Done():
		p.t.Fatalf("%s: the brick kept the session", what)
	}
}

func (p *rawPeer) close() {
	p.qp.Close()
	p.mr.Deregister()
	verbs.FreeMemory(p.mem)
}

func frame(t *testing.T, typ protocol.Type, reqID uint64, m protocol.Message) []byte {
	b := make([]byte, protocol.MaxMessage)
	n, err := protocol.Encode(b, typ, protocol.StatusOK, reqID, m)
	if err != nil {
		t.Fatal(err)
	}
	return b[:n]
}

// refix recomputes a mutated frame's CRC.
func refix(b []byte) []byte {
	binary.BigEndian.PutUint32(b[20:], 0)
	binary.BigEndian.PutUint32(b[20:], crc32c(b))
	return b
}

// TestAuth: a session proves the key before any verb; every way of not
// proving it is refused with StatusPermission and logged.
func TestAuth(t *testing.T) {
	lb := &logBuffer{}
	e := newEnv(t, envOpts{authKey: testKey, log: lb, everyWarning: true})

	c, err := client.Dial(e.ctx, e.addr, client.Options{AuthKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Authenticated() {
		t.Fatal("session with a key is not authenticated")
	}
	wantErr(t, "alloc after auth", c.Alloc(e.ctx, 0), nil)
	e.waitLog(lb, "session authenticated")

	// No key: the client asks for no auth, the brick rejects the hello.
	if _, err := client.Dial(e.ctx, e.addr, client.Options{}); !errors.Is(err, client.ErrPermission) {
		t.Fatalf("dial without a key: %v", err)
	}
	e.waitLog(lb, "requires authentication")

	// Wrong key: refused, and the brick logs it.
	wrong := []byte("not the test key, but 32 bytes..")
	if _, err := client.Dial(e.ctx, e.addr, client.Options{AuthKey: wrong}); !errors.Is(err, client.ErrPermission) {
		t.Fatalf("dial with a wrong key: %v", err)
	}
	e.waitLog(lb, "authentication failed")

	// A peer that asks for auth and then sends a verb (or a replayed
	// proof from another session) gets StatusPermission and loses the
	// session.
	for name, f := range map[string]func(p *rawPeer) []byte{
		"verb first": func(p *rawPeer) []byte { return frame(t, protocol.TypeAlloc, 1, &protocol.AllocRequest{ID: 2 * block}) },
		"ping first": func(p *rawPeer) []byte { return frame(t, protocol.TypePing, 1, &protocol.PingRequest{}) },
		"replayed proof": func(p *rawPeer) []byte {
			old := c.Hello() // another session's transcript
			tr := protocol.TranscriptOf(&old, [32]byte{})
			return frame(t, protocol.TypeAuth, 1, &protocol.AuthRequest{Proof: protocol.ClientProof(testKey, &tr)})
		},
	} {
		p := e.dialRaw(rawHello(protocol.FeatureAuth))
		if p.hello.Features&protocol.FeatureAuth == 0 || p.hello.Nonce == [32]byte{} {
			t.Fatalf("%s: hello %+v has no challenge", name, p.hello)
		}
		p.send(0, f(p))
		h, _, err := p.reply(e.ctx)
		if err != nil || h.Status != protocol.StatusPermission {
			t.Fatalf("%s: reply %+v err %v, want StatusPermission", name, h, err)
		}
		p.ended(e.ctx, name)
	}
	e.waitLog(lb, "request before authentication", "the peer sent alloc")
	e.waitLog(lb, "request before authentication", "the peer sent ping")
	if _, err := e.store.Lookup(2 * block); err == nil {
		t.Fatal("a verb before authentication was served")
	}

	// The authenticated session was never disturbed.
	if _, err := c.Status(e.ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAuthKeyless: a client with a key refuses a brick without one (it
// cannot prove it is the brick); a client without a key is not
// authenticated and is served.
func TestAuthKeyless(t *testing.T) {
	e := newEnv(t, envOpts{})
	if _, err := client.Dial(e.ctx, e.addr, client.Options{AuthKey: testKey}); !errors.Is(err, client.ErrPermission) || !errors.Is(err, client.ErrBrickHasNoKey) {
		t.Fatalf("client with a key, brick without: %v", err)
	}
	c := e.dial()
	if c.Authenticated() {
		t.Fatal("authenticated without a key")
	}
	if _, err := client.Dial(e.ctx, e.addr, client.Options{AuthKey: []byte("short")}); !errors.Is(err, protocol.ErrKey) {
		t.Fatalf("short key: %v", err)
	}
}

// TestKeepAlive: the brick ends a silent session; a client that pings
// survives the same silence.
func TestKeepAlive(t *testing.T) {
	lb := &logBuffer{}
	const timeout = 300 * time.Millisecond
	e := newEnv(t, envOpts{timeout: timeout, log: lb})
	c := e.dial() // pings every timeout/3
	if got := c.Hello().TimeoutMS; got != uint32(timeout/time.Millisecond) {
		t.Fatalf("hello timeout %d ms", got)
	}
	start := time.Now() // before the dial: the brick's clock starts when it accepts
	p := e.dialRaw(rawHello(0))
	p.ended(e.ctx, "silent peer")
	if d := time.Since(start); d < timeout {
		t.Fatalf("silent session ended after %v, before the %v timeout", d, timeout)
	}
	e.waitLog(lb, "presuming it dead")
	// Idle through several timeouts: only keep-alives flow.
	time.Sleep(3 * timeout)
	if _, err := c.Status(e.ctx); err != nil {
		t.Fatalf("pinging client lost its session: %v", err)
	}
	if err := c.Ping(e.ctx); err != nil {
		t.Fatal(err)
	}
}

// TestClientDetectsDeadBrick: a brick that accepts and then answers
// nothing is presumed dead by the client's keep-alive.
func TestClientDetectsDeadBrick(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := soft.New().Listen(ctx, "127.0.0.1:0", verbs.ListenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	mute := make(chan verbs.QP, 1)
	go func() {
		req, err := l.Accept(ctx)
		if err != nil {
			return
		}
		var mem []byte
		var mr verbs.MR
		hello := protocol.HelloReply{Version: 1, RecvDepth: 4, MaxMessage: protocol.MaxMessage}
		qp, err := req.Accept(verbs.QPConfig{SendDepth: 4, RecvDepth: 4}, hello.Marshal(), func(qp verbs.QP) error {
			mem, _ = verbs.AllocMemory(4 * protocol.MaxMessage)
			mr, _ = qp.PD().Register(mem, verbs.AccessLocalWrite)
			for i := range 4 {
				qp.PostRecv(verbs.RecvWR{ID: uint64(i), Local: verbs.SGEOf(mr, i*protocol.MaxMessage, protocol.MaxMessage)})
			}
			return nil
		})
		if err == nil {
			mute <- qp
			<-qp.Done()
		}
		mr.Deregister()
		verbs.FreeMemory(mem)
	}()
	c, err := client.Dial(ctx, "tcp://"+l.Addr(), client.Options{KeepAlive: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	qp := <-mute
	defer qp.Close()
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("client never noticed the brick stopped answering")
	}
	if err := c.Err(); !errors.Is(err, client.ErrClosed) || !strings.Contains(err.Error(), "presuming it dead") {
		t.Fatalf("session error %v", err)
	}
}

// TestMaxMapsPerSession: the per-session map limit refuses with
// StatusLimit, and only that session.
func TestMaxMapsPerSession(t *testing.T) {
	lb := &logBuffer{}
	e := newEnv(t, envOpts{maxMaps: 2, log: lb})
	c := e.dial()
	for i := range uint64(3) {
		wantErr(t, "alloc", c.Alloc(e.ctx, i*block), nil)
	}
	for i := range uint64(2) {
		if _, err := c.Map(e.ctx, i*block, protocol.MapReadOnly); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.Map(e.ctx, 2*block, protocol.MapReadOnly)
	wantErr(t, "third map", err, client.ErrLimit)
	e.waitLog(lb, "verb refused: limit", "per-session limit")
	if _, err := e.dial().Map(e.ctx, 2*block, protocol.MapReadOnly); err != nil {
		t.Fatalf("another session's map: %v", err)
	}
	wantErr(t, "unmap", c.Unmap(e.ctx, 0), nil)
	if _, err := c.Map(e.ctx, 2*block, protocol.MapReadOnly); err != nil {
		t.Fatalf("map after an unmap: %v", err)
	}
}

// TestRecvDepthExceeded: a peer that ignores the hello's recv depth breaks
// its own connection at the RNIC (no receive posted); the brick logs it,
// revokes its maps and serves everyone else.
func TestRecvDepthExceeded(t *testing.T) {
	lb := &logBuffer{}
	e := newEnv(t, envOpts{depth: 2, frames: 80, log: lb})
	good := e.dial()
	p := e.dialRaw(rawHello(0))
	if p.hello.RecvDepth != 2 {
		t.Fatalf("hello recv depth %d", p.hello.RecvDepth)
	}
	for i := range 60 { // Allocs commit metadata: the worker cannot keep up
		if err := p.trySend(i, frame(t, protocol.TypeAlloc, uint64(i+1), &protocol.AllocRequest{ID: uint64(i) * block})); err != nil {
			break // the brick's RNIC already broke the connection
		}
	}
	p.ended(e.ctx, "peer over its recv depth")
	e.waitLog(lb, "session ended: transport error", "no receive posted")
	e.waitSessions(1)
	if _, err := good.Status(e.ctx); err != nil {
		t.Fatal(err)
	}
}

// TestMalformedInput sends each kind of bad input; the brick logs it, ends
// that session (or connection) only, and keeps serving the others.
func TestMalformedInput(t *testing.T) {
	lb := &logBuffer{}
	e := newEnv(t, envOpts{timeout: 500 * time.Millisecond, log: lb, everyWarning: true})
	good := e.dial()
	hostport := strings.TrimPrefix(e.addr, "tcp://")
	check := func(what string) {
		t.Helper()
		if _, err := good.Status(e.ctx); err != nil {
			t.Fatalf("%s: the other session broke: %v", what, err)
		}
	}

	// A peer that stalls mid-MPA; its handshake times out (after
	// verbs.DefaultTimeout, checked at the end) without holding anyone up.
	stalled, err := net.Dial("tcp", hostport)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	stalled.Write([]byte("MPA ID Req Fr"))

	alloc := frame(t, protocol.TypeAlloc, 1, &protocol.AllocRequest{ID: 0})
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), alloc...)) }
	cases := []struct {
		name  string
		frame []byte
		log   string
	}{
		{"short frame", alloc[:10], "message too short"},
		{"oversize length field", mut(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[16:], 1<<30)
			return refix(b)
		}), "message length mismatch"},
		{"oversize send", make([]byte, protocol.MaxMessage+100), "session ended"},
		{"bad CRC", mut(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), "checksum mismatch"},
		{"unknown type", mut(func(b []byte) []byte { b[3] = 0x42; return refix(b) }), "unknown message type"},
		{"wrong version", mut(func(b []byte) []byte { b[2] = 9; return refix(b) }), "unsupported protocol version"},
		{"reply as request", frame(t, protocol.TypeStatus|protocol.ReplyBit, 1, &protocol.StatusReply{}), "peer sent a status reply"},
		{"bad magic", bytes.Repeat([]byte{0xAA}, 64), "bad magic"},
	}
	for _, tc := range cases {
		p := e.dialRaw(rawHello(0))
		if len(tc.frame) > protocol.MaxMessage {
			p.send(0, tc.frame[:protocol.MaxMessage]) // fills the slot
			// and a Send too long for the brick's receive buffer:
			p.qp.PostSend(verbs.SendWR{ID: 1, Op: verbs.OpSend, Local: verbs.SGEOf(p.mr, 0, len(tc.frame))})
		} else {
			p.send(0, tc.frame)
		}
		p.ended(e.ctx, tc.name)
		e.waitLog(lb, tc.log)
		check(tc.name)
	}

	// Hellos that are not brick's, or of another version: rejected.
	for name, pd := range map[string][]byte{
		"garbage hello":  []byte("hello?"),
		"future version": (&protocol.HelloRequest{MinVersion: 7, MaxVersion: 9}).Marshal(),
	} {
		_, err := soft.New().Dial(e.ctx, hostport, verbs.QPConfig{SendDepth: 2, RecvDepth: 2}, pd)
		var rej *verbs.RejectedError
		if !errors.As(err, &rej) {
			t.Fatalf("%s: %v, want a rejection", name, err)
		}
		check(name)
	}
	e.waitLog(lb, "rejecting connection: bad hello")
	e.waitLog(lb, "rejecting connection: no common protocol version")

	// Verbs before the hello: raw TCP without MPA.
	raw, err := net.Dial("tcp", hostport)
	if err != nil {
		t.Fatal(err)
	}
	raw.Write(frame(t, protocol.TypeAlloc, 1, &protocol.AllocRequest{ID: 0}))
	io.Copy(io.Discard, raw) // the brick hangs up
	raw.Close()
	e.waitLog(lb, "not a valid MPA request")
	check("frame without MPA")

	// A peer that stalls mid-FPDU after a good MPA exchange: the session
	// timeout ends it.
	hello := rawHello(0)
	mid := mpaConnect(t, hostport, hello.Marshal())
	mid.Write([]byte{0, 40, 0x41}) // 3 bytes of an FPDU
	e.waitLog(lb, "presuming it dead")
	mid.SetReadDeadline(time.Now().Add(10 * time.Second))
	// The brick hangs up with our bytes unread, so the kernel may answer
	// with a reset rather than an orderly close: both are a hang-up.
	if _, err := io.Copy(io.Discard, mid); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("mid-FPDU stall: the brick did not hang up: %v", err)
	}
	mid.Close()
	check("stall mid-FPDU")

	// An FPDU with a bad MPA CRC: the session ends, the log names the
	// RNIC-level cause, and the peer gets a Terminate, not just a hang-up.
	crcBad := mpaConnect(t, hostport, hello.Marshal())
	fp := []byte{0, 18, 0x41, 0x43, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0} // untagged Send, QN 0, MSN 1, no payload
	fp = binary.LittleEndian.AppendUint32(fp, crc32c(fp)^1)
	crcBad.Write(fp)
	e.waitLog(lb, "RDMA protocol violation by the peer")
	crcBad.SetReadDeadline(time.Now().Add(10 * time.Second))
	var term [4]byte
	if _, err := io.ReadFull(crcBad, term[:]); err != nil || term[3]&0x0f != 0x7 {
		t.Fatalf("after a bad CRC the peer read %x, %v; want a Terminate FPDU", term, err)
	}
	crcBad.Close()
	check("bad MPA CRC")

	// The peer that stalled mid-MPA at the start has timed out by now (the
	// flood below would otherwise close it as the oldest half-open one).
	e.waitLog(lb, "no complete MPA request in time")
	check("stall mid-MPA")

	// A flood of half-open connections: the listener bounds handshakes,
	// closes the oldest half-open one to admit each newcomer (with a
	// rate-limited log line), established sessions carry on, and a new
	// peer still gets in.
	var flood []net.Conn
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	for range 300 {
		c, err := net.Dial("tcp", hostport)
		if err != nil {
			break // the local system ran out first: still a flood
		}
		flood = append(flood, c)
	}
	e.waitLog(lb, "too many in MPA negotiation")
	check("half-open flood")
	// A real peer still gets in: the listener closes the oldest half-open
	// connection to make room for it.
	during, err := client.Dial(e.ctx, e.addr, client.Options{})
	if err != nil {
		t.Fatalf("a new session during the flood: %v", err)
	}
	during.Close()
	for _, c := range flood {
		c.Close()
	}
	flood = nil
	var c *client.Client
	for c == nil { // the listener frees handshake slots as the flood hangs up
		if c, err = client.Dial(e.ctx, e.addr, client.Options{}); err != nil && e.ctx.Err() != nil {
			t.Fatalf("no new session after the flood: %v", err)
		}
	}
	c.Close()
}

// mpaConnect does a revision 1 MPA exchange by hand and returns the raw
// connection, positioned at the first FPDU.
func mpaConnect(t *testing.T, hostport string, pd []byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", hostport)
	if err != nil {
		t.Fatal(err)
	}
	req := append([]byte("MPA ID Req Frame"), 0x40, 1)
	req = binary.BigEndian.AppendUint16(req, uint16(len(pd)))
	if _, err := c.Write(append(req, pd...)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hdr [20]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatal(err)
	}
	if string(hdr[:16]) != "MPA ID Rep Frame" || hdr[16]&0x20 != 0 {
		t.Fatalf("MPA reply %q", hdr[:])
	}
	if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint16(hdr[18:]))); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Time{})
	return c
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }
