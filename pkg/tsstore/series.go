package tsstore

import (
	"slices"
	"sort"
	"sync"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

type sample struct {
	t int64
	v float64
}

// chunkMeta is a closed chunk and its time bounds. A closed chunk is never
// written again, so queries share it without copying.
type chunkMeta struct {
	minT, maxT int64
	c          *chunkenc.XORChunk
}

func (c chunkMeta) bytes() int64 { return int64(len(c.c.Bytes())) + chunkOverheadBytes }

// memSeries is one series. Its labels, ref and hash never change; the rest
// is guarded by mu.
type memSeries struct {
	ref  uint64
	lset labels.Labels
	hash uint64

	mu sync.Mutex
	// removed is set, under both the index lock and mu, when the series
	// leaves the index; an Add that still holds the pointer retries.
	removed bool
	// chunks are the closed chunks, sorted by time and disjoint; all of
	// them are older than the head.
	chunks []chunkMeta
	// head is the open chunk (nil when the series holds no chunk at all),
	// app its appender, headMin and headMax its time bounds. headMax is the
	// newest timestamp of the series.
	head             *chunkenc.XORChunk
	app              chunkenc.Appender
	headMin, headMax int64
	// ooo holds samples that arrived older than headMax, sorted by time,
	// with timestamps found nowhere else in the series.
	ooo []sample
}

func (ms *memSeries) overheadBytes() int64 {
	return seriesOverheadBytes + int64(ms.lset.ByteSize()) + int64(ms.lset.Len()-1)*postingBytes
}

func (ms *memSeries) empty() bool {
	return ms.head == nil && len(ms.chunks) == 0 && len(ms.ooo) == 0
}

// bounds returns the oldest and newest timestamps held; ok is false for an
// empty series.
func (ms *memSeries) bounds() (minT, maxT int64, ok bool) {
	if ms.head == nil {
		return 0, 0, false
	}
	minT, maxT = ms.headMin, ms.headMax
	if len(ms.chunks) > 0 {
		minT = ms.chunks[0].minT
	}
	if len(ms.ooo) > 0 && ms.ooo[0].t < minT {
		minT = ms.ooo[0].t
	}
	return minT, maxT, true
}

// overlaps reports whether the series holds data within [mint, maxt], as
// far as chunk bounds tell.
func (ms *memSeries) overlaps(mint, maxt int64) bool {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	lo, hi, ok := ms.bounds()
	return ok && !ms.removed && lo <= maxt && hi >= mint
}

// add stores one sample and reports whether it was new. The caller holds mu.
func (ms *memSeries) add(t int64, v float64, chunkSamples int, d *delta) bool {
	if ms.head != nil && t <= ms.headMax {
		if t == ms.headMax {
			return false
		}
		return ms.addOutOfOrder(t, v, chunkSamples, d)
	}
	if ms.head == nil || ms.head.NumSamples() >= chunkSamples {
		ms.cutHead(t, d)
	}
	before := len(ms.head.Bytes())
	ms.app.Append(0, t, v)
	ms.headMax = t
	d.bytes += int64(len(ms.head.Bytes()) - before)
	d.samples++
	return true
}

// cutHead closes the head chunk, if any, and opens an empty one starting
// at t.
func (ms *memSeries) cutHead(t int64, d *delta) {
	if ms.head != nil {
		ms.head.Compact()
		ms.chunks = append(ms.chunks, chunkMeta{minT: ms.headMin, maxT: ms.headMax, c: ms.head})
	}
	c, app := newChunk()
	ms.head, ms.app, ms.headMin, ms.headMax = c, app, t, t
	d.chunks++
	d.bytes += int64(len(c.Bytes())) + chunkOverheadBytes
}

func newChunk() (*chunkenc.XORChunk, chunkenc.Appender) {
	c := chunkenc.NewXORChunk()
	// An empty XOR chunk's appender cannot fail: it reads nothing.
	app, _ := c.Appender()
	return c, app
}

func (ms *memSeries) addOutOfOrder(t int64, v float64, chunkSamples int, d *delta) bool {
	i, found := slices.BinarySearchFunc(ms.ooo, t, func(s sample, t int64) int { return cmpInt(s.t, t) })
	if found || ms.chunksHold(t) {
		return false
	}
	ms.ooo = slices.Insert(ms.ooo, i, sample{t: t, v: v})
	d.samples++
	d.ooo++
	d.bytes += oooSampleBytes
	if len(ms.ooo) >= chunkSamples {
		ms.mergeOutOfOrder(chunkSamples, d)
	}
	return true
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// chunksHold reports whether a chunk (closed or head) holds timestamp t.
func (ms *memSeries) chunksHold(t int64) bool {
	if ms.head != nil && t >= ms.headMin {
		return chunkHas(ms.head, t)
	}
	j := sort.Search(len(ms.chunks), func(k int) bool { return ms.chunks[k].maxT >= t })
	return j < len(ms.chunks) && ms.chunks[j].minT <= t && chunkHas(ms.chunks[j].c, t)
}

func chunkHas(c *chunkenc.XORChunk, t int64) bool {
	it := c.Iterator(nil)
	return it.Seek(t) != chunkenc.ValNone && it.AtT() == t
}

// mergeOutOfOrder folds the out-of-order buffer into the chunks it overlaps:
// those are decoded, merged with the buffer and re-encoded, so the chunk
// list stays sorted and disjoint. Only the overlapped span is rewritten.
func (ms *memSeries) mergeOutOfOrder(chunkSamples int, d *delta) {
	if len(ms.ooo) == 0 {
		return
	}
	all := ms.chunks
	if ms.head != nil {
		all = append(all[:len(all):len(all)], chunkMeta{minT: ms.headMin, maxT: ms.headMax, c: ms.head})
	}
	lo, hi := ms.ooo[0].t, ms.ooo[len(ms.ooo)-1].t
	// Chunks [i, j) overlap [lo, hi]; any chunk between two buffered
	// samples is in the span too, since the buffer's samples interleave it.
	i := sort.Search(len(all), func(k int) bool { return all[k].maxT >= lo })
	j := sort.Search(len(all), func(k int) bool { return all[k].minT > hi })

	merged := make([]sample, 0, (j-i)*chunkSamples+len(ms.ooo))
	oi := 0
	var it chunkenc.Iterator
	for _, cm := range all[i:j] {
		it = cm.c.Iterator(it)
		for it.Next() != chunkenc.ValNone {
			t, v := it.At()
			for oi < len(ms.ooo) && ms.ooo[oi].t < t {
				merged = append(merged, ms.ooo[oi])
				oi++
			}
			if oi < len(ms.ooo) && ms.ooo[oi].t == t {
				// Cannot happen (add checks), but the chunk's value is the
				// first written: keep it.
				oi++
				d.samples--
			}
			merged = append(merged, sample{t: t, v: v})
		}
		d.chunks--
		d.bytes -= cm.bytes()
	}
	merged = append(merged, ms.ooo[oi:]...)
	d.ooo -= int64(len(ms.ooo))
	d.bytes -= int64(len(ms.ooo)) * oooSampleBytes
	ms.ooo = nil

	fresh, lastApp := encodeChunks(merged, chunkSamples)
	for _, cm := range fresh {
		d.chunks++
		d.bytes += cm.bytes()
	}
	seq := make([]chunkMeta, 0, i+len(fresh)+len(all)-j)
	seq = append(seq, all[:i]...)
	seq = append(seq, fresh...)
	seq = append(seq, all[j:]...)

	// The last chunk of the sequence is the head: the old head, untouched,
	// when the span ended before it, else the last re-encoded chunk.
	ms.chunks = seq[:len(seq)-1]
	if j == len(all) {
		last := seq[len(seq)-1]
		ms.head, ms.app, ms.headMin, ms.headMax = last.c, lastApp, last.minT, last.maxT
	}
}

// encodeChunks encodes sorted samples into chunks of at most chunkSamples
// each, closing all but the last, and returns the last one's appender.
func encodeChunks(ss []sample, chunkSamples int) ([]chunkMeta, chunkenc.Appender) {
	var (
		out []chunkMeta
		app chunkenc.Appender
	)
	for len(ss) > 0 {
		n := min(len(ss), chunkSamples)
		var c *chunkenc.XORChunk
		c, app = newChunk()
		for _, s := range ss[:n] {
			app.Append(0, s.t, s.v)
		}
		out = append(out, chunkMeta{minT: ss[0].t, maxT: ss[n-1].t, c: c})
		ss = ss[n:]
		if len(ss) > 0 {
			c.Compact()
		}
	}
	return out, app
}

// dropBefore drops the chunks whose newest sample is older than cutoff and
// buffered samples older than cutoff, returning the samples dropped.
func (ms *memSeries) dropBefore(cutoff int64, d *delta) int64 {
	var dropped int64
	k := sort.Search(len(ms.chunks), func(i int) bool { return ms.chunks[i].maxT >= cutoff })
	for _, cm := range ms.chunks[:k] {
		dropped += int64(cm.c.NumSamples())
		d.chunks--
		d.bytes -= cm.bytes()
	}
	if k > 0 {
		// A fresh slice, so the dropped chunks are not kept alive by the
		// old backing array.
		ms.chunks = slices.Clone(ms.chunks[k:])
	}
	if ms.head != nil && ms.headMax < cutoff {
		dropped += ms.dropHead(d)
	}
	n := sort.Search(len(ms.ooo), func(i int) bool { return ms.ooo[i].t >= cutoff })
	dropped += ms.dropOOO(n, d)
	d.samples -= dropped
	return dropped
}

func (ms *memSeries) dropHead(d *delta) int64 {
	n := int64(ms.head.NumSamples())
	d.chunks--
	d.bytes -= int64(len(ms.head.Bytes())) + chunkOverheadBytes
	ms.head, ms.app = nil, nil
	return n
}

// dropOOO drops the n oldest buffered samples.
func (ms *memSeries) dropOOO(n int, d *delta) int64 {
	if n == 0 {
		return 0
	}
	d.ooo -= int64(n)
	d.bytes -= int64(n) * oooSampleBytes
	if n == len(ms.ooo) {
		ms.ooo = nil
	} else {
		ms.ooo = slices.Clone(ms.ooo[n:])
	}
	return int64(n)
}

// oldest returns the newest timestamp of the series' oldest chunk, the
// order in which size eviction drops chunks.
func (ms *memSeries) oldest() (int64, bool) {
	switch {
	case len(ms.chunks) > 0:
		return ms.chunks[0].maxT, true
	case ms.head != nil:
		return ms.headMax, true
	}
	return 0, false
}

// dropOldest drops the series' oldest chunk and the buffered samples no
// newer than it, returning the samples dropped.
func (ms *memSeries) dropOldest(d *delta) int64 {
	var dropped int64
	switch {
	case len(ms.chunks) > 0:
		cm := ms.chunks[0]
		dropped = int64(cm.c.NumSamples())
		d.chunks--
		d.bytes -= cm.bytes()
		ms.chunks = slices.Clone(ms.chunks[1:])
		n := sort.Search(len(ms.ooo), func(i int) bool { return ms.ooo[i].t > cm.maxT })
		dropped += ms.dropOOO(n, d)
	case ms.head != nil:
		dropped = ms.dropHead(d)
		dropped += ms.dropOOO(len(ms.ooo), d)
	}
	d.samples -= dropped
	return dropped
}
