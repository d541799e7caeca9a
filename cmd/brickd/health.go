package main

import (
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/brick-storage/brick/internal/buildinfo"
)

// readiness is what /readyz reports: the metadata store takes changes and
// the listener accepts sessions. A load balancer or an orchestrator sends
// clients only to a ready brick; /healthz only says the process answers.
type readiness struct {
	listening atomic.Bool
	store     func() error // nil when the store takes changes
}

// check is nil when brickd is ready, else why not (a sentence).
func (r *readiness) check() error {
	if err := r.store(); err != nil {
		return fmt.Errorf("the metadata store takes no changes: %w", err)
	}
	if !r.listening.Load() {
		return fmt.Errorf("brickd is not listening for sessions (starting or stopping)")
	}
	return nil
}

// metricsHandler serves the metrics endpoint's paths: /metrics for
// Prometheus, /healthz (200 while the process serves HTTP) and /readyz
// (200 when ready, else 503 and why), and 404 for anything else.
func metricsHandler(reg *prometheus.Registry, ready *readiness) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready.check(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "brickd: /metrics (Prometheus), /healthz (process up), /readyz (store open and listening)")
	})
	return mux
}

// buildInfo is brick_build_info: 1, labelled with the build's version,
// toolchain and commit, so that a dashboard shows what runs where.
func buildInfo() prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "brick", Name: "build_info",
		Help: "1, labelled with brickd's version (git describe), Go toolchain and VCS revision."},
		[]string{"version", "goversion", "revision"})
	g.WithLabelValues(version, buildinfo.GoVersion(), buildinfo.Revision()).Set(1)
	return g
}
