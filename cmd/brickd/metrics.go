package main

import (
	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/brick-storage/brick/alloc2m"
	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
)

// registerProcessMetrics adds what the brick service itself cannot see:
// the data-path byte counters of the verbs providers that keep them (the
// software RNIC: brick_soft_*), and the metadata store's (Pebble's)
// health. docs/operations.md lists every metric.
func registerProcessMetrics(reg prometheus.Registerer, store *alloc2m.Store) {
	for _, src := range verbs.CounterSources() {
		read := src.Read
		reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "brick", Subsystem: src.Name,
				Name: "write_bytes_total", Help: "Bytes clients wrote into blocks with RDMA Write through " + src.Description + "."},
				func() float64 { return float64(read().WriteBytesPlaced) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "brick", Subsystem: src.Name,
				Name: "read_bytes_total", Help: "Bytes clients read from blocks with RDMA Read through " + src.Description + "."},
				func() float64 { return float64(read().ReadBytesServed) }),
		)
	}
	reg.MustRegister(&metaCollector{store: store})
}

// metaCollector reads Pebble's metrics once per scrape.
type metaCollector struct{ store *alloc2m.Store }

var (
	metaDisk = prometheus.NewDesc("brick_meta_disk_usage_bytes",
		"Bytes the metadata store (Pebble) uses on disk.", nil, nil)
	metaReadAmp = prometheus.NewDesc("brick_meta_read_amplification",
		"Pebble read amplification: sstables a point read may consult; a sustained rise means compactions lag.", nil, nil)
	metaCompactions = prometheus.NewDesc("brick_meta_compactions_total",
		"Pebble compactions since start.", nil, nil)
	metaWALBytes = prometheus.NewDesc("brick_meta_wal_bytes_written_total",
		"Bytes written to Pebble's write-ahead log since start.", nil, nil)
	metaFsync = prometheus.NewDesc("brick_meta_wal_fsync_duration_seconds",
		"Time of Pebble's WAL fsyncs: every alloc, free and read-write map waits for one (group-committed).", nil, nil)
)

func (m *metaCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{metaDisk, metaReadAmp, metaCompactions, metaWALBytes, metaFsync} {
		ch <- d
	}
}

func (m *metaCollector) Collect(ch chan<- prometheus.Metric) {
	pm := m.store.Metrics()
	if pm == nil { // closed: brickd is stopping
		return
	}
	ch <- prometheus.MustNewConstMetric(metaDisk, prometheus.GaugeValue, float64(pm.DiskSpaceUsage()))
	ch <- prometheus.MustNewConstMetric(metaReadAmp, prometheus.GaugeValue, float64(pm.ReadAmp()))
	ch <- prometheus.MustNewConstMetric(metaCompactions, prometheus.CounterValue, float64(pm.Compact.Count))
	ch <- prometheus.MustNewConstMetric(metaWALBytes, prometheus.CounterValue, float64(pm.WAL.BytesWritten))
	if h := fsyncHistogram(pm); h != nil {
		ch <- h
	}
}

// fsyncHistogram re-emits Pebble's unnamed WAL fsync histogram (in
// nanoseconds, 100 buckets) in seconds, keeping every fifth bucket: the
// counts are cumulative, so dropping bounds loses resolution, not events.
func fsyncHistogram(pm *pebble.Metrics) prometheus.Metric {
	if pm.LogWriter.FsyncLatency == nil {
		return nil
	}
	var d dto.Metric
	if err := pm.LogWriter.FsyncLatency.Write(&d); err != nil || d.Histogram == nil {
		return nil
	}
	h := d.Histogram
	buckets := make(map[float64]uint64)
	for i, b := range h.Bucket {
		if i%5 == 4 {
			buckets[b.GetUpperBound()/1e9] = b.GetCumulativeCount()
		}
	}
	return prometheus.MustNewConstHistogram(metaFsync, h.GetSampleCount(), h.GetSampleSum()/1e9, buckets)
}

// registerPostureMetrics exports the persistence posture brickd decided at
// start (persist/): the persist methods offered, the persistence domain, the
// DDIO policy and each RDMA device's DDIO state. They change only with a
// restart, but an alert on "APM expected, not offered" needs them scraped.
func registerPostureMetrics(reg prometheus.Registerer, status func() *protocol.StatusReply) {
	reg.MustRegister(postureCollector(status))
}

type postureCollector func() *protocol.StatusReply

var (
	postureMethod = prometheus.NewDesc("brick_persist_method_offered",
		"1 for each persist method the brick offers clients (gpspm, apm, flush).", []string{"method"}, nil)
	postureDomain = prometheus.NewDesc("brick_persistence_domain_info",
		"The persistence domain of the brick's memory (label domain), and what the platform reports (platform); value 1.",
		[]string{"domain", "platform"}, nil)
	postureDDIO = prometheus.NewDesc("brick_ddio_info",
		"The DDIO policy (brickd --ddio) and, per RDMA device (soft: the software RNIC), DDIO's state: on, off, declared-off, unknown; value 1.",
		[]string{"policy", "device", "pci", "root_port", "state"}, nil)
)

func (p postureCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- postureMethod
	ch <- postureDomain
	ch <- postureDDIO
}

func (p postureCollector) Collect(ch chan<- prometheus.Metric) {
	st := p()
	for m := protocol.PersistGPSPM; m <= protocol.PersistFlush; m++ {
		v := 0.0
		if st.Methods.Has(m) {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(postureMethod, prometheus.GaugeValue, v, m.String())
	}
	ch <- prometheus.MustNewConstMetric(postureDomain, prometheus.GaugeValue, 1,
		st.Domain.Label(), st.PlatformDomain.Label())
	policy := st.DDIOPolicy.String()
	if st.SoftwareRNIC {
		ch <- prometheus.MustNewConstMetric(postureDDIO, prometheus.GaugeValue, 1, policy, "soft", "", "", st.SoftwareDDIO.Label())
	}
	for _, d := range st.Devices {
		ch <- prometheus.MustNewConstMetric(postureDDIO, prometheus.GaugeValue, 1, policy, d.Name, d.PCI, d.RootPort, d.State.Label())
	}
}
