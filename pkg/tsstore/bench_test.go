package tsstore

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// valueProfiles are kinds of series a host agent sends, from the cheapest
// to store to the dearest.
var valueProfiles = []struct {
	name string
	next func(rng *rand.Rand, prev float64) float64
}{
	{"constant", func(*rand.Rand, float64) float64 { return 1 }},
	{"int_counter", func(rng *rand.Rand, prev float64) float64 { return prev + float64(rng.IntN(5000)) }},
	{"centi_counter", func(rng *rand.Rand, prev float64) float64 { // CPU seconds from /proc: 1/100 s steps
		return math.Round((prev+float64(rng.IntN(1000))/100)*100) / 100
	}},
	{"float_gauge", func(rng *rand.Rand, _ float64) float64 { return rng.Float64() * 100 }},
}

// loadHosts adds nSeries series of n samples every stepMs, batched as an
// agent sends them (one sample per series per batch), with values from
// next.
func loadHosts(b testing.TB, s *Store, nSeries, n int, stepMs int64, next func(*rand.Rand, float64) float64) {
	rng := rand.New(rand.NewPCG(1, 2))
	const cpus = 8
	agents := nSeries / cpus
	vals := make([]float64, nSeries)
	for i := range n {
		ts := int64(i) * stepMs
		for a := range agents {
			bt := &batch.Batch{AgentID: fmt.Sprintf("host-%03d", a), Seq: uint64(i)}
			for c := range cpus {
				k := a*cpus + c
				vals[k] = next(rng, vals[k])
				bt.Series = append(bt.Series, batch.Series{
					Name:    "x",
					Labels:  batch.Labels{{Name: "cpu", Value: fmt.Sprint(c)}, {Name: "mode", Value: "user"}},
					Samples: []batch.Sample{{TimestampMs: ts, Value: vals[k]}},
				})
			}
			if _, err := s.Add(bt); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkBytesPerSample loads 1,000 series × 24 h at 10 s (8.64 M
// samples) per value profile and reports chunk bytes per sample, the
// store's own estimate (Stats.Bytes) and the measured heap growth.
func BenchmarkBytesPerSample(b *testing.B) {
	for _, p := range valueProfiles {
		b.Run(p.name, func(b *testing.B) {
			for range b.N {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				s := New(Options{})
				loadHosts(b, s, 1000, 8640, 10_000, p.next)
				runtime.GC()
				runtime.ReadMemStats(&after)
				st := s.Stats()
				var chunkBytes int64
				for _, ms := range s.snapshotAll() {
					for _, c := range ms.chunks {
						chunkBytes += int64(len(c.c.Bytes()))
					}
					chunkBytes += int64(len(ms.head.Bytes()))
				}
				n := float64(st.Samples)
				b.ReportMetric(float64(chunkBytes)/n, "chunk-bytes/sample")
				b.ReportMetric(float64(st.Bytes)/n, "stats-bytes/sample")
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-bytes/sample")
				runtime.KeepAlive(s)
			}
		})
	}
}

// BenchmarkAdd measures ingest of prebuilt batches as an agent sends them:
// one batch per host per interval, 8 series of one sample each, 125 hosts.
func BenchmarkAdd(b *testing.B) {
	const hosts, cpus, rounds = 125, 8, 64
	batches := make([]*batch.Batch, 0, hosts*rounds)
	for i := range rounds {
		for a := range hosts {
			bt := &batch.Batch{AgentID: fmt.Sprintf("host-%03d", a), Seq: uint64(i)}
			for c := range cpus {
				bt.Series = append(bt.Series, batch.Series{
					Name:    "node_cpu_seconds_total",
					Labels:  batch.Labels{{Name: "cpu", Value: fmt.Sprint(c)}, {Name: "mode", Value: "user"}},
					Samples: []batch.Sample{{TimestampMs: int64(i) * 10_000, Value: float64(i * c)}},
				})
			}
			batches = append(batches, bt)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s := New(Options{})
		for _, bt := range batches {
			if _, err := s.Add(bt); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*hosts*rounds*cpus), "ns/sample")
}

// BenchmarkSelect measures Select plus a full iteration of 1,000 series ×
// 1 h of 10 s samples, the storage side of a range query.
func BenchmarkSelect(b *testing.B) {
	s := New(Options{})
	loadHosts(b, s, 1000, 360, 10_000, valueProfiles[2].next)
	mt := labels.MustNewMatcher(labels.MatchEqual, "__name__", "x")
	b.ResetTimer()
	var it chunkenc.Iterator
	for range b.N {
		q, _ := s.Querier(0, 3_600_000)
		set := q.Select(context.Background(), false, nil, mt)
		for set.Next() {
			it = set.At().Iterator(it)
			for it.Next() != chunkenc.ValNone {
			}
		}
	}
}
