package brick

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/brick-storage/brick/protocol"
)

// Metrics are the service's Prometheus metrics. A nil *Metrics records
// nothing, so tests and embedders need not set one up.
type Metrics struct {
	sessions  prometheus.Gauge
	sessTotal prometheus.Counter
	verbs     *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	persists  *prometheus.CounterVec
	persistB  *prometheus.CounterVec
	reg       prometheus.Registerer
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reg: reg,
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "brick", Name: "sessions", Help: "Live sessions.",
		}),
		sessTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "brick", Name: "sessions_total", Help: "Sessions accepted since start.",
		}),
		verbs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "brick", Name: "verbs_total", Help: "Verbs served, by verb and result status.",
		}, []string{"verb", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "brick", Name: "verb_duration_seconds", Help: "Time to serve a verb at the brick.",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 12),
		}, []string{"verb"}),
		persists: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "brick", Name: "persist_total", Help: "Persist operations served by the brick, by method.",
		}, []string{"method"}),
		persistB: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "brick", Name: "persist_bytes_total", Help: "Bytes made persistent by the brick, by method.",
		}, []string{"method"}),
	}
	reg.MustRegister(m.sessions, m.sessTotal, m.verbs, m.latency, m.persists, m.persistB)
	return m
}

// attach registers the gauges that read the server's state at scrape time.
func (m *Metrics) attach(s *Server) {
	stat := func(f func(st *protocol.StatusReply) float64) func() float64 {
		return func() float64 { return f(s.Status()) }
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "brick", Name: "frames", Help: "Data frames in the pmem region."},
			stat(func(st *protocol.StatusReply) float64 { return float64(st.Frames) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "brick", Name: "frames_free", Help: "Free data frames."},
			stat(func(st *protocol.StatusReply) float64 { return float64(st.FreeFrames) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "brick", Name: "blocks", Help: "Allocated blocks."},
			stat(func(st *protocol.StatusReply) float64 { return float64(st.Blocks) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "brick", Name: "blocks_mapped", Help: "Blocks with at least one live map."},
			stat(func(st *protocol.StatusReply) float64 { return float64(st.Mapped) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "brick", Name: "blocks_unclean", Help: "Blocks that were mapped read-write at an unclean shutdown."},
			stat(func(st *protocol.StatusReply) float64 { return float64(st.Unclean) })),
	)
}

func (m *Metrics) sessionStarted() {
	if m != nil {
		m.sessions.Inc()
		m.sessTotal.Inc()
	}
}

func (m *Metrics) sessionEnded() {
	if m != nil {
		m.sessions.Dec()
	}
}

func (m *Metrics) verbDone(t protocol.Type, err error, d time.Duration) {
	if m == nil {
		return
	}
	st := "ok"
	if err != nil {
		st = statusName(statusOf(err))
	}
	m.verbs.WithLabelValues(t.String(), st).Inc()
	m.latency.WithLabelValues(t.String()).Observe(d.Seconds())
}

func (m *Metrics) persisted(method protocol.PersistMethod, n uint64) {
	if m != nil {
		m.persists.WithLabelValues(method.String()).Inc()
		m.persistB.WithLabelValues(method.String()).Add(float64(n))
	}
}

// statusName is a short label for a status code.
func statusName(s protocol.Status) string {
	switch s {
	case protocol.StatusOK:
		return "ok"
	case protocol.StatusExist:
		return "eexist"
	case protocol.StatusNoSpace:
		return "enospc"
	case protocol.StatusInvalid:
		return "einval"
	case protocol.StatusNotFound:
		return "enoent"
	case protocol.StatusBusy:
		return "ebusy"
	case protocol.StatusNotMapped:
		return "enotmapped"
	case protocol.StatusProtocol:
		return "eproto"
	case protocol.StatusPermission:
		return "eperm"
	case protocol.StatusNotSupported:
		return "enotsup"
	case protocol.StatusLimit:
		return "elimit"
	}
	return "internal"
}
