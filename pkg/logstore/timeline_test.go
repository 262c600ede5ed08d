package logstore

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestTimelineMatchesSortedSlice drives the block list with random inserts
// (in order, out of order, duplicates) and oldest-first removals, and after
// every round compares a full walk each way, and masked walks, against a
// plain sorted slice.
func TestTimelineMatchesSortedSlice(t *testing.T) {
	tests := []struct {
		name     string
		n        int
		disorder int64 // how far back a key's time may jump
		remove   int   // removals per round
	}{
		{"in order", 5000, 0, 0},
		{"slightly late", 5000, 50, 3},
		{"random", 5000, 1 << 40, 5},
		{"all one time", 3000, -1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tt.n)))
			var tl timeline[int]
			var ref []entry[int]
			now := int64(1000)
			for i := 0; i < tt.n; i++ {
				k := key{t: now, seq: uint64(i), idx: uint32(rng.IntN(3))}
				switch {
				case tt.disorder < 0:
					k.t = 7
				case tt.disorder > 0:
					k.t = now - rng.Int64N(tt.disorder)
				}
				now++
				e := entry[int]{k: k, mask: 1 << rng.IntN(4), v: i}
				if !tl.insert(e) {
					t.Fatalf("insert %v refused", k)
				}
				ref = append(ref, e)
				if rng.IntN(10) == 0 { // the same key again: refused
					if tl.insert(entry[int]{k: k, v: -1}) {
						t.Fatalf("duplicate key %v inserted", k)
					}
				}
				if i%500 == 499 {
					slices.SortFunc(ref, func(a, b entry[int]) int { return a.k.cmp(b.k) })
					for r := 0; r < tt.remove && len(ref) > 0; r++ {
						tl.removeFirst()
						ref = ref[1:]
					}
					checkTimeline(t, &tl, ref)
				}
			}
		})
	}
}

func checkTimeline(t *testing.T, tl *timeline[int], ref []entry[int]) {
	t.Helper()
	sorted := slices.Clone(ref)
	slices.SortFunc(sorted, func(a, b entry[int]) int { return a.k.cmp(b.k) })
	if tl.len() != len(sorted) {
		t.Fatalf("len = %d, want %d", tl.len(), len(sorted))
	}
	lo := key{t: math.MinInt64}
	hi := key{t: math.MaxInt64, seq: math.MaxUint64, idx: math.MaxUint32}
	for _, need := range []uint64{0, 1, 2, 8} {
		var want []int
		for _, e := range sorted {
			if e.mask&need == need {
				want = append(want, e.v)
			}
		}
		for _, forward := range []bool{true, false} {
			var got []int
			w := walk{forward: forward, inclusive: true, pos: hi}
			if forward {
				w.pos = lo
			}
			// A small budget makes the walk resume from its key often.
			for tl.step(&w, lo, hi, need, 37, func(e *entry[int]) bool { got = append(got, e.v); return true }) {
			}
			if !forward {
				slices.Reverse(got)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("need %b forward %v: walked %d entries, want %d (first diff at %d)", need, forward, len(got), len(want), firstDiff(got, want))
			}
		}
	}
	if e, ok := tl.first(); ok && e.v != sorted[0].v {
		t.Fatalf("first = %d, want %d", e.v, sorted[0].v)
	}
}

func firstDiff(a, b []int) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestWalkBounds checks the inclusive range edges and that a walk stops at
// the range rather than running to the end.
func TestWalkBounds(t *testing.T) {
	var tl timeline[int]
	for i := 0; i < 3000; i++ {
		tl.insert(entry[int]{k: key{t: int64(i / 3), seq: uint64(i), idx: 1}, mask: 1, v: i})
	}
	tests := []struct {
		name    string
		lo, hi  int64
		forward bool
		want    int // entries visited
	}{
		{"forward middle", 100, 199, true, 300},
		{"backward middle", 100, 199, false, 300},
		{"single time", 500, 500, true, 3},
		{"nothing", 5000, 6000, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo := key{t: tt.lo}
			hi := key{t: tt.hi, seq: math.MaxUint64, idx: math.MaxUint32}
			w := walk{forward: tt.forward, inclusive: true, pos: hi}
			if tt.forward {
				w.pos = lo
			}
			n := 0
			for tl.step(&w, lo, hi, 0, 64, func(e *entry[int]) bool {
				if e.k.t < tt.lo || e.k.t > tt.hi {
					t.Fatalf("visited %v outside [%d, %d]", e.k, tt.lo, tt.hi)
				}
				n++
				return true
			}) {
			}
			if n != tt.want {
				t.Fatalf("visited %d, want %d", n, tt.want)
			}
		})
	}
}
