package logstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// benchBatches builds n records as batches of 100 from 100 agents with 5
// sources each, in time order except that every 50th batch arrives 10 minutes
// late (an agent flushing its backlog). One record in 1,000 contains
// "needle"; messages are ~100 bytes.
func benchBatches(n int) []*batch.Batch {
	const per = 100
	out := make([]*batch.Batch, 0, n/per)
	for i := 0; i < n; i += per {
		bn := i / per
		agent := fmt.Sprintf("host-%03d", bn%100)
		base := at(time.Duration(i) * 10 * time.Millisecond)
		if bn%50 == 49 {
			base = base.Add(-10 * time.Minute)
		}
		recs := make([]batch.LogRecord, per)
		for j := range recs {
			k := i + j
			msg := fmt.Sprintf("%s request id=%08x path=/api/v%d/items status=%d duration_ms=%d user=u%04d", agent, k, k%3, 200+k%5, k%997, k%9973)
			if k%1000 == 7 {
				msg += " needle timeout after 30000ms"
			}
			src := fmt.Sprint("app", j%5)
			recs[j] = rec(base.Add(time.Duration(j)*100*time.Microsecond), src, msg, "path", "/var/log/"+src+".log", "level", []string{"info", "warn", "error"}[k%3])
		}
		out = append(out, &batch.Batch{AgentID: agent, Seq: uint64(bn), Logs: recs})
	}
	return out
}

// BenchmarkQuery measures queries over a store of one million records; it
// also reports the heap the store takes per record.
func BenchmarkQuery(b *testing.B) {
	const n = 1_000_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := New(Options{MaxRecords: n, MaxBytes: 1 << 40})
	for i, bt := range benchBatches(n) {
		s.Add(uint64(i+1), 0, bt)
	}
	// What stays reachable is the store: its entries plus the messages and
	// the odd attribute set it keeps from the batches.
	runtime.GC()
	runtime.ReadMemStats(&after)
	heapPerRecord := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / n
	ctx := context.Background()
	mid := at(5000 * time.Second)
	cases := []struct {
		name string
		q    LogQuery
	}{
		{"newest_100", LogQuery{}},
		{"newest_5000", LogQuery{Limit: 5000}},
		{"agent_100", LogQuery{Agent: "host-042"}},
		{"agent_source_attr_100", LogQuery{Agent: "host-042", Source: "app3", Attr: map[string]string{"level": "error"}}},
		{"range_forward_100", LogQuery{Start: mid, End: mid.Add(time.Hour), Direction: Forward}},
		{"substring_rare_full", LogQuery{Contains: "needle"}},
		{"regexp_rare_full", LogQuery{Regexp: `timeout after \d+ms`}},
		{"regexp_rare_agent", LogQuery{Agent: "host-010", Regexp: `timeout after \d+ms`}},
		{"substring_absent_scan_1M", LogQuery{Contains: "no such text"}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var got int
			for b.Loop() {
				p, err := s.Query(ctx, c.q)
				if err != nil {
					b.Fatal(err)
				}
				got = len(p.Records)
			}
			b.ReportMetric(float64(got), "records")
			b.ReportMetric(heapPerRecord, "heapB/record")
		})
	}
}

// BenchmarkAdd measures indexing a batch of 100 records into a store held
// at its cap of 100,000 (so each Add also evicts 100): batches newer than
// everything held (the common case), and late batches whose records land at
// a random point among what is held (an agent flushing its backlog).
func BenchmarkAdd(b *testing.B) {
	for _, late := range []bool{false, true} {
		b.Run(fmt.Sprintf("late=%v", late), func(b *testing.B) {
			batches := benchBatches(100_000)
			s := New(Options{MaxRecords: 100_000, MaxBytes: 1 << 40})
			var seq uint64
			next := at(0).UnixNano()
			add := func(bt *batch.Batch, start int64) {
				for j := range bt.Logs {
					bt.Logs[j].TimeNs = start + int64(j)*int64(100*time.Microsecond)
				}
				seq++
				s.Add(seq, 0, bt)
			}
			for _, bt := range batches {
				add(bt, next)
				next += int64(10 * time.Millisecond)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				start := next
				if late {
					first := s.logs.blocks[0].ents[0].k.t
					start = first + rng.Int64N(next-first+1)
				}
				next += int64(10 * time.Millisecond)
				add(batches[i%len(batches)], start)
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i*100), "ns/record")
		})
	}
}
