package bench

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"strings"
	"time"
)

// WriteHTMLFile creates path and writes a page into it with html (a
// Report's or a GoalsPage's HTML method).
func WriteHTMLFile(path string, html func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := html(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// HTML writes the report as one self-contained page: inline CSS and SVG,
// no scripts, nothing fetched, so it can be mailed or archived as is.
func (r *Report) HTML(w io.Writer) error {
	var control, data []Result
	for _, x := range r.Results {
		if x.Skipped != "" {
			continue
		}
		if x.Size > 0 {
			data = append(data, x)
		} else {
			control = append(control, x)
		}
	}
	var table strings.Builder
	if err := r.Table(&table); err != nil {
		return err
	}
	page := struct {
		*Report
		Started          string
		ControlChart     template.HTML
		DataChart        template.HTML
		Cards            []card
		Table            string
		HasControl, Data bool
	}{
		Report:       r,
		Started:      r.Started.Format(time.RFC1123),
		ControlChart: controlChart(control),
		DataChart:    dataCharts(data),
		Table:        table.String(),
		HasControl:   len(control) > 0,
		Data:         len(data) > 0,
	}
	for _, x := range r.Results {
		if x.Skipped == "" && len(x.Buckets) > 0 {
			page.Cards = append(page.Cards, card{Result: x, Name: x.Name(), SVG: histogram(x), Color: color(x.Group)})
		}
	}
	return pageTmpl.Execute(w, page)
}

type card struct {
	Result
	Name  string
	SVG   template.HTML
	Color string
}

func color(group string) string {
	switch group {
	case "write":
		return "#2563eb"
	case "read":
		return "#059669"
	case "write+persist":
		return "#d97706"
	}
	return "#6b7280"
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// dataCharts draws one bandwidth chart per payload size, each on its own
// scale: 4 KiB and 2 MiB bandwidths differ by orders of magnitude, and the
// comparison a reader wants is write against read against write+persist
// at one size.
func dataCharts(rs []Result) template.HTML {
	var sizes []int
	bySize := map[int][]Result{}
	for _, x := range rs {
		if _, ok := bySize[x.Size]; !ok {
			sizes = append(sizes, x.Size)
		}
		bySize[x.Size] = append(bySize[x.Size], x)
	}
	var b strings.Builder
	for _, size := range sizes {
		fmt.Fprintf(&b, `<h4>%s per operation</h4>`, SizeString(size))
		b.WriteString(string(barChart(bySize[size], "MiB/s", func(x Result) float64 { return x.MiBPerSec },
			func(v float64) string { return fmt.Sprintf("%.1f MiB/s", v) })))
	}
	return template.HTML(b.String())
}

// controlChart draws one bar per control case: its verbs share the cycle
// rate, so one bar (from the alloc row) says it.
func controlChart(rs []Result) template.HTML {
	var cycles []Result
	for _, x := range rs {
		if x.Op == "alloc" {
			x.Op = "cycles"
			cycles = append(cycles, x)
		}
	}
	return barChart(cycles, "cycles/s", func(x Result) float64 { return x.OpsPerSec }, func(v float64) string { return fmt.Sprintf("%.0f cycles/s", v) })
}

// barChart draws one horizontal bar per result.
func barChart(rs []Result, unit string, val func(Result) float64, label func(float64) string) template.HTML {
	if len(rs) == 0 {
		return ""
	}
	const labelW, barW, rowH, valW = 230, 420, 22, 110
	top := 0.0
	for _, x := range rs {
		top = math.Max(top, val(x))
	}
	if top == 0 {
		top = 1
	}
	h := len(rs)*rowH + 8
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" aria-label="%s">`, labelW+barW+valW, h, esc(unit))
	for i, x := range rs {
		y := 4 + i*rowH
		w := val(x) / top * barW
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" class="lbl">%s</text>`, labelW-8, y+15, esc(x.Name()))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" rx="2" fill="%s"/>`, labelW, y+3, math.Max(w, 1), rowH-6, color(x.Group))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="val">%s</text>`, float64(labelW)+math.Max(w, 1)+6, y+15, esc(label(val(x))))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// The histogram's geometry: the SVG's size and margins.
const histW, histH, histML, histMR, histMT, histMB = 450, 190, 46, 24, 14, 34

// histAxes maps a latency (log scale, decades lo to hi) and a share of the
// operations (0 to yMax percent) to the histogram's SVG coordinates.
type histAxes struct{ lo, hi, yMax float64 }

func (a histAxes) plotW() float64 { return float64(histW - histML - histMR) }
func (a histAxes) plotH() float64 { return float64(histH - histMT - histMB) }

func (a histAxes) x(ns float64) float64 {
	v := (math.Log10(math.Max(ns, 1)) - a.lo) / (a.hi - a.lo)
	return float64(histML) + math.Min(math.Max(v, 0), 1)*a.plotW()
}

func (a histAxes) y(pct float64) float64 {
	return float64(histMT) + a.plotH() - pct/a.yMax*a.plotH()
}

// histogram draws a result's latency distribution on a log time axis, with
// the median and the 99th percentile marked.
func histogram(x Result) template.HTML {
	bs := x.Buckets
	var total uint64
	var peak float64
	for _, b := range bs {
		total += b.Count
	}
	for _, b := range bs {
		peak = math.Max(peak, float64(b.Count)/float64(total))
	}
	lo := math.Floor(math.Log10(math.Max(float64(bs[0].Lo), 100)))
	hi := math.Ceil(math.Log10(float64(bs[len(bs)-1].Hi)))
	if hi-lo < 1 {
		hi = lo + 1
	}
	ax := histAxes{lo: lo, hi: hi, yMax: niceCeil(peak * 100)}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" aria-label="latency histogram">`, histW, histH)
	histGrid(&b, ax, total)
	for _, bk := range bs {
		x0, x1 := ax.x(float64(bk.Lo)), ax.x(float64(bk.Hi))
		pct := float64(bk.Count) / float64(total) * 100
		y := ax.y(pct)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s–%s: %d ops (%.2f%%)</title></rect>`,
			x0, y, math.Max(x1-x0-0.5, 0.8), float64(histMT)+ax.plotH()-y, color(x.Group), Dur(bk.Lo), Dur(bk.Hi), bk.Count, pct)
	}
	histMarks(&b, ax, x.Latency)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// histGrid draws the y grid, and the x axis with a tick per decade (and at
// 2 and 5 times it when the range is narrow).
func histGrid(b *strings.Builder, ax histAxes, total uint64) {
	for _, f := range []float64{0, 0.5, 1} {
		y := ax.y(f * ax.yMax)
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/>`, histML, histW-histMR, y, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end" class="tick">%s%%</text>`, histML-5, y+4, trimFloat(f*ax.yMax))
	}
	for e := ax.lo; e <= ax.hi; e++ {
		for _, m := range []float64{1, 2, 5} {
			if m != 1 && ax.hi-ax.lo > 2 {
				continue
			}
			ns := m * math.Pow(10, e)
			if math.Log10(ns) > ax.hi+1e-9 {
				continue
			}
			xp := ax.x(ns)
			fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" class="axis"/>`, xp, xp, histH-histMB, histH-histMB+4)
			fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle" class="tick">%s</text>`, xp, histH-histMB+16, Dur(time.Duration(ns)))
		}
	}
	fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%d" y2="%d" class="axis"/>`, histML, histW-histMR, histH-histMB, histH-histMB)
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" class="tick">latency (log scale) · %% of %d ops</text>`, histML+int(ax.plotW()/2), histH-3, total)
}

// histMarks marks the median and the 99th percentile, labelled on the
// side of the line that has room.
func histMarks(b *strings.Builder, ax histAxes, lat Latency) {
	for i, p := range []struct {
		name string
		d    time.Duration
	}{{"p50", lat.P50}, {"p99", lat.P99}} {
		xp := ax.x(float64(p.d))
		fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" class="%s"/>`, xp, xp, histMT, histH-histMB, p.name)
		anchor, dx := "start", 3.0
		if xp > float64(histW-histMR)-70 {
			anchor, dx = "end", -3
		}
		y := histMT + 9 + 12*i
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="%s" class="mark %s">%s %s</text>`, xp+dx, y, anchor, p.name, p.name, Dur(p.d))
	}
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

// pageCSS is the style sheet the report and the goals page share, so
// that the two read as one set.
const pageCSS = `body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;background:#f9fafb;margin:0;padding:24px 32px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}
.meta{color:#4b5563;margin-bottom:8px}
.panel{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:14px 16px;overflow-x:auto}
pre{font:12.5px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;margin:0}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(470px,1fr));gap:14px}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:10px 12px}
.card h3{font-size:14px;margin:0 0 2px;display:flex;gap:8px;align-items:center}
.sw{width:10px;height:10px;border-radius:2px;display:inline-block}
.card .sum{color:#4b5563;font-size:12.5px;margin-bottom:4px}
svg text{font:11px system-ui,sans-serif;fill:#374151}
svg .lbl{font-size:12px}svg .val{font-size:11.5px;fill:#111827}
svg .grid{stroke:#e5e7eb}svg .axis{stroke:#9ca3af}
svg .p50{stroke:#1f2937;stroke-dasharray:4 3;fill:#1f2937}svg .p99{stroke:#dc2626;stroke-dasharray:4 3;fill:#dc2626}
svg text.mark{stroke:none;font-weight:600}
.note{color:#6b7280;font-size:12.5px;margin-top:6px}
`

var pageTmpl = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>brick bench · {{.Brick}}</title>
<style>
` + pageCSS + `.meta b{color:#111827;font-weight:600}
h4{font-size:13px;margin:10px 0 2px;color:#374151}.panel h4:first-child{margin-top:0}
</style></head><body>
<h1>brick bench</h1>
<div class="meta">brick <b>{{.Brick}}</b> · transport <b>{{.Transport}}</b> · backend <b>{{.Backend}}</b> · persist methods <b>{{range $i, $m := .Methods}}{{if $i}}, {{end}}{{$m}}{{else}}none{{end}}</b></div>
<div class="meta">started {{.Started}} · {{.Duration}} s per case · closed loop: each of qd×sessions workers keeps one operation outstanding on its own block</div>
{{if .HasControl}}<h2>Control verbs</h2>
<div class="panel">{{.ControlChart}}<div class="note">Each worker cycles alloc → map read-write → free (the free revoking the map in the same round trip) on its own block ID; each verb runs at the cycle rate (the table and the histograms below give each verb's latency). Alloc, free and a read-write map each wait for a metadata fsync (group-committed).</div></div>{{end}}
{{if .Data}}<h2>Data path bandwidth</h2>
<div class="panel">{{.DataChart}}<div class="note">Payload bytes per second through one-sided RDMA Write/Read; write+persist adds the persist round trip after every write.</div></div>{{end}}
<h2>Results</h2>
<div class="panel"><pre>{{.Table}}</pre></div>
<h2>Latency distributions</h2>
<div class="cards">{{range .Cards}}
<div class="card"><h3><span class="sw" style="background:{{.Color}}"></span>{{.Name}}</h3>
<div class="sum">{{printf "%.0f" .OpsPerSec}} ops/s{{if .Size}} · {{printf "%.1f" .MiBPerSec}} MiB/s{{end}} · {{.Ops}} ops</div>
{{.SVG}}</div>{{end}}
</div>
</body></html>
`))
