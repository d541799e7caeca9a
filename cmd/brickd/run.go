package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/brick-storage/brick/alloc2m"
	"github.com/brick-storage/brick/brick"
	"github.com/brick-storage/brick/internal/oscall"
	bytesize "github.com/brick-storage/brick/internal/size"
	"github.com/brick-storage/brick/persist"
	"github.com/brick-storage/brick/pmem"
	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
	"github.com/brick-storage/brick/verbs/providers"
)

func run(c *call) error {
	cfg, err := flagConfig(c)
	if err != nil {
		return err
	}
	log, err := newLogger(c.String("log-level"), c.String("log-format"))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, oscall.StopSignals...)
	defer stop()
	hup, stopHangups := catchHangups() // reload.go
	defer stopHangups()

	ls, err := takeAddrs(ctx, c, log)
	if err != nil {
		return err
	}
	defer ls.close()

	region, err := openPairedRegion(c, log)
	if err != nil {
		return err
	}
	defer region.Close()
	// Before anything else is created: a refused posture leaves no trace.
	posture, err := probePersistence(c, region)
	if err != nil {
		return err
	}
	tr, err := openTier(c, region, log) // nil without --tier
	if err != nil {
		return err
	}
	defer tr.Close()

	store, err := openStore(c, log, region, tr)
	if err != nil {
		return err
	}
	defer store.Close()

	reg := newRegistry(store)
	ready := &readiness{store: store.Ready} // health.go
	cfg.Region, cfg.Store, cfg.Persistence, cfg.Tier = region, store, posture, tr.brickTier()
	srv, err := newServer(c, log, cfg, reg)
	if err != nil {
		return err
	}
	go reloadOnHangup(ctx, hup, log, srv, c.String("auth-key"))

	if ls.metrics != nil {
		defer serveMetrics(c, ls.metrics, reg, ready, log).Close()
	}

	logListening(log, ls.url, region, store, srv)
	if err := serve(ctx, srv, ls.brick, ready, log); err != nil {
		return err
	}
	stopCleanly(region, store, log)
	log.Info("stopped")
	return nil
}

// flagConfig checks the flags and returns the server's limits from them.
func flagConfig(c *call) (brick.Config, error) {
	if err := checkLimits(c); err != nil {
		return brick.Config{}, err
	}
	maxUnauth, authTimeout, err := authLimits(c)
	if err != nil {
		return brick.Config{}, err
	}
	if c.NArg() > 0 {
		return brick.Config{}, fmt.Errorf("unexpected argument %q: brickd takes only flags (brickd --help lists them)", c.Args().First())
	}
	if err := checkAddrs(c); err != nil {
		return brick.Config{}, err
	}
	timeout := c.Duration("session-timeout")
	if timeout == 0 {
		timeout = -1 // brick.Config: negative disables
	}
	return brick.Config{SessionTimeout: timeout, MaxSessions: c.Int("max-sessions"), MaxMapsPerSession: c.Int("max-maps-per-session"),
		MaxUnauthenticated: maxUnauth, AuthTimeout: authTimeout}, nil
}

// openPairedRegion opens the pmem image; which halves of the pair exist
// decides what may be created (pairing.go).
func openPairedRegion(c *call, log *slog.Logger) (pmem.Region, error) {
	meta, image := c.String("meta"), c.String("pmem")
	metaExists, err := alloc2m.Exists(meta)
	if err != nil {
		return nil, err
	}
	region, err := openRegion(c, log, metaExists)
	if err != nil {
		return nil, explainRegion(err, image, meta)
	}
	if err := checkStoreMissing(region, metaExists, image, meta); err != nil {
		region.Close()
		return nil, err
	}
	return region, nil
}

// newRegistry is the metrics registry with the process's own metrics.
func newRegistry(store *alloc2m.Store) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerProcessMetrics(reg, store)
	reg.MustRegister(buildInfo())
	return reg
}

// openStore opens the metadata store of region and binds the two.
func openStore(c *call, log *slog.Logger, region pmem.Region, tr *openedTier) (*alloc2m.Store, error) {
	meta, image := c.String("meta"), c.String("pmem")
	store, err := alloc2m.Open(meta, alloc2m.Options{UUID: region.UUID(), Frames: region.Frames(), Slots: tr.Slots(), Logger: log,
		Expect: expected(region)})
	if err != nil {
		return nil, explainStore(err, image, meta)
	}
	if err := bind(region, store); err != nil {
		store.Close()
		return nil, err
	}
	// Reading every block record at Open leaves as much garbage as the
	// index it built (a million blocks: tens of MiB); hand it back to the
	// OS now rather than carry it while idle.
	debug.FreeOSMemory()
	return store, nil
}

// newServer completes cfg with the key, the logger and the metrics, and
// makes the server.
func newServer(c *call, log *slog.Logger, cfg brick.Config, reg *prometheus.Registry) (*brick.Server, error) {
	key, err := readAuthKey(c, log)
	if err != nil {
		return nil, err
	}
	cfg.Persistence.Log(log)
	cfg.AuthKey, cfg.Logger, cfg.Metrics = key, log, brick.NewMetrics(reg)
	srv, err := brick.New(cfg)
	if err != nil {
		return nil, err
	}
	registerPostureMetrics(reg, srv.Status)
	return srv, nil
}

// checkAddrs refuses a malformed --listen or --metrics before brickd
// creates anything: a typo must not leave a new image and store behind
// (as a port in use must not: takeAddrs comes before them too).
func checkAddrs(c *call) error {
	if _, _, err := verbs.ParseAddr(c.String("listen")); err != nil {
		return &refusal{"--listen: " + strings.TrimPrefix(err.Error(), verbs.ErrAddress.Error()+": ") + ".", err}
	}
	if addr := c.String("metrics"); addr != "" {
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			return fmt.Errorf("--metrics %q: want HOST:PORT, e.g. 127.0.0.1:9470 (empty disables the metrics)", addr)
		}
	}
	return nil
}

// listeners are brickd's addresses. They are taken before anything is
// created, so that a port in use leaves no image or metadata behind; a
// peer that connects before the brick serves waits in the backlog.
type listeners struct {
	brick   verbs.Listener
	url     string       // the brick's, with its scheme
	metrics net.Listener // nil without --metrics
}

// takeAddrs listens on --listen and --metrics.
func takeAddrs(ctx context.Context, c *call, log *slog.Logger) (*listeners, error) {
	l, url, err := listen(ctx, c, log)
	if err != nil {
		return nil, err
	}
	ml, err := listenMetrics(c.String("metrics"))
	if err != nil {
		l.Close()
		return nil, err
	}
	return &listeners{brick: l, url: url, metrics: ml}, nil
}

func (ls *listeners) close() {
	ls.brick.Close()
	if ls.metrics != nil {
		ls.metrics.Close()
	}
}

// listen listens on --listen, and returns the listener and its URL.
func listen(ctx context.Context, c *call, log *slog.Logger) (verbs.Listener, string, error) {
	provider, hostport, err := providers.ForAddrWith(c.String("listen"), providers.Options{RDMANetdev: c.String("rdma-netdev")})
	if err != nil {
		return nil, "", err
	}
	l, err := provider.Listen(ctx, hostport, verbs.ListenConfig{Backlog: 128, Logger: log})
	if err != nil {
		return nil, "", fmt.Errorf("cannot listen on %s: %w", c.String("listen"), err)
	}
	return l, provider.Scheme() + "://" + l.Addr(), nil
}

// readAuthKey reads --auth-key, warning when there is none.
func readAuthKey(c *call, log *slog.Logger) ([]byte, error) {
	path := c.String("auth-key")
	if path == "" {
		log.Warn("no --auth-key: sessions are not authenticated, and any peer that can reach the listen address can allocate, map, read and write every block")
		return nil, nil
	}
	key, err := protocol.ReadKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("--auth-key: %w", err)
	}
	return key, nil
}

// listenMetrics listens on the --metrics address (nil, nil for none).
func listenMetrics(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	ml, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot serve metrics on %s: %w", addr, err)
	}
	return ml, nil
}

// serveMetrics serves Prometheus metrics and health (and, if asked,
// pprof) on ml until the returned server is closed.
func serveMetrics(c *call, ml net.Listener, reg *prometheus.Registry, ready *readiness, log *slog.Logger) *http.Server {
	hs := &http.Server{Handler: withPprof(c, metricsHandler(reg, ready)), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ml)
	log.Info("metrics", "addr", ml.Addr().String())
	return hs
}

// logListening says what the brick serves, and warns of torn blocks.
func logListening(log *slog.Logger, listen string, region pmem.Region, store *alloc2m.Store, srv *brick.Server) {
	st := store.Stats()
	log.Info("brickd listening",
		"listen", listen,
		"uuid", alloc2m.FormatUUID(region.UUID()),
		"backend", region.Kind(), "persistent", region.Persistent(), "persist_method", srv.PersistMethod().String(),
		"frames", st.Frames, "free_frames", st.FreeFrames, "blocks", st.Blocks, "unclean", st.Unclean,
		"tier_slots", st.Slots, "tier_free_slots", st.FreeSlots, "tiered", st.Tiered)
	if st.Unclean > 0 {
		log.Warn("blocks were mapped read-write when the brick last stopped uncleanly; they may hold torn writes (brickctl list shows them as unclean)", "blocks", st.Unclean)
	}
}

// serve runs srv on l until ctx ends or Serve fails, then stops accepting
// and ends the sessions. A stop by ctx is no error.
func serve(ctx context.Context, srv *brick.Server, l verbs.Listener, ready *readiness, log *slog.Logger) error {
	errc := make(chan error, 1)
	ready.listening.Store(true)
	go func() { errc <- srv.Serve(ctx, l) }()
	var err error
	served := false
	select {
	case <-ctx.Done():
		log.Info("shutting down", "sessions", srv.Sessions())
	case err = <-errc:
		served = true
	}
	// Stop accepting and let Serve return before the sessions are ended.
	ready.listening.Store(false)
	l.Close()
	if !served {
		err = <-errc
	}
	srv.Close()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// probePersistence applies --ddio to the region and the transport: the
// software RNIC (tcp://) has no PCI device, so only an rdma:// brick looks
// at (and, with --ddio disable, writes) root ports.
func probePersistence(c *call, region pmem.Region) (*persist.Posture, error) {
	pol, err := persist.ParsePolicy(c.String("ddio"))
	if err != nil {
		return nil, fmt.Errorf("--ddio: %w", err)
	}
	scheme, _, _ := strings.Cut(c.String("listen"), "://")
	software := scheme == "tcp"
	return persist.Probe(persist.Options{Policy: pol, Memory: region.Properties(), Software: software, NoDevices: software})
}

// openRegion opens --pmem; existing: a metadata store exists, so the image
// must too, and is neither created nor formatted.
func openRegion(c *call, log *slog.Logger, existing bool) (pmem.Region, error) {
	size, err := bytesize.Parse(c.String("pmem-size"))
	if err != nil {
		return nil, fmt.Errorf("--pmem-size: %w", err)
	}
	kind, err := pmem.ParseKind(c.String("pmem-backend"))
	if err != nil {
		return nil, fmt.Errorf("--pmem-backend: %w", err)
	}
	domain, err := pmem.ParseDomain(c.String("pmem-domain"))
	if err != nil {
		return nil, fmt.Errorf("--pmem-domain: %w", err)
	}
	path := c.String("pmem")
	if kind == pmem.KindAnonymous {
		log.Warn("pmem backend is anonymous memory: it is VOLATILE, every block is lost when brickd stops, and no write is ever persistent")
	} else {
		if _, err := os.Stat(path); err == nil && !c.IsSet("pmem-size") {
			size = 0 // an existing image or device keeps its size
		} else if !existing && !strings.HasPrefix(path, "/dev/") {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return nil, fmt.Errorf("cannot create the pmem directory: %w", err)
			}
		}
	}
	region, err := pmem.Open(path, pmem.Options{Size: size, Backend: kind, Domain: domain, Existing: existing, Sparse: c.Bool("pmem-sparse")})
	if err != nil {
		return nil, err
	}
	if c.Bool("pmem-sparse") && kind != pmem.KindAnonymous {
		log.Warn("--pmem-sparse: the pmem image has no disk space reserved; writes fail or kill brickd when its file system is full (tests and benchmarks only)")
	}
	if k := region.Kind(); domain != pmem.DomainUnknown && k != pmem.KindDevDAX && k != pmem.KindFSDAX {
		log.Warn("--pmem-domain applies to DAX memory only; ignored for this backend", "backend", k, "pmem_domain", domain)
	}
	return region, nil
}

func newLogger(level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// checkLimits refuses limits that make no sense before anything is opened.
func checkLimits(c *call) error {
	for _, name := range []string{"max-sessions", "max-maps-per-session"} {
		if c.Int(name) < 1 {
			return fmt.Errorf("--%s must be at least 1 (got %d)", name, c.Int(name))
		}
	}
	if t := c.Duration("session-timeout"); t < 0 {
		return fmt.Errorf("--session-timeout must not be negative (got %v); 0 means sessions never time out", t)
	}
	return nil
}
