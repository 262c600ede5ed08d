package tsstore

import (
	"sort"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// millis is a timestamp in milliseconds. It spells the parameter of the
// iterators' Seek so that go vet's stdmethods check, which expects any
// method named Seek to be io.Seeker's, leaves these chunkenc.Iterator
// methods alone; as an alias it is int64 to the compiler.
type millis = int64

// chunksIterator walks sorted, disjoint chunks in sequence, yielding only
// samples within [mint, maxt].
type chunksIterator struct {
	chunks     []chunkMeta
	mint, maxt int64

	idx     int               // chunk it reads, -1 before the first
	it      chunkenc.Iterator // reused across chunks and queries
	inChunk bool              // it is positioned in chunks[idx]
	valid   bool              // t, v hold the current sample
	done    bool
	err     error
	t       int64
	v       float64
}

var _ chunkenc.Iterator = (*chunksIterator)(nil)

func (c *chunksIterator) reset(chunks []chunkMeta, mint, maxt int64) {
	*c = chunksIterator{chunks: chunks, mint: mint, maxt: maxt, idx: -1, it: c.it}
}

func (c *chunksIterator) Next() chunkenc.ValueType {
	for !c.done {
		if c.inChunk {
			if c.it.Next() != chunkenc.ValNone {
				t, v := c.it.At()
				if t < c.mint {
					continue
				}
				return c.yield(t, v)
			}
			if err := c.it.Err(); err != nil {
				return c.fail(err)
			}
			c.inChunk = false
		}
		c.idx++
		if c.idx >= len(c.chunks) {
			return c.stop()
		}
		c.it = c.chunks[c.idx].c.Iterator(c.it)
		c.inChunk = true
	}
	return chunkenc.ValNone
}

func (c *chunksIterator) Seek(t millis) chunkenc.ValueType {
	if c.done {
		return chunkenc.ValNone
	}
	if c.valid && c.t >= t {
		return chunkenc.ValFloat
	}
	t = max(t, c.mint)
	// The first chunk, from the current one on, that reaches t.
	from := max(c.idx, 0)
	k := from + sort.Search(len(c.chunks)-from, func(i int) bool { return c.chunks[from+i].maxT >= t })
	if k >= len(c.chunks) {
		return c.stop()
	}
	if k != c.idx || !c.inChunk {
		c.idx = k
		c.it = c.chunks[k].c.Iterator(c.it)
		c.inChunk = true
	}
	if c.it.Seek(t) == chunkenc.ValNone {
		if err := c.it.Err(); err != nil {
			return c.fail(err)
		}
		c.inChunk = false
		return c.Next()
	}
	tt, v := c.it.At()
	return c.yield(tt, v)
}

func (c *chunksIterator) yield(t int64, v float64) chunkenc.ValueType {
	if t > c.maxt {
		return c.stop()
	}
	c.t, c.v, c.valid = t, v, true
	return chunkenc.ValFloat
}

func (c *chunksIterator) stop() chunkenc.ValueType {
	c.done, c.valid = true, false
	return chunkenc.ValNone
}

func (c *chunksIterator) fail(err error) chunkenc.ValueType {
	c.err = err
	return c.stop()
}

func (c *chunksIterator) At() (int64, float64) { return c.t, c.v }
func (c *chunksIterator) AtT() int64           { return c.t }
func (c *chunksIterator) AtST() int64          { return 0 }
func (c *chunksIterator) Err() error           { return c.err }

// The store holds floats only; the histogram accessors are never called
// after a ValFloat and return no histogram.
func (c *chunksIterator) AtHistogram(*histogram.Histogram) (int64, *histogram.Histogram) {
	return c.t, nil
}

func (c *chunksIterator) AtFloatHistogram(*histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	return c.t, nil
}

// listIterator walks a sorted slice of samples.
type listIterator struct {
	ss []sample
	i  int
}

var _ chunkenc.Iterator = (*listIterator)(nil)

func (l *listIterator) reset(ss []sample) { l.ss, l.i = ss, -1 }

func (l *listIterator) Next() chunkenc.ValueType {
	if l.i < len(l.ss) {
		l.i++
	}
	if l.i >= len(l.ss) {
		return chunkenc.ValNone
	}
	return chunkenc.ValFloat
}

func (l *listIterator) Seek(t millis) chunkenc.ValueType {
	if l.i >= len(l.ss) {
		return chunkenc.ValNone
	}
	from := max(l.i, 0)
	if l.i >= 0 && l.ss[l.i].t >= t {
		return chunkenc.ValFloat
	}
	l.i = from + sort.Search(len(l.ss)-from, func(k int) bool { return l.ss[from+k].t >= t })
	if l.i >= len(l.ss) {
		return chunkenc.ValNone
	}
	return chunkenc.ValFloat
}

func (l *listIterator) At() (int64, float64) {
	if l.i < 0 || l.i >= len(l.ss) {
		return 0, 0
	}
	return l.ss[l.i].t, l.ss[l.i].v
}

func (l *listIterator) AtT() int64  { t, _ := l.At(); return t }
func (l *listIterator) AtST() int64 { return 0 }
func (l *listIterator) Err() error  { return nil }

func (l *listIterator) AtHistogram(*histogram.Histogram) (int64, *histogram.Histogram) {
	return l.AtT(), nil
}

func (l *listIterator) AtFloatHistogram(*histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	return l.AtT(), nil
}
