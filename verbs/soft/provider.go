package soft

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/brick-storage/brick/verbs"
)

// provider is the software RNIC. Its zero value is the real thing; tests
// set rev1 (speak only MPA revision 1, as an RFC 5044 peer) and noExt
// (extension flags not to offer) to exercise negotiation.
type provider struct {
	rev1        bool
	noExt       uint8
	optionalCRC bool // Options.OptionalCRC
}

// Options configure the software RNIC.
type Options struct {
	// OptionalCRC: do not ask for the MPA CRC (RFC 5044), in the request
	// when dialing or in the reply when listening, so that a connection
	// uses it only if the peer asks. By default the software RNIC always
	// asks; Linux siw never does (in 6.1 its mpa_crc_required is a
	// constant false). Without it FPDUs carry a zero CRC that nobody
	// checks, as between two siw peers, and TCP's checksum alone guards
	// them. It is the way round a siw listener that checksums a Read
	// Response before the kernel copies its pages, so that a Write to the
	// same memory in between fails the reader's connection with a CRC
	// error (docs/rdma.md).
	OptionalCRC bool
}

// New returns the software iWARP provider for tcp:// addresses.
func New() verbs.Provider { return provider{} }

// NewWithOptions is New configured by o.
func NewWithOptions(o Options) verbs.Provider { return provider{optionalCRC: o.OptionalCRC} }

func (provider) Scheme() string { return "tcp" }

// checkPrivateData bounds the caller's private data.
func checkPrivateData(pd []byte) error {
	if len(pd) > MaxPrivateData {
		return fmt.Errorf("%w: %d bytes of private data (max %d)", verbs.ErrInvalid, len(pd), MaxPrivateData)
	}
	return nil
}

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
	req, ours := p.request(cfg, privateData)
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
