package queue

import (
	"context"
	"testing"
	"time"
)

// benchAppend measures 1 KiB appends with real fsyncs and reports the two
// figures that matter for a queue: throughput and the group-commit factor.
func benchAppend(b *testing.B, run func(q *Queue, payload []byte)) {
	q, _ := openTest(b, Options{})
	payload := make([]byte, 1024)
	for i := range payload {
		payload[i] = byte(i)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	before := q.Stats()
	b.ResetTimer()
	start := time.Now()
	run(q, payload)
	elapsed := time.Since(start)
	b.StopTimer()
	after := q.Stats()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
	if f := after.Fsyncs - before.Fsyncs; f > 0 {
		b.ReportMetric(float64(b.N)/float64(f), "entries/fsync")
	}
}

func BenchmarkAppendParallel(b *testing.B) {
	benchAppend(b, func(q *Queue, payload []byte) {
		// Many concurrent callers, as many agent connections on a collector.
		b.SetParallelism(32)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := q.Append(context.Background(), Entry{Data: payload}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkAppendSerial(b *testing.B) {
	benchAppend(b, func(q *Queue, payload []byte) {
		for range b.N {
			if _, err := q.Append(context.Background(), Entry{Data: payload}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
