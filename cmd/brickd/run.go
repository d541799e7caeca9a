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
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"

	"github.com/brick-storage/brick/alloc2m"
	"github.com/brick-storage/brick/brick"
	"github.com/brick-storage/brick/pmem"
	"github.com/brick-storage/brick/verbs"
	"github.com/brick-storage/brick/verbs/providers"
)

func run(c *cli.Context) error {
	log, err := newLogger(c.String("log-level"))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()

	region, err := openRegion(c, log)
	if err != nil {
		return err
	}
	defer region.Close()

	meta := c.String("meta")
	if err := os.MkdirAll(meta, 0o755); err != nil {
		return fmt.Errorf("cannot create the metadata directory: %w", err)
	}
	store, err := alloc2m.Open(meta, alloc2m.Options{UUID: region.UUID(), Frames: region.Frames(), Logger: log})
	if err != nil {
		return err
	}
	defer store.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := brick.New(brick.Config{Region: region, Store: store, Logger: log, Metrics: brick.NewMetrics(reg)})
	if err != nil {
		return err
	}

	provider, hostport, err := providers.ForAddr(c.String("listen"))
	if err != nil {
		return err
	}
	l, err := provider.Listen(ctx, hostport, verbs.ListenConfig{Backlog: 128})
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", c.String("listen"), err)
	}
	defer l.Close()

	if addr := c.String("metrics"); addr != "" {
		ml, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("cannot serve metrics on %s: %w", addr, err)
		}
		hs := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
		go hs.Serve(ml)
		defer hs.Close()
		log.Info("metrics", "addr", ml.Addr().String())
	}

	st := store.Stats()
	log.Info("brickd listening",
		"listen", provider.Scheme()+"://"+l.Addr(),
		"uuid", fmt.Sprintf("%x", region.UUID()),
		"backend", region.Kind(), "persistent", region.Persistent(), "persist_method", srv.PersistMethod(),
		"frames", st.Frames, "free_frames", st.FreeFrames, "blocks", st.Blocks, "unclean", st.Unclean)
	if st.Unclean > 0 {
		log.Warn("blocks were mapped read-write when the brick last stopped uncleanly; they may hold torn writes (brickctl list shows them as unclean)", "blocks", st.Unclean)
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx, l) }()
	select {
	case <-ctx.Done():
		log.Info("shutting down", "sessions", srv.Sessions())
	case err = <-errc:
	}
	l.Close()
	srv.Close()
	if err == nil {
		err = <-errc
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("stopped")
	return nil
}

func openRegion(c *cli.Context, log *slog.Logger) (pmem.Region, error) {
	size, err := pmem.ParseSize(c.String("pmem-size"))
	if err != nil {
		return nil, fmt.Errorf("--pmem-size: %w", err)
	}
	switch b := c.String("pmem-backend"); b {
	case "anonymous":
		log.Warn("pmem backend is anonymous memory: it is VOLATILE, every block is lost when brickd stops, and no write is ever persistent")
		return pmem.NewAnonymous(size)
	case "file":
		path := c.String("pmem")
		if _, err := os.Stat(path); err == nil && !c.IsSet("pmem-size") {
			size = 0 // an existing image keeps its size
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("cannot create the pmem directory: %w", err)
		}
		return pmem.OpenFile(path, pmem.FileOptions{Size: size})
	default:
		return nil, fmt.Errorf("unknown --pmem-backend %q: want file or anonymous", b)
	}
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
