// Package collector wires the collector role: config → spool → ingest
// listener, private listener, reloads and shutdown. It holds no logic of its
// own beyond putting pkg/ parts together.
package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/lightmetrics/lightmetrics/pkg/archive"
	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/config"
	"github.com/lightmetrics/lightmetrics/pkg/dashboards"
	"github.com/lightmetrics/lightmetrics/pkg/exitcode"
	"github.com/lightmetrics/lightmetrics/pkg/httpauth"
	"github.com/lightmetrics/lightmetrics/pkg/ingest"
	"github.com/lightmetrics/lightmetrics/pkg/landing"
	"github.com/lightmetrics/lightmetrics/pkg/logging"
	"github.com/lightmetrics/lightmetrics/pkg/manifest"
	"github.com/lightmetrics/lightmetrics/pkg/objstore"
	"github.com/lightmetrics/lightmetrics/pkg/spool"
	"github.com/lightmetrics/lightmetrics/pkg/tlsutil"
	"github.com/lightmetrics/lightmetrics/pkg/tokens"
)

// checked is everything startup needs that check-config validates.
type checked struct {
	cfg        *config.Server
	tokens     *tokens.Table
	queryToken tokens.Secret
	dashboards *dashboards.Set
	tls        *tlsutil.Reloader
	// store is the [object_store] client (nil without the section), built
	// once here: check-config probes it, serve instruments it.
	store objstore.Bucket
}

// load validates the config and every file it names, exactly as startup
// does; every failure is a configuration error (exit 2).
func load(path string) (*checked, error) {
	cfg, err := config.LoadServer(path)
	if err != nil {
		return nil, exitcode.Config(err)
	}
	if err := config.CheckFiles(cfg); err != nil {
		return nil, exitcode.Config(err)
	}
	c := &checked{cfg: cfg}
	if cfg.ObjectStore != nil {
		// Builds the client and reads the credential files; no request is
		// sent (check-config --check-object-store does that).
		if c.store, err = openBucket(cfg.ObjectStore); err != nil {
			return nil, exitcode.Config(fmt.Errorf("%s: object_store: %w", path, err))
		}
	}
	if c.tokens, err = tokens.LoadTable(cfg.Ingest.TokenFile); err != nil {
		return nil, exitcode.Config(fmt.Errorf("%s: ingest.token_file: %w", path, err))
	}
	if c.queryToken, err = tokens.LoadSecret(cfg.Query.TokenFile); err != nil {
		return nil, exitcode.Config(fmt.Errorf("%s: query.token_file: %w", path, err))
	}
	if c.dashboards, err = dashboards.Load(cfg.Dashboards.DefinitionFiles, cfg.Dashboards.DefinitionDirs); err != nil {
		return nil, exitcode.Config(err)
	}
	if c.tls, err = tlsutil.ServerConfig(cfg.Ingest.TLS.CertFile, cfg.Ingest.TLS.KeyFile); err != nil {
		return nil, exitcode.Config(fmt.Errorf("%s: ingest.tls: %w", path, err))
	}
	return c, nil
}

// Check validates server.toml and everything it names without listening,
// and prints one line on success. With probeStore it also writes, reads,
// conditionally re-creates and deletes a probe object in the object store,
// proving it is reachable, writable and honours If-None-Match.
func Check(ctx context.Context, path string, probeStore bool, out io.Writer) error {
	c, err := load(path)
	if err != nil {
		return err
	}
	store := "no object store"
	if o := c.cfg.ObjectStore; o != nil {
		store = fmt.Sprintf("object store %s/%s not contacted", o.Endpoint, o.Bucket)
		if probeStore {
			if err := objstore.Probe(ctx, objstore.Prefixed(c.store, o.Prefix)); err != nil {
				return fmt.Errorf("%s: object_store: %w", path, err)
			}
			store = fmt.Sprintf("object store %s/%s reachable, writable, conditional writes honoured", o.Endpoint, o.Bucket)
		}
	} else if probeStore {
		return exitcode.Config(fmt.Errorf("%s: --check-object-store: the config has no [object_store] section", path))
	}
	fmt.Fprintf(out, "%s: OK (ingest %s, query %s, acceptance %s, %d agent tokens, %d dashboards, %s)\n",
		path, c.cfg.Ingest.Listen, c.cfg.Query.Listen, c.cfg.Ingest.Acceptance, c.tokens.Len(), len(c.dashboards.List()), store)
	return nil
}

// Run loads path and serves until ctx ends (SIGINT/SIGTERM in main).
func Run(ctx context.Context, path string, out io.Writer) error {
	c, err := load(path)
	if err != nil {
		return err
	}
	logger := logging.New(os.Stderr, c.cfg.Log.Level, c.cfg.Log.Format)
	return serve(ctx, path, c, Options{Logger: logger})
}

// Options tune Serve for callers that embed the collector (the demo, tests).
type Options struct {
	Logger *slog.Logger
	// Ready, when set, is called once both listeners are bound, with their
	// addresses (useful with port 0).
	Ready func(ingestAddr, queryAddr net.Addr)
}

// Serve runs a collector from an already loaded server config until ctx
// ends; it validates the files the config names first, as Run does.
func Serve(ctx context.Context, cfg *config.Server, o Options) error {
	c, err := load(cfg.Path)
	if err != nil {
		return err
	}
	return serve(ctx, cfg.Path, c, o)
}

func serve(ctx context.Context, path string, c *checked, o Options) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	log := o.Logger
	cfg := c.cfg

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := newMetrics(reg)

	sp, err := spool.Open(cfg.Storage.SpoolDir, spool.Options{MaxBytes: cfg.Storage.SpoolMaxBytes, OnCommit: m.observeCommit})
	if err != nil {
		return fmt.Errorf("start collector: %w", err)
	}
	defer func() {
		if err := sp.Close(); err != nil {
			log.Error("close spool", "err", err)
		}
	}()
	m.watchSpool(sp)

	dec, err := codec.NewDecoder(readerCaps(cfg))
	if err != nil {
		return fmt.Errorf("start collector: %w", err)
	}
	defer dec.Close()
	var bucket objstore.Bucket
	var arch *archive.Archive
	if cfg.ObjectStore != nil {
		bucket = objstore.Prefixed(objstore.Instrument(c.store, reg), cfg.ObjectStore.Prefix)
		if cfg.Ingest.Acceptance == config.AcceptLocalSpool {
			if arch, err = newArchive(cfg, bucket, sp, dec, log); err != nil {
				return fmt.Errorf("start collector: %w", err)
			}
		}
	}
	rd, err := newReaders(cfg, sp, dec, arch, reg, log)
	if err != nil {
		return fmt.Errorf("start query: %w", err)
	}
	defer rd.hub.Close()
	rebuildStart := time.Now()
	n, err := rd.follower.CatchUp(ctx)
	if err != nil {
		return fmt.Errorf("rebuild query indexes from the spool: %w", err)
	}
	log.Info("rebuilt query indexes from the spool", "batches", n, "series", rd.series.Stats().Series,
		"log_records", rd.logs.Stats().Records, "took", time.Since(rebuildStart).Round(time.Millisecond))

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var bg sync.WaitGroup
	defer bg.Wait()
	defer stopRun()

	var app ingest.Appender = &appender{spool: sp, offer: rd.follower.Offer}
	retainLimit := func() uint64 { return math.MaxUint64 }
	if cfg.ObjectStore != nil {
		id, err := collectorID(ctx, sp)
		if err != nil {
			return fmt.Errorf("start collector: %w", err)
		}
		switch cfg.Ingest.Acceptance {
		case config.AcceptS3Manifest:
			app = &manifestAppender{spool: sp, acc: manifest.NewAcceptor(bucket, id, reg), offer: rd.follower.Offer, log: log}
			mf, err := manifest.NewFollower(bucket, sp, manifestFollowerOptions(cfg, sp, rd.follower.Nudge, log.With("part", "manifest"), reg))
			if err != nil {
				return fmt.Errorf("start manifest follower: %w", err)
			}
			bg.Add(1)
			go func() { defer bg.Done(); mf.Run(runCtx) }()
			log.Info("s3_manifest acceptance: acknowledging once the manifest entry is in the bucket", "collector_id", id, "store", bucket.String())
		default:
			ld, err := landing.New(bucket, sp, sp, landing.Options{
				Collector:  id,
				Interval:   ms(cfg.Ingest.ObjectLandingIntervalMs),
				Logger:     log.With("part", "landing"),
				Registerer: reg,
			})
			if err != nil {
				return fmt.Errorf("start landing: %w", err)
			}
			retainLimit = ld.Landed
			bg.Add(1)
			go func() { defer bg.Done(); ld.Run(runCtx) }()
			log.Info("landing accepted batches to the object store", "collector_id", id, "store", bucket.String(),
				"interval", ms(cfg.Ingest.ObjectLandingIntervalMs), "landed_through", ld.Landed())
		}
	}

	holder := ingest.NewTokenHolder(c.tokens)
	ing, err := ingest.New(app, holder, ingest.Options{
		Limits:          cfg.Limits(),
		MaxBodyBytes:    cfg.Ingest.MaxBodyBytes,
		MaxDecodedBytes: cfg.Ingest.MaxDecodedBytes,
		MaxConcurrent:   cfg.Ingest.MaxConcurrentRequests,
		Logger:          log.With("listener", "ingest"),
		Registerer:      reg,
	})
	if err != nil {
		return fmt.Errorf("start ingest: %w", err)
	}
	defer ing.Close()

	ingestSrv := &http.Server{
		Handler:           ing,
		TLSConfig:         c.tls.TLSConfig(),
		ReadHeaderTimeout: ms(cfg.Ingest.ReadHeaderTimeoutMs),
		ReadTimeout:       ms(cfg.Ingest.ReadTimeoutMs),
		WriteTimeout:      ms(cfg.Ingest.WriteTimeoutMs),
		IdleTimeout:       ms(cfg.Ingest.IdleTimeoutMs),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	query := httpauth.NewHolder(c.queryToken)
	var queryTLS *tlsutil.Reloader
	if cfg.Query.TLS.Enabled() {
		if queryTLS, err = tlsutil.ServerConfig(cfg.Query.TLS.CertFile, cfg.Query.TLS.KeyFile); err != nil {
			return exitcode.Config(fmt.Errorf("%s: query.tls: %w", path, err))
		}
	}
	privateSrv := &http.Server{
		Handler:           newPrivateMux(query, reg, rd, c.dashboards),
		ReadHeaderTimeout: ms(cfg.Ingest.ReadHeaderTimeoutMs),
		IdleTimeout:       ms(cfg.Ingest.IdleTimeoutMs),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	if queryTLS != nil {
		privateSrv.TLSConfig = queryTLS.TLSConfig()
	}

	ingestLn, err := net.Listen("tcp", cfg.Ingest.Listen)
	if err != nil {
		return fmt.Errorf("listen ingest %s: %w", cfg.Ingest.Listen, err)
	}
	queryLn, err := net.Listen("tcp", cfg.Query.Listen)
	if err != nil {
		ingestLn.Close()
		return fmt.Errorf("listen query %s: %w", cfg.Query.Listen, err)
	}
	log.Info("ingest listener", "addr", ingestLn.Addr().String(), "tls", true, "acceptance", cfg.Ingest.Acceptance)
	log.Info("private listener", "addr", queryLn.Addr().String(), "tls", cfg.Query.TLS.Enabled())
	if o.Ready != nil {
		o.Ready(ingestLn.Addr(), queryLn.Addr())
	}

	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := ingestSrv.ServeTLS(ingestLn, "", ""); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("ingest listener: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		serve := func() error { return privateSrv.Serve(queryLn) }
		if queryTLS != nil {
			serve = func() error { return privateSrv.ServeTLS(queryLn, "", "") }
		}
		if err := serve(); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("private listener: %w", err)
		}
	}()

	go c.tls.Watch(runCtx, 30*time.Second)
	bg.Add(2)
	go func() { defer bg.Done(); rd.follower.Run(runCtx) }()
	go func() { defer bg.Done(); rd.retain(runCtx, sp, cfg.Storage.Retention(), retainLimit, log) }()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errc:
			runErr = err
			break loop
		case <-hup:
			reload(log, cfg, c.tls, holder)
			if tok, err := tokens.LoadSecret(cfg.Query.TokenFile); err != nil {
				log.Error("reload query token: keeping the previous one", "err", err)
			} else {
				query.Store(tok)
				log.Info("reloaded query token")
			}
			if queryTLS != nil {
				if err := queryTLS.Reload(); err != nil {
					log.Error("reload query certificate: keeping the previous one", "err", err)
				}
			}
		}
	}

	log.Info("shutting down: finishing in-flight requests")
	// Live streams never finish by themselves: end them first so Shutdown
	// only waits for real requests.
	rd.hub.Close()
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ingestSrv.Shutdown(shutCtx); err != nil {
		log.Error("ingest shutdown", "err", err)
	}
	if err := privateSrv.Shutdown(shutCtx); err != nil {
		log.Error("private shutdown", "err", err)
	}
	wg.Wait()
	log.Info("stopped", "spool_records", sp.Stats().Records)
	return runErr
}

// reload re-reads the token table and the certificate pair; a failure keeps
// what is in force and says why.
func reload(log *slog.Logger, cfg *config.Server, r *tlsutil.Reloader, holder *ingest.TokenHolder) {
	if t, err := tokens.LoadTable(cfg.Ingest.TokenFile); err != nil {
		log.Error("reload token table: keeping the previous one", "err", err)
	} else {
		holder.Store(t)
		log.Info("reloaded token table", "agents", t.Len())
	}
	if err := r.Reload(); err != nil {
		log.Error("reload certificate: keeping the previous one", "err", err)
	} else {
		log.Info("reloaded certificate")
	}
}

func ms(v int64) time.Duration { return time.Duration(v) * time.Millisecond }

// appender makes an accepted record durable in the spool.
type appender struct {
	spool *spool.Spool
	// offer hands the decoded batch to the readers' follower, so it is not
	// decoded twice, and tells it the spool grew.
	offer func(spoolSeq uint64, b *batch.Batch)
}

func kindOf(k ingest.RecordKind) spool.Kind {
	if k == ingest.KindRemoteWrite {
		return spool.KindRemoteWrite
	}
	return spool.KindAgent
}

func (a *appender) Append(ctx context.Context, rec ingest.Record) (ingest.Result, error) {
	seq, dup, err := a.spool.Append(ctx, kindOf(rec.Kind), rec.AgentID, rec.Seq, rec.ReceivedNs, rec.Data)
	if err != nil {
		return ingest.Result{}, fmt.Errorf("%w: %v", ingest.ErrUnavailable, err)
	}
	if !dup && a.offer != nil {
		a.offer(seq, rec.Batch)
	}
	return ingest.Result{Duplicate: dup, SpoolSeq: seq}, nil
}

// Durable lets the ingest handler answer a re-sent batch without decoding it.
func (a *appender) Durable(_ context.Context, agentID string, seq uint64) (bool, error) {
	return a.spool.Durable(spool.KindAgent, agentID, seq)
}

// readerCaps bounds the readers' decoder: never tighter than what ingest
// accepts under this config, so everything acknowledged can be read back.
func readerCaps(cfg *config.Server) codec.Caps {
	c := codec.DefaultCaps()
	c.MaxEncodedBytes = max(c.MaxEncodedBytes, int(cfg.Ingest.MaxBodyBytes))
	c.MaxDecodedBytes = max(c.MaxDecodedBytes, int(cfg.Ingest.MaxDecodedBytes))
	c.MaxSamples = max(c.MaxSamples, int(cfg.Ingest.MaxDecodedBytes/8))
	c.MaxSeries = max(c.MaxSeries, cfg.Ingest.MaxSeriesPerBatch)
	c.MaxLabels = max(c.MaxLabels, cfg.Ingest.MaxLabelsPerSeries+1)
	c.MaxStringBytes = max(c.MaxStringBytes, cfg.Ingest.MaxLabelValueBytes, cfg.Ingest.MaxLogMessageBytes, cfg.Ingest.MaxLabelKeyBytes)
	c.MaxLogs = max(c.MaxLogs, cfg.Ingest.MaxLogsPerBatch)
	c.MaxAlerts = max(c.MaxAlerts, cfg.Ingest.MaxAlertsPerBatch)
	return c
}
