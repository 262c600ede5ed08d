package manifest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightmetrics/lightmetrics/pkg/objstore"
	"github.com/lightmetrics/lightmetrics/pkg/segment"
)

// StateStore keeps the follower's cursors: the spool's state, so the cursor
// never claims more than the spool holds.
type StateStore interface {
	LoadState(key string) ([]byte, error)
	SaveState(ctx context.Context, key string, value []byte) error
}

// CursorKey is where the follower keeps its cursors in the StateStore.
const CursorKey = "manifest-cursors"

// Margin is how far behind its cursor the follower lists each agent again.
// An agent sends its batches one at a time and only after the previous one
// was acknowledged (so in the manifest), which makes entries appear in
// sequence order; the margin only absorbs a batch whose slow first attempt
// lands after a retry elsewhere, which the create-only write already makes
// a duplicate. Entries inside the margin that the spool holds cost one
// local lookup, no GET.
const Margin = 8

// FollowerOptions configure a Follower.
type FollowerOptions struct {
	// Interval between polls (default 1 s).
	Interval time.Duration
	// Known reports whether the local spool already holds (kind, agent, seq).
	Known func(kind byte, agentID string, seq uint64) (bool, error)
	// Store makes a peer's record durable in the local spool.
	Store func(ctx context.Context, r segment.Record) error
	// MaxObjectBytes bounds one GET (the largest body ingest accepts plus
	// the entry's framing).
	MaxObjectBytes int64
	Caps           segment.Caps
	Logger         *slog.Logger
	Registerer     prometheus.Registerer
}

// Follower imports entries other collectors accepted.
type Follower struct {
	b       objstore.Bucket
	state   StateStore
	o       FollowerOptions
	log     *slog.Logger
	cursors map[string]uint64 // agent → highest seq imported or known

	imported, corrupt, failures prometheus.Counter
	lastPoll                    prometheus.Gauge
}

// NewFollower loads the cursors and returns a Follower.
func NewFollower(b objstore.Bucket, st StateStore, o FollowerOptions) (*Follower, error) {
	if o.Known == nil || o.Store == nil {
		return nil, errors.New("manifest: follower needs Known and Store")
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Caps.MaxRecords == 0 {
		o.Caps = segment.DefaultCaps()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	f := &Follower{b: b, state: st, o: o, log: o.Logger, cursors: map[string]uint64{},
		imported: prometheus.NewCounter(prometheus.CounterOpts{Name: "lightmetrics_manifest_imported_total",
			Help: "Batches accepted by peer collectors and imported into the local spool."}),
		corrupt: prometheus.NewCounter(prometheus.CounterOpts{Name: "lightmetrics_manifest_corrupt_total",
			Help: "Manifest entries skipped because they did not decode."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "lightmetrics_manifest_poll_failures_total",
			Help: "Manifest polls that stopped on an object-store or spool error."}),
		lastPoll: prometheus.NewGauge(prometheus.GaugeOpts{Name: "lightmetrics_manifest_last_poll_timestamp_seconds",
			Help: "When the manifest was last read completely."}),
	}
	o.Registerer.MustRegister(f.imported, f.corrupt, f.failures, f.lastPoll)
	v, err := st.LoadState(CursorKey)
	if err != nil {
		return nil, fmt.Errorf("manifest: read cursors: %w", err)
	}
	if len(v) > 0 {
		if err := json.Unmarshal(v, &f.cursors); err != nil {
			return nil, fmt.Errorf("manifest: cursors are unreadable: %w", err)
		}
	}
	return f, nil
}

// Run polls every Interval until ctx ends.
func (f *Follower) Run(ctx context.Context) {
	t := time.NewTicker(f.o.Interval)
	defer t.Stop()
	failing := false
	for {
		if _, err := f.Poll(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				f.log.Warn("reading the accepted manifest failed; peers' batches will appear once it works again", "err", err)
			}
			failing = true
		} else if failing {
			f.log.Info("reading the accepted manifest works again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Poll imports every entry not seen yet and returns how many it imported.
func (f *Follower) Poll(ctx context.Context) (int, error) {
	agents, err := f.b.Dirs(ctx, segment.ManifestDir+string(KindAgent)+"/")
	if err != nil {
		f.failures.Inc()
		return 0, fmt.Errorf("manifest: list agents: %w", err)
	}
	n, changed := 0, false
	var firstErr error
	for _, dir := range agents {
		got, moved, err := f.pollAgent(ctx, dir)
		n += got
		changed = changed || moved
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	if changed {
		v, _ := json.Marshal(f.cursors)
		if err := f.state.SaveState(ctx, CursorKey, v); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("manifest: save cursors: %w", err)
		}
	}
	if firstErr != nil {
		f.failures.Inc()
		return n, firstErr
	}
	f.lastPoll.SetToCurrentTime()
	return n, nil
}

// pollAgent imports one agent's new entries; moved reports a cursor change.
func (f *Follower) pollAgent(ctx context.Context, dir string) (n int, moved bool, err error) {
	agent := dir[len(segment.ManifestDir)+2 : len(dir)-1]
	cur := f.cursors[agent]
	after := ""
	if cur > Margin {
		after = segment.ManifestKey(KindAgent, agent, cur-Margin)
	}
	err = f.b.List(ctx, dir, after, func(info objstore.ObjectInfo) error {
		kind, a, seq, err := segment.ParseManifestKey(info.Key)
		if err != nil || kind != KindAgent || a != agent {
			return nil // not ours to read; never an entry we wrote
		}
		known, err := f.o.Known(kind, agent, seq)
		if err != nil {
			return fmt.Errorf("manifest: spool lookup %s/%d: %w", agent, seq, err)
		}
		if !known {
			ok, err := f.importEntry(ctx, info.Key, agent, seq)
			if err != nil {
				return err
			}
			if ok {
				n++
			}
		}
		if seq > f.cursors[agent] {
			f.cursors[agent] = seq
			moved = true
		}
		return nil
	})
	return n, moved, err
}

// importEntry stores one entry locally; false with no error means it was
// unreadable and skipped.
func (f *Follower) importEntry(ctx context.Context, key, agent string, seq uint64) (bool, error) {
	data, err := f.b.Get(ctx, key, f.o.MaxObjectBytes)
	if err != nil {
		return false, fmt.Errorf("manifest: read %s: %w", key, err)
	}
	seg, err := segment.Decode(data, f.o.Caps)
	if err == nil && (len(seg.Records) != 1 || seg.Records[0].AgentID != agent || seg.Records[0].Seq != seq) {
		err = fmt.Errorf("entry does not hold exactly batch %s/%d", agent, seq)
	}
	if err != nil {
		// Skipping is the only way forward; the entry stays in the bucket
		// for an operator to inspect.
		f.corrupt.Inc()
		f.log.Error("manifest entry does not decode; skipped", "key", key, "err", err)
		return false, nil
	}
	if err := f.o.Store(ctx, seg.Records[0]); err != nil {
		return false, fmt.Errorf("manifest: import %s: %w", key, err)
	}
	f.imported.Inc()
	return true, nil
}
