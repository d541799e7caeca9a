package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

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
		resp, err := http.Get("http://" + metrics + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.body) {
			t.Errorf("GET %s = %d %q, want %d containing %q", tc.path, resp.StatusCode, body, tc.code, tc.body)
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
