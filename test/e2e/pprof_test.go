package e2e

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

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
			resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			served := resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte("goroutine profile:"))
			if served != tc.want {
				t.Errorf("goroutine profile served: %v, want %v (status %d)", served, tc.want, resp.StatusCode)
			}
			if !bytes.Contains(scrape(t, addr), []byte("brick_sessions")) {
				t.Error("the metrics are not served")
			}
		})
	}
}
