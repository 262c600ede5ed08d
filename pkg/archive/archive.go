// Package archive answers the part of a query that is older than what the
// collector holds in memory from the segments landing wrote to the object
// store, read through the local cache (pkg/objcache).
//
// Segments are found by the hour their first record was received
// (segment.BatchKey), which for an agent that was not queueing is the hour
// of its samples; a window one hour wider on each side catches batches
// that straddle an hour. Batches an agent held back for longer than that
// are not found by time (docs/limitations.md).
package archive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/objcache"
	"github.com/lightmetrics/lightmetrics/pkg/objstore"
	"github.com/lightmetrics/lightmetrics/pkg/segment"
	"github.com/lightmetrics/lightmetrics/pkg/tsstore"
)

// Decoder turns a codec body into a batch.
type Decoder interface {
	Decode(data []byte) (*batch.Batch, error)
}

// Options configure an Archive.
type Options struct {
	Cache   *objcache.Cache
	Decoder Decoder
	// LocalFrom is the earliest sample time (ms) the in-memory store is
	// complete from; only the part of a query before it reads the archive.
	LocalFrom func() int64
	// MaxBytes caps the landed segment bytes one query may read (default
	// 256 MiB), bounding the memory and fetches one query can cause.
	MaxBytes int64
	// MaxObjectBytes bounds one segment read (default 64 MiB).
	MaxObjectBytes int64
	Logger         *slog.Logger
}

// Archive reads landed segments. It is safe for concurrent use.
type Archive struct {
	b objstore.Bucket
	o Options
}

// New returns an Archive over b.
func New(b objstore.Bucket, o Options) *Archive {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 256 << 20
	}
	if o.MaxObjectBytes <= 0 {
		o.MaxObjectBytes = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Archive{b: b, o: o}
}

// Wrap returns a Queryable that serves primary and, for the part of a query
// before LocalFrom, merges in landed data. Archive failures reach the
// client as warnings beside the local result, never as a failed query.
func (a *Archive) Wrap(primary storage.Queryable) storage.Queryable {
	return merged{primary: primary, a: a}
}

type merged struct {
	primary storage.Queryable
	a       *Archive
}

func (m merged) Querier(mint, maxt int64) (storage.Querier, error) {
	pq, err := m.primary.Querier(mint, maxt)
	if err != nil {
		return nil, err
	}
	from := m.a.o.LocalFrom()
	if mint >= from {
		return pq, nil
	}
	aq := &lazy{a: m.a, mint: mint, maxt: min(maxt, from-1)}
	return storage.NewMergeQuerier([]storage.Querier{pq}, []storage.Querier{aq}, storage.ChainedSeriesMerge), nil
}

// lazy loads the archive window on first use, so a query whose selectors
// never reach it (or that fails first) costs nothing.
type lazy struct {
	a          *Archive
	mint, maxt int64
	once       sync.Once
	q          storage.Querier
	err        error
}

func (l *lazy) load(ctx context.Context) (storage.Querier, error) {
	l.once.Do(func() {
		st, err := l.a.Load(ctx, l.mint, l.maxt)
		if err != nil {
			l.err = err
			return
		}
		l.q, l.err = st.Querier(l.mint, l.maxt)
	})
	return l.q, l.err
}

func (l *lazy) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	q, err := l.load(ctx)
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	return q.Select(ctx, sortSeries, hints, ms...)
}

func (l *lazy) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	q, err := l.load(ctx)
	if err != nil {
		return nil, nil, err
	}
	return q.LabelValues(ctx, name, hints, ms...)
}

func (l *lazy) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	q, err := l.load(ctx)
	if err != nil {
		return nil, nil, err
	}
	return q.LabelNames(ctx, hints, ms...)
}

func (l *lazy) Close() error {
	if l.q != nil {
		return l.q.Close()
	}
	return nil
}

// ErrTooMuch is returned (wrapped) when the archive part of a query holds
// more than MaxBytes of segments.
var ErrTooMuch = errors.New("archive: query range holds too much landed data")

// Load reads every landed segment of the hours around [mint, maxt] into a
// fresh in-memory store. Keys sort by hour, so one listing from the first
// hour to the last finds them however sparse the range is.
func (a *Archive) Load(ctx context.Context, mint, maxt int64) (*tsstore.Store, error) {
	first := time.UnixMilli(mint).UTC().Truncate(time.Hour).Add(-time.Hour)
	end := time.UnixMilli(maxt).UTC().Truncate(time.Hour).Add(2 * time.Hour)
	hourKey := func(h time.Time) string {
		return fmt.Sprintf("%s%04d/%02d/%02d/%02d", segment.BatchesDir, h.Year(), h.Month(), h.Day(), h.Hour())
	}
	stop := hourKey(end)
	var keys []string
	var total int64
	errEnd := errors.New("end")
	err := a.b.List(ctx, segment.BatchesDir, hourKey(first), func(info objstore.ObjectInfo) error {
		if info.Key >= stop {
			return errEnd
		}
		total += info.Size
		if total > a.o.MaxBytes {
			return fmt.Errorf("%w: more than %d MiB of segments between %s and %s; narrow the range",
				ErrTooMuch, a.o.MaxBytes>>20, first.Format(time.RFC3339), end.Format(time.RFC3339))
		}
		keys = append(keys, info.Key)
		return nil
	})
	if err != nil && !errors.Is(err, errEnd) {
		return nil, fmt.Errorf("archive: list landed segments: %w", err)
	}
	st := tsstore.New(tsstore.Options{})
	for _, key := range keys {
		if err := a.loadSegment(ctx, st, key); err != nil {
			return nil, err
		}
	}
	a.o.Logger.Debug("archive window loaded", "segments", len(keys), "bytes", total, "series", st.Stats().Series)
	return st, nil
}

func (a *Archive) loadSegment(ctx context.Context, st *tsstore.Store, key string) error {
	data, err := a.o.Cache.Get(ctx, key, func(ctx context.Context) ([]byte, error) {
		return a.b.Get(ctx, key, a.o.MaxObjectBytes)
	})
	if err != nil {
		return fmt.Errorf("archive: read %s: %w", key, err)
	}
	seg, err := segment.Decode(data, segment.DefaultCaps())
	if err != nil {
		return fmt.Errorf("archive: %s: %w", key, err)
	}
	for _, r := range seg.Records {
		b, err := a.o.Decoder.Decode(r.Body)
		if err != nil {
			a.o.Logger.Warn("archive: landed batch does not decode; skipped", "key", key, "spool_seq", r.SpoolSeq, "err", err)
			continue
		}
		st.Add(b) // errors name series without a metric name; the rest is stored
	}
	return nil
}
