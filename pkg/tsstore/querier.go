package tsstore

import (
	"context"
	"slices"
	"sort"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"
)

// checkContextEvery is how many series a loop handles between looks at the
// context.
const checkContextEvery = 256

// Querier returns a querier over the samples within [mint, maxt]
// (milliseconds, inclusive).
func (s *Store) Querier(mint, maxt int64) (storage.Querier, error) {
	return &querier{s: s, mint: mint, maxt: maxt}, nil
}

type querier struct {
	s          *Store
	mint, maxt int64
}

func (q *querier) Close() error { return nil }

// Select returns the series matching the matchers that have samples within
// the querier's range, or within hints' Start and End when given (the
// engine narrows each selector that way). Each series is a point-in-time
// copy: samples added later are not seen, so iteration needs no locks.
func (q *querier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	mint, maxt := q.mint, q.maxt
	limit := 0
	needData := true
	if hints != nil {
		if hints.Start != 0 || hints.End != 0 {
			mint, maxt = max(mint, hints.Start), min(maxt, hints.End)
		}
		limit = hints.Limit
		// "series" marks lookups that want labels only (the /series API).
		needData = hints.Func != "series"
	}
	found := q.s.selectSeries(ms)
	if sortSeries {
		slices.SortFunc(found, func(a, b *memSeries) int { return labels.Compare(a.lset, b.lset) })
	}
	out := make([]storage.Series, 0, len(found))
	for i, m := range found {
		if i%checkContextEvery == 0 {
			if err := ctx.Err(); err != nil {
				return storage.ErrSeriesSet(err)
			}
		}
		if !needData {
			if m.overlaps(mint, maxt) {
				out = append(out, &seriesSnapshot{lset: m.lset})
			}
		} else if snap := m.snapshot(mint, maxt); snap != nil {
			out = append(out, snap)
		}
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	return &seriesSet{series: out, i: -1}
}

// LabelValues returns the sorted values of label name among the series
// matching the matchers that have samples within the querier's range.
func (q *querier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	var vals []string
	if len(ms) == 0 {
		q.s.mu.RLock()
		for v, list := range q.s.postings[name] {
			if anyOverlaps(list, q.mint, q.maxt) {
				vals = append(vals, v)
			}
		}
		q.s.mu.RUnlock()
	} else {
		seen := make(map[string]struct{})
		for i, m := range q.s.selectSeries(ms) {
			if i%checkContextEvery == 0 {
				if err := ctx.Err(); err != nil {
					return nil, nil, err
				}
			}
			v := m.lset.Get(name)
			if _, ok := seen[v]; ok || v == "" || !m.overlaps(q.mint, q.maxt) {
				continue
			}
			seen[v] = struct{}{}
			vals = append(vals, v)
		}
	}
	slices.Sort(vals)
	vals, _ = hints.ApplyLimit(vals)
	return vals, nil, nil
}

// LabelNames returns the sorted label names of the series matching the
// matchers that have samples within the querier's range.
func (q *querier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	var names []string
	if len(ms) == 0 {
		q.s.mu.RLock()
		for n, vals := range q.s.postings {
			for _, list := range vals {
				if anyOverlaps(list, q.mint, q.maxt) {
					names = append(names, n)
					break
				}
			}
		}
		q.s.mu.RUnlock()
	} else {
		seen := make(map[string]struct{})
		for i, m := range q.s.selectSeries(ms) {
			if i%checkContextEvery == 0 {
				if err := ctx.Err(); err != nil {
					return nil, nil, err
				}
			}
			if !m.overlaps(q.mint, q.maxt) {
				continue
			}
			m.lset.Range(func(l labels.Label) {
				if _, ok := seen[l.Name]; !ok {
					seen[l.Name] = struct{}{}
					names = append(names, l.Name)
				}
			})
		}
	}
	slices.Sort(names)
	names, _ = hints.ApplyLimit(names)
	return names, nil, nil
}

// anyOverlaps reports whether a series of list has data in [mint, maxt].
// Active series come first in practice, so this usually looks at one.
func anyOverlaps(list []*memSeries, mint, maxt int64) bool {
	for _, m := range list {
		if m.overlaps(mint, maxt) {
			return true
		}
	}
	return false
}

// snapshot copies what a query over [mint, maxt] needs: the closed chunks
// overlapping it (shared: they are immutable), a copy of the head chunk's
// bytes, and the buffered out-of-order samples in range. It returns nil when
// the series has nothing in range.
func (ms *memSeries) snapshot(mint, maxt int64) *seriesSnapshot {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.removed || ms.head == nil {
		return nil
	}
	i := sort.Search(len(ms.chunks), func(k int) bool { return ms.chunks[k].maxT >= mint })
	j := sort.Search(len(ms.chunks), func(k int) bool { return ms.chunks[k].minT > maxt })
	withHead := ms.headMin <= maxt && ms.headMax >= mint
	oi := sort.Search(len(ms.ooo), func(k int) bool { return ms.ooo[k].t >= mint })
	oj := sort.Search(len(ms.ooo), func(k int) bool { return ms.ooo[k].t > maxt })
	if j <= i && !withHead && oj <= oi {
		return nil
	}
	snap := &seriesSnapshot{lset: ms.lset, mint: mint, maxt: maxt}
	n := max(j-i, 0)
	if withHead {
		n++
	}
	snap.chunks = make([]chunkMeta, 0, n)
	if j > i {
		snap.chunks = append(snap.chunks, ms.chunks[i:j]...)
	}
	if withHead {
		// The head is still being appended to: copy its bytes so the query
		// reads a stable chunk without holding the lock.
		b := ms.head.Bytes()
		c := chunkenc.NewXORChunk()
		c.Reset(append(make([]byte, 0, len(b)), b...))
		snap.chunks = append(snap.chunks, chunkMeta{minT: ms.headMin, maxT: ms.headMax, c: c})
	}
	if oj > oi {
		snap.ooo = slices.Clone(ms.ooo[oi:oj])
	}
	return snap
}

// seriesSnapshot is one selected series, implementing storage.Series.
type seriesSnapshot struct {
	lset       labels.Labels
	chunks     []chunkMeta // sorted, disjoint
	ooo        []sample    // sorted, timestamps not in chunks
	mint, maxt int64
}

func (s *seriesSnapshot) Labels() labels.Labels { return s.lset }

// Iterator returns the samples within the snapshot's range in time order,
// reusing it when it is one of ours.
func (s *seriesSnapshot) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	if len(s.ooo) > 0 {
		// Rare: merge the buffered samples in by materialising the series.
		li, ok := it.(*listIterator)
		if !ok {
			li = &listIterator{}
		}
		li.reset(s.merged())
		return li
	}
	ci, ok := it.(*chunksIterator)
	if !ok {
		ci = &chunksIterator{}
	}
	ci.reset(s.chunks, s.mint, s.maxt)
	return ci
}

// merged decodes the chunks within range and merges the out-of-order
// samples in.
func (s *seriesSnapshot) merged() []sample {
	out := make([]sample, 0, len(s.ooo)+len(s.chunks)*DefaultChunkSamples)
	var ci chunksIterator
	ci.reset(s.chunks, s.mint, s.maxt)
	oo := s.ooo
	for ci.Next() != chunkenc.ValNone {
		t, v := ci.At()
		for len(oo) > 0 && oo[0].t < t {
			out = append(out, oo[0])
			oo = oo[1:]
		}
		if len(oo) > 0 && oo[0].t == t {
			oo = oo[1:] // the chunk's value was written first
		}
		out = append(out, sample{t: t, v: v})
	}
	return append(out, oo...)
}

type seriesSet struct {
	series []storage.Series
	i      int
}

func (s *seriesSet) Next() bool {
	s.i++
	return s.i < len(s.series)
}

func (s *seriesSet) At() storage.Series                { return s.series[s.i] }
func (s *seriesSet) Err() error                        { return nil }
func (s *seriesSet) Warnings() annotations.Annotations { return nil }
