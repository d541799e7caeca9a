// Package bricktest runs an in-process brick for tests: a brick.Server on
// a fresh region and metadata store, served by the software RNIC on
// loopback, with clients dialed to it, all closed when the test ends.
// Production code never imports it.
package bricktest

import (
	"context"
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
	"github.com/brick-storage/brick/verbs/providers"
)

// Options says what to start. The zero value is a brick of 16 data frames
// in anonymous memory with the server's defaults, alive for a minute.
type Options struct {
	// Region is served when set (the brick closes it when it stops: a
	// test that restarts on its image reopens it). Otherwise Start makes
	// one of Frames data frames (default 16): anonymous memory, or with
	// File a file in Dir.
	Region pmem.Region
	Frames uint64
	File   bool
	// Dir holds the metadata (Dir/meta) and the files Start makes
	// (default: the test's temporary directory). A test that restarts a
	// brick gives both runs the same Dir.
	Dir string
	// TierSlots gives the brick a slow tier of that many slots in Dir.
	TierSlots uint64
	// StoreLogger receives the metadata store's log (default: slog's).
	StoreLogger *slog.Logger
	// Config is the server's configuration; Start fills in Region, Store
	// and Tier. Config.Logger is the listener's logger too.
	Config brick.Config
	// Setup, if set, runs on the server before it serves (for knobs only
	// a package's own tests reach, such as brick's export_test.go).
	Setup func(*brick.Server)
	// Wrap, if set, wraps the listener the brick serves (to observe or
	// perturb what the brick does with its queue pairs).
	Wrap func(verbs.Listener) verbs.Listener
	// Lifetime bounds Serve and Brick.Ctx, so that a hung test fails
	// (default: a minute).
	Lifetime time.Duration
}

// Brick is a running in-process brick.
type Brick struct {
	Server *brick.Server
	Region pmem.Region
	Store  *alloc2m.Store
	Tier   *tier.Store // nil without Options.TierSlots
	// Addr is the brick's address for client.Dial (tcp://127.0.0.1:port).
	Addr string
	// Ctx ends with the brick's lifetime; tests make their calls with it.
	Ctx context.Context

	tb      testing.TB
	l       verbs.Listener
	served  chan error
	cancel  context.CancelFunc
	stopped bool
}

// Start starts a brick and registers its Stop with tb.Cleanup.
func Start(tb testing.TB, o Options) *Brick {
	tb.Helper()
	if o.Dir == "" {
		o.Dir = tb.TempDir()
	}
	if o.Lifetime == 0 {
		o.Lifetime = time.Minute
	}
	b := &Brick{tb: tb, Region: o.Region, served: make(chan error, 1)}
	// Whatever Start opened is closed if it fails half-way.
	tb.Cleanup(b.Stop)
	if b.Region == nil {
		b.Region = newRegion(tb, o)
	}
	cfg := o.Config
	if o.TierSlots > 0 {
		tr, err := tier.Open(filepath.Join(o.Dir, "tier.img"), tier.Options{Size: int64(o.TierSlots) * tier.SlotSize, UUID: b.Region.UUID()})
		if err != nil {
			tb.Fatal(err)
		}
		b.Tier, cfg.Tier = tr, tr // cfg.Tier stays a nil interface without a tier
	}
	var err error
	b.Store, err = alloc2m.Open(filepath.Join(o.Dir, "meta"), alloc2m.Options{UUID: b.Region.UUID(), Frames: b.Region.Frames(), Slots: o.TierSlots, Logger: o.StoreLogger})
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Region, cfg.Store = b.Region, b.Store
	if b.Server, err = brick.New(cfg); err != nil {
		tb.Fatal(err)
	}
	if o.Setup != nil {
		o.Setup(b.Server)
	}
	b.Ctx, b.cancel = context.WithTimeout(context.Background(), o.Lifetime)
	prov, hostport, err := providers.ForAddr("tcp://127.0.0.1:0") // the software RNIC
	if err != nil {
		tb.Fatal(err)
	}
	if b.l, err = prov.Listen(b.Ctx, hostport, verbs.ListenConfig{Logger: cfg.Logger}); err != nil {
		tb.Fatal(err)
	}
	b.Addr = "tcp://" + b.l.Addr()
	served := b.l
	if o.Wrap != nil {
		served = o.Wrap(b.l)
	}
	go func() { b.served <- b.Server.Serve(b.Ctx, served) }()
	return b
}

func newRegion(tb testing.TB, o Options) pmem.Region {
	tb.Helper()
	if o.Frames == 0 {
		o.Frames = 16
	}
	size := int64(o.Frames+1) * pmem.FrameSize // frame 0 is the superblock
	var region pmem.Region
	var err error
	if o.File {
		region, err = pmem.OpenFile(filepath.Join(o.Dir, "pmem.img"), pmem.FileOptions{Size: size})
	} else {
		region, err = pmem.NewAnonymous(size)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return region
}

// Stop shuts the brick down: the listener, Serve (whose error fails the
// test), the server, the store, the tier and the region. It runs at the
// end of the test anyway; a test that restarts the brick calls it first.
func (b *Brick) Stop() {
	if b.stopped {
		return
	}
	b.stopped = true
	if b.l != nil {
		b.l.Close()
		if err := <-b.served; err != nil {
			b.tb.Errorf("Serve: %v", err)
		}
	}
	if b.Server != nil {
		b.Server.Close()
	}
	if b.cancel != nil {
		b.cancel()
	}
	if b.Store != nil {
		b.Store.Close()
	}
	if b.Tier != nil {
		b.Tier.Close()
	}
	if b.Region != nil {
		b.Region.Close()
	}
}

// Dial opens a client session to the brick, closed at the end of the test.
func (b *Brick) Dial(opts client.Options) *client.Client {
	b.tb.Helper()
	c, err := client.Dial(b.Ctx, b.Addr, opts)
	if err != nil {
		b.tb.Fatal(err)
	}
	b.tb.Cleanup(func() { c.Close() })
	return c
}

// WaitSessions waits until the brick holds n sessions (it notices an
// ended session asynchronously).
func (b *Brick) WaitSessions(n int) {
	b.tb.Helper()
	for b.Server.Sessions() != n {
		select {
		case <-b.Ctx.Done():
			b.tb.Fatalf("sessions = %d, want %d", b.Server.Sessions(), n)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
