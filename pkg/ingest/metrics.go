package ingest

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the handler's self-metrics. They live on the Registerer given
// in Options so that two handlers (or tests) never share counters.
type metrics struct {
	requests *prometheus.CounterVec
	batches  *prometheus.CounterVec
	samples  prometheus.Counter
	logs     prometheus.Counter
	alerts   prometheus.Counter
	refusals *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lightmetrics_ingest_requests_total",
			Help: "Ingest HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lightmetrics_ingest_batches_total",
			Help: "Batches made durable (accepted) or found already durable (duplicate), remote-write requests included.",
		}, []string{"status"}),
		samples: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lightmetrics_ingest_samples_total",
			Help: "Samples in accepted batches, heartbeat values included; duplicates not counted.",
		}),
		logs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lightmetrics_ingest_log_records_total",
			Help: "Log records in accepted batches; duplicates not counted.",
		}),
		alerts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lightmetrics_ingest_alerts_total",
			Help: "Alert records in accepted batches; duplicates not counted.",
		}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lightmetrics_ingest_refusals_total",
			Help: "Refused write requests by reason: the config key of the limit broken, or malformed, unauthorized, forbidden, unavailable.",
		}, []string{"reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lightmetrics_ingest_request_duration_seconds",
			Help: "Time from request start to response, durable write included, by route.",
			// Acks are expected in milliseconds; the tail shows fsync stalls.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lightmetrics_ingest_in_flight",
			Help: "Ingest requests being served.",
		}),
	}
	all := []prometheus.Collector{m.requests, m.batches, m.samples, m.logs, m.alerts, m.refusals, m.duration, m.inFlight}
	for i, c := range all {
		if err := reg.Register(c); err != nil {
			// Leave the registry as it was, so the caller can retry.
			for _, done := range all[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	// Pre-create the outcome series so dashboards see zeros, not gaps.
	m.batches.WithLabelValues("accepted")
	m.batches.WithLabelValues("duplicate")
	return m, nil
}
