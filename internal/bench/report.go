package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/brick-storage/brick/internal/size"
)

// Case names one measurement.
type Case struct {
	Group    string `json:"group"`          // control, write, read, write+persist
	Op       string `json:"op"`             // the operation timed: alloc, map-rw, …, write, read, write+persist
	Size     int    `json:"size,omitempty"` // payload bytes per operation (data cases)
	QD       int    `json:"qd"`             // operations outstanding per session
	Sessions int    `json:"sessions"`
	Method   string `json:"method,omitempty"` // persist method (write+persist)
}

// Name is the case as a person reads it.
func (c Case) Name() string {
	var b strings.Builder
	b.WriteString(c.Op)
	if c.Method != "" {
		fmt.Fprintf(&b, " (%s)", c.Method)
	}
	if c.Size > 0 {
		fmt.Fprintf(&b, " %s", SizeString(c.Size))
	}
	fmt.Fprintf(&b, " qd%d s%d", c.QD, c.Sessions)
	return b.String()
}

// Result is one case's outcome.
type Result struct {
	Case
	Seconds   float64 `json:"seconds"`
	Ops       uint64  `json:"ops"`
	Bytes     uint64  `json:"bytes"`
	OpsPerSec float64 `json:"ops_per_sec"`
	// MiBPerSec is payload bandwidth (data cases).
	MiBPerSec float64  `json:"mib_per_sec,omitempty"`
	Latency   Latency  `json:"latency"`
	Buckets   []Bucket `json:"histogram"`
	// Skipped says why the case did not run; Error why it stopped.
	Skipped string `json:"skipped,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Latency summarises a histogram in nanoseconds.
type Latency struct {
	Mean time.Duration `json:"mean_ns"`
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p999_ns"`
	Max  time.Duration `json:"max_ns"`
}

// NewResult turns a measurement into a result. Operations are counted per
// elapsed wall-clock second across all workers.
func NewResult(c Case, m *Measured) Result {
	r := Result{Case: c, Seconds: m.Elapsed.Seconds(), Ops: m.Ops, Bytes: m.Bytes, Buckets: m.Latency.Buckets()}
	if s := m.Elapsed.Seconds(); s > 0 {
		r.OpsPerSec = float64(m.Ops) / s
		if c.Size > 0 {
			r.MiBPerSec = float64(m.Bytes) / s / (1 << 20)
		}
	}
	h := &m.Latency
	r.Latency = Latency{Mean: h.Mean(), P50: h.Quantile(0.5), P90: h.Quantile(0.9), P99: h.Quantile(0.99), P999: h.Quantile(0.999), Max: h.Max()}
	if m.Err != nil {
		r.Error = m.Err.Error()
	}
	return r
}

// Report is a whole bench run.
type Report struct {
	Brick     string    `json:"brick"`   // address
	Backend   string    `json:"backend"` // the brick's pmem backend
	Methods   []string  `json:"persist_methods"`
	Started   time.Time `json:"started"`
	Duration  float64   `json:"duration_per_case_seconds"`
	Transport string    `json:"transport"`
	Results   []Result  `json:"results"`
}

// Table writes the results as an aligned text table.
func (r *Report) Table(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	var errs []string
	fmt.Fprintln(tw, "OP\tSIZE\tQD\tSESS\tOPS/S\tMiB/S\tMEAN\tP50\tP99\tP99.9\tMAX\t")
	for _, x := range r.Results {
		op := x.Op
		if x.Method != "" {
			op += "/" + x.Method
		}
		size := "-"
		if x.Size > 0 {
			size = SizeString(x.Size)
		}
		if x.Skipped != "" {
			errs = append(errs, fmt.Sprintf("%s skipped: %s", x.Name(), x.Skipped))
			continue
		}
		bw := "-"
		if x.Size > 0 {
			bw = fmt.Sprintf("%.1f", x.MiBPerSec)
		}
		l := x.Latency
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t\n", op, size, x.QD, x.Sessions, x.OpsPerSec, bw,
			Dur(l.Mean), Dur(l.P50), Dur(l.P99), Dur(l.P999), Dur(l.Max))
		if x.Error != "" {
			errs = append(errs, fmt.Sprintf("%s stopped early: %s", x.Name(), x.Error))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, e := range errs {
		if _, err := fmt.Fprintln(w, e); err != nil {
			return err
		}
	}
	return nil
}

// Dur prints a latency with three significant digits.
func Dur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d)
	case d < time.Millisecond:
		return fmt.Sprintf("%.3gµs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.3gms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.3gs", d.Seconds())
}

// SizeString prints a size as internal/size does: 4 KiB, 2 MiB, 1000 B.
func SizeString(n int) string { return size.Format(int64(n)) }
