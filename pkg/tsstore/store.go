// Package tsstore is the collector's in-memory time-series store: a label
// index (postings) over series whose samples are kept in Gorilla/XOR
// compressed chunks, queryable by the Prometheus promql engine through
// storage.Queryable.
//
// The store is a cache, not a database: the spool is the durable source of
// truth, and the collector rebuilds the store at start by calling Add for
// every batch the spool holds, then for every batch it accepts once that
// batch is durable. Nothing here touches the disk.
//
// # Samples out of order and duplicates
//
// Each series keeps a list of closed XOR chunks plus one open head chunk,
// all sorted by time and never overlapping, so a query reads them in
// sequence. A sample newer than the newest one stored is appended to the
// head. An older sample (a remote-write sender catching up, or batches
// replayed in spool order that interleave) goes into a small per-series
// buffer sorted by time, which queries merge in; when the buffer holds
// ChunkSamples samples it is merged into the chunks it overlaps, which are
// re-encoded, so the chunks stay sorted and disjoint and the buffer stays
// small.
//
// A sample whose timestamp a series already holds is ignored: the first
// value written for a timestamp wins, whether the later one arrives in
// order or not. That makes replaying a batch twice harmless.
//
// # Limits
//
// Options.Retention drops whole chunks whose newest sample is older than
// the retention (Prune, and samples older than it are ignored by Add);
// Options.MaxBytes bounds the approximate memory, dropping the oldest
// chunks across all series first. A series with no samples left leaves
// the index.
package tsstore

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// DefaultChunkSamples is the number of samples a chunk holds before it is
// closed, as in Prometheus: large enough for XOR to compress well, small
// enough that retention and eviction work at a fine grain.
const DefaultChunkSamples = 120

// AgentLabel is the label naming the agent a series belongs to.
const AgentLabel = "agent"

// ErrNoMetricName is returned (wrapped) by Add when a series in the batch has
// no metric name; such series are skipped, the rest of the batch is stored.
var ErrNoMetricName = errors.New("series without a metric name")

// Options configure a Store.
type Options struct {
	// Retention is how long samples are kept. Zero keeps them until
	// MaxBytes forces them out.
	Retention time.Duration
	// MaxBytes is the approximate memory the store may use for series,
	// index and samples. When Add takes it over the cap, the oldest chunks
	// across all series are dropped until the store is back under 95% of
	// it. Zero means no cap.
	MaxBytes int64
	// ChunkSamples is how many samples a chunk holds; DefaultChunkSamples
	// when zero.
	ChunkSamples int
	// Now returns the current time; time.Now when nil. Add uses it to
	// ignore samples already past the retention.
	Now func() time.Time
}

// Stats describes what the store holds. Counters named "Ignored" and
// "Dropped" count since New.
type Stats struct {
	Series  int
	Samples int64
	// Bytes is the approximate memory held by series, index and chunks.
	Bytes  int64
	Chunks int64
	// OutOfOrder is the number of samples waiting in out-of-order buffers.
	OutOfOrder int64

	IgnoredDuplicates int64 // samples whose timestamp the series already had
	IgnoredTooOld     int64 // samples older than the retention when added
	IgnoredNoName     int64 // series skipped for having no metric name
	DroppedRetention  int64 // samples dropped by Prune for age
	DroppedMaxBytes   int64 // samples dropped to stay under MaxBytes
}

// Approximate per-object costs for Stats.Bytes. They are estimates of Go's
// memory use (struct sizes, map and slice overheads), good enough to keep a
// configured cap honest; BenchmarkBytesPerSample measures the real heap.
const (
	seriesOverheadBytes = 320 // memSeries, hash map entry, one label's postings
	postingBytes        = 16  // each further label's postings entry
	chunkOverheadBytes  = 80  // chunkMeta, XORChunk struct, slice header
	oooSampleBytes      = 16
)

// Store is an in-memory series store. All methods are safe for concurrent
// use; Add runs concurrently with queries.
type Store struct {
	opts Options
	seed maphash.Seed

	// mu guards the index: byHash, postings, all and nextRef. A series'
	// data is guarded by its own mutex; when both are needed the index lock
	// is taken first.
	mu       sync.RWMutex
	byHash   map[uint64][]*memSeries
	postings map[string]map[string][]*memSeries // each list sorted by ref
	all      []*memSeries                       // sorted by ref
	nextRef  uint64

	// evictMu lets one Prune or size eviction run at a time.
	evictMu sync.Mutex

	// adders recycles Add's scratch state.
	adders sync.Pool

	series, samples, bytes, chunks, ooo atomic.Int64

	dups, tooOld, noName, expired, evicted atomic.Int64
}

var _ storage.Queryable = (*Store)(nil)

// New returns an empty store.
func New(o Options) *Store {
	if o.ChunkSamples <= 0 {
		o.ChunkSamples = DefaultChunkSamples
	}
	// The chunk header counts samples in 16 bits.
	if o.ChunkSamples > math.MaxUint16 {
		o.ChunkSamples = math.MaxUint16
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Store{
		opts:     o,
		seed:     maphash.MakeSeed(),
		byHash:   make(map[uint64][]*memSeries),
		postings: make(map[string]map[string][]*memSeries),
	}
}

// Stats returns a snapshot of the store's size and counters.
func (s *Store) Stats() Stats {
	return Stats{
		Series:            int(s.series.Load()),
		Samples:           s.samples.Load(),
		Bytes:             s.bytes.Load(),
		Chunks:            s.chunks.Load(),
		OutOfOrder:        s.ooo.Load(),
		IgnoredDuplicates: s.dups.Load(),
		IgnoredTooOld:     s.tooOld.Load(),
		IgnoredNoName:     s.noName.Load(),
		DroppedRetention:  s.expired.Load(),
		DroppedMaxBytes:   s.evicted.Load(),
	}
}

// delta collects the changes one series operation makes to the counters, so
// that they are applied once, outside the series lock.
type delta struct {
	samples, bytes, chunks, ooo int64
}

func (s *Store) apply(d delta) {
	if d.samples != 0 {
		s.samples.Add(d.samples)
	}
	if d.bytes != 0 {
		s.bytes.Add(d.bytes)
	}
	if d.chunks != 0 {
		s.chunks.Add(d.chunks)
	}
	if d.ooo != 0 {
		s.ooo.Add(d.ooo)
	}
}

// cutoff is the oldest timestamp (ms) the retention keeps at now, or
// math.MinInt64 without a retention.
func (s *Store) cutoff(now time.Time) int64 {
	if s.opts.Retention <= 0 {
		return math.MinInt64
	}
	return now.Add(-s.opts.Retention).UnixMilli()
}

// Add stores the samples of a batch: each heartbeat value as the series
// {__name__=<name>, agent=<AgentID>} at the heartbeat's timestamp, and each
// series as {__name__=<name>, <its labels>, agent=<AgentID>}, keeping the
// series' own agent label when it has one (remote write sets it). It returns
// the number of samples stored; duplicates and samples older than the
// retention are not counted. A series without a metric name is skipped and
// reported with an error wrapping ErrNoMetricName after the rest is stored.
func (s *Store) Add(b *batch.Batch) (samples int, err error) {
	if b == nil {
		return 0, nil
	}
	a, _ := s.adders.Get().(*adder)
	if a == nil {
		a = &adder{scratch: make([]labels.Label, 0, 16)}
		a.h.SetSeed(s.seed)
	}
	*a = adder{s: s, cutoff: s.cutoff(s.opts.Now()), h: a.h, scratch: a.scratch[:0]}
	defer func() {
		// Drop references to the batch's strings before pooling.
		clear(a.scratch[:cap(a.scratch)])
		s.adders.Put(a)
	}()

	if hb := b.Heartbeat; hb != nil {
		for _, v := range hb.Values {
			if v.Name == "" {
				a.skipped++
				continue
			}
			// "__name__" sorts before "agent".
			a.scratch = append(a.scratch[:0], labels.Label{Name: labels.MetricName, Value: v.Name})
			if b.AgentID != "" {
				a.scratch = append(a.scratch, labels.Label{Name: AgentLabel, Value: b.AgentID})
			}
			a.one = [1]batch.Sample{{TimestampMs: hb.TimestampMs, Value: v.Value}}
			a.addSeries(a.one[:])
		}
	}
	for i := range b.Series {
		sr := &b.Series[i]
		if !a.seriesLabels(sr, b.AgentID) {
			a.skipped++
			continue
		}
		a.addSeries(sr.Samples)
	}

	s.apply(a.d)
	if a.dups > 0 {
		s.dups.Add(a.dups)
	}
	if a.tooOld > 0 {
		s.tooOld.Add(a.tooOld)
	}
	if s.opts.MaxBytes > 0 && s.bytes.Load() > s.opts.MaxBytes {
		s.evictToSize()
	}
	if a.skipped > 0 {
		s.noName.Add(int64(a.skipped))
		return int(a.d.samples), fmt.Errorf("tsstore: add batch %s/%d: %d %w skipped", b.AgentID, b.Seq, a.skipped, ErrNoMetricName)
	}
	return int(a.d.samples), nil
}

// adder holds the per-call scratch state of Add so that looking up an
// existing series allocates nothing.
type adder struct {
	s       *Store
	cutoff  int64
	h       maphash.Hash
	scratch []labels.Label
	one     [1]batch.Sample
	d       delta
	dups    int64
	tooOld  int64
	skipped int
}

// seriesLabels fills a.scratch with the sorted labels of sr and reports
// whether the series has a metric name. Empty names and values are dropped
// (an empty value means "no such label" in Prometheus); when a name repeats,
// the last one wins, and the Name field wins over a __name__ label.
func (a *adder) seriesLabels(sr *batch.Series, agentID string) bool {
	a.scratch = a.scratch[:0]
	hasAgent := false
	for _, l := range sr.Labels {
		if l.Name == "" || l.Value == "" {
			continue
		}
		if l.Name == AgentLabel {
			hasAgent = true
		}
		a.scratch = append(a.scratch, labels.Label{Name: l.Name, Value: l.Value})
	}
	if sr.Name != "" {
		a.scratch = append(a.scratch, labels.Label{Name: labels.MetricName, Value: sr.Name})
	}
	if !hasAgent && agentID != "" {
		a.scratch = append(a.scratch, labels.Label{Name: AgentLabel, Value: agentID})
	}
	// Insertion sort, stable: labels arrive sorted or nearly so.
	ls := a.scratch
	for i := 1; i < len(ls); i++ {
		for j := i; j > 0 && ls[j].Name < ls[j-1].Name; j-- {
			ls[j], ls[j-1] = ls[j-1], ls[j]
		}
	}
	// Keep the last of each run of equal names.
	out := ls[:0]
	for i := range ls {
		if i+1 < len(ls) && ls[i+1].Name == ls[i].Name {
			continue
		}
		out = append(out, ls[i])
	}
	a.scratch = out
	return len(out) > 0 && out[0].Name == labels.MetricName
}

func (a *adder) addSeries(samples []batch.Sample) {
	// Create no series for samples that would all be ignored.
	fresh := 0
	for _, smp := range samples {
		if smp.TimestampMs >= a.cutoff {
			fresh++
		}
	}
	a.tooOld += int64(len(samples) - fresh)
	if fresh == 0 {
		return
	}
	hash := hashLabels(&a.h, a.scratch)
	ms := a.s.getOrCreate(hash, a.scratch)
	for {
		ms.mu.Lock()
		if !ms.removed {
			break
		}
		// Prune took the series out of the index between the lookup and
		// the lock: store the samples in a fresh one.
		ms.mu.Unlock()
		ms = a.s.getOrCreate(hash, a.scratch)
	}
	n := a.s.opts.ChunkSamples
	for _, smp := range samples {
		if smp.TimestampMs < a.cutoff {
			continue
		}
		if !ms.add(smp.TimestampMs, smp.Value, n, &a.d) {
			a.dups++
		}
	}
	ms.mu.Unlock()
}

func hashLabels(h *maphash.Hash, ls []labels.Label) uint64 {
	h.Reset()
	for _, l := range ls {
		h.WriteString(l.Name)
		h.WriteByte(0xff)
		h.WriteString(l.Value)
		h.WriteByte(0xff)
	}
	return h.Sum64()
}

// equalLabels reports whether lset holds exactly ls (both sorted).
func equalLabels(lset labels.Labels, ls []labels.Label) bool {
	if lset.Len() != len(ls) {
		return false
	}
	i, eq := 0, true
	lset.Range(func(l labels.Label) {
		if eq && (l.Name != ls[i].Name || l.Value != ls[i].Value) {
			eq = false
		}
		i++
	})
	return eq
}

func (s *Store) lookup(hash uint64, ls []labels.Label) *memSeries {
	for _, ms := range s.byHash[hash] {
		if equalLabels(ms.lset, ls) {
			return ms
		}
	}
	return nil
}

// getOrCreate returns the series with labels ls, creating and indexing it
// when absent.
func (s *Store) getOrCreate(hash uint64, ls []labels.Label) *memSeries {
	s.mu.RLock()
	ms := s.lookup(hash, ls)
	s.mu.RUnlock()
	if ms != nil {
		return ms
	}

	lset := labels.New(ls...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if ms := s.lookup(hash, ls); ms != nil {
		return ms
	}
	s.nextRef++
	ms = &memSeries{ref: s.nextRef, lset: lset, hash: hash}
	s.byHash[hash] = append(s.byHash[hash], ms)
	s.all = append(s.all, ms)
	// Label names and values are taken from lset, so the index shares the
	// series' label memory instead of holding copies.
	lset.Range(func(l labels.Label) {
		vals := s.postings[l.Name]
		if vals == nil {
			vals = make(map[string][]*memSeries)
			s.postings[l.Name] = vals
		}
		vals[l.Value] = append(vals[l.Value], ms)
	})
	s.series.Add(1)
	s.bytes.Add(ms.overheadBytes())
	return ms
}

// removeSeries takes the candidates that are still empty out of the index.
// It holds the index lock, so no Add is between lookup and append for them
// except the ones that will see removed and retry.
func (s *Store) removeSeries(cands []*memSeries) {
	if len(cands) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var gone []*memSeries
	for _, ms := range cands {
		ms.mu.Lock()
		if !ms.removed && ms.empty() {
			ms.removed = true
			gone = append(gone, ms)
		}
		ms.mu.Unlock()
	}
	if len(gone) == 0 {
		return
	}
	// ms.removed is written only under both locks, so reading it here
	// under the index lock alone is safe.
	keep := func(list []*memSeries) []*memSeries {
		out := list[:0]
		for _, ms := range list {
			if !ms.removed {
				out = append(out, ms)
			}
		}
		clear(list[len(out):])
		return out
	}
	type pair struct{ name, value string }
	touched := make(map[pair]struct{})
	var freed int64
	for _, ms := range gone {
		if list := keep(s.byHash[ms.hash]); len(list) == 0 {
			delete(s.byHash, ms.hash)
		} else {
			s.byHash[ms.hash] = list
		}
		ms.lset.Range(func(l labels.Label) { touched[pair{l.Name, l.Value}] = struct{}{} })
		freed += ms.overheadBytes()
	}
	for p := range touched {
		vals := s.postings[p.name]
		if list := keep(vals[p.value]); len(list) == 0 {
			delete(vals, p.value)
			if len(vals) == 0 {
				delete(s.postings, p.name)
			}
		} else {
			vals[p.value] = list
		}
	}
	s.all = keep(s.all)
	s.series.Add(-int64(len(gone)))
	s.bytes.Add(-freed)
}

// snapshotAll returns every indexed series.
func (s *Store) snapshotAll() []*memSeries {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]*memSeries(nil), s.all...)
}
