package landing

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/objstore"
	"github.com/lightmetrics/lightmetrics/pkg/objstore/miniotest"
	"github.com/lightmetrics/lightmetrics/pkg/objstore/s3"
	"github.com/lightmetrics/lightmetrics/pkg/segment"
	"github.com/lightmetrics/lightmetrics/pkg/spool"
)

// BenchmarkLandAllMinIO times LandAll of a spool holding at least 64 MiB
// of agent-like batches (200 series x 10 samples each) to a real MinIO on
// 127.0.0.1, at the default segment size and at 1 MiB. The spool is filled
// once; every iteration lands all of it again under a fresh prefix from a
// reset cursor, and the objects are deleted afterwards with the timer
// stopped. MB/s is segment bytes (as listed in the bucket) per second of
// LandAll, upload and verification included. A measurement only: it
// asserts nothing about time.
//
//	go test -run '^$' -bench LandAllMinIO -benchtime 3x ./pkg/landing
func BenchmarkLandAllMinIO(b *testing.B) {
	srv := miniotest.Start(b)
	store, err := s3.New(srv.Config())
	if err != nil {
		b.Fatal(err)
	}
	sp, records := benchSpool(b, 64<<20)
	prefixes := 0
	for _, tc := range []struct {
		name   string
		maxSeg int
	}{
		{"segment=8MiB", 0},
		{"segment=1MiB", 1 << 20},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := b.Context()
			var segments int
			for b.Loop() {
				b.StopTimer()
				prefixes++
				bucket := objstore.Prefixed(store, "bench-"+strconv.Itoa(prefixes))
				if err := sp.SaveState(ctx, StateKey, []byte("{}")); err != nil {
					b.Fatal(err)
				}
				l, err := New(bucket, sp, sp, Options{Collector: "bench", Interval: time.Hour, MaxSegmentBytes: tc.maxSeg})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				n, err := l.LandAll(ctx)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				var bytes int64
				segments, bytes = benchClear(b, bucket)
				if segments != n || l.Landed() != sp.LastSeq() {
					b.Fatalf("LandAll: %d segments through spool seq %d; the bucket held %d, the spool ends at %d", n, l.Landed(), segments, sp.LastSeq())
				}
				b.SetBytes(bytes)
				b.StartTimer()
			}
			b.ReportMetric(float64(segments), "segments/op")
			b.ReportMetric(float64(records), "records/op")
		})
	}
}

// benchClear lists the landed segments under bucket, then deletes every
// object there; it returns the segments' count and total size.
func benchClear(b *testing.B, bucket objstore.Bucket) (int, int64) {
	b.Helper()
	ctx := b.Context()
	var keys []string
	n, size := 0, int64(0)
	err := bucket.List(ctx, "", "", func(info objstore.ObjectInfo) error {
		keys = append(keys, info.Key)
		if strings.HasPrefix(info.Key, segment.BatchesDir) && strings.HasSuffix(info.Key, segment.Ext) {
			n++
			size += info.Size
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, k := range keys {
		if err := bucket.Delete(ctx, k); err != nil {
			b.Fatal(err)
		}
	}
	return n, size
}

// benchSpool fills a spool with at least minBytes of encoded batches from
// 16 simulated agents appending at once (so the spool group-commits as under
// load) and returns it with its record count.
func benchSpool(b *testing.B, minBytes int64) (*spool.Spool, int) {
	b.Helper()
	sp, err := spool.Open(b.TempDir(), spool.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sp.Close() })
	enc, err := codec.NewEncoder()
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	var (
		total, records atomic.Int64
		wg             sync.WaitGroup
		errOnce        sync.Once
		firstErr       error
	)
	for a := range 16 {
		agent := fmt.Sprintf("bench-%02d", a)
		g := newBenchGen(agent, a, 200, 10)
		wg.Go(func() {
			for total.Load() < minBytes {
				now := time.Now().UnixNano()
				bt := g.next()
				body, err := enc.Encode(bt)
				if err == nil {
					_, _, err = sp.Append(context.Background(), spool.KindAgent, agent, bt.Seq, now, body)
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				total.Add(int64(len(body)))
				records.Add(1)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	return sp, int(records.Load())
}

// benchSeries is one simulated series: a counter grows by up to step per
// sample, a gauge wanders by up to ±step around its base; values are rounded
// to quantum as the real sources report them, so bodies compress like an
// agent's and not like random bits.
type benchSeries struct {
	name                       string
	counter                    bool
	labels                     batch.Labels
	value, base, step, quantum float64
}

// benchGen makes one agent's batches: per-CPU times, memory, network, and
// processes for the rest of the series (the shape scripts/benchingest sends).
type benchGen struct {
	rng    *rand.Rand
	series []benchSeries
	b      batch.Batch
	nextMs int64
}

func newBenchGen(agent string, idx, nSeries, nSamples int) *benchGen {
	g := &benchGen{rng: rand.New(rand.NewPCG(uint64(idx)+1, 7)), nextMs: 1_767_000_000_000}
	add := func(name string, counter bool, base, step, quantum float64, labels ...string) {
		if len(g.series) == nSeries {
			return
		}
		s := benchSeries{name: name, counter: counter, step: step, quantum: quantum}
		for i := 0; i+1 < len(labels); i += 2 {
			s.labels = append(s.labels, batch.Label{Name: labels[i], Value: labels[i+1]})
		}
		s.labels.Sort()
		s.value = math.Round(base*(0.5+g.rng.Float64())/quantum) * quantum
		s.base = s.value
		g.series = append(g.series, s)
	}
	for c := range 8 {
		for _, m := range []string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"} {
			add("host_cpu_seconds_total", true, 1e5, 0.02, 0.01, "cpu", strconv.Itoa(c), "mode", m)
		}
	}
	for _, k := range []string{"total", "available", "free", "used", "cached", "buffers"} {
		add("host_memory_"+k+"_bytes", false, 8<<30, 16<<20, 4096)
	}
	for _, dev := range []string{"eth0", "lo", "docker0", "wg0"} {
		for _, m := range []string{"bytes", "packets", "errors", "drops"} {
			add("host_netdev_"+m+"_total", true, 1e9, 64<<10, 1, "device", dev)
		}
	}
	names := []string{"systemd", "sshd", "postgres", "nginx", "dockerd", "java", "python3", "node"}
	for p := 0; len(g.series) < nSeries; p++ {
		labels := []string{"name", names[p%len(names)], "pid", strconv.Itoa(300 + p*37)}
		add("host_process_cpu_seconds_total", true, 1000, 0.05, 0.01, labels...)
		add("host_process_resident_memory_bytes", false, 200<<20, 1<<20, 4096, labels...)
		add("host_process_open_fds", false, 64, 2, 1, labels...)
	}
	g.b = batch.Batch{AgentID: agent, Series: make([]batch.Series, len(g.series))}
	for i, s := range g.series {
		kind := batch.KindGauge
		if s.counter {
			kind = batch.KindCounter
		}
		g.b.Series[i] = batch.Series{Name: s.name, Kind: kind, Labels: s.labels, Samples: make([]batch.Sample, nSamples)}
	}
	return g
}

// next returns the next batch (reused by the following call): the next
// samples, 10 s apart, of every series.
func (g *benchGen) next() *batch.Batch {
	g.b.Seq++
	g.b.CreatedNs = time.Now().UnixNano()
	for i := range g.series {
		s := &g.series[i]
		samples := g.b.Series[i].Samples
		for j := range samples {
			if s.counter {
				s.value += math.Round(g.rng.Float64()*s.step/s.quantum) * s.quantum
			} else {
				v := s.value + (g.rng.Float64()*2-1)*s.step
				v += (s.base - v) * 0.05
				s.value = max(0, math.Round(v/s.quantum)*s.quantum)
			}
			samples[j] = batch.Sample{TimestampMs: g.nextMs + int64(j)*10_000, Value: s.value}
		}
	}
	g.nextMs += int64(len(g.b.Series[0].Samples)) * 10_000
	return &g.b
}
