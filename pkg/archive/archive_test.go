package archive

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/landing"
	"github.com/lightmetrics/lightmetrics/pkg/objcache"
	"github.com/lightmetrics/lightmetrics/pkg/objstore/memory"
	"github.com/lightmetrics/lightmetrics/pkg/spool"
	"github.com/lightmetrics/lightmetrics/pkg/tsstore"
)

func sampleBatch(seq uint64, t time.Time) *batch.Batch {
	return &batch.Batch{AgentID: "a", Seq: seq, CreatedNs: t.UnixNano(), Series: []batch.Series{{
		Name: "x", Kind: batch.KindGauge, Samples: []batch.Sample{{TimestampMs: t.UnixMilli(), Value: float64(seq)}}}}}
}

// count returns the samples of series x the querier returns, and the
// warnings.
func count(t *testing.T, q storage.Querier) (int, string) {
	t.Helper()
	ss := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "x"))
	n := 0
	for ss.Next() {
		it := ss.At().Iterator(nil)
		for it.Next() != 0 {
			n++
		}
	}
	if err := ss.Err(); err != nil {
		t.Fatal(err)
	}
	var w []string
	for _, e := range ss.Warnings() {
		w = append(w, e.Error())
	}
	return n, strings.Join(w, "; ")
}

func TestQueriesReachLandedSegments(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	old := now.Add(-10 * 24 * time.Hour).Truncate(time.Hour)
	enc, _ := codec.NewEncoder()
	defer enc.Close()
	sp, err := spool.Open(t.TempDir(), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	// Two hours of minutely batches ten days ago, received as they were made.
	for i := range 121 {
		at := old.Add(time.Duration(i) * time.Minute)
		body, err := enc.Encode(sampleBatch(uint64(i+1), at))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := sp.Append(ctx, spool.KindAgent, "a", uint64(i+1), at.UnixNano(), body); err != nil {
			t.Fatal(err)
		}
	}
	bucket := memory.New()
	ld, err := landing.New(bucket, sp, sp, landing.Options{Collector: "c1", MaxSegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ld.LandAll(ctx); err != nil {
		t.Fatal(err)
	}
	// The in-memory store holds only the last hour.
	primary := tsstore.New(tsstore.Options{})
	for i := range 10 {
		primary.Add(sampleBatch(uint64(1000+i), now.Add(-time.Duration(i)*time.Minute)))
	}
	cache, err := objcache.Open(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	dec, _ := codec.NewDecoder(codec.DefaultCaps())
	defer dec.Close()
	localFrom := now.Add(-time.Hour).UnixMilli()
	a := New(bucket, Options{Cache: cache, Decoder: dec, LocalFrom: func() int64 { return localFrom }})
	qa := a.Wrap(primary)

	q, err := qa.Querier(old.Add(-time.Hour).UnixMilli(), now.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	if n, w := count(t, q); n != 131 || w != "" {
		t.Fatalf("range over archive and memory: %d samples (warnings %q), want 121 + 10", n, w)
	}
	misses := cache.Stats().Misses
	if misses == 0 {
		t.Fatal("no segment was fetched")
	}
	q, _ = qa.Querier(old.UnixMilli(), now.UnixMilli())
	if n, _ := count(t, q); n != 131 || cache.Stats().Misses != misses || cache.Stats().Hits == 0 {
		t.Fatalf("second query: %d samples, cache %+v (want hits, no new fetches)", n, cache.Stats())
	}

	// A range inside the in-memory part never touches the archive.
	before := cache.Stats()
	q, _ = qa.Querier(now.Add(-30*time.Minute).UnixMilli(), now.UnixMilli())
	if n, _ := count(t, q); n != 10 || cache.Stats() != before {
		t.Fatalf("recent range: %d samples, cache %+v → %+v", n, before, cache.Stats())
	}

	// Past the cap: the local part answers, the archive part is a warning.
	small := New(bucket, Options{Cache: cache, Decoder: dec, LocalFrom: func() int64 { return localFrom }, MaxBytes: 5000})
	q, _ = small.Wrap(primary).Querier(old.UnixMilli(), now.UnixMilli())
	if n, w := count(t, q); n != 10 || !strings.Contains(w, "too much landed data") {
		t.Fatalf("over MaxBytes: %d samples, warnings %q", n, w)
	}
	// A window inside the first hour gets exactly its own samples.
	q, _ = qa.Querier(old.UnixMilli(), old.Add(30*time.Minute).UnixMilli())
	if n, _ := count(t, q); n != 31 {
		t.Fatalf("first half hour: %d samples, want 31", n)
	}
}
