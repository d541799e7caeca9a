package brick_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/brick-storage/brick/alloc2m"
	"github.com/brick-storage/brick/brick"
	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/pmem"
	"github.com/brick-storage/brick/tier"
	"github.com/brick-storage/brick/verbs"
	"github.com/brick-storage/brick/verbs/soft"
)

const block = alloc2m.BlockSize

// env is an in-process brick on loopback.
type env struct {
	t      *testing.T
	srv    *brick.Server
	region pmem.Region
	store  *alloc2m.Store
	tier   *tier.Store // nil without envOpts.tierSlots
	addr   string
	ctx    context.Context
}

type envOpts struct {
	frames      uint64 // data frames (default 16)
	file        bool   // file backend instead of anonymous memory
	maxSessions int
	maxMaps     int
	depth       int           // brick's recv depth (default 16)
	timeout     time.Duration // session timeout (default: 30 s)
	authKey     []byte
	maxUnauth   int           // sessions still to authenticate (default: the brick's)
	authTimeout time.Duration // (default: the brick's)
	log         *logBuffer    // captures the brick's and the listener's log
	// everyWarning lifts the brick's rate limit of warnings, for tests
	// that wait for several lines of one kind.
	everyWarning bool
	// lifetime bounds the brick's Serve and e.ctx, the context of the
	// test's calls (default: a minute), so that a hung test fails.
	lifetime time.Duration
	// tierSlots gives the brick a slow tier of that many slots in the
	// test's directory; tierLow/tierHigh are its watermarks (0: default).
	tierSlots, tierLow, tierHigh uint64
	// wrap, if set, wraps the listener the brick serves (to observe or
	// perturb what the brick does with its queue pairs).
	wrap func(verbs.Listener) verbs.Listener
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	if o.frames == 0 {
		o.frames = 16
	}
	size := int64(o.frames+1) * pmem.FrameSize
	dir := t.TempDir()
	var region pmem.Region
	var err error
	if o.file {
		region, err = pmem.OpenFile(filepath.Join(dir, "pmem.img"), pmem.FileOptions{Size: size})
	} else {
		region, err = pmem.NewAnonymous(size)
	}
	if err != nil {
		t.Fatal(err)
	}
	var tr *tier.Store
	var brickTier brick.Tier // stays a nil interface without a tier
	if o.tierSlots > 0 {
		tr, err = tier.Open(filepath.Join(dir, "tier.img"), tier.Options{Size: int64(o.tierSlots) * tier.SlotSize, UUID: region.UUID()})
		if err != nil {
			t.Fatal(err)
		}
		brickTier = tr
	}
	store, err := alloc2m.Open(filepath.Join(dir, "meta"), alloc2m.Options{UUID: region.UUID(), Frames: region.Frames(), Slots: o.tierSlots})
	if err != nil {
		t.Fatal(err)
	}
	var logger *slog.Logger
	if o.log != nil {
		logger = o.log.logger()
	}
	srv, err := brick.New(brick.Config{Region: region, Store: store, MaxSessions: o.maxSessions, Logger: logger,
		MaxMapsPerSession: o.maxMaps, RecvDepth: o.depth, SessionTimeout: o.timeout, AuthKey: o.authKey,
		MaxUnauthenticated: o.maxUnauth, AuthTimeout: o.authTimeout,
		Tier: brickTier, TierLowWater: o.tierLow, TierHighWater: o.tierHigh})
	if err != nil {
		t.Fatal(err)
	}
	if o.everyWarning {
		srv.LogEveryWarning()
	}
	if o.lifetime == 0 {
		o.lifetime = time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.lifetime)
	l, err := soft.New().Listen(ctx, "127.0.0.1:0", verbs.ListenConfig{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	var served verbs.Listener = l
	if o.wrap != nil {
		served = o.wrap(l)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ctx, served) }()
	t.Cleanup(func() {
		l.Close()
		if err := <-serveErr; err != nil {
			t.Errorf("Serve: %v", err)
		}
		srv.Close()
		cancel()
		store.Close()
		if tr != nil {
			tr.Close()
		}
		region.Close()
	})
	return &env{t: t, srv: srv, region: region, store: store, tier: tr, addr: "tcp://" + l.Addr(), ctx: ctx}
}

// dial opens a client session closed at the end of the test.
func (e *env) dial() *client.Client {
	e.t.Helper()
	c, err := client.Dial(e.ctx, e.addr, client.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// waitSessions waits until the brick has noticed ended sessions.
func (e *env) waitSessions(n int) {
	e.t.Helper()
	for e.srv.Sessions() != n {
		select {
		case <-e.ctx.Done():
			e.t.Fatalf("sessions = %d, want %d", e.srv.Sessions(), n)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}
