package landing

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	segments, records, bytes, failures prometheus.Counter
	uploadSeconds                      prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, l *Lander) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &metrics{
		segments: prometheus.NewCounter(prometheus.CounterOpts{Name: "lightmetrics_landing_segments_total",
			Help: "Segments landed in the object store."}),
		records: prometheus.NewCounter(prometheus.CounterOpts{Name: "lightmetrics_landing_records_total",
			Help: "Spool records landed in the object store."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "lightmetrics_landing_bytes_total",
			Help: "Segment bytes uploaded to the object store."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "lightmetrics_landing_failures_total",
			Help: "Landing passes that stopped on an error (the records stay in the spool and are retried)."}),
		uploadSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lightmetrics_landing_upload_seconds",
			Help: "Time to upload and verify one segment.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
	}
	reg.MustRegister(m.segments, m.records, m.bytes, m.failures, m.uploadSeconds,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lightmetrics_landing_landed_seq",
			Help: "Last spool sequence landed in the object store."},
			func() float64 { return float64(l.Landed()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lightmetrics_landing_lag_records",
			Help: "Spool records accepted but not landed yet."},
			func() float64 { return float64(l.src.LastSeq() - min(l.src.LastSeq(), l.Landed())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lightmetrics_landing_lag_seconds",
			Help: "Age of the oldest accepted record not landed yet, as of the last landing pass (0 when caught up)."},
			func() float64 {
				ns := l.oldestNs.Load()
				if ns == 0 {
					return 0
				}
				return max(0, l.o.Now().Sub(time.Unix(0, ns)).Seconds())
			}),
	)
	return m
}
