package collector

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightmetrics/lightmetrics/pkg/archive"
	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/config"
	"github.com/lightmetrics/lightmetrics/pkg/ingest"
	"github.com/lightmetrics/lightmetrics/pkg/landing"
	"github.com/lightmetrics/lightmetrics/pkg/manifest"
	"github.com/lightmetrics/lightmetrics/pkg/objcache"
	"github.com/lightmetrics/lightmetrics/pkg/objstore"
	"github.com/lightmetrics/lightmetrics/pkg/objstore/s3"
	"github.com/lightmetrics/lightmetrics/pkg/segment"
	"github.com/lightmetrics/lightmetrics/pkg/spool"
)

// openBucket builds the [object_store] client for the whole bucket (callers
// root it under the prefix). It reads the credential files but opens no
// connection, so check-config can call it.
func openBucket(o *config.ObjectStore) (objstore.Bucket, error) {
	b, err := s3.New(s3.Config{
		Endpoint:       o.Endpoint,
		Bucket:         o.Bucket,
		Region:         o.Region,
		Secure:         o.Secure,
		CAFile:         o.CAFile,
		AccessKeyFile:  o.AccessKeyFile,
		SecretKeyFile:  o.SecretKeyFile,
		PathStyle:      o.PathStyle,
		RequestTimeout: o.RequestTimeout(),
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// newArchive serves queries older than the in-memory store from landed
// segments, through the cache in storage.cache_dir.
func newArchive(cfg *config.Server, b objstore.Bucket, sp *spool.Spool, dec *codec.Decoder, log *slog.Logger) (*archive.Archive, error) {
	cache, err := objcache.Open(cfg.Storage.CacheDir, cfg.Storage.CacheMaxBytes)
	if err != nil {
		return nil, err
	}
	retention := cfg.Storage.Retention()
	return archive.New(b, archive.Options{
		Cache:   cache,
		Decoder: dec,
		// The in-memory store is complete from the later of the retention
		// edge and the oldest batch the spool still holds (now, when it
		// holds none: a replacement collector answers from the bucket).
		LocalFrom: func() int64 {
			now := time.Now()
			from := now.UnixMilli()
			if first := sp.Stats().FirstSeq; first > 0 {
				if recv, _, err := sp.Get(first); err == nil {
					from = time.Unix(0, recv).UnixMilli()
				}
			}
			if retention > 0 {
				from = max(from, now.Add(-retention).UnixMilli())
			}
			return from
		},
		MaxBytes:       min(cfg.Storage.CacheMaxBytes, 1<<30),
		MaxObjectBytes: landing.DefaultMaxSegmentBytes + cfg.Ingest.MaxBodyBytes + 64<<10,
		Logger:         log.With("part", "archive"),
	}), nil
}

// collectorIDKey is where the collector's id lives in the spool state: it
// names the collector in landed keys and must stay the same for the life
// of the spool, whatever the host is renamed to.
const collectorIDKey = "collector-id"

var unsafeIDChars = regexp.MustCompile(`[^a-z0-9._-]+`)

// collectorID returns the spool's collector id, creating
// "<hostname>-<6 hex>" on first use.
func collectorID(ctx context.Context, sp *spool.Spool) (string, error) {
	v, err := sp.LoadState(collectorIDKey)
	if err != nil {
		return "", fmt.Errorf("read collector id: %w", err)
	}
	if len(v) > 0 {
		return string(v), nil
	}
	host, _ := os.Hostname()
	host = strings.Trim(unsafeIDChars.ReplaceAllString(strings.ToLower(host), "-"), "-.")
	if len(host) > 48 {
		host = host[:48]
	}
	if host == "" {
		host = "collector"
	}
	var r [3]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	id := host + "-" + hex.EncodeToString(r[:])
	if err := sp.SaveState(ctx, collectorIDKey, []byte(id)); err != nil {
		return "", fmt.Errorf("save collector id: %w", err)
	}
	return id, nil
}

// manifestAppender is the s3_manifest acceptance path: the batch is
// acknowledged once its manifest entry exists in the bucket; the local spool
// copy only serves this collector's queries and is best effort, because the
// manifest follower imports anything missing from it.
type manifestAppender struct {
	spool *spool.Spool
	acc   *manifest.Acceptor
	offer func(spoolSeq uint64, b *batch.Batch)
	log   *slog.Logger
}

func (a *manifestAppender) Append(ctx context.Context, rec ingest.Record) (ingest.Result, error) {
	if rec.Kind == ingest.KindRemoteWrite {
		return ingest.Result{}, fmt.Errorf("remote write is not available with ingest.acceptance = %q: the shared manifest is keyed by agent sequence numbers, which remote write does not have (see docs/limitations.md): %w",
			config.AcceptS3Manifest, ingest.ErrNotSupported)
	}
	dup, err := a.acc.Accept(ctx, segment.Record{Kind: manifest.KindAgent, AgentID: rec.AgentID, Seq: rec.Seq,
		ReceivedNs: rec.ReceivedNs, Body: rec.Data})
	if err != nil {
		return ingest.Result{}, fmt.Errorf("%w: %v", ingest.ErrUnavailable, err)
	}
	if dup {
		return ingest.Result{Duplicate: true}, nil
	}
	seq, sdup, err := a.spool.Append(ctx, spool.KindAgent, rec.AgentID, rec.Seq, rec.ReceivedNs, rec.Data)
	if err != nil {
		a.log.Warn("batch accepted in the manifest but not stored in the local spool; the manifest follower will import it",
			"agent_id", rec.AgentID, "seq", rec.Seq, "err", err)
		return ingest.Result{}, nil
	}
	if !sdup && a.offer != nil {
		a.offer(seq, rec.Batch)
	}
	return ingest.Result{SpoolSeq: seq}, nil
}

// Durable answers from the local spool, which in this mode only ever holds
// batches already in the manifest.
func (a *manifestAppender) Durable(_ context.Context, agentID string, seq uint64) (bool, error) {
	return a.spool.Durable(spool.KindAgent, agentID, seq)
}

// manifestFollowerOptions wires the follower into the local spool and the
// readers.
func manifestFollowerOptions(cfg *config.Server, sp *spool.Spool, nudge func(), log *slog.Logger, reg prometheus.Registerer) manifest.FollowerOptions {
	caps := segment.DefaultCaps()
	caps.MaxRecords = 1
	caps.MaxBodyBytes = int(cfg.Ingest.MaxBodyBytes)
	return manifest.FollowerOptions{
		Interval: cfg.ObjectStore.PollInterval(),
		Known: func(kind byte, agentID string, seq uint64) (bool, error) {
			return sp.Durable(spool.Kind(kind), agentID, seq)
		},
		Store: func(ctx context.Context, r segment.Record) error {
			_, dup, err := sp.Append(ctx, spool.Kind(r.Kind), r.AgentID, r.Seq, r.ReceivedNs, r.Body)
			if err == nil && !dup {
				nudge()
			}
			return err
		},
		MaxObjectBytes: cfg.Ingest.MaxBodyBytes + 64<<10,
		Caps:           caps,
		Logger:         log,
		Registerer:     reg,
	}
}
