package brick_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/brick-storage/brick/alloc2m"
	"github.com/brick-storage/brick/brick"
	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/internal/bricktest"
	"github.com/brick-storage/brick/pmem"
	"github.com/brick-storage/brick/tier"
	"github.com/brick-storage/brick/verbs"
)

const block = alloc2m.BlockSize

// env is an in-process brick on loopback (internal/bricktest), with the
// names brick's tests use.
type env struct {
	t      testing.TB
	b      *bricktest.Brick
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
	// quietStore discards the metadata store's log (benchmarks).
	quietStore bool
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	bo := bricktest.Options{Frames: o.frames, File: o.file, TierSlots: o.tierSlots, Wrap: o.wrap, Lifetime: o.lifetime,
		Config: brick.Config{MaxSessions: o.maxSessions, MaxMapsPerSession: o.maxMaps, RecvDepth: o.depth,
			SessionTimeout: o.timeout, AuthKey: o.authKey, MaxUnauthenticated: o.maxUnauth, AuthTimeout: o.authTimeout,
			TierLowWater: o.tierLow, TierHighWater: o.tierHigh}}
	if o.log != nil {
		bo.Config.Logger = o.log.Logger()
	}
	if o.everyWarning {
		bo.Setup = (*brick.Server).LogEveryWarning
	}
	if o.quietStore {
		bo.StoreLogger = slog.New(slog.DiscardHandler)
	}
	b := bricktest.Start(t, bo)
	return &env{t: t, b: b, srv: b.Server, region: b.Region, store: b.Store, tier: b.Tier, addr: b.Addr, ctx: b.Ctx}
}

// dial opens a client session closed at the end of the test.
func (e *env) dial() *client.Client { return e.b.Dial(client.Options{}) }

// waitSessions waits until the brick has noticed ended sessions.
func (e *env) waitSessions(n int) { e.b.WaitSessions(n) }

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}
