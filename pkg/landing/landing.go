// Package landing uploads the collector's accepted spool records to an
// object store in the background (acceptance = "local_spool").
//
// Records are cut into segments (pkg/segment) of at most MaxSegmentBytes.
// Before a segment is uploaded its spool range and key are written to the
// spool's state as "pending"; after the store confirms the upload (size and
// MD5 ETag checked with a HEAD), the landing cursor moves past it and the
// pending mark is cleared in one bbolt transaction. A crash between the two
// re-lands exactly the same range under exactly the same key, so the bucket
// never holds a record twice, however the process dies.
package landing

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/objstore"
	"github.com/lightmetrics/lightmetrics/pkg/segment"
)

// Source is the spool as the lander reads it.
type Source interface {
	// ScanRecords calls fn for every stored record from spool sequence from
	// on, in order; body is valid only during fn.
	ScanRecords(ctx context.Context, from uint64, fn func(spoolSeq uint64, kind byte, receivedNs int64, body []byte) error) error
	// LastSeq is the last spool sequence ever assigned.
	LastSeq() uint64
}

// StateStore keeps the landing cursor; the spool's state bucket, so the
// cursor and the records live and die with one file.
type StateStore interface {
	LoadState(key string) ([]byte, error)
	SaveState(ctx context.Context, key string, value []byte) error
}

// StateKey is where the lander keeps its cursor in the StateStore.
const StateKey = "landing"

// State is the persisted landing cursor.
type State struct {
	// Landed is the last spool sequence known to be in the bucket.
	Landed uint64 `json:"landed"`
	// Pending is the segment being uploaded, if any.
	Pending *Pending `json:"pending,omitempty"`
}

// Pending is a segment whose upload was started but not confirmed.
type Pending struct {
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
	Key   string `json:"key"`
}

// Options configure a Lander.
type Options struct {
	// Collector names this collector in keys; stable across restarts.
	Collector string
	// Interval is object_landing_interval_ms: how often the lander looks
	// for unlanded records. Retries after a failure back off up to it.
	Interval time.Duration
	// MaxSegmentBytes cuts segments (default 8 MiB); a single larger record
	// still gets a segment of its own.
	MaxSegmentBytes int
	Logger          *slog.Logger
	Registerer      prometheus.Registerer
	Now             func() time.Time
}

// DefaultMaxSegmentBytes keeps each upload a single PUT.
const DefaultMaxSegmentBytes = 8 << 20

// Lander uploads spool records to a bucket.
type Lander struct {
	b     objstore.Bucket
	src   Source
	state StateStore
	o     Options
	log   *slog.Logger
	m     *metrics

	mu sync.Mutex // one LandAll at a time
	// landed mirrors State.Landed for readers on other goroutines.
	landed atomic.Uint64
	// oldestNs is the receive time of the first unlanded record seen by the
	// last pass (0 when caught up): landing lag.
	oldestNs atomic.Int64
	nudge    chan struct{}
}

// New loads the landing cursor and returns a Lander.
func New(b objstore.Bucket, src Source, st StateStore, o Options) (*Lander, error) {
	if o.Collector == "" {
		return nil, errors.New("landing: collector id is required")
	}
	if o.Interval <= 0 {
		o.Interval = time.Minute
	}
	if o.MaxSegmentBytes <= 0 {
		o.MaxSegmentBytes = DefaultMaxSegmentBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	l := &Lander{b: b, src: src, state: st, o: o, log: o.Logger, nudge: make(chan struct{}, 1)}
	s, err := l.load()
	if err != nil {
		return nil, err
	}
	l.landed.Store(s.Landed)
	l.m = newMetrics(o.Registerer, l)
	return l, nil
}

func (l *Lander) load() (State, error) {
	var s State
	v, err := l.state.LoadState(StateKey)
	if err != nil {
		return s, fmt.Errorf("landing: read cursor: %w", err)
	}
	if len(v) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(v, &s); err != nil {
		return s, fmt.Errorf("landing: cursor %q is unreadable: %w", v, err)
	}
	return s, nil
}

func (l *Lander) save(ctx context.Context, s State) error {
	v, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := l.state.SaveState(ctx, StateKey, v); err != nil {
		return fmt.Errorf("landing: save cursor %d: %w", s.Landed, err)
	}
	return nil
}

// Landed is the last spool sequence in the bucket: retention must not remove
// records after it.
func (l *Lander) Landed() uint64 { return l.landed.Load() }

// Nudge asks for a landing pass before the interval is up (tests, shutdown).
func (l *Lander) Nudge() {
	select {
	case l.nudge <- struct{}{}:
	default:
	}
}

// Run lands every Interval until ctx ends; after a failure it retries with
// backoff capped at the interval, so a store that comes back is caught up
// within two intervals.
func (l *Lander) Run(ctx context.Context) {
	failures := 0
	t := time.NewTimer(l.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-l.nudge:
		}
		wait := l.o.Interval
		if _, err := l.LandAll(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			wait = backoff(failures, l.o.Interval)
			l.log.Warn("landing failed; batches stay in the spool and will be retried",
				"err", err, "retry_in", wait.Round(time.Millisecond), "failures", failures, "store", l.b.String())
		} else if failures > 0 {
			l.log.Info("landing caught up after failures", "failures", failures, "landed", l.Landed())
			failures = 0
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
	}
}

// backoff is 500 ms doubling per failure with ±20% jitter, never above max.
func backoff(failures int, max time.Duration) time.Duration {
	d := 500 * time.Millisecond << min(failures-1, 10)
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	return min(d, max)
}

// LandAll uploads every record stored now that is not landed yet, one
// segment at a time, and returns how many segments it landed.
func (l *Lander) LandAll(ctx context.Context) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.landAll(ctx)
	if err != nil {
		l.m.failures.Inc()
	}
	return n, err
}

func (l *Lander) landAll(ctx context.Context) (int, error) {
	s, err := l.load()
	if err != nil {
		return 0, err
	}
	n := 0
	defer func() {
		if n > 0 {
			l.writeIndex(ctx, s)
		}
	}()
	// A pass lands what was stored when it began: chasing records that
	// arrive meanwhile would cut a stream of tiny segments (each a PUT, a
	// HEAD and two fsynced cursor writes) instead of one full one per
	// interval.
	end := l.src.LastSeq()
	for {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		if s.Pending != nil {
			if err := l.finishPending(ctx, &s); err != nil {
				return n, err
			}
			n++
			continue
		}
		if s.Landed >= end {
			l.oldestNs.Store(0)
			return n, nil
		}
		seg, err := l.collect(ctx, s.Landed+1, end)
		if err != nil {
			return n, err
		}
		if len(seg.Records) == 0 {
			l.oldestNs.Store(0)
			return n, nil
		}
		first, last := seg.Records[0], seg.Records[len(seg.Records)-1]
		l.oldestNs.Store(first.ReceivedNs)
		s.Pending = &Pending{First: first.SpoolSeq, Last: last.SpoolSeq,
			Key: segment.BatchKey(l.o.Collector, first.ReceivedNs, first.SpoolSeq, last.SpoolSeq)}
		if err := l.save(ctx, s); err != nil {
			return n, err
		}
		if err := l.upload(ctx, &s, seg); err != nil {
			return n, err
		}
		n++
	}
}

// finishPending completes a segment whose upload was started before a
// crash or failure: if the object is there the PUT completed (S3 PUTs are
// atomic); otherwise the same range is read again and uploaded to the same
// key.
func (l *Lander) finishPending(ctx context.Context, s *State) error {
	p := s.Pending
	if _, err := l.b.Stat(ctx, p.Key); err == nil {
		return l.commit(ctx, s, 0, 0)
	} else if !errors.Is(err, objstore.ErrNotExist) {
		return fmt.Errorf("landing: check segment %s: %w", p.Key, err)
	}
	seg, err := l.collectRange(ctx, p.First, p.Last)
	if err != nil {
		return err
	}
	if len(seg.Records) == 0 || seg.Records[0].SpoolSeq != p.First || seg.Records[len(seg.Records)-1].SpoolSeq != p.Last {
		// Only retention can remove spool records, and it never passes the
		// landing cursor; anything else is damage worth stopping for.
		return fmt.Errorf("landing: pending segment %s: spool records %d..%d are no longer all there", p.Key, p.First, p.Last)
	}
	l.oldestNs.Store(seg.Records[0].ReceivedNs)
	return l.upload(ctx, s, seg)
}

// upload puts the pending segment, verifies it, and commits the cursor.
func (l *Lander) upload(ctx context.Context, s *State, seg *segment.Segment) error {
	p := s.Pending
	data := segment.Encode(make([]byte, 0, segment.EncodedSize(seg)), seg)
	start := l.o.Now()
	if _, err := l.b.Put(ctx, p.Key, data); err != nil {
		return fmt.Errorf("landing: upload segment %s (%d records, %d bytes): %w", p.Key, len(seg.Records), len(data), err)
	}
	info, err := l.b.Stat(ctx, p.Key)
	if err != nil {
		return fmt.Errorf("landing: verify segment %s: %w", p.Key, err)
	}
	if info.Size != int64(len(data)) {
		return fmt.Errorf("landing: verify segment %s: store holds %d bytes, uploaded %d", p.Key, info.Size, len(data))
	}
	if isMD5(info.ETag) && info.ETag != md5Hex(data) {
		return fmt.Errorf("landing: verify segment %s: ETag %s is not the MD5 of what was uploaded", p.Key, info.ETag)
	}
	l.m.uploadSeconds.Observe(l.o.Now().Sub(start).Seconds())
	return l.commit(ctx, s, len(seg.Records), len(data))
}

func (l *Lander) commit(ctx context.Context, s *State, records, bytes int) error {
	p := s.Pending
	next := State{Landed: p.Last}
	if err := l.save(ctx, next); err != nil {
		return err
	}
	*s = next
	l.landed.Store(p.Last)
	l.m.segments.Inc()
	l.m.records.Add(float64(records))
	l.m.bytes.Add(float64(bytes))
	l.log.Debug("landed segment", "key", p.Key, "first", p.First, "last", p.Last, "records", records, "bytes", bytes)
	return nil
}

func md5Hex(data []byte) string {
	sum := md5.Sum(data)
	return hex.EncodeToString(sum[:])
}

// isMD5 tells a plain single-PUT ETag (the MD5 of the bytes) from the other
// shapes stores use (multipart "-N" suffixes, encrypted objects).
func isMD5(etag string) bool {
	if len(etag) != 32 {
		return false
	}
	_, err := hex.DecodeString(etag)
	return err == nil
}

var errStop = errors.New("stop")

// collect reads records from spool sequence from through end until the
// segment would pass MaxSegmentBytes (a first record larger than that goes
// alone).
func (l *Lander) collect(ctx context.Context, from, end uint64) (*segment.Segment, error) {
	return l.read(ctx, from, func(seg *segment.Segment, size int, r *segment.Record) bool {
		return r.SpoolSeq <= end && (len(seg.Records) == 0 || size+segment.RecordSize(r) <= l.o.MaxSegmentBytes)
	})
}

// collectRange reads exactly spool records first..last.
func (l *Lander) collectRange(ctx context.Context, first, last uint64) (*segment.Segment, error) {
	return l.read(ctx, first, func(_ *segment.Segment, _ int, r *segment.Record) bool { return r.SpoolSeq <= last })
}

// read scans from spool sequence from while take accepts the next record.
func (l *Lander) read(ctx context.Context, from uint64, take func(seg *segment.Segment, size int, r *segment.Record) bool) (*segment.Segment, error) {
	seg := &segment.Segment{Collector: l.o.Collector}
	size := segment.EncodedSize(seg)
	err := l.src.ScanRecords(ctx, from, func(spoolSeq uint64, kind byte, recv int64, body []byte) error {
		r := segment.Record{Kind: kind, SpoolSeq: spoolSeq, ReceivedNs: recv, Body: body}
		if h, err := codec.PeekHeader(body); err == nil {
			r.AgentID, r.Seq = h.AgentID, h.Seq
		}
		if !take(seg, size, &r) {
			return errStop
		}
		r.Body = append([]byte(nil), body...) // body is only valid during the scan
		size += segment.RecordSize(&r)
		seg.Records = append(seg.Records, r)
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, fmt.Errorf("landing: read spool from %d: %w", from, err)
	}
	return seg, nil
}

// index is the small per-collector object that says how far landing got,
// for operators and for tools that read the bucket.
type index struct {
	Collector     string    `json:"collector"`
	LandedThrough uint64    `json:"landed_through"`
	Updated       time.Time `json:"updated"`
	KeyLayout     string    `json:"key_layout"`
}

func (l *Lander) writeIndex(ctx context.Context, s State) {
	v, _ := json.Marshal(index{Collector: l.o.Collector, LandedThrough: s.Landed, Updated: l.o.Now().UTC(),
		KeyLayout: segment.BatchesDir + "<yyyy>/<mm>/<dd>/<hh>/<collector>/<first>-<last>" + segment.Ext})
	if _, err := l.b.Put(ctx, segment.CollectorIndexKey(l.o.Collector), v); err != nil {
		// The index is informative; the segments are the data.
		l.log.Warn("landing: write collector index", "err", err)
	}
}
