package e2e

import (
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
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body
}
