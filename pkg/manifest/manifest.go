// Package manifest is the accepted manifest of acceptance = "s3_manifest":
// several collectors share one bucket and agree, through the object store
// alone, on which (agent, seq) batches were accepted.
//
// Accept writes one object per batch at segment.ManifestKey(kind, agent,
// seq), holding the batch itself, with a create-only PUT (If-None-Match: *).
// The store lets exactly one of any number of concurrent writers create it:
// that collector answers "accepted", every other one "duplicate". Nothing is
// acknowledged before the store has confirmed the object, so an ack means the
// batch is in the bucket.
//
// Follower makes every collector see what its peers accepted: it lists each
// agent's entries after a persisted per-agent cursor and hands new ones to
// the local spool (whose dedupe makes a second delivery harmless).
package manifest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightmetrics/lightmetrics/pkg/objstore"
	"github.com/lightmetrics/lightmetrics/pkg/segment"
)

// KindAgent is the spool kind of agent batches, the only kind the manifest
// holds: their sequence numbers grow per agent, which the follower's cursor
// relies on (remote-write records are keyed by content hash instead).
const KindAgent byte = 'a'

// Acceptor creates manifest entries.
type Acceptor struct {
	b         objstore.Bucket
	collector string
	seconds   *prometheus.HistogramVec
}

// NewAcceptor returns an Acceptor writing to b as collector.
func NewAcceptor(b objstore.Bucket, collector string, reg prometheus.Registerer) *Acceptor {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	a := &Acceptor{b: b, collector: collector,
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lightmetrics_manifest_accept_seconds",
			Help:    "Time to create one accepted-manifest entry in the object store, by outcome (accepted, duplicate, error).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"outcome"})}
	reg.MustRegister(a.seconds)
	return a
}

// Accept makes r the accepted entry for (r.Kind, r.AgentID, r.Seq) unless
// one exists: duplicate reports that another writer (or an earlier attempt)
// got there first. Any error means the batch may not be in the manifest and
// must not be acknowledged.
func (a *Acceptor) Accept(ctx context.Context, r segment.Record) (duplicate bool, err error) {
	start := time.Now()
	key := segment.ManifestKey(r.Kind, r.AgentID, r.Seq)
	seg := &segment.Segment{Collector: a.collector, Records: []segment.Record{r}}
	_, err = a.b.Create(ctx, key, segment.Encode(make([]byte, 0, segment.EncodedSize(seg)), seg))
	outcome := "accepted"
	switch {
	case errors.Is(err, objstore.ErrExists):
		outcome, duplicate, err = "duplicate", true, nil
	case err != nil:
		outcome, err = "error", fmt.Errorf("manifest: accept %s/%d: %w", r.AgentID, r.Seq, err)
	}
	a.seconds.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
	return duplicate, err
}
