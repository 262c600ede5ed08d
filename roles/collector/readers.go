package collector

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/storage"

	"github.com/lightmetrics/lightmetrics/pkg/archive"
	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/config"
	"github.com/lightmetrics/lightmetrics/pkg/follow"
	"github.com/lightmetrics/lightmetrics/pkg/live"
	"github.com/lightmetrics/lightmetrics/pkg/logstore"
	"github.com/lightmetrics/lightmetrics/pkg/promapi"
	"github.com/lightmetrics/lightmetrics/pkg/spool"
	"github.com/lightmetrics/lightmetrics/pkg/tsstore"
)

// readers are what the private listener serves, all fed from the spool by
// one follower so they hold exactly what was acknowledged.
type readers struct {
	series   *tsstore.Store
	logs     *logstore.Store
	hub      *live.Hub
	follower *follow.Follower
	prom     *promapi.Handler
	logsAPI  http.Handler
}

// newReaders builds the readers; arch, when set, serves the part of a query
// older than the in-memory store from landed segments.
func newReaders(cfg *config.Server, sp *spool.Spool, dec *codec.Decoder, arch *archive.Archive, reg *prometheus.Registry, log *slog.Logger) (*readers, error) {
	r := &readers{
		series: tsstore.New(tsstore.Options{Retention: cfg.Storage.Retention()}),
		logs: logstore.New(logstore.Options{
			Retention:  cfg.Storage.Retention(),
			StaleAfter: cfg.Query.AgentStaleAfter(),
			DownAfter:  cfg.Query.AgentDownAfter(),
		}),
	}
	r.hub = live.New(live.Options{Replay: spoolReplay{sp: sp, dec: dec, log: log}, Logger: log.With("part", "live")})
	r.follower = follow.New(sp, dec, log.With("part", "follow"),
		follow.ConsumerFunc(func(_ uint64, _ int64, b *batch.Batch) {
			if _, err := r.series.Add(b); err != nil {
				log.Debug("query store skipped part of a batch", "agent", b.AgentID, "seq", b.Seq, "err", err)
			}
		}),
		r.logs,
		follow.ConsumerFunc(r.hub.Publish),
	)
	var err error
	var q storage.Queryable = r.series
	if arch != nil {
		q = arch.Wrap(r.series)
	}
	r.prom, err = promapi.New(q, promapi.Options{
		MaxSamples:    cfg.Query.MaxSamples,
		Timeout:       cfg.Query.Timeout(),
		LookbackDelta: cfg.Query.LookbackDelta(),
		MaxSeries:     cfg.Query.MaxSeries,
		Logger:        log.With("part", "query"),
		Registerer:    reg,
	})
	if err != nil {
		return nil, err
	}
	r.logsAPI = logstore.NewHandler(r.logs, logstore.HandlerOptions{Timeout: cfg.Query.Timeout()})
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lightmetrics_query_series", Help: "Series held by the query store."},
			func() float64 { return float64(r.series.Stats().Series) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lightmetrics_query_samples", Help: "Samples held by the query store."},
			func() float64 { return float64(r.series.Stats().Samples) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lightmetrics_query_store_bytes", Help: "Approximate memory of the query store."},
			func() float64 { return float64(r.series.Stats().Bytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lightmetrics_logs_records", Help: "Log records held for /api/v1/logs."},
			func() float64 { return float64(r.logs.Stats().Records) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lightmetrics_live_clients", Help: "Open live streams."},
			func() float64 { return float64(r.hub.Stats().Clients) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lightmetrics_spool_undecodable_total", Help: "Spool records skipped by the readers because they did not decode."},
			func() float64 { return float64(r.follower.Undecodable()) }),
	)
	return r, nil
}

// mount adds the query routes to mux behind guard.
func (r *readers) mount(mux *http.ServeMux, guard func(http.Handler) http.Handler) {
	for _, p := range promapi.Patterns() {
		mux.Handle(p, guard(r.prom))
	}
	mux.Handle("GET "+logstore.PathAgents, guard(r.logsAPI))
	mux.Handle("GET "+logstore.PathLogs, guard(r.logsAPI))
	mux.Handle("GET "+logstore.PathAlerts, guard(r.logsAPI))
	mux.Handle("GET "+live.Path, guard(r.hub))
}

// retain drops what is older than the retention from the spool and the
// query store, once a minute, until ctx ends; never spool records after
// limit() (not landed yet).
func (r *readers) retain(ctx context.Context, sp *spool.Spool, retention time.Duration, limit func() uint64, log *slog.Logger) {
	if retention <= 0 {
		return
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			r.series.Prune(now)
			d, err := sp.ExpireBefore(ctx, now.Add(-retention).UnixNano(), limit())
			if err != nil {
				log.Error("spool retention", "err", err)
			} else if d.Records > 0 {
				log.Info("spool retention removed old batches", "batches", d.Records, "bytes", d.Bytes)
			}
		}
	}
}

// spoolReplay lets a live client resume from the spool.
type spoolReplay struct {
	sp  *spool.Spool
	dec *codec.Decoder
	log *slog.Logger
}

func (s spoolReplay) Replay(ctx context.Context, from uint64, fn func(spoolSeq uint64, receivedNs int64, b *batch.Batch) error) error {
	return s.sp.Scan(ctx, from, func(seq uint64, recv int64, body []byte) error {
		b, err := s.dec.Decode(body)
		if err != nil {
			s.log.Error("spool record does not decode; skipped in replay", "spool_seq", seq, "err", err)
			return nil
		}
		return fn(seq, recv, b)
	})
}
