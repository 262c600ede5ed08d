package logtail

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// BenchmarkPoll measures the agent's path: Poll 1000 lines, take the State,
// Commit. Lines are ~110 bytes with a mix of levels. Reported: lines/s,
// allocations and bytes allocated per line.
func BenchmarkPoll(b *testing.B) {
	for _, files := range []int{1, 16} {
		b.Run(fmt.Sprintf("files=%d", files), func(b *testing.B) {
			dir := b.TempDir()
			levels := []string{"INFO", "WARN", "ERROR", "DEBUG", "level=info"}
			var sb strings.Builder
			for i := range 20000 {
				fmt.Fprintf(&sb, "2024-05-01T12:00:%02d.%06dZ %s worker[%d]: request id=%08x path=/api/v1/items status=200 took=%dms\n",
					i%60, i, levels[i%len(levels)], i%8, i*7919, i%250)
			}
			for f := range files {
				writeFile(b, filepath.Join(dir, fmt.Sprintf("f%02d.log", f)), sb.String())
			}
			newTailer := func() *Tailer {
				tl, err := New([]Input{{Source: "bench", Paths: []string{filepath.Join(dir, "*.log")},
					Attrs: map[string]string{"env": "bench"}, FromStart: true}}, Options{Hostname: "bench-host"})
				if err != nil {
					b.Fatal(err)
				}
				return tl
			}
			ctx := context.Background()
			tl := newTailer()
			lines := 0
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			for b.Loop() {
				recs, cp, err := tl.Poll(ctx, 1000, testNow)
				if err != nil {
					b.Fatal(err)
				}
				if len(recs) == 0 { // all read: start over
					b.StopTimer()
					_ = tl.Close()
					tl = newTailer()
					b.StartTimer()
					continue
				}
				_ = cp.State()
				tl.Commit(cp)
				lines += len(recs)
			}
			runtime.ReadMemStats(&ms1)
			_ = tl.Close()
			b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(lines), "allocs/line")
			b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(lines), "B/line")
		})
	}
}
