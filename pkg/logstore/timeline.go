package logstore

import "sort"

// key orders records by time, then by where they sit in the spool, so that
// the order is total, a record's key never changes, and a cursor made of a
// key stays meaningful however many records arrive after it was handed out.
type key struct {
	t   int64  // record time, ns since the epoch
	seq uint64 // spool sequence of the batch that carried it
	idx uint32 // event index inside that batch (see EventID)
}

func (a key) cmp(b key) int {
	switch {
	case a.t < b.t:
		return -1
	case a.t > b.t:
		return 1
	case a.seq < b.seq:
		return -1
	case a.seq > b.seq:
		return 1
	case a.idx < b.idx:
		return -1
	case a.idx > b.idx:
		return 1
	}
	return 0
}

// entry is one stored record. mask has the record's agent bit in the low
// half and its source bit in the high half (see bitOf); blocks OR them so a
// filtered scan can step over a whole block that cannot hold a match.
type entry[T any] struct {
	k    key
	mask uint64
	v    T
}

// block is a run of entries in key order.
type block[T any] struct {
	ents []entry[T]
	mask uint64
}

// Blocks hold blockMax entries when filled by in-order appends; an
// out-of-order insert into a full block splits it in two. The sizes bound
// the memmove of an out-of-order insert to a few KiB while keeping the
// block index short (2,000 pointers per million records).
const (
	blockMax  = 256
	blockHalf = blockMax / 2
)

// timeline keeps entries sorted by key in a list of blocks: a one-level
// B+tree. Records mostly arrive in time order (agents send what they just
// read), so the common insert is an append to the last block; a late record
// (an agent flushing its backlog, two agents' clocks interleaving) costs a
// binary search and a move of at most one block. Removal is from the
// oldest end only, as eviction needs. It is not safe for concurrent use.
type timeline[T any] struct {
	blocks []*block[T]
	n      int
}

func (tl *timeline[T]) len() int { return tl.n }

// insert adds e unless an entry with its key is already held (a batch
// handed over twice) and reports whether it did.
func (tl *timeline[T]) insert(e entry[T]) bool {
	nb := len(tl.blocks)
	if nb == 0 {
		tl.blocks = append(tl.blocks, newBlock(e))
		tl.n++
		return true
	}
	last := tl.blocks[nb-1]
	if e.k.cmp(last.ents[len(last.ents)-1].k) > 0 {
		if len(last.ents) >= blockMax {
			tl.blocks = append(tl.blocks, newBlock(e))
		} else {
			last.ents = append(last.ents, e)
			last.mask |= e.mask
		}
		tl.n++
		return true
	}
	// The first block whose last key is >= e.k holds e's place.
	bi := sort.Search(nb, func(i int) bool {
		b := tl.blocks[i]
		return b.ents[len(b.ents)-1].k.cmp(e.k) >= 0
	})
	b := tl.blocks[bi]
	pos := sort.Search(len(b.ents), func(i int) bool { return b.ents[i].k.cmp(e.k) >= 0 })
	if b.ents[pos].k.cmp(e.k) == 0 {
		return false
	}
	b.ents = append(b.ents, entry[T]{})
	copy(b.ents[pos+1:], b.ents[pos:])
	b.ents[pos] = e
	b.mask |= e.mask
	tl.n++
	if len(b.ents) > blockMax {
		tl.split(bi)
	}
	return true
}

func newBlock[T any](e entry[T]) *block[T] {
	ents := make([]entry[T], 1, blockMax)
	ents[0] = e
	return &block[T]{ents: ents, mask: e.mask}
}

// split halves block bi; the halves get exact masks again.
func (tl *timeline[T]) split(bi int) {
	b := tl.blocks[bi]
	hi := &block[T]{ents: make([]entry[T], len(b.ents)-blockHalf, blockMax)}
	copy(hi.ents, b.ents[blockHalf:])
	lo := &block[T]{ents: make([]entry[T], blockHalf, blockMax)}
	copy(lo.ents, b.ents[:blockHalf])
	for _, x := range []*block[T]{lo, hi} {
		for i := range x.ents {
			x.mask |= x.ents[i].mask
		}
	}
	tl.blocks = append(tl.blocks, nil)
	copy(tl.blocks[bi+2:], tl.blocks[bi+1:])
	tl.blocks[bi], tl.blocks[bi+1] = lo, hi
}

// first returns the oldest entry.
func (tl *timeline[T]) first() (*entry[T], bool) {
	if tl.n == 0 {
		return nil, false
	}
	return &tl.blocks[0].ents[0], true
}

// removeFirst drops the oldest entry. The slot is zeroed so that the
// message it held can be collected before the block itself goes.
func (tl *timeline[T]) removeFirst() {
	if tl.n == 0 {
		return
	}
	b := tl.blocks[0]
	b.ents[0] = entry[T]{}
	b.ents = b.ents[1:]
	tl.n--
	if len(b.ents) == 0 {
		tl.blocks[0] = nil
		tl.blocks = tl.blocks[1:]
	}
}

// walk is a resumable scan position: the last key visited and whether it
// is itself still to be visited (true only before the first step).
type walk struct {
	pos       key
	inclusive bool
	forward   bool
}

// step visits, in w's direction, at most budget entries within [lo, hi]
// (a block skipped whole by its mask counts as one), calling fn on those
// whose mask holds every bit of need. It returns false once the range is
// exhausted or fn asked to stop. The position is kept as a key rather than
// an index so the caller may drop its lock between steps: inserts and
// evictions in between cannot make the scan skip or repeat an entry.
func (tl *timeline[T]) step(w *walk, lo, hi key, need uint64, budget int, fn func(*entry[T]) bool) bool {
	if w.forward {
		return tl.stepForward(w, hi, need, budget, fn)
	}
	return tl.stepBackward(w, lo, need, budget, fn)
}

func (tl *timeline[T]) stepForward(w *walk, hi key, need uint64, budget int, fn func(*entry[T]) bool) bool {
	nb := len(tl.blocks)
	// First entry with key > pos (>= when inclusive).
	after := func(k key) bool {
		c := k.cmp(w.pos)
		return c > 0 || (c == 0 && w.inclusive)
	}
	bi := sort.Search(nb, func(i int) bool {
		b := tl.blocks[i]
		return after(b.ents[len(b.ents)-1].k)
	})
	if bi == nb {
		return false
	}
	ei := sort.Search(len(tl.blocks[bi].ents), func(i int) bool { return after(tl.blocks[bi].ents[i].k) })
	for ; bi < nb; bi, ei = bi+1, 0 {
		b := tl.blocks[bi]
		if b.mask&need != need {
			lastK := b.ents[len(b.ents)-1].k
			if lastK.cmp(hi) > 0 {
				return false // the range ends inside a block without a match
			}
			w.pos, w.inclusive = lastK, false
			if budget--; budget <= 0 {
				return true
			}
			continue
		}
		for ; ei < len(b.ents); ei++ {
			e := &b.ents[ei]
			if e.k.cmp(hi) > 0 {
				return false
			}
			w.pos, w.inclusive = e.k, false
			if e.mask&need == need && !fn(e) {
				return false
			}
			if budget--; budget <= 0 {
				return true
			}
		}
	}
	return false
}

func (tl *timeline[T]) stepBackward(w *walk, lo key, need uint64, budget int, fn func(*entry[T]) bool) bool {
	// Last entry with key < pos (<= when inclusive).
	before := func(k key) bool {
		c := k.cmp(w.pos)
		return c < 0 || (c == 0 && w.inclusive)
	}
	bi := sort.Search(len(tl.blocks), func(i int) bool { return !before(tl.blocks[i].ents[0].k) }) - 1
	if bi < 0 {
		return false
	}
	ei := sort.Search(len(tl.blocks[bi].ents), func(i int) bool { return !before(tl.blocks[bi].ents[i].k) }) - 1
	for ; bi >= 0; bi-- {
		b := tl.blocks[bi]
		if ei < 0 {
			ei = len(b.ents) - 1
		}
		if b.mask&need != need {
			firstK := b.ents[0].k
			if firstK.cmp(lo) < 0 {
				return false
			}
			w.pos, w.inclusive = firstK, false
			ei = -1
			if budget--; budget <= 0 {
				return true
			}
			continue
		}
		for ; ei >= 0; ei-- {
			e := &b.ents[ei]
			if e.k.cmp(lo) < 0 {
				return false
			}
			w.pos, w.inclusive = e.k, false
			if e.mask&need == need && !fn(e) {
				return false
			}
			if budget--; budget <= 0 {
				return true
			}
		}
	}
	return false
}
