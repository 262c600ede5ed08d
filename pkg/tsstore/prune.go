package tsstore

import (
	"container/heap"
	"math"
	"time"
)

// Prune drops the chunks whose newest sample is older than the retention at
// now, and the series left with no samples, then enforces MaxBytes. Retention
// works on whole chunks, so up to one chunk's span (ChunkSamples samples) of
// older data can remain per series. Call it periodically, e.g. every minute;
// it runs concurrently with Add and queries.
func (s *Store) Prune(now time.Time) {
	s.evictMu.Lock()
	defer s.evictMu.Unlock()
	cutoff := s.cutoff(now)
	var empty []*memSeries
	for _, ms := range s.snapshotAll() {
		var (
			d delta
			n int64
		)
		ms.mu.Lock()
		if cutoff != math.MinInt64 {
			n = ms.dropBefore(cutoff, &d)
		}
		isEmpty := ms.empty()
		ms.mu.Unlock()
		s.apply(d)
		if n > 0 {
			s.expired.Add(n)
		}
		if isEmpty {
			empty = append(empty, ms)
		}
	}
	s.removeSeries(empty)
	if s.opts.MaxBytes > 0 && s.bytes.Load() > s.opts.MaxBytes {
		s.evictLocked()
	}
}

// evictToSize is Add's way in to size eviction: when an eviction is already
// running, Add does not wait for it.
func (s *Store) evictToSize() {
	if !s.evictMu.TryLock() {
		return
	}
	defer s.evictMu.Unlock()
	s.evictLocked()
}

// evictLocked drops the oldest chunks across all series until the store is
// under 95% of MaxBytes, so that an Add just over the cap does not evict
// again at once. The caller holds evictMu.
func (s *Store) evictLocked() {
	target := s.opts.MaxBytes - s.opts.MaxBytes/20
	h := make(oldestHeap, 0, 1024)
	for _, ms := range s.snapshotAll() {
		ms.mu.Lock()
		t, ok := ms.oldest()
		ms.mu.Unlock()
		if ok {
			h = append(h, heapEntry{ms: ms, t: t})
		}
	}
	heap.Init(&h)

	var (
		empty []*memSeries
		freed int64 // overhead of emptied series, released by removeSeries
	)
	for h.Len() > 0 && s.bytes.Load()-freed > target {
		e := heap.Pop(&h).(heapEntry)
		ms := e.ms
		var d delta
		ms.mu.Lock()
		t, ok := ms.oldest()
		if !ok {
			ms.mu.Unlock()
			continue
		}
		if t > e.t {
			// An out-of-order merge rewrote the series since the heap was
			// built: queue it again at its true age.
			ms.mu.Unlock()
			heap.Push(&h, heapEntry{ms: ms, t: t})
			continue
		}
		n := ms.dropOldest(&d)
		next, more := ms.oldest()
		isEmpty := ms.empty()
		ms.mu.Unlock()
		s.apply(d)
		s.evicted.Add(n)
		switch {
		case more:
			heap.Push(&h, heapEntry{ms: ms, t: next})
		case isEmpty:
			empty = append(empty, ms)
			freed += ms.overheadBytes()
		}
	}
	s.removeSeries(empty)
}

type heapEntry struct {
	ms *memSeries
	t  int64
}

// oldestHeap orders series by the age of their oldest chunk.
type oldestHeap []heapEntry

func (h oldestHeap) Len() int           { return len(h) }
func (h oldestHeap) Less(i, j int) bool { return h[i].t < h[j].t }
func (h oldestHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *oldestHeap) Push(x any)        { *h = append(*h, x.(heapEntry)) }
func (h *oldestHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = heapEntry{}
	*h = old[:len(old)-1]
	return e
}
