// Package brick is the brick service: it accepts sessions, serves the five
// verbs (alloc, free, map, unmap, list) plus status and persist and the
// admin verbs (admin.go), and hands out RDMA handles onto pmem frames.
//
// Why it is shaped this way: the data path never enters this package. A
// Map registers the block's 2 MiB frame in the session's protection domain
// and returns the key; the RNIC (hardware, or verbs/soft) then places the
// client's RDMA Writes straight into the frame. What this package owns is
// the control path and its invariants:
//
//   - One connection is one session is one protection domain: a key handed
//     to one session is useless on another's queue pair.
//   - Unmap revokes the key (deregisters the region) before it replies; a
//     session that goes away has every map revoked the same way.
//   - A read-write Map makes a durable "mapped RW" mark before the key is
//     handed out, so that after an unclean shutdown List can say which
//     blocks may hold torn writes.
//   - Free refuses a mapped block (EBUSY): the caller unmaps first, or
//     says in the Free itself that its own map may go (FreeUnmap, one
//     round trip). The alternative, revoking other sessions' maps behind
//     their backs, would turn a free into a silent data-path failure for
//     them. A free of a range leaves its mapped blocks the same way;
//     revoking another session's maps is an explicit admin verb of its
//     own.
//   - Alloc takes no frame: a block gets one at its first Map (or at once,
//     with AllocMap), and the frame is zero on durable media before that
//     placement is committed, so no bytes cross from one owner of a frame
//     to the next. Frames are zeroed ahead of time in the background
//     (zeroer.go), so a first Map rarely waits for it.
//
// Map, Unmap and Free of one block are serialised by a striped lock; verbs
// on different blocks run concurrently, so their Pebble syncs group-commit.
// No stripe is held across anything that waits on a peer: a key is revoked
// outside it (revoke.go).
package brick

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brick-storage/brick/alloc2m"
	"github.com/brick-storage/brick/persist"
	"github.com/brick-storage/brick/pmem"
	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
)

// Config wires a Server.
type Config struct {
	Region pmem.Region
	Store  *alloc2m.Store
	Logger *slog.Logger // nil: discard
	// Metrics receives the service's metrics (nil: none).
	Metrics *Metrics
	// RecvDepth is the requests a session may have outstanding (default 16).
	RecvDepth int
	// MaxSessions bounds concurrent sessions (default 4096). With an
	// AuthKey it counts only sessions that have authenticated.
	MaxSessions int
	// MaxUnauthenticated bounds sessions still to prove the AuthKey
	// (default 64), apart from MaxSessions: when they are all taken, the
	// oldest is closed to admit a newcomer, so peers without the key
	// cannot lock out those with it. Size it above the largest burst of
	// clients that connect at once.
	MaxUnauthenticated int
	// AuthTimeout ends a session that has not proved the AuthKey this
	// long after it was accepted (default 5 s).
	AuthTimeout time.Duration
	// MaxMapsPerSession bounds one session's live maps (default 1024).
	MaxMapsPerSession int
	// SessionTimeout ends a session that has sent nothing for this long
	// and has no request in progress (default 30 s; negative: never). The
	// hello tells clients, which ping when idle.
	SessionTimeout time.Duration
	// AuthKey, if set, is the pre-shared key every session must prove
	// before any verb is served (protocol.CheckKey bounds it). Without
	// one, any peer that reaches the listener can use the brick.
	AuthKey []byte
	// Persistence is the posture the brick serves under (persist.Probe):
	// it chooses each session's persist method and is what Status shows.
	// Nil: the default policy for the region's properties, sessions on the
	// software RNIC, no RDMA devices looked for (tests, embedding).
	Persistence *persist.Posture
	// Tier is the slow tier (nil: none); Store must have been opened with
	// its slot count (alloc2m.Options.Slots). See tiering.go.
	Tier Tier
	// TierLowWater and TierHighWater are the free-frame watermarks of
	// background demotion (0: an eighth and a quarter of the frames).
	TierLowWater, TierHighWater uint64
}

// Server is a running brick service.
type Server struct {
	region  pmem.Region
	store   *alloc2m.Store
	log     *slog.Logger
	metrics *Metrics
	depth   int
	maxSess int
	maxMaps int
	timeout time.Duration          // 0: sessions never time out
	authKey []byte                 // the key at start; nil: no authentication
	rekeyed atomic.Pointer[[]byte] // a key set since (rekey.go)
	method  protocol.PersistMethod // what a persist request serves: GPSPM, or none
	posture *persist.Posture
	tiering *tiering // nil without a tier (tiering.go)

	// maxPending and authTimeout bound sessions still to authenticate
	// (session.go); unused without authKey.
	maxPending  int
	authTimeout time.Duration
	warns       warnings // rate limits of warnings about peers (warn.go)

	// stripes serialise Map, Unmap and Free of the same block.
	stripes [64]sync.Mutex

	mu struct {
		sync.Mutex
		sessions map[uint64]*session   // live sessions by ID, authenticated or not
		pending  map[uint64]*session   // sessions holding one of maxPending slots until they authenticate
		ready    int                   // sessions counted against maxSess (session.admitted)
		maps     map[uint64][]*mapping // live maps by block ID
		closed   bool
	}
	nextSession atomic.Uint64
	wg          sync.WaitGroup // session goroutines
	zero        zeroer         // keeps zeroed frames ready (zeroer.go)
}

// New creates a server over an open region and store.
func New(cfg Config) (*Server, error) {
	if cfg.Region == nil || cfg.Store == nil {
		return nil, errors.New("brick: a server needs a pmem region and a metadata store")
	}
	if cfg.Region.UUID() != cfg.Store.UUID() {
		return nil, fmt.Errorf("brick: pmem region belongs to brick %x, metadata to brick %x; refusing to serve", cfg.Region.UUID(), cfg.Store.UUID())
	}
	s := &Server{
		region:  cfg.Region,
		store:   cfg.Store,
		log:     cfg.Logger,
		metrics: cfg.Metrics,
		depth:   cfg.RecvDepth,
		maxSess: cfg.MaxSessions,
		method:  protocol.PersistGPSPM,
		zero:    zeroer{stop: make(chan struct{})},
	}
	s.applyLimits(cfg)
	if cfg.AuthKey != nil {
		if err := protocol.CheckKey(cfg.AuthKey); err != nil {
			return nil, err
		}
		s.authKey = append([]byte(nil), cfg.AuthKey...)
	}
	if !s.region.Persistent() {
		s.method = protocol.PersistNone
	}
	p, err := postureFor(cfg)
	if err != nil {
		return nil, err
	}
	s.posture = p
	s.mu.sessions = make(map[uint64]*session)
	s.mu.pending = make(map[uint64]*session)
	s.mu.maps = make(map[uint64][]*mapping)
	if cfg.Tier != nil {
		if err := s.initTiering(cfg); err != nil {
			return nil, err
		}
	}
	if s.metrics != nil {
		s.metrics.attach(s)
	}
	return s, nil
}

// applyLimits sets the server's bounds and timeouts from cfg, with the
// defaults Config documents for those left zero.
func (s *Server) applyLimits(cfg Config) {
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.depth <= 0 {
		s.depth = 16
	}
	if s.maxSess <= 0 {
		s.maxSess = 4096
	}
	if s.maxMaps = cfg.MaxMapsPerSession; s.maxMaps <= 0 {
		s.maxMaps = 1024
	}
	if s.maxPending = cfg.MaxUnauthenticated; s.maxPending <= 0 {
		s.maxPending = 64
	}
	if s.authTimeout = cfg.AuthTimeout; s.authTimeout <= 0 {
		s.authTimeout = 5 * time.Second
	}
	s.warns.every = warnEvery
	switch s.timeout = cfg.SessionTimeout; {
	case s.timeout == 0:
		s.timeout = 30 * time.Second
	case s.timeout < 0:
		s.timeout = 0
	}
}

// postureFor is cfg.Persistence, or, when the caller probed none, the
// posture of the region's memory with no RDMA devices (the software
// RNIC's); either must describe the region's memory.
func postureFor(cfg Config) (*persist.Posture, error) {
	p := cfg.Persistence
	if p == nil {
		var err error
		p, err = persist.Probe(persist.Options{Memory: cfg.Region.Properties(), Software: true,
			SoftwareDDIO: persist.ModelledDDIO(cfg.Region.Properties()), NoDevices: true})
		if err != nil {
			return nil, err
		}
	}
	if p.Memory != cfg.Region.Properties() {
		return nil, fmt.Errorf("brick: the persistence posture was probed for %s memory, but the region is %s; refusing to announce methods for other memory",
			p.Memory.Kind, cfg.Region.Kind())
	}
	return p, nil
}

// PersistMethod is what a persist request is served with: GPSPM, or none
// for volatile memory. Map replies carry each session's own method
// (Posture.Method).
func (s *Server) PersistMethod() protocol.PersistMethod { return s.method }

// Posture is the persistence posture the brick serves under.
func (s *Server) Posture() *persist.Posture { return s.posture }

// Serve accepts sessions from l until ctx ends or l is closed. It returns
// nil on a clean stop. The caller closes l; Serve does not.
func (s *Server) Serve(ctx context.Context, l verbs.Listener) error {
	for {
		req, err := l.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, verbs.ErrClosed) {
				return nil
			}
			return fmt.Errorf("brick: accept: %w", err)
		}
		// wg.Add under the lock Close takes to set closed: no session
		// goroutine starts once Close may be waiting for them.
		s.mu.Lock()
		if s.mu.closed {
			s.mu.Unlock()
			s.reject(req, protocol.StatusLimit)
			return nil
		}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serveConn(req)
		}()
	}
}

// Close ends every session (revoking its maps) and waits for them and for
// the background zeroer. It does not close the region or the store; close
// them after it.
func (s *Server) Close() error {
	s.mu.Lock()
	s.mu.closed = true
	sessions := make([]*session, 0, len(s.mu.sessions))
	for _, ss := range s.mu.sessions {
		if ss.qp != nil { // nil: not accepted yet, and prepare will refuse
			sessions = append(sessions, ss)
		}
	}
	s.mu.Unlock()
	for _, ss := range sessions {
		ss.qp.Close()
	}
	s.wg.Wait()
	s.stopTiering()
	s.stopZeroer()
	return nil
}

// Sessions returns the number of live sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.sessions)
}

func (s *Server) stripe(id uint64) *sync.Mutex {
	return &s.stripes[(id/alloc2m.BlockSize)%uint64(len(s.stripes))]
}
