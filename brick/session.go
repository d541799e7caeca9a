package brick

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brick-storage/brick/pmem"
	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
)

// A session is one connection: one queue pair, one protection domain, and
// the maps made through it. Its life is a small state machine:
//
//	connecting ──hello──▶ [authenticating] ──auth ok──▶ ready ──▶ closing
//	     │ bad hello,           │ wrong key, anything            ▲
//	     │ no common version,   │ but Auth, silence              │ peer gone, malformed
//	     ▼ limit: reject        └────────────────────────────────┘ frame, silence, Close
//
// "connecting" is serveConn before Accept; "authenticating" exists only
// when the brick has a key. Sessions in it count against their own small
// quota (Config.MaxUnauthenticated), not against MaxSessions, and have
// AuthTimeout to prove the key, so peers without the key can neither take
// the slots of those with it nor keep a session long. When the quota is
// full the oldest is closed to admit the newcomer: a real client, which
// authenticates at once, loses out only to a flood that fills the whole
// quota anew within its one round trip.
//
// In "ready" the receive loop makes the first dispatch on the request's class (protocol.Type.Class): persist requests
// and pings are served inline, so they never wait behind a verb that
// blocks on metadata; verbs go through a bounded queue to one worker that
// serves them in order. Each queued verb keeps its receive buffer until it
// is answered, so the queue can never hold more than the recv depth the
// hello announced: back-pressure on a client that ignores it is the RNIC's
// (a Send with no receive posted breaks the connection), never an
// unbounded buffer here.
type session struct {
	id      uint64
	srv     *Server
	qp      verbs.QP // set by prepare under srv.mu
	log     *slog.Logger
	peer    string    // the peer's address, as the listener saw it
	started time.Time // when the connection request arrived
	// done is closed once the session has ended: its maps revoked, its
	// queue pair closed, and it is no longer among the brick's sessions.
	done chan struct{}

	// recv and sendSlots are registered slabs of depth message slots
	// each: receive slots of protocol.MaxRequest bytes (an idle session's
	// keep-alives cycle through all of them, so all are resident), send
	// slots of protocol.MaxMessage (reused most recent first, so an idle
	// session touches one).
	recv, sendSlots *verbs.Slots

	send struct {
		sync.Mutex       // serialises slot allocation and send-CQ reaping
		free       []int // indexes into sendSlots
	}

	// Owned by the receive loop.
	authed bool
	authBy time.Time           // when the session must have authenticated
	hello  protocol.HelloReply // what the brick said, for the auth transcript

	// method is the session's persist method, every Map reply's: what its
	// RNIC, its client's features and the memory allow (package persist).
	// Settled by prepare, once the queue pair and the hello are known.
	method protocol.PersistMethod

	// admitted: counted in srv.mu.ready. Guarded by srv.mu.
	admitted bool
	// cause is why the brick ended the session from outside its receive
	// loop (endWith); set before the queue pair is closed.
	cause atomic.Pointer[error]

	verbs    chan verbWork // bounded by depth: see the type comment
	inflight atomic.Int32  // verbs queued or being served
	lastRx   atomic.Int64  // unix nanos of the last frame in or verb answered
	closing  atomic.Bool   // the receive loop has ended: serve nothing more

	// maps are this session's live maps by block ID; guarded by srv.mu.
	maps map[uint64]*mapping

	win windows // memory windows' region (window.go)
}

type verbWork struct {
	slot int
	h    protocol.Header
	m    protocol.Message
}

// serveConn answers one connection request and, if it is accepted, serves
// the session until it ends.
func (s *Server) serveConn(req verbs.ConnRequest) {
	log := s.log.With("peer", req.RemoteAddr())
	hello, version, ok := s.checkHello(req, log)
	if !ok {
		return
	}
	ss := &session{id: s.nextSession.Add(1), srv: s, maps: make(map[uint64]*mapping),
		peer: req.RemoteAddr(), started: time.Now(), done: make(chan struct{})}
	ss.log = log.With("session", ss.id)
	if err := s.addSession(ss); err != nil {
		s.warn(log, "rejecting connection", "err", err)
		s.reject(req, protocol.StatusOf(err))
		return
	}
	defer close(ss.done) // after removeSession: deferred calls run last-in first-out
	defer s.removeSession(ss)

	ss.hello = protocol.HelloReply{
		Version:    version,
		RecvDepth:  uint16(s.depth),
		MaxMessage: protocol.MaxRequest, // what our receive buffers hold
		Features:   protocol.NegotiateFeatures(hello.Features, s.features(), s.authKey != nil),
		UUID:       s.region.UUID(),
		FrameSize:  pmem.FrameSize,
		Frames:     s.region.Frames(),
		SessionID:  ss.id,
		TimeoutMS:  uint32(s.timeout / time.Millisecond),
	}
	if s.authKey != nil {
		rand.Read(ss.hello.Nonce[:])
	} else {
		ss.authed = true
	}
	cfg := verbs.QPConfig{SendDepth: s.depth, RecvDepth: s.depth}
	// prepare sets ss.qp before the peer can send anything.
	if _, err := req.Accept(cfg, ss.hello.Marshal(), ss.prepare); err != nil {
		ss.freeBuffers()
		s.warn(log, "accept failed", "err", err)
		return
	}
	ss.log.Debug("session started", "version", version, "features", fmt.Sprintf("%#x", ss.hello.Features), "authenticating", !ss.authed)
	s.metrics.sessionStarted()
	err := ss.run()
	if c := ss.cause.Load(); c != nil {
		err = *c // what run saw followed from it
	}
	ss.end()
	s.metrics.sessionEnded()
	s.logEnd(ss, err)
}

// checkHello decodes the connection request's hello and checks that the
// brick can serve it: a common version, and authentication if the brick
// has a key. A hello it cannot serve is rejected with the status that says
// why, and ok is false.
func (s *Server) checkHello(req verbs.ConnRequest, log *slog.Logger) (hello protocol.HelloRequest, version uint8, ok bool) {
	if err := hello.Unmarshal(req.PrivateData()); err != nil {
		s.warn(log, "rejecting connection: bad hello", "err", err, "bytes", len(req.PrivateData()))
		s.reject(req, protocol.StatusProtocol)
		return hello, 0, false
	}
	if version, ok = protocol.NegotiateVersion(hello.MinVersion, hello.MaxVersion); !ok {
		s.warn(log, "rejecting connection: no common protocol version", "min", hello.MinVersion, "max", hello.MaxVersion,
			"brick_min", protocol.MinVersion, "brick_max", protocol.MaxVersion)
		s.reject(req, protocol.StatusNotSupported)
		return hello, 0, false
	}
	if s.authKey != nil && hello.Features&protocol.FeatureAuth == 0 {
		s.warn(log, "rejecting connection: the brick requires authentication and the peer does not offer it")
		s.reject(req, protocol.StatusPermission)
		return hello, 0, false
	}
	return hello, version, true
}

// logEnd logs why a session ended, err being what its receive loop (or
// whoever ended it) saw.
func (s *Server) logEnd(ss *session, err error) {
	switch fault := transportFault(ss.qp); {
	case fault != nil: // the root cause of whatever run saw
		s.warn(ss.log, "session ended: transport error (the peer broke the RDMA protocol, accessed memory it may not, or sent more requests than the hello's recv depth)",
			"err", fault, "recv_depth", s.depth)
	case err != nil && !ss.authed:
		s.warn(ss.log, "session ended before authentication", "err", err)
	case err != nil:
		s.warn(ss.log, "session ended", "err", err)
	default:
		ss.log.Debug("session ended")
	}
}

// endWith ends the session from outside its receive loop; cause is what
// its end is logged with. Safe once prepare has set the queue pair.
func (ss *session) endWith(cause error) {
	ss.cause.CompareAndSwap(nil, &cause)
	ss.qp.Close()
}

// transportFault is why the queue pair failed, if it was not a plain
// disconnect or local close.
func transportFault(qp verbs.QP) error {
	err := qp.Err()
	if errors.Is(err, verbs.ErrCompletion) || errors.Is(err, verbs.ErrRemoteAccess) ||
		errors.Is(err, verbs.ErrProtocol) || errors.Is(err, verbs.ErrStalled) {
		return err
	}
	return nil
}

func (s *Server) reject(req verbs.ConnRequest, st protocol.Status) {
	r := protocol.HelloReply{Version: protocol.Version, Status: st, UUID: s.region.UUID()}
	if err := req.Reject(r.Marshal()); err != nil {
		s.log.Debug("reject", "err", err)
	}
}

// features are what the brick offers; a session gets those its client
// asked for too.
func (s *Server) features() uint64 {
	return s.posture.Features() | protocol.FeatureFreeUnmap | protocol.FeatureAllocMap | protocol.FeatureUnmapKey
}

// prepare registers the session's message buffers and posts every receive
// before the peer learns the connection is up.
func (ss *session) prepare(qp verbs.QP) error {
	s := ss.srv
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return fmt.Errorf("%w: the brick is shutting down", protocol.ErrLimit)
	}
	if c := ss.cause.Load(); c != nil {
		s.mu.Unlock()
		return *c // evicted before it was accepted
	}
	ss.qp = qp
	s.mu.Unlock()
	s.noteQP(qp) // before it can register a frame
	ss.method = s.posture.Method(qp.Caps(), pathOf(qp), ss.hello.Features)
	depth := s.depth
	var err error
	if ss.recv, err = verbs.NewSlots(qp.PD(), depth, protocol.MaxRequest, verbs.AccessLocalWrite); err != nil {
		return err
	}
	if ss.sendSlots, err = verbs.NewSlots(qp.PD(), depth, protocol.MaxMessage, 0); err != nil {
		return err
	}
	for i := 0; i < depth; i++ {
		if err := ss.postRecv(i); err != nil {
			return err
		}
		ss.send.free = append(ss.send.free, i)
	}
	ss.verbs = make(chan verbWork, depth)
	ss.touch()
	ss.authBy = time.Now().Add(s.authTimeout)
	return nil
}

func (ss *session) postRecv(slot int) error {
	return ss.qp.PostRecv(ss.recv.RecvWR(slot))
}

func (ss *session) touch() { ss.lastRx.Store(time.Now().UnixNano()) }

// run serves the session until the connection ends, the peer misbehaves or
// falls silent. The verb worker runs beside the receive loop and is done
// when run returns.
func (ss *session) run() error {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := ss.worker(); err != nil {
			cancel(err)
		}
	}()
	err := ss.receive(ctx)
	if ctx.Err() != nil {
		err = context.Cause(ctx) // the worker failed
	}
	// Closing the queue pair flushes what the worker may be waiting on
	// (a send slot); it then drains the queue without serving it.
	ss.closing.Store(true)
	ss.qp.Close()
	close(ss.verbs)
	wg.Wait()
	return err
}

// receive is the session's receive loop: decode, first dispatch, and
// dead-peer detection.
func (ss *session) receive(ctx context.Context) error {
	wcs := make([]verbs.WC, ss.srv.depth)
	timeout := ss.srv.timeout
	var w waitDeadline
	defer w.stop()
	for {
		var deadline time.Time
		if timeout > 0 {
			deadline = time.Unix(0, ss.lastRx.Load()).Add(timeout)
			if ss.inflight.Load() > 0 {
				deadline = time.Now().Add(timeout) // not silent: waiting for us
			}
		}
		if !ss.authed && (deadline.IsZero() || ss.authBy.Before(deadline)) {
			deadline = ss.authBy
		}
		n, err := ss.qp.RecvCQ().Wait(w.context(ctx, deadline), wcs)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case errors.Is(err, context.DeadlineExceeded):
				if !ss.authed && !time.Now().Before(ss.authBy) {
					return fmt.Errorf("%w (%v, authentication timeout)", errAuthTimeout, ss.srv.authTimeout)
				}
				if timeout == 0 || ss.inflight.Load() > 0 || time.Since(time.Unix(0, ss.lastRx.Load())) < timeout {
					continue // busy, or a verb was answered meanwhile
				}
				return fmt.Errorf("%w (%v, session timeout)", errSilent, timeout)
			case errors.Is(err, verbs.ErrClosed):
				return nil
			}
			return err
		}
		for _, wc := range wcs[:n] {
			if wc.Status == verbs.StatusFlushed {
				return nil
			}
			if err := wc.Err(); err != nil {
				return err
			}
			ss.touch()
			slot := int(wc.ID)
			frame := ss.recv.Buf(slot)[:wc.ByteLen]
			if err := ss.dispatch(slot, frame); err != nil {
				return err
			}
		}
	}
}

// dispatch decodes one request and serves it inline or queues it for the
// worker. A frame that does not decode ends the session: the peer is not
// speaking the protocol, and guessing at its request IDs would only hide
// that.
//
// The request's receive slot is reposted after the request is served and
// before its reply is posted (here, or by the worker for a queued verb):
// the reply returns the client a credit, and the Send it may spend it on
// at once must find a receive posted, or the RNIC ends the connection.
func (ss *session) dispatch(slot int, frame []byte) error {
	h, m, err := protocol.Decode(frame)
	if err != nil {
		return fmt.Errorf("malformed frame (%d bytes): %w", len(frame), err)
	}
	if h.Type.IsReply() {
		return fmt.Errorf("%w: peer sent a %s", protocol.ErrProtocol, h.Type)
	}
	class := h.Type.Class()
	if !ss.authed {
		if class != protocol.ClassAuth {
			ss.sendFinal(h, protocol.StatusPermission)
			return fmt.Errorf("%w: the peer sent %s", errNotAuthd, h.Type)
		}
		return ss.authenticate(h, m.(*protocol.AuthRequest), slot)
	}
	switch class {
	case protocol.ClassVerb:
		ss.inflight.Add(1)
		// Never blocks: a queued verb holds its receive slot, and there
		// are as many slots as the channel has room.
		ss.verbs <- verbWork{slot: slot, h: h, m: m}
		return nil
	case protocol.ClassFast:
		if h.Type == protocol.TypePing {
			if err := ss.postRecv(slot); err != nil {
				return err
			}
			return ss.sendReply(h.Type|protocol.ReplyBit, protocol.StatusOK, h.ReqID, &protocol.EmptyReply{T: h.Type | protocol.ReplyBit})
		}
		return ss.serveOne(h, m, slot)
	case protocol.ClassAuth:
		st := protocol.StatusProtocol // already authenticated
		if ss.srv.authKey == nil {
			st = protocol.StatusNotSupported
		}
		ss.log.Debug("auth request refused", "status", st)
		if err := ss.postRecv(slot); err != nil {
			return err
		}
		return ss.sendReply(h.Type|protocol.ReplyBit, st, h.ReqID, nil)
	}
	return fmt.Errorf("%w: %s", protocol.ErrType, h.Type)
}

// authenticate checks the client's proof and answers with the brick's.
func (ss *session) authenticate(h protocol.Header, req *protocol.AuthRequest, slot int) error {
	key := ss.srv.currentKey()
	tr := protocol.TranscriptOf(&ss.hello, req.Nonce)
	if !protocol.ProofEqual(req.Proof, protocol.ClientProof(key, &tr)) {
		ss.sendFinal(h, protocol.StatusPermission)
		return errBadProof
	}
	if err := ss.srv.admit(ss); err != nil {
		ss.sendFinal(h, protocol.StatusOf(err))
		return err
	}
	ss.authed = true
	ss.log.Debug("session authenticated")
	if err := ss.postRecv(slot); err != nil { // req is not read after this
		return err
	}
	return ss.sendReply(h.Type|protocol.ReplyBit, protocol.StatusOK, h.ReqID, &protocol.AuthReply{Proof: protocol.BrickProof(key, &tr)})
}

// sendFinal answers h with an error status and waits (briefly) until the
// reply has left, so that the peer learns why before the session ends.
func (ss *session) sendFinal(h protocol.Header, st protocol.Status) {
	if ss.sendReply(h.Type|protocol.ReplyBit, st, h.ReqID, nil) == nil {
		ss.drainSends(time.Second)
	}
}

// worker serves queued verbs in order, one at a time: Map and Unmap of a
// session stay in the order the client sent them, and the striped locks
// in the service order them against other sessions.
func (ss *session) worker() error {
	var err error
	for w := range ss.verbs {
		if err == nil && !ss.closing.Load() {
			err = ss.serveOne(w.h, w.m, w.slot)
		}
		ss.touch()
		ss.inflight.Add(-1)
		if err != nil {
			return err // run closes the queue pair and drains the rest
		}
	}
	return nil
}

// serveOne serves one request through the service, reposts its receive
// slot (m is not read after that) and posts the reply.
func (ss *session) serveOne(h protocol.Header, m protocol.Message, slot int) error {
	reply, err := ss.srv.serve(ss, m)
	if perr := ss.postRecv(slot); perr != nil {
		return perr
	}
	st := protocol.StatusOK
	if err != nil {
		st = protocol.StatusOf(err)
		reply = nil
		switch st {
		case protocol.StatusInternal:
			ss.log.Error("verb failed", "verb", h.Type, "err", err)
		case protocol.StatusLimit:
			ss.srv.warn(ss.log, "verb refused: limit", "verb", h.Type, "err", err)
		default:
			ss.log.Debug("verb refused", "verb", h.Type, "err", err)
		}
	} else if reply == nil {
		reply = &protocol.EmptyReply{T: h.Type | protocol.ReplyBit}
	}
	return ss.sendReply(h.Type|protocol.ReplyBit, st, h.ReqID, reply)
}

// end revokes every map of the session and releases its resources. The
// queue pair is closed and the worker has stopped.
func (ss *session) end() {
	ss.qp.Close()
	ss.srv.unmapAll(ss)
	ss.endWindows()
	ss.freeBuffers()
}

func (ss *session) freeBuffers() {
	ss.recv.Free()
	ss.sendSlots.Free()
	ss.recv, ss.sendSlots = nil, nil
}
