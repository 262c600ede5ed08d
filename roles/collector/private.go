package collector

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lightmetrics/lightmetrics/console"
	"github.com/lightmetrics/lightmetrics/pkg/dashboards"
	"github.com/lightmetrics/lightmetrics/pkg/httpauth"
	"github.com/lightmetrics/lightmetrics/pkg/spool"
)

// newPrivateMux is the private listener: /healthz open, everything else
// behind the query token.
func newPrivateMux(token httpauth.Verifier, reg *prometheus.Registry, rd *readers, dash *dashboards.Set) http.Handler {
	mux := http.NewServeMux()
	guard := func(h http.Handler) http.Handler { return httpauth.Require(token, h) }
	rd.mount(mux, guard)
	dh := dashboards.NewHandler(dash)
	mux.Handle(dashboards.Path, guard(dh))
	mux.Handle(dashboards.Path+"/", guard(dh))
	// Everything else under /api/ needs the token even to learn it is 404.
	mux.Handle("/api/", guard(http.NotFoundHandler()))
	// The console's static files carry no data: they are served without the
	// token, and the console asks for it before calling the API.
	mux.Handle("/", console.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", httpauth.Require(token, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
	return mux
}

// metrics are the collector's own storage figures; the ingest package
// registers its request metrics itself.
type metrics struct {
	commitEntries prometheus.Histogram
	commitSeconds prometheus.Histogram
	reg           *prometheus.Registry
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		reg: reg,
		commitEntries: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "lightmetrics_spool_group_commit_entries",
			Help:    "Appends made durable by one spool commit (one fsync).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "lightmetrics_spool_commit_duration_seconds",
			Help:    "Time of one spool group commit including fsync.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14),
		}),
	}
	reg.MustRegister(m.commitEntries, m.commitSeconds)
	return m
}

func (m *metrics) observeCommit(entries int, took time.Duration) {
	m.commitEntries.Observe(float64(entries))
	m.commitSeconds.Observe(took.Seconds())
}

// watchSpool exports the spool's size, read when scraped.
func (m *metrics) watchSpool(sp *spool.Spool) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lightmetrics_spool_bytes",
			Help: "Payload bytes held in the spool.",
		}, func() float64 { return float64(sp.Stats().Bytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lightmetrics_spool_records",
			Help: "Batches held in the spool.",
		}, func() float64 { return float64(sp.Stats().Records) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "lightmetrics_spool_fsyncs_total",
			Help: "Spool commits flushed to disk since start.",
		}, func() float64 { return float64(sp.Stats().Fsyncs) }),
	)
}
