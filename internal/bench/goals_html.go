package bench

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
	"time"
)

// GoalsPage is what the `make bench` HTML page shows: the goals table, a
// chart of each ratio against its goal, and the latency histograms of the
// brickctl bench runs behind the brick figures.
type GoalsPage struct {
	Title   string
	Started time.Time
	Machine string
	Goals   []Goal
	Reports []*Report
}

// HTML writes the page: self-contained like Report.HTML.
func (p *GoalsPage) HTML(w io.Writer) error {
	var table strings.Builder
	if err := GoalsTable(&table, p.Goals); err != nil {
		return err
	}
	page := struct {
		*GoalsPage
		Started string
		Table   string
		Chart   template.HTML
		Cards   []card
	}{GoalsPage: p, Started: p.Started.Format(time.RFC1123), Table: table.String(), Chart: goalChart(p.Goals)}
	for _, r := range p.Reports {
		for _, x := range r.Results {
			if x.Skipped == "" && len(x.Buckets) > 0 {
				name := x.Name() + " · " + r.Backend
				page.Cards = append(page.Cards, card{Result: x, Name: name, SVG: histogram(x), Color: color(x.Group)})
			}
		}
	}
	return goalsTmpl.Execute(w, page)
}

// goalChart draws each goal's ratio as a fraction of the way to its goal,
// on a log scale centred on the goal: bars right of the line are met.
// "≥" goals plot ratio/goal, "≤" goals goal/ratio, so longer is better for
// both.
func goalChart(gs []Goal) template.HTML {
	const labelW, barW, rowH, valW = 330, 420, 22, 150
	h := len(gs)*rowH + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" aria-label="ratios against goals">`, labelW+barW+valW, h)
	mid := float64(labelW) + barW/2
	// log10 scale, ±1 decade around the goal
	xOf := func(score float64) float64 {
		v := math.Log10(score) / 1
		v = math.Max(-1, math.Min(1, v))
		return mid + v*barW/2
	}
	for i, g := range gs {
		y := 4 + i*rowH
		label := g.Figure
		if g.BaselineName != "limit" && g.BaselineName != "wanted" {
			label += " / " + g.BaselineName
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" class="lbl">%s</text>`, labelW-8, y+15, esc(label))
		if g.Verdict == "n/a" {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="val">n/a</text>`, mid+6, y+15)
			continue
		}
		score := g.Ratio / g.Target
		if g.Op == "<=" {
			score = g.Target / g.Ratio
		}
		x := xOf(score)
		fill := "#059669"
		if g.Verdict != "met" {
			fill = "#dc2626"
		}
		x0, x1 := math.Min(mid, x), math.Max(mid, x)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" rx="2" fill="%s"><title>ratio %s, goal %s %s</title></rect>`,
			x0, y+3, math.Max(x1-x0, 1), rowH-6, fill, num(g.Ratio), g.Op, num(g.Target))
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="val">%s (goal %s %s)</text>`, labelW+barW+6, y+15, num(g.Ratio), g.Op, num(g.Target))
	}
	fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="0" y2="%d" class="p50"/>`, mid, mid, h-24)
	for _, t := range []struct {
		s float64
		l string
	}{{0.1, "10× short"}, {1, "goal"}, {10, "10× better"}} {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" class="tick">%s</text>`, xOf(t.s), h-8, t.l)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

var goalsTmpl = template.Must(template.New("goals").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
` + pageCSS + `</style></head><body>
<h1>{{.Title}}</h1>
<div class="meta">started {{.Started}}{{if .Machine}} · {{.Machine}}{{end}}</div>
<h2>Goals</h2>
<div class="panel">{{.Chart}}<div class="note">Each bar is how far the ratio is from its goal, on a log scale: green bars reach right of the line (met), red ones stop short. Every ratio compares figures of the same run.</div></div>
<h2>Table</h2>
<div class="panel"><pre>{{.Table}}</pre></div>
{{if .Cards}}<h2>Latency distributions (brickctl bench against brickd)</h2>
<div class="cards">{{range .Cards}}
<div class="card"><h3><span class="sw" style="background:{{.Color}}"></span>{{.Name}}</h3>
<div class="sum">{{printf "%.0f" .OpsPerSec}} ops/s{{if .Size}} · {{printf "%.1f" .MiBPerSec}} MiB/s{{end}} · {{.Ops}} ops</div>
{{.SVG}}</div>{{end}}
</div>{{end}}
</body></html>
`))
