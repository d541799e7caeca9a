package soft

import (
	"bufio"
	"context"
	"errors"
	"fmt"
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

type provider struct{}

// New returns the software iWARP provider for tcp:// addresses.
func New() verbs.Provider { return provider{} }

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
func (provider) Dial(ctx context.Context, hostport string, cfg verbs.QPConfig, privateData []byte) (verbs.QP, error) {
	if len(privateData) > mpaMaxPD {
		return nil, fmt.Errorf("%w: %d bytes of private data (max %d)", verbs.ErrInvalid, len(privateData), mpaMaxPD)
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
	rep, err := func() (mpaFrame, error) {
		if _, err := conn.Write(appendMPA(nil, false, false, privateData)); err != nil {
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
	if rep.reject {
		conn.Close()
		return nil, &verbs.RejectedError{PrivateData: rep.pd}
	}
	q := newQP(conn, br, cfg, rep.pd, false)
	q.start()
	return q, nil
}

// Listen binds hostport. MPA negotiation runs per connection in its own
// goroutine; only negotiated requests reach Accept.
func (provider) Listen(ctx context.Context, hostport string, cfg verbs.ListenConfig) (verbs.Listener, error) {
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
		ln:      ln,
		reqs:    make(chan *connReq, cfg.Backlog),
		closing: make(chan struct{}),
		slots:   make(chan struct{}, maxHandshakes),
		shakes:  make(map[net.Conn]struct{}),
	}
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

type listener struct {
	ln      net.Listener
	reqs    chan *connReq
	closing chan struct{}
	slots   chan struct{}
	wg      sync.WaitGroup
	once    sync.Once

	mu     sync.Mutex
	shakes map[net.Conn]struct{} // connections in MPA negotiation
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
		select {
		case l.slots <- struct{}{}:
		default:
			conn.Close() // too many handshakes in progress
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
		l.shakes[conn] = struct{}{}
		l.mu.Unlock()
		l.wg.Add(1)
		go l.handshake(conn)
	}
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
	if err != nil {
		if errors.Is(err, errMPA) {
			// Answer a well-formed but unacceptable request (markers,
			// revision) with a rejection; garbage just gets closed.
			conn.Write(appendMPA(nil, true, true, nil))
		}
		conn.Close()
		return
	}
	cr := &connReq{conn: conn, br: br, pd: req.pd, remote: conn.RemoteAddr().String()}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case l.reqs <- cr:
	case <-l.closing:
		conn.Close()
	case <-t.C:
		conn.Close()
	}
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
	conn     net.Conn
	br       *bufio.Reader
	pd       []byte
	remote   string
	answered atomic.Bool
}

func (c *connReq) PrivateData() []byte { return c.pd }
func (c *connReq) RemoteAddr() string  { return c.remote }

// reply writes the MPA Reply within DefaultTimeout.
func (c *connReq) reply(reject bool, pd []byte) error {
	c.conn.SetDeadline(time.Now().Add(verbs.DefaultTimeout))
	_, err := c.conn.Write(appendMPA(nil, true, reject, pd))
	c.conn.SetDeadline(time.Time{})
	if err != nil {
		return fmt.Errorf("soft: sending MPA reply: %w", err)
	}
	return nil
}

// Accept creates the QP (in a new PD), runs prepare so that receives are
// posted, and only then sends the MPA Reply.
func (c *connReq) Accept(cfg verbs.QPConfig, privateData []byte, prepare func(verbs.QP) error) (verbs.QP, error) {
	if len(privateData) > mpaMaxPD {
		return nil, fmt.Errorf("%w: %d bytes of private data (max %d)", verbs.ErrInvalid, len(privateData), mpaMaxPD)
	}
	cfg, err := normalize(cfg)
	if err != nil {
		return nil, err
	}
	if !c.answered.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("%w: connection request already answered", verbs.ErrInvalid)
	}
	q := newQP(c.conn, c.br, cfg, c.pd, true)
	if prepare != nil {
		if err := prepare(q); err != nil {
			c.reply(true, nil)
			q.start()
			q.Close()
			return nil, fmt.Errorf("soft: accept: prepare: %w", err)
		}
	}
	if err := c.reply(false, privateData); err != nil {
		q.start()
		q.Close()
		return nil, err
	}
	q.start()
	return q, nil
}

func (c *connReq) Reject(privateData []byte) error {
	if len(privateData) > mpaMaxPD {
		return fmt.Errorf("%w: %d bytes of private data (max %d)", verbs.ErrInvalid, len(privateData), mpaMaxPD)
	}
	if !c.answered.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: connection request already answered", verbs.ErrInvalid)
	}
	err := c.reply(true, privateData)
	c.conn.Close()
	return err
}
