package e2e

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

var metricsRE = regexp.MustCompile(`msg=metrics addr=(\S+)`)

// TestMetricsAndCleanStop: the Prometheus endpoint serves the brick's
// metrics, and SIGTERM stops brickd with exit status 0.
func TestMetricsAndCleanStop(t *testing.T) {
	dir := t.TempDir()
	args := brickdArgs(dir)
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
	mustCtl(t, d.addr, "alloc", "0")
	mustCtl(t, d.addr, "status")
	resp, err := http.Get("http://" + m[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
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
	if err := d.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, d.log)
	}
	if !strings.Contains(d.log.String(), "msg=stopped") {
		t.Errorf("no clean stop logged:\n%s", d.log)
	}
}
