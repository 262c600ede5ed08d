package tsstore

import (
	"context"
	"math"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// series builds a batch.Series named name with labels given as name/value
// pairs and samples given as (ms, value) pairs.
func series(name string, lbls []string, ts ...float64) batch.Series {
	s := batch.Series{Name: name, Kind: batch.KindGauge}
	for i := 0; i+1 < len(lbls); i += 2 {
		s.Labels = append(s.Labels, batch.Label{Name: lbls[i], Value: lbls[i+1]})
	}
	for i := 0; i+1 < len(ts); i += 2 {
		s.Samples = append(s.Samples, batch.Sample{TimestampMs: int64(ts[i]), Value: ts[i+1]})
	}
	return s
}

func mustAdd(t *testing.T, s *Store, b *batch.Batch) int {
	t.Helper()
	n, err := s.Add(b)
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	return n
}

type point struct {
	T int64
	V float64
}

// query selects with matchers over [mint, maxt] and returns each series'
// labels (as a string) and samples.
func query(t *testing.T, s *Store, mint, maxt int64, ms ...*labels.Matcher) map[string][]point {
	t.Helper()
	q, err := s.Querier(mint, maxt)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	set := q.Select(context.Background(), true, nil, ms...)
	out := map[string][]point{}
	var it chunkenc.Iterator
	for set.Next() {
		sr := set.At()
		it = sr.Iterator(it)
		pts := []point{}
		for it.Next() == chunkenc.ValFloat {
			ts, v := it.At()
			pts = append(pts, point{ts, v})
		}
		if err := it.Err(); err != nil {
			t.Fatalf("iterate %s: %v", sr.Labels(), err)
		}
		out[sr.Labels().String()] = pts
	}
	if err := set.Err(); err != nil {
		t.Fatalf("select: %v", err)
	}
	return out
}

func selectLabels(t *testing.T, q storage.Querier, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) []string {
	t.Helper()
	set := q.Select(context.Background(), sortSeries, hints, ms...)
	var out []string
	for set.Next() {
		out = append(out, set.At().Labels().String())
	}
	if err := set.Err(); err != nil {
		t.Fatalf("select: %v", err)
	}
	return out
}

func m(typ labels.MatchType, name, value string) *labels.Matcher {
	return labels.MustNewMatcher(typ, name, value)
}

const (
	minT = math.MinInt64
	maxT = math.MaxInt64
)

// checkCounters recomputes the store's size from its series and compares it
// with the counters Stats reports, which are kept incrementally.
func checkCounters(t *testing.T, s *Store) {
	t.Helper()
	var samples, bytes, chunks, ooo int64
	all := s.snapshotAll()
	for _, ms := range all {
		ms.mu.Lock()
		bytes += ms.overheadBytes()
		for _, c := range ms.chunks {
			samples += int64(c.c.NumSamples())
			bytes += c.bytes()
			chunks++
		}
		if ms.head != nil {
			samples += int64(ms.head.NumSamples())
			bytes += int64(len(ms.head.Bytes())) + chunkOverheadBytes
			chunks++
		}
		samples += int64(len(ms.ooo))
		ooo += int64(len(ms.ooo))
		bytes += int64(len(ms.ooo)) * oooSampleBytes
		ms.mu.Unlock()
	}
	st := s.Stats()
	if st.Series != len(all) || st.Samples != samples || st.Bytes != bytes || st.Chunks != chunks || st.OutOfOrder != ooo {
		t.Fatalf("counters %+v; recounted series %d samples %d bytes %d chunks %d ooo %d",
			st, len(all), samples, bytes, chunks, ooo)
	}
}
