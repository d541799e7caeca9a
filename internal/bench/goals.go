package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Figures are the numbers one `make bench` run measured, by name (the
// Fig… constants), each from one tool; Notes say why a figure is missing.
type Figures struct {
	Values map[string]float64 `json:"values"`
	Notes  map[string]string  `json:"notes,omitempty"`
}

// The figures `make bench` collects. Units are in the names.
const (
	FigIperf3MBs       = "iperf3_mbs"             // iperf3, one TCP stream on loopback
	FigUCXPutMBs       = "ucx_put_bw_mbs"         // ucx_perftest ucp_put_bw, UCX_TLS=tcp, 2 MiB, 4 outstanding
	FigUCXGetMBs       = "ucx_get_mbs"            // ucx_perftest ucp_get, same
	FigPingPongP50us   = "tcp_pingpong_4k_p50_us" // TCP 4 KiB ping-pong between two processes, p50
	FigRR64PerSec      = "tcp_rr64_per_s"         // TCP 64-byte request-reply, 64 connections
	FigPebble64PerSec  = "pebble_sync64_per_s"    // raw Pebble synced commits, 64 goroutines
	FigMsync4KP50us    = "msync_4k_p50_us"        // msync of 4 KiB of the brick's image, p50
	FigWrite2MMBs      = "brick_write_2m_qd4_mbs"
	FigRead2MMBs       = "brick_read_2m_qd4_mbs"
	FigWrite4KP50us    = "brick_write_4k_p50_us"
	FigRead4KP50us     = "brick_read_4k_p50_us"
	FigPersistFileus   = "brick_persist_4k_file_p50_us"
	FigPersistAnonus   = "brick_persist_4k_anon_p50_us"
	FigDurablePerSec   = "brick_durable_verbs_per_s"          // alloc → map rw → free cycles (three requests)
	FigDurableAMPerSec = "brick_durable_verbs_allocmap_per_s" // alloc-map rw → free cycles (two requests)
	FigPing64PerSec    = "brick_ping64_per_s"                 // ping round trips through brickd, 64 sessions (no goal: explains the durable verbs)
	FigScaleBlocks     = "scale_blocks"
	FigReadySec        = "scale_ready_s"
	FigListSec         = "scale_list_s"
	FigRSSPerBlockB    = "scale_rss_per_block_b"
	FigListHalfSec     = "scale_list_half_s"
	FigSessionIdleB    = "scale_session_idle_b"
	FigSessionsServed  = "scale_sessions_served"
	FigSessionsWanted  = "scale_sessions_wanted"
)

// DurableVerbsPerCycle is how many durable verbs a control cycle does:
// alloc, map read-write, free, each acknowledged only once it is durable.
// The free revokes the cycle's map in the same round trip (FreeUnmap), so
// the cycle has no Unmap. The alloc-map cycle asks for the first two in one
// request, which the brick commits as one record: the same three verbs in
// two round trips and two synced commits.
const DurableVerbsPerCycle = 3

// Goal is one row of the goals table: a figure of brick against a baseline
// of the same run (or against a fixed limit), the ratio and the goal on it.
type Goal struct {
	Figure       string  `json:"figure"`
	Unit         string  `json:"unit"`
	Brick        float64 `json:"brick"`
	BaselineName string  `json:"baseline_name"`
	Baseline     float64 `json:"baseline"`
	Ratio        float64 `json:"ratio"`
	// Op and Target: the goal is Ratio Op Target (">=" or "<=").
	Op      string  `json:"op"`
	Target  float64 `json:"goal"`
	Verdict string  `json:"verdict"` // met, missed, n/a
	Note    string  `json:"note,omitempty"`
}

// goalDef computes one goal from the figures.
type goalDef struct {
	figure, unit, baseName string
	brick                  string                               // figure name of brick's value
	base                   func(v func(string) float64) float64 // NaN: missing
	op                     string
	target                 float64
}

func fig(name string) func(v func(string) float64) float64 {
	return func(v func(string) float64) float64 { return v(name) }
}

func limit(x float64) func(v func(string) float64) float64 {
	return func(func(string) float64) float64 { return x }
}

func goalDefs(f *Figures) []goalDef {
	blocks := fmt.Sprintf("%.0f", f.Values[FigScaleBlocks])
	if _, ok := f.Values[FigScaleBlocks]; !ok {
		blocks = "N"
	}
	half := fmt.Sprintf("%.0f", f.Values[FigScaleBlocks]/2)
	if _, ok := f.Values[FigScaleBlocks]; !ok {
		half = "N/2"
	}
	sessions := fmt.Sprintf("%.0f", f.Values[FigSessionsWanted])
	if _, ok := f.Values[FigSessionsWanted]; !ok {
		sessions = "4096"
	}
	return []goalDef{
		{"2 MiB Write, QD 4, 1 session", "MB/s", "iperf3, 1 TCP stream", FigWrite2MMBs, fig(FigIperf3MBs), ">=", 0.9},
		{"2 MiB Read, QD 4, 1 session", "MB/s", "iperf3, 1 TCP stream", FigRead2MMBs, fig(FigIperf3MBs), ">=", 0.9},
		{"2 MiB Write, QD 4, 1 session", "MB/s", "ucx_perftest put_bw (tcp)", FigWrite2MMBs, fig(FigUCXPutMBs), ">=", 2},
		{"2 MiB Read, QD 4, 1 session", "MB/s", "ucx_perftest get (tcp)", FigRead2MMBs, fig(FigUCXGetMBs), ">=", 2},
		{"4 KiB Write, QD 1, p50", "µs", "TCP 4 KiB ping-pong p50", FigWrite4KP50us, fig(FigPingPongP50us), "<=", 2},
		{"4 KiB Read, QD 1, p50", "µs", "TCP 4 KiB ping-pong p50", FigRead4KP50us, fig(FigPingPongP50us), "<=", 2},
		{"4 KiB Write+persist p50, file", "µs", "2 ping-pongs + 4 KiB msync p50", FigPersistFileus,
			func(v func(string) float64) float64 { return 2*v(FigPingPongP50us) + v(FigMsync4KP50us) }, "<=", 1.5},
		{"4 KiB Write+persist p50, anonymous", "µs", "2 ping-pongs", FigPersistAnonus,
			func(v func(string) float64) float64 { return 2 * v(FigPingPongP50us) }, "<=", 1.5},
		{"durable verbs/s (alloc, map rw, free), 64 sessions", "/s", "1/(1/pebble@64 + 1/TCP rr@64)", FigDurablePerSec, durableCeiling, ">=", 0.6},
		{"durable verbs/s (alloc+map rw, free), 64 sessions", "/s", "1/(1/pebble@64 + 1/TCP rr@64)", FigDurableAMPerSec, durableCeiling, ">=", 0.6},
		{"ready after start, " + blocks + " blocks", "s", "limit", FigReadySec, limit(2), "<=", 1},
		{"list whole brick, " + blocks + " blocks", "s", "limit", FigListSec, limit(1), "<=", 1},
		{"RSS per allocated block", "B", "limit", FigRSSPerBlockB, limit(100), "<=", 1},
		{"list, " + half + " extents", "s", "limit", FigListHalfSec, limit(1), "<=", 1},
		{"idle memory per session", "B", "limit", FigSessionIdleB, limit(64 << 10), "<=", 1},
		{"sessions served at once, of " + sessions, "", "wanted", FigSessionsServed, limit(4096), ">=", 1},
	}
}

// durableCeiling is what durable verbs/s would be if each verb cost one
// synced commit of raw Pebble and one TCP request-reply, nothing more.
func durableCeiling(v func(string) float64) float64 {
	return 1 / (1/v(FigPebble64PerSec) + 1/v(FigRR64PerSec))
}

// Goals computes the goals table from the figures of one run.
func Goals(f *Figures) []Goal {
	v := func(name string) float64 {
		x, ok := f.Values[name]
		if !ok {
			return math.NaN()
		}
		return x
	}
	var out []Goal
	for _, d := range goalDefs(f) {
		g := Goal{Figure: d.figure, Unit: d.unit, BaselineName: d.baseName, Op: d.op, Target: d.target,
			Brick: v(d.brick), Baseline: d.base(v)}
		if d.brick == FigSessionsServed {
			if w, ok := f.Values[FigSessionsWanted]; ok {
				g.Baseline = w
			}
		}
		g.Ratio = g.Brick / g.Baseline
		g.Note = f.Notes[d.brick]
		if d.brick == FigDurablePerSec {
			g.Note = joinNotes(g.Note, messagingNote(v))
		}
		switch {
		case math.IsNaN(g.Ratio) || math.IsInf(g.Ratio, 0):
			g.Verdict = "n/a"
			if g.Note == "" && math.IsNaN(g.Brick) {
				g.Note = "not measured"
			}
			if g.Note == "" {
				g.Note = "baseline not measured"
			}
		case d.op == ">=" && g.Ratio >= d.target, d.op == "<=" && g.Ratio <= d.target:
			g.Verdict = "met"
		default:
			g.Verdict = "missed"
		}
		out = append(out, g)
	}
	return out
}

// messagingNote compares ping round trips through brickd with the TCP
// request-reply baseline at the same concurrency: at least what a control
// verb's messages cost before any of its work (a ping is answered by the
// session's receive goroutine, a verb by its worker). Empty when either
// is missing.
func messagingNote(v func(string) float64) string {
	ping, rr := v(FigPing64PerSec), v(FigRR64PerSec)
	if math.IsNaN(ping) || math.IsNaN(rr) || rr == 0 {
		return ""
	}
	return fmt.Sprintf("the messages alone: ping through brickd at 64 sessions %s/s, %s× TCP rr@64 (a cycle is 3 round trips, and a verb's also wakes the session's worker)", num(ping), ratio(ping/rr))
}

func joinNotes(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "; " + b
}

// num prints a figure with at most 4 significant digits and no exponent.
func num(x float64) string {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return "-"
	case x == 0:
		return "0"
	case math.Abs(x) >= 100:
		return fmt.Sprintf("%.0f", x)
	}
	s := fmt.Sprintf("%.3g", x)
	if strings.ContainsAny(s, "e") {
		s = fmt.Sprintf("%.6f", x)
	}
	return s
}

// ratio prints a ratio with two decimals, or three significant digits
// when it is small.
func ratio(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "-"
	}
	if x < 0.1 {
		return fmt.Sprintf("%.2g", x)
	}
	return fmt.Sprintf("%.2f", x)
}

// MarshalJSON writes a figure that was not measured (NaN) as null.
func (g Goal) MarshalJSON() ([]byte, error) {
	type plain Goal
	nullable := func(x float64) *float64 {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
		return &x
	}
	return json.Marshal(struct {
		plain
		Brick    *float64 `json:"brick"`
		Baseline *float64 `json:"baseline"`
		Ratio    *float64 `json:"ratio"`
	}{plain(g), nullable(g.Brick), nullable(g.Baseline), nullable(g.Ratio)})
}

// GoalsTable writes the goals as a Markdown table (which reads as a plain
// text table too), then the notes of rows that could not be measured.
func GoalsTable(w io.Writer, gs []Goal) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| figure\t brick\t baseline (same run)\t ratio\t goal\t met/missed\t")
	fmt.Fprintln(tw, "|---\t---\t---\t---\t---\t---\t")
	var notes []string
	for _, g := range gs {
		unit := g.Unit
		if unit != "" && unit != "/s" {
			unit = " " + unit
		}
		op := "≥"
		if g.Op == "<=" {
			op = "≤"
		}
		base := fmt.Sprintf("%s %s%s", g.BaselineName, num(g.Baseline), unit)
		fmt.Fprintf(tw, "| %s\t %s%s\t %s\t %s\t %s %s\t %s\t\n", g.Figure, num(g.Brick), unit, base, ratio(g.Ratio), op, num(g.Target), g.Verdict)
		if g.Note != "" {
			notes = append(notes, fmt.Sprintf("%s: %s", g.Figure, g.Note))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		if _, err := fmt.Fprintln(w, "note:", n); err != nil {
			return err
		}
	}
	return nil
}

// ReadFigures merges every *.json file in dir: each holds a Figures object.
// A figure given twice keeps the later file's value (files in name order).
func ReadFigures(dir string) (*Figures, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := &Figures{Values: map[string]float64{}, Notes: map[string]string{}}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var f Figures
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("figures file %s: %w", name, err)
		}
		for k, v := range f.Values {
			out.Values[k] = v
		}
		for k, v := range f.Notes {
			out.Notes[k] = v
		}
	}
	return out, nil
}

// WriteFigures writes f as JSON to path.
func WriteFigures(path string, f *Figures) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// FiguresFromReport picks the figures make bench wants out of a `brickctl
// bench --json` report: the p50 of 4 KiB cases at QD 1 (µs), the MB/s of
// 2 MiB cases at QD 4 (10^6 bytes/s), and the durable verbs per second of
// the control cycle. prefix is "" for the file-backed brick, "anon" for the
// anonymous one (only its write+persist is taken).
func FiguresFromReport(r *Report, anon bool) *Figures {
	f := &Figures{Values: map[string]float64{}, Notes: map[string]string{}}
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	var persists []string
	for _, x := range r.Results {
		if x.Error != "" {
			continue
		}
		switch {
		case x.Group == "write+persist" && x.Size == 4<<10 && x.QD == 1:
			// Once per persist method the brick offers: the fastest counts,
			// the note lists them all.
			name := FigPersistFileus
			if anon {
				name = FigPersistAnonus
			}
			if x.Skipped != "" {
				f.Notes[name] = "brickctl bench skipped it: " + x.Skipped
				continue
			}
			p50 := us(x.Latency.P50)
			if old, ok := f.Values[name]; !ok || p50 < old {
				f.Values[name] = p50
			}
			persists = append(persists, fmt.Sprintf("%s %s", x.Method, num(p50)))
			f.Notes[name] = "the fastest persist method; p50 µs by method: " + strings.Join(persists, ", ")
		case anon:
		case x.Skipped != "":
		case x.Group == "write" && x.Size == 4<<10 && x.QD == 1:
			f.Values[FigWrite4KP50us] = us(x.Latency.P50)
		case x.Group == "read" && x.Size == 4<<10 && x.QD == 1:
			f.Values[FigRead4KP50us] = us(x.Latency.P50)
		case x.Group == "write" && x.Size == 2<<20 && x.QD == 4:
			f.Values[FigWrite2MMBs] = x.MiBPerSec * (1 << 20) / 1e6
		case x.Group == "read" && x.Size == 2<<20 && x.QD == 4:
			f.Values[FigRead2MMBs] = x.MiBPerSec * (1 << 20) / 1e6
		case x.Group == "ping" && x.Sessions == 64 && x.QD == 1:
			f.Values[FigPing64PerSec] = x.OpsPerSec
		case x.Group == "control" && x.Op == "cycle":
			f.Values[FigDurablePerSec] = x.OpsPerSec * DurableVerbsPerCycle
			f.Notes[FigDurablePerSec] = fmt.Sprintf("%d × %s cycles/s of three requests: alloc → map rw → free, the free revoking the map in the same round trip (Handle.Free)",
				DurableVerbsPerCycle, num(x.OpsPerSec))
		case x.Group == "alloc-map" && x.Op == "cycle":
			f.Values[FigDurableAMPerSec] = x.OpsPerSec * DurableVerbsPerCycle
			f.Notes[FigDurableAMPerSec] = fmt.Sprintf("%d × %s cycles/s of two requests and two synced commits: alloc and map rw in one (Client.AllocMap) → free with the map (Handle.Free); the ceiling assumes a commit and a round trip per verb, so against it this cycle saves a third",
				DurableVerbsPerCycle, num(x.OpsPerSec))
		}
	}
	return f
}
