package live

import (
	"fmt"
	"sync"
	"testing"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// BenchmarkPublish measures what Publish costs ingest for a batch of 100
// log records: with nobody listening, and with streams whose queues a
// goroutine each keeps empty.
func BenchmarkPublish(b *testing.B) {
	bt := &batch.Batch{AgentID: "a", Logs: make([]batch.LogRecord, 100)}
	for i := range bt.Logs {
		bt.Logs[i] = batch.LogRecord{TimeNs: int64(i), Source: "app", Message: fmt.Sprintf("request %d served in 12ms status=200 path=/api/v1/items", i),
			Attrs: batch.Labels{{Name: "path", Value: "/var/log/app.log"}}}
	}
	for _, clients := range []int{0, 1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			h := New(Options{BufferPerClient: 1 << 16, MaxClients: clients + 1})
			var wg sync.WaitGroup
			for range clients {
				c, _, err := h.subscribe(filter{}, false)
				if err != nil {
					b.Fatal(err)
				}
				wg.Go(func() {
					for {
						select {
						case <-c.ch:
						case <-h.ctx.Done():
							return
						}
					}
				})
			}
			b.ReportAllocs()
			seq := uint64(0)
			for b.Loop() {
				seq++
				h.Publish(seq, 0, bt)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(seq*101), "ns/event")
			h.Close()
			wg.Wait()
		})
	}
}
