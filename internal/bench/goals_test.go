package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestGoals: each kind of goal gets the verdict its ratio deserves, and a
// figure that was not measured gives n/a with the reason.
func TestGoals(t *testing.T) {
	f := &Figures{Values: map[string]float64{
		FigIperf3MBs: 1000, FigWrite2MMBs: 950, FigRead2MMBs: 800,
		FigPingPongP50us: 10, FigWrite4KP50us: 20, FigRead4KP50us: 21,
		FigMsync4KP50us: 30, FigPersistFileus: 75,
		FigPebble64PerSec: 100000, FigRR64PerSec: 100000, FigDurablePerSec: 20000, FigDurableAMPerSec: 30000, FigPing64PerSec: 50000,
		FigScaleBlocks: 1000, FigReadySec: 3, FigSessionsServed: 4096, FigSessionsWanted: 4096,
	}, Notes: map[string]string{FigPersistAnonus: "skipped"}}
	got := map[string]Goal{}
	for _, g := range Goals(f) {
		got[g.Figure+"/"+g.BaselineName] = g
	}
	for _, tc := range []struct {
		key     string
		ratio   float64
		verdict string
	}{
		{"2 MiB Write, QD 4, 1 session/iperf3, 1 TCP stream", 0.95, "met"},
		{"2 MiB Read, QD 4, 1 session/iperf3, 1 TCP stream", 0.8, "missed"},
		{"4 KiB Write, QD 1, p50/TCP 4 KiB ping-pong p50", 2, "met"},
		{"4 KiB Read, QD 1, p50/TCP 4 KiB ping-pong p50", 2.1, "missed"},
		{"4 KiB Write+persist p50, file/2 ping-pongs + 4 KiB msync p50", 1.5, "met"},
		{"durable verbs/s (alloc+map rw, free), 64 sessions/1/(1/pebble@64 + 1/TCP rr@64)", 0.6, "met"},
		{"durable verbs/s (alloc, map rw, free), 64 sessions/1/(1/pebble@64 + 1/TCP rr@64)", 0.4, "missed"},
		{"ready after start, 1000 blocks/limit", 1.5, "missed"},
		{"sessions served at once, of 4096/wanted", 1, "met"},
	} {
		g, ok := got[tc.key]
		if !ok {
			t.Errorf("no goal %q", tc.key)
			continue
		}
		if d := g.Ratio - tc.ratio; d > 1e-9 || d < -1e-9 || g.Verdict != tc.verdict {
			t.Errorf("%s: ratio %v %s, want %v %s", tc.key, g.Ratio, g.Verdict, tc.ratio, tc.verdict)
		}
	}
	anon := got["4 KiB Write+persist p50, anonymous/2 ping-pongs"]
	if anon.Verdict != "n/a" || anon.Note != "skipped" {
		t.Errorf("anonymous persist: %+v", anon)
	}
	if g := got["durable verbs/s (alloc, map rw, free), 64 sessions/1/(1/pebble@64 + 1/TCP rr@64)"]; !strings.Contains(g.Note, "50000/s, 0.50× TCP rr@64") {
		t.Errorf("durable verbs: the note does not compare ping with TCP rr: %q", g.Note)
	}
	if g := got["2 MiB Write, QD 4, 1 session/ucx_perftest put_bw (tcp)"]; g.Verdict != "n/a" || g.Note != "baseline not measured" {
		t.Errorf("missing baseline: %+v", g)
	}
	// NaN figures are null in JSON; the table names the missing ones.
	b, err := json.Marshal(Goals(f))
	if err != nil || !bytes.Contains(b, []byte(`"brick":null`)) {
		t.Errorf("json: %v %s", err, b)
	}
	var table strings.Builder
	if err := GoalsTable(&table, Goals(f)); err != nil || !strings.Contains(table.String(), "note: 4 KiB Write+persist p50, anonymous: skipped") {
		t.Errorf("table: %v\n%s", err, table.String())
	}
	var page bytes.Buffer
	if err := (&GoalsPage{Title: "t", Goals: Goals(f)}).HTML(&page); err != nil || !bytes.Contains(page.Bytes(), []byte("<svg")) {
		t.Errorf("html: %v", err)
	}
}

// TestFiguresFromReport: the cases make bench runs give the brick's
// figures, the fastest persist method counts, and the anonymous report
// gives only its persist figure.
func TestFiguresFromReport(t *testing.T) {
	res := func(group, op string, size, qd int, p50 time.Duration, opsPerSec, mib float64) Result {
		return Result{Case: Case{Group: group, Op: op, Size: size, QD: qd, Sessions: 1}, OpsPerSec: opsPerSec, MiBPerSec: mib, Latency: Latency{P50: p50}}
	}
	r := &Report{Results: []Result{
		res("write", "write", 2<<20, 4, 0, 0, 1000),
		res("read", "read", 2<<20, 4, 0, 0, 2000),
		res("write", "write", 4<<10, 1, 30*time.Microsecond, 0, 0),
		res("read", "read", 4<<10, 1, 25*time.Microsecond, 0, 0),
		res("write+persist", "write+persist", 4<<10, 1, 300*time.Microsecond, 0, 0),
		res("write+persist", "write+persist", 4<<10, 1, 200*time.Microsecond, 0, 0),
		res("control", "cycle", 0, 1, 0, 1000, 0),
		res("alloc-map", "cycle", 0, 1, 0, 1500, 0),
		{Case: Case{Group: "ping", Op: "ping", QD: 1, Sessions: 64}, OpsPerSec: 70000},
	}}
	f := FiguresFromReport(r, false)
	want := map[string]float64{
		FigWrite2MMBs: 1000 * (1 << 20) / 1e6, FigRead2MMBs: 2000 * (1 << 20) / 1e6,
		FigWrite4KP50us: 30, FigRead4KP50us: 25, FigPersistFileus: 200, FigDurablePerSec: 3000, FigDurableAMPerSec: 4500,
		FigPing64PerSec: 70000,
	}
	for k, v := range want {
		if f.Values[k] != v {
			t.Errorf("%s = %v, want %v", k, f.Values[k], v)
		}
	}
	a := FiguresFromReport(r, true)
	if len(a.Values) != 1 || a.Values[FigPersistAnonus] != 200 {
		t.Errorf("anonymous: %v", a.Values)
	}
}
