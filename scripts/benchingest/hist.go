package main

import (
	"math/bits"
	"time"
)

// histogram records latencies in bounded memory: log2 major buckets of
// microseconds, each split into subBuckets linear steps, so any quantile is
// within 1/subBuckets (about 1.6%) of the true value however long the run.
// The exact maximum is kept apart.
type histogram struct {
	counts [64 * subBuckets]uint64
	n      uint64
	sumNs  int64
	maxNs  int64
}

const (
	subBits    = 6
	subBuckets = 1 << subBits
)

// bucketOf maps a latency in microseconds to its bucket index.
func bucketOf(us uint64) int {
	if us < subBuckets {
		return int(us)
	}
	// Keep the subBits bits below the top bit: the major bucket is how far
	// the top bit is above them.
	shift := bits.Len64(us) - 1 - subBits
	return (shift+1)<<subBits | int(us>>shift)&(subBuckets-1)
}

// bucketUpper is the largest microsecond value that maps to bucket i.
func bucketUpper(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	shift := i>>subBits - 1
	low := uint64(subBuckets|i&(subBuckets-1)) << shift
	return low + 1<<shift - 1
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d/time.Microsecond))]++
	h.n++
	h.sumNs += int64(d)
	h.maxNs = max(h.maxNs, int64(d))
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sumNs += o.sumNs
	h.maxNs = max(h.maxNs, o.maxNs)
}

// quantile returns the q-quantile (0 < q <= 1) as the upper edge of the
// bucket holding it, capped at the true maximum; 0 when nothing was
// recorded.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			d := time.Duration(bucketUpper(i)) * time.Microsecond
			return min(d, time.Duration(h.maxNs))
		}
	}
	return time.Duration(h.maxNs)
}

func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sumNs / int64(h.n))
}
