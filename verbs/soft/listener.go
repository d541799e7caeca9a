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
	cr, err := l.prov.connReq(conn, br, req)
	if err != nil { // not reached: parseMPAHeader checked the length
		conn.Write(appendMPA(nil, true, true, nil))
		conn.Close()
		return
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
	noCRC    bool     // the request did not ask for the MPA CRC, and neither do we (OptionalCRC)
	conn     net.Conn
	br       *bufio.Reader
	pd       []byte
	remote   string
	answered atomic.Bool
}

func (c *connReq) PrivateData() []byte { return c.pd }
func (c *connReq) RemoteAddr() string  { return c.remote }

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
