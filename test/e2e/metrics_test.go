package e2e

import (
	"bytes"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

var metricsRE = regexp.MustCompile(`msg=metrics addr=(\S+)`)

// TestMetricsAndCleanStop: the Prometheus endpoint serves the brick's
// metrics, and SIGTERM stops brickd with exit status 0.
func TestMetricsAndCleanStop(t *testing.T) {
	d, metrics := startWithMetrics(t, t.TempDir())
	mustCtl(t, d.Addr, "alloc", "0")
	mustCtl(t, d.Addr, "status")
	body := scrape(t, metrics)
	for _, want := range []string{
		"brick_blocks 1",
		`brick_verbs_total{status="ok",verb="alloc"} 1`,
		"brick_sessions_total",
		"brick_frames_free",
		"brick_blocks_capacity 31", // a 64 MiB image: 32 frames, the first the superblock's
		"brick_verb_duration_seconds_bucket",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	d.term()
	if !strings.Contains(d.log.String(), "msg=stopped") {
		t.Errorf("no clean stop logged:\n%s", d.log)
	}
}

// TestHealthAndFirstScrape: /healthz and /readyz answer next to /metrics,
// and the first scrape, before any verb, already has every labelled
// counter at 0 and brick_build_info.
func TestHealthAndFirstScrape(t *testing.T) {
	d, metrics := startWithMetrics(t, t.TempDir())
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/healthz", 200, "ok"},
		{"/readyz", 200, "ready"},
		{"/nothing-here", 404, ""},
	} {
		code, body := httpGet(t, metrics, tc.path)
		if code != tc.code || !strings.Contains(string(body), tc.body) {
			t.Errorf("GET %s = %d %q, want %d containing %q", tc.path, code, body, tc.code, tc.body)
		}
	}

	body := string(scrape(t, metrics))
	for _, want := range []string{
		`brick_verbs_total{status="ok",verb="alloc"} 0`,
		`brick_verbs_total{status="enospc",verb="alloc"} 0`,
		`brick_verbs_total{status="internal",verb="persist"} 0`,
		`brick_verbs_total{status="enosession",verb="revoke"} 0`,
		`brick_persist_total{method="gpspm"} 0`,
		`brick_persist_bytes_total{method="gpspm"} 0`,
		`brick_tier_moves_total{direction="demote"} 0`,
		`brick_tier_moves_total{direction="promote"} 0`,
		`brick_build_info{goversion="go`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("first scrape lacks %q", want)
		}
	}
	d.term()
}

// TestPprof: brickd --pprof serves Go's profiles beside the metrics, and
// without it the metrics address shows no profile.
func TestPprof(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []string
		want  bool
	}{{"off", nil, false}, {"on", []string{"--pprof"}, true}} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := startWithMetrics(t, t.TempDir(), tc.extra...)
			code, body := httpGet(t, addr, "/debug/pprof/goroutine?debug=1")
			served := code == http.StatusOK && bytes.Contains(body, []byte("goroutine profile:"))
			if served != tc.want {
				t.Errorf("goroutine profile served: %v, want %v (status %d)", served, tc.want, code)
			}
			if !bytes.Contains(scrape(t, addr), []byte("brick_sessions")) {
				t.Error("the metrics are not served")
			}
		})
	}
}

// startWithMetrics starts brickd rooted at dir, with extra flags and its
// metrics endpoint on a free port, and returns the endpoint's address.
func startWithMetrics(t *testing.T, dir string, extra ...string) (*daemon, string) {
	t.Helper()
	args := brickdArgs(dir, extra...)
	for i, a := range args {
		if a == "--metrics" {
			args[i+1] = "127.0.0.1:0"
		}
	}
	d := startDaemon(t, args...)
	m := metricsRE.FindStringSubmatch(d.log.String())
	if m == nil {
		t.Fatalf("no metrics address logged:\n%s", d.log)
	}
	return d, m[1]
}

// scrape fetches the metrics page at addr.
func scrape(t *testing.T, addr string) []byte {
	t.Helper()
	_, body := httpGet(t, addr, "/metrics")
	return body
}

// httpGet fetches path from the endpoint at addr and returns the status
// code and the body.
func httpGet(t *testing.T, addr, path string) (int, []byte) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}
