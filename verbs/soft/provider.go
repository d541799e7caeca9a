package soft

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brick-storage/brick/verbs"
)

// Listener defaults.
const (
	defaultBacklog = 16
	// maxHandshakes bounds connections in MPA negotiation per listener;
	// more are closed at once. Each handshake ends within DefaultTimeout.
	maxHandshakes = 256
)

// provider is the software RNIC. Its zero value is the real thing; tests
// set rev1 (speak only MPA revision 1, as an RFC 5044 peer) and noExt
// (extension flags not to offer) to exercise negotiation.
type provider struct {
	rev1  bool
	noExt uint8
}

// New returns the software iWARP provider for tcp:// addresses.
func New() verbs.Provider { return provider{} }

// negotiated is what connection setup settled beyond RFC 5044.
type negotiated struct {
	rev     uint8
	ext     uint8  // extension flags both ends offered
	peerIRD uint16 // 0: not announced (no enhanced connection data)
	rtr     uint8  // RFC 6581 peer-to-peer mode: the RTR the initiator sends first (rtr*)
}

// RTR types (RFC 6581 §7): the first FPDU of an initiator in
// peer-to-peer mode.
const (
	rtrNone  = iota
	rtrRead  // zero-length RDMA Read: what we send and prefer to receive
	rtrWrite // zero-length RDMA Write: accepted like any zero-length Write
	rtrSend  // zero-length Send: consumed by the RNIC, never by a receive
)

// apply configures q before it starts.
func (n negotiated) apply(q *QP) {
	q.caps.AtomicWrite = n.ext&extAtomicWr != 0
	q.caps.Flush = n.ext&extFlush != 0
	q.peerIRD = uint64(n.peerIRD)
	switch {
	case n.rtr == rtrRead && !q.passive:
		q.rtr = true
		q.kick()
	case n.rtr == rtrSend && q.passive:
		q.rx.rtrSend = true
	}
}

// ourIRD is the inbound Read/FLUSH depth we announce (our IRQ size).
const ourIRD = min(maxIRD, enhIRDORD)

// checkPrivateData bounds the caller's private data.
func checkPrivateData(pd []byte) error {
	if len(pd) > MaxPrivateData {
		return fmt.Errorf("%w: %d bytes of private data (max %d)", verbs.ErrInvalid, len(pd), MaxPrivateData)
	}
	return nil
}

func (provider) Scheme() string { return "tcp" }

// withSetupDeadline applies verbs.DefaultTimeout when ctx has no deadline
// and makes ctx's end interrupt blocking I/O on conn. stop undoes the
// latter and says whether ctx ended meanwhile.
func withSetupDeadline(ctx context.Context, conn net.Conn) (stop func() bool) {
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(verbs.DefaultTimeout)
	}
	conn.SetDeadline(dl)
	after := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	return func() bool {
		if !after() {
			return false
		}
		conn.SetDeadline(time.Time{})
		return true
	}
}

// Dial connects, sends the MPA Request with privateData and waits for the
// Reply. A rejection is a *verbs.RejectedError.
//
// The request is MPA revision 2 (RFC 6581) in peer-to-peer mode offering
// a zero-length RDMA Read as RTR, with brick's extension header; a
// revision 1 Reply falls back to RFC 5044 without extensions.
func (p provider) Dial(ctx context.Context, hostport string, cfg verbs.QPConfig, privateData []byte) (verbs.QP, error) {
	if err := checkPrivateData(privateData); err != nil {
		return nil, err
	}
	cfg, err := normalize(cfg)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, verbs.DefaultTimeout)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return nil, fmt.Errorf("soft: dial %s: %w", hostport, err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	stop := withSetupDeadline(ctx, conn)
	br := bufio.NewReaderSize(conn, rxBufSize)
	ours := extAll &^ p.noExt
	req := appendMPA(nil, false, false, privateData)
	if !p.rev1 {
		// The extension offer rides in the flags byte, not in the
		// private data, which another stack hands to its caller whole.
		req = mpaFrame{crc: true, rev: mpaRev2, enhanced: true, ext: ours,
			pd: appendConnData(nil, enhanced{ird: ourIRD, ord: uint16(min(2*cfg.SendDepth, enhIRDORD)), p2p: true, readRTR: true},
				extHdr{}, privateData)}.marshal(nil)
	}
	rep, err := func() (mpaFrame, error) {
		if _, err := conn.Write(req); err != nil {
			return mpaFrame{}, fmt.Errorf("soft: sending MPA request: %w", err)
		}
		return readMPA(br, true)
	}()
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		conn.Close()
		var ne net.Error
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("soft: dial %s: %w (%v)", hostport, cerr, err)
		} else if errors.As(err, &ne) && ne.Timeout() {
			// The socket deadline (ctx's deadline) fired just before ctx.
			err = fmt.Errorf("soft: dial %s: %w (%v)", hostport, context.DeadlineExceeded, err)
		}
		return nil, err
	}
	neg, user, err := p.replied(rep, ours)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("soft: dial %s: %w", hostport, err)
	}
	if rep.reject {
		conn.Close()
		return nil, &verbs.RejectedError{PrivateData: user}
	}
	q := newQP(conn, br, cfg, user, false)
	neg.apply(q)
	q.start()
	return q, nil
}

// replied interprets the MPA Reply to our request.
func (p provider) replied(rep mpaFrame, ours uint8) (negotiated, []byte, error) {
	neg := negotiated{rev: rep.rev}
	if rep.rev == mpaRev1 || !rep.enhanced {
		// An RFC 5044 peer, or revision 2 without the enhanced data:
		// no IRD/ORD, no peer-to-peer mode, no extensions.
		if p.rev1 && rep.rev == mpaRev2 {
			return neg, nil, fmt.Errorf("%w: revision 2 reply to a revision 1 request", errMPA)
		}
		return neg, rep.pd, nil
	}
	if p.rev1 {
		return neg, nil, fmt.Errorf("%w: revision 2 reply to a revision 1 request", errMPA)
	}
	e, x, user, err := parseConnData(rep.pd, ours&rep.ext != 0)
	if err != nil {
		return neg, nil, err
	}
	if e.p2p && (!e.readRTR || e.zeroRTR || e.writeRTR) {
		return neg, nil, fmt.Errorf("%w: reply selects an RTR type other than the zero-length Read we offered", errMPA)
	}
	// An announced IRD of 0 still takes the one Read our completion
	// fences need (RFC 6581 lets the responder raise what we asked).
	neg.peerIRD = max(e.ird, 1)
	if e.p2p {
		neg.rtr = rtrRead
	}
	if x.present {
		neg.ext = x.flags & ours
	}
	return neg, user, nil
}

// Listen binds hostport. MPA negotiation runs per connection in its own
// goroutine; only negotiated requests reach Accept.
func (p provider) Listen(ctx context.Context, hostport string, cfg verbs.ListenConfig) (verbs.Listener, error) {
	if cfg.Backlog < 0 {
		return nil, fmt.Errorf("%w: backlog %d", verbs.ErrInvalid, cfg.Backlog)
	}
	if cfg.Backlog == 0 {
		cfg.Backlog = defaultBacklog
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", hostport)
	if err != nil {
		return nil, fmt.Errorf("soft: listen %s: %w", hostport, err)
	}
	l := &listener{
		prov:    p,
		ln:      ln,
		reqs:    make(chan *connReq, cfg.Backlog),
		closing: make(chan struct{}),
		slots:   make(chan struct{}, maxHandshakes),
		shakes:  make(map[net.Conn]time.Time),
		log:     cfg.Logger,
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

type listener struct {
	prov    provider
	ln      net.Listener
	reqs    chan *connReq
	closing chan struct{}
	slots   chan struct{}
	wg      sync.WaitGroup
	once    sync.Once

	mu     sync.Mutex
	shakes map[net.Conn]time.Time // connections still reading their MPA request, by arrival

	log     *slog.Logger
	dropLog [3]logLimiter // by drop reason: excess, garbage, stalled
}

func (l *listener) Addr() string { return l.ln.Addr().String() }

func (l *listener) acceptLoop() {
	defer l.wg.Done()
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			select {
			case <-l.closing:
				return
			default:
			}
			// Transient accept errors (EMFILE...): back off briefly.
			select {
			case <-l.closing:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		if !l.takeSlot(conn) {
			continue
		}
		l.mu.Lock()
		select {
		case <-l.closing:
			l.mu.Unlock()
			conn.Close()
			<-l.slots
			return
		default:
		}
		l.shakes[conn] = time.Now()
		l.mu.Unlock()
		l.wg.Add(1)
		go l.handshake(conn)
	}
}

// takeSlot admits conn to MPA negotiation. When maxHandshakes are in
// progress, the oldest connection still reading its MPA request is closed
// to make room: a flood of half-open connections then delays a real peer
// (which sends its request at once) by no more than the time it takes the
// flood to open maxHandshakes newer connections, instead of locking it out
// for the handshake timeout. It reports false (conn closed) when no slot
// can be had.
func (l *listener) takeSlot(conn net.Conn) bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	evicted := l.evictOldest()
	if evicted {
		select {
		case l.slots <- struct{}{}: // the evicted handshake gives its slot back at once
			l.dropped(0, "too many in MPA negotiation (a flood of half-open connections?): closed the oldest to admit a new one",
				"peer", conn.RemoteAddr().String(), "limit", maxHandshakes)
			return true
		case <-l.closing:
		case <-time.After(time.Second):
		}
	}
	conn.Close()
	l.dropped(0, "dropping connection: too many in MPA negotiation (a flood of half-open connections?)",
		"peer", conn.RemoteAddr().String(), "limit", maxHandshakes)
	return false
}

// evictOldest closes the connection that has waited longest for its MPA
// request; false when every slot holds a negotiated request waiting for
// Accept.
func (l *listener) evictOldest() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	var oldest net.Conn
	var at time.Time
	for c, t := range l.shakes {
		if oldest == nil || t.Before(at) {
			oldest, at = c, t
		}
	}
	if oldest == nil {
		return false
	}
	delete(l.shakes, oldest)
	oldest.Close()
	return true
}

// handshake reads the MPA Request within DefaultTimeout and queues the
// request for Accept, waiting at most as long for backlog space.
func (l *listener) handshake(conn net.Conn) {
	defer l.wg.Done()
	defer func() {
		l.mu.Lock()
		delete(l.shakes, conn)
		l.mu.Unlock()
		<-l.slots
	}()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	deadline := time.Now().Add(verbs.DefaultTimeout)
	conn.SetDeadline(deadline)
	br := bufio.NewReaderSize(conn, rxBufSize)
	req, err := readMPA(br, false)
	l.mu.Lock()
	_, evicted := l.shakes[conn]
	evicted = !evicted     // evictOldest took it out of the map (and logged it)
	delete(l.shakes, conn) // negotiated (or failed): no longer evictable
	l.mu.Unlock()
	if err != nil && evicted {
		conn.Close()
		return
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			l.dropped(2, "dropping connection: no complete MPA request in time (a stalled or half-open peer)",
				"peer", conn.RemoteAddr().String(), "timeout", verbs.DefaultTimeout)
		} else {
			l.dropped(1, "dropping connection: not a valid MPA request (not an iWARP peer)",
				"peer", conn.RemoteAddr().String(), "err", err)
		}
		if errors.Is(err, errMPA) {
			// Answer a well-formed but unacceptable request (markers,
			// revision) with a rejection; garbage just gets closed.
			conn.Write(appendMPA(nil, true, true, nil))
		}
		conn.Close()
		return
	}
	cr := &connReq{conn: conn, br: br, pd: req.pd, remote: conn.RemoteAddr().String(), rev: mpaRev1}
	switch {
	case req.rev == mpaRev2 && req.enhanced:
		e, _, user, err := parseConnData(req.pd, false)
		if err != nil { // not reached: parseMPAHeader checked the length
			conn.Write(appendMPA(nil, true, true, nil))
			conn.Close()
			return
		}
		cr.pd = user
		if !l.prov.rev1 {
			cr.rev, cr.enhanced, cr.enh = mpaRev2, true, e
			cr.ext = req.ext &^ l.prov.noExt & extAll
		}
	case req.rev == mpaRev2 && !l.prov.rev1:
		cr.rev = mpaRev2 // echoed, without enhanced data (as siw does)
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case l.reqs <- cr:
	case <-l.closing:
		conn.Close()
	case <-t.C:
		l.log.Warn("dropping connection: nobody accepted it in time (backlog full)", "peer", cr.remote)
		conn.Close()
	}
}

// dropped logs a connection dropped before Accept for a reason, at most
// once a second per reason: a flood must not become a log flood.
func (l *listener) dropped(reason int, msg string, args ...any) {
	if n, ok := l.dropLog[reason].allow(); ok {
		l.log.Warn(msg, append(args, "dropped_since_last_line", n)...)
	}
}

// logLimiter allows one event a second and counts the others.
type logLimiter struct {
	n    atomic.Uint64 // events since the last allowed one
	last atomic.Int64  // unix nanos of the last allowed event
}

func (r *logLimiter) allow() (suppressed uint64, ok bool) {
	r.n.Add(1)
	now, last := time.Now().UnixNano(), r.last.Load()
	if now-last < int64(time.Second) || !r.last.CompareAndSwap(last, now) {
		return 0, false
	}
	return max(r.n.Swap(0), 1) - 1, true
}

func (l *listener) Accept(ctx context.Context) (verbs.ConnRequest, error) {
	select {
	case <-l.closing:
		return nil, fmt.Errorf("soft: accept: %w", verbs.ErrClosed)
	default:
	}
	select {
	case cr := <-l.reqs:
		return cr, nil
	case <-l.closing:
		return nil, fmt.Errorf("soft: accept: %w", verbs.ErrClosed)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops accepting, ends negotiations in progress and closes the
// connections of requests nobody accepted.
func (l *listener) Close() error {
	var err error
	l.once.Do(func() {
		l.mu.Lock()
		close(l.closing)
		for c := range l.shakes {
			c.Close() // interrupts a negotiation in progress
		}
		l.mu.Unlock()
		err = l.ln.Close()
		l.wg.Wait()
		for {
			select {
			case cr := <-l.reqs:
				cr.conn.Close()
			default:
				return
			}
		}
	})
	return err
}

type connReq struct {
	rev      uint8    // revision of our Reply: 2 only if the request was
	enhanced bool     // the request carried enhanced connection data (S)
	enh      enhanced // the request's enhanced connection data
	ext      uint8    // extensions both ends offer: if any, our Reply carries the extension header
	conn     net.Conn
	br       *bufio.Reader
	pd       []byte
	remote   string
	answered atomic.Bool
}

func (c *connReq) PrivateData() []byte { return c.pd }
func (c *connReq) RemoteAddr() string  { return c.remote }

// negotiated is what the Reply settles. In peer-to-peer mode we choose
// the initiator's RTR among those it offered: Read, else Write, else
// Send (RFC 6581 §7); an initiator that offered none gets Read.
func (c *connReq) negotiated() negotiated {
	n := negotiated{rev: c.rev}
	if !c.enhanced {
		return n
	}
	n.ext, n.peerIRD = c.ext, max(c.enh.ird, 1)
	if c.enh.p2p {
		switch {
		case c.enh.readRTR:
			n.rtr = rtrRead
		case c.enh.writeRTR:
			n.rtr = rtrWrite
		case c.enh.zeroRTR:
			n.rtr = rtrSend
		default:
			n.rtr = rtrRead
		}
	}
	return n
}

// reply writes the MPA Reply within DefaultTimeout, in the request's
// revision: with the enhanced data when the request had them, and the
// extension header when it offered extensions we accept.
func (c *connReq) reply(reject bool, cfg verbs.QPConfig, pd []byte) error {
	f := mpaFrame{reply: true, reject: reject, crc: true, rev: c.rev, pd: pd}
	if c.enhanced {
		n := c.negotiated()
		ord := uint16(min(2*cfg.SendDepth, enhIRDORD))
		if c.enh.ird > 0 {
			ord = min(ord, c.enh.ird)
		}
		f.enhanced, f.ext = true, n.ext
		f.pd = appendConnData(nil,
			enhanced{ird: ourIRD, ord: ord, p2p: n.rtr != rtrNone,
				readRTR: n.rtr == rtrRead, writeRTR: n.rtr == rtrWrite, zeroRTR: n.rtr == rtrSend},
			extHdr{present: n.ext != 0, flags: n.ext}, pd)
	}
	c.conn.SetDeadline(time.Now().Add(verbs.DefaultTimeout))
	_, err := c.conn.Write(f.marshal(nil))
	c.conn.SetDeadline(time.Time{})
	if err != nil {
		return fmt.Errorf("soft: sending MPA reply: %w", err)
	}
	return nil
}

// Accept creates the QP (in a new PD), runs prepare so that receives are
// posted, and only then sends the MPA Reply.
func (c *connReq) Accept(cfg verbs.QPConfig, privateData []byte, prepare func(verbs.QP) error) (verbs.QP, error) {
	if err := checkPrivateData(privateData); err != nil {
		return nil, err
	}
	cfg, err := normalize(cfg)
	if err != nil {
		return nil, err
	}
	if !c.answered.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("%w: connection request already answered", verbs.ErrInvalid)
	}
	q := newQP(c.conn, c.br, cfg, c.pd, true)
	c.negotiated().apply(q)
	if prepare != nil {
		if err := prepare(q); err != nil {
			c.reply(true, cfg, nil)
			q.start()
			q.Close()
			return nil, fmt.Errorf("soft: accept: prepare: %w", err)
		}
	}
	if err := c.reply(false, cfg, privateData); err != nil {
		q.start()
		q.Close()
		return nil, err
	}
	q.start()
	return q, nil
}

func (c *connReq) Reject(privateData []byte) error {
	if err := checkPrivateData(privateData); err != nil {
		return err
	}
	if !c.answered.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: connection request already answered", verbs.ErrInvalid)
	}
	err := c.reply(true, verbs.QPConfig{SendDepth: defaultDepth}, privateData)
	c.conn.Close()
	return err
}
