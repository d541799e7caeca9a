// Package brick is the brick service: it accepts sessions, serves the five
// verbs (alloc, free, map, unmap, list) plus status and persist, and hands
// out RDMA handles onto pmem frames.
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
//   - Free refuses a mapped block (EBUSY): the caller unmaps first. The
//     alternative, revoking other sessions' maps behind their backs, would
//     turn a free into a silent data-path failure for them.
//   - Alloc zeroes the frame before the allocation is committed, so no
//     bytes cross from one owner of a frame to the next.
//
// Map, Unmap and Free of one block are serialised by a striped lock; verbs
// on different blocks run concurrently, so their Pebble syncs group-commit.
package brick

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/brick-storage/brick/alloc2m"
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
	// MaxSessions bounds concurrent sessions (default 4096).
	MaxSessions int
}

// Server is a running brick service.
type Server struct {
	region  pmem.Region
	store   *alloc2m.Store
	log     *slog.Logger
	metrics *Metrics
	depth   int
	maxSess int
	method  protocol.PersistMethod

	// stripes serialise Map, Unmap and Free of the same block.
	stripes [64]sync.Mutex

	mu struct {
		sync.Mutex
		sessions map[uint64]*session   // live sessions by ID
		maps     map[uint64][]*mapping // live maps by block ID
		closed   bool
	}
	nextSession atomic.Uint64
	wg          sync.WaitGroup // session goroutines
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
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.depth <= 0 {
		s.depth = 16
	}
	if s.maxSess <= 0 {
		s.maxSess = 4096
	}
	if !s.region.Persistent() {
		s.method = protocol.PersistNone
	}
	s.mu.sessions = make(map[uint64]*session)
	s.mu.maps = make(map[uint64][]*mapping)
	if s.metrics != nil {
		s.metrics.attach(s)
	}
	return s, nil
}

// PersistMethod is the method announced in every Map reply.
func (s *Server) PersistMethod() protocol.PersistMethod { return s.method }

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
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(req)
		}()
	}
}

// Close ends every session (revoking its maps) and waits for them. It does
// not close the region or the store.
func (s *Server) Close() error {
	s.mu.Lock()
	s.mu.closed = true
	sessions := make([]*session, 0, len(s.mu.sessions))
	for _, ss := range s.mu.sessions {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()
	for _, ss := range sessions {
		ss.qp.Close()
	}
	s.wg.Wait()
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
