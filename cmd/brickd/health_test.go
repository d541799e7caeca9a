package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/brick-storage/brick/alloc2m"
)

func TestHealthEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(buildInfo())
	for _, tc := range []struct {
		name      string
		store     error
		listening bool
		path      string
		code      int
		body      string
	}{
		{"healthz while starting", nil, false, "/healthz", 200, "ok"},
		{"healthz with the store closed", alloc2m.ErrClosed, false, "/healthz", 200, "ok"},
		{"readyz serving", nil, true, "/readyz", 200, "ready"},
		{"readyz not listening yet", nil, false, "/readyz", 503, "not listening"},
		{"readyz store closed", alloc2m.ErrClosed, true, "/readyz", 503, "metadata store"},
		{"readyz store failed", alloc2m.ErrFailed, true, "/readyz", 503, "metadata store"},
		{"metrics", nil, true, "/metrics", 200, "brick_build_info{"},
		{"index", nil, true, "/", 200, "/readyz"},
		{"unknown path", nil, true, "/nope", 404, ""},
	} {
		r := &readiness{store: func() error { return tc.store }}
		r.listening.Store(tc.listening)
		w := httptest.NewRecorder()
		metricsHandler(reg, r).ServeHTTP(w, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.body) {
			t.Errorf("%s: GET %s = %d %q, want %d containing %q", tc.name, tc.path, w.Code, w.Body.String(), tc.code, tc.body)
		}
	}
}

func TestReadinessSaysWhy(t *testing.T) {
	r := &readiness{store: func() error { return alloc2m.ErrClosed }}
	if err := r.check(); !errors.Is(err, alloc2m.ErrClosed) {
		t.Errorf("check = %v, want it to wrap alloc2m.ErrClosed", err)
	}
}
