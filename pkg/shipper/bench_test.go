package shipper

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/hostmetrics"
	"github.com/lightmetrics/lightmetrics/pkg/limits"
	"github.com/lightmetrics/lightmetrics/pkg/logtail"
	"github.com/lightmetrics/lightmetrics/pkg/queue"
)

// The benchmarks here measure what the agent daemon does once per interval,
// on the real /proc of the machine running them, with the default agent
// limits and the default process selection (top 25 by CPU). The agent's
// budget is CPU, so besides ns/op they report cpu-ms/cycle: the process's
// user+system time (every thread: the queue's committer, the GC) divided by
// the cycles run. scripts/bench-agent.sh measures the same in the running
// daemon, upload included, beside prometheus-node-exporter.
//
// Cycles here run back to back, with caches warm. The daemon runs one per
// interval, and after a second of idling the same cycle costs roughly twice
// the CPU (measured: collect 2.4 -> 3.5 ms, encode 0.4 -> 1.4 ms): use these
// figures to compare changes and to profile (-cpuprofile, -memprofile), and
// bench-agent.sh for the figure a host actually pays.

// benchLinesPerCycle is how many log lines are appended between two cycles:
// a quiet host's syslog, enough to keep the tailer's read path in the cycle.
const benchLinesPerCycle = 5

// cpuNow is the process's user+system CPU time so far.
func cpuNow(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchRig is a Shipper wired as the agent wires it, with a log file that
// grows by benchLinesPerCycle lines before every cycle.
type benchRig struct {
	ship   *Shipper
	tailer *logtail.Tailer
	log    *os.File
	lines  int
}

func newBenchRig(b *testing.B) *benchRig {
	b.Helper()
	dir := b.TempDir()
	hm, err := hostmetrics.New(hostmetrics.Options{Processes: hostmetrics.ProcessOptions{
		Mode: hostmetrics.ProcessModeTop, TopN: hostmetrics.DefaultTopN, SortBy: hostmetrics.SortByCPU,
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = hm.Close() })
	enc, err := codec.NewEncoder()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(enc.Close)

	path := filepath.Join(dir, "app.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = f.Close() })
	lim := limits.DefaultAgent()
	tl, err := logtail.New([]logtail.Input{{Source: "app", Paths: []string{path}, Attrs: map[string]string{"env": "bench"}}},
		logtail.Options{MaxLineBytes: lim.MaxLogMessageBytes, Hostname: "bench-host"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tl.Close() })

	s, err := New(Options{
		AgentID: "bench-agent", Hostname: "bench-host", AgentVersion: "bench",
		Limits: lim, Metrics: hm, Tailer: tl, Encoder: enc,
	})
	if err != nil {
		b.Fatal(err)
	}
	return &benchRig{ship: s, tailer: tl, log: f}
}

// appendLines writes the next few lines of a plausible service log.
func (r *benchRig) appendLines(b *testing.B) {
	b.Helper()
	levels := [...]string{"INFO", "WARN", "INFO", "ERROR", "DEBUG"}
	var buf []byte
	for range benchLinesPerCycle {
		r.lines++
		buf = fmt.Appendf(buf, "2026-05-01T12:00:00.%06dZ %s worker[%d]: request id=%08x path=/api/v1/items status=200 took=%dms\n",
			r.lines%1000000, levels[r.lines%len(levels)], r.lines%8, r.lines*7919, r.lines%250)
	}
	if _, err := r.log.Write(buf); err != nil {
		b.Fatalf("append log lines: %v", err)
	}
}

// cycleFigures accumulates what the cycles carried, for the custom metrics
// and for the checks that the benchmark measured what it claims to.
type cycleFigures struct {
	batches, series, samples, logs, procSeries int
}

func (c *cycleFigures) add(bb *batch.Batch) {
	c.batches++
	c.series += bb.SeriesCount()
	c.samples += bb.SampleCount()
	c.logs += len(bb.Logs)
	for _, s := range bb.Series {
		if s.Labels.Get("pid") != "" {
			c.procSeries++
		}
	}
}

// check fails the benchmark when the cycles skipped part of their work: log
// records other than exactly the lines appended, or no process series.
func (c *cycleFigures) check(b *testing.B, cycles int) {
	b.Helper()
	if want := cycles * benchLinesPerCycle; c.logs != want {
		b.Fatalf("cycles carried %d log records, want the %d appended", c.logs, want)
	}
	if c.procSeries == 0 {
		b.Fatal("no per-process series: the process walk was not measured")
	}
}

func (c *cycleFigures) report(b *testing.B, cycles int) {
	n := float64(cycles)
	b.ReportMetric(float64(c.series)/n, "series/cycle")
	b.ReportMetric(float64(c.samples)/n, "samples/cycle")
	b.ReportMetric(float64(c.batches)/n, "batches/cycle")
}

// BenchmarkCycle is one full collection cycle as the daemon runs it:
// collect host metrics (processes top 25), read the lines appended since the
// last cycle, encode, and append to a real queue that fsyncs every commit,
// the log offsets in the same transaction. Uploading is not included (it
// runs beside the cycle in the daemon; bench-agent.sh covers it).
func BenchmarkCycle(b *testing.B) {
	ctx := context.Background()
	r := newBenchRig(b)
	q, err := queue.Open(filepath.Join(b.TempDir(), "queue.db"), queue.Options{
		MaxRecords: 10000, MaxBytes: 256 << 20, OnFull: queue.DropOldest,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = q.Close() })

	// A first cycle opens the tailer's file at its end and fills the
	// process walk's per-pid state, as a running agent has them.
	if _, err := r.ship.Cycle(ctx, q); err != nil {
		b.Fatal(err)
	}
	before := q.Stats()
	b.ReportAllocs()
	cpu0 := cpuNow(b)
	for b.Loop() {
		r.appendLines(b)
		if _, err := r.ship.Cycle(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	cpu := cpuNow(b) - cpu0
	after := q.Stats()

	// Decode what the loop queued to count what it carried: the cycles
	// themselves keep no figures.
	cycles := b.N
	dec, err := codec.NewDecoder(codec.DefaultCaps())
	if err != nil {
		b.Fatal(err)
	}
	defer dec.Close()
	var fig cycleFigures
	err = q.Scan(ctx, before.LastSeq+1, func(_ uint64, data []byte) error {
		bb, err := dec.Decode(data)
		if err != nil {
			return err
		}
		fig.add(bb)
		return nil
	})
	if err != nil {
		b.Fatalf("read back queued batches: %v", err)
	}
	if got := int(after.LastSeq - before.LastSeq); got != fig.batches {
		b.Fatalf("%d batches appended but %d read back (queue cap reached?)", got, fig.batches)
	}
	fig.check(b, cycles)
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(cycles), "cpu-ms/cycle")
	b.ReportMetric(float64(after.Bytes-before.Bytes)/float64(cycles), "queued-B/cycle")
	b.ReportMetric(float64(after.Fsyncs-before.Fsyncs)/float64(cycles), "fsyncs/cycle")
	fig.report(b, cycles)
}

// BenchmarkBuild is the collection half of a cycle: host metrics and log
// lines gathered and split into batches, nothing encoded or queued. The
// difference to BenchmarkCycle is the encoder and the queue.
func BenchmarkBuild(b *testing.B) {
	ctx := context.Background()
	r := newBenchRig(b)
	warm, err := r.ship.Build(ctx, queue.Stats{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	r.tailer.Commit(warm.Checkpoint)

	var fig cycleFigures
	b.ReportAllocs()
	cpu0 := cpuNow(b)
	for b.Loop() {
		r.appendLines(b)
		bt, err := r.ship.Build(ctx, queue.Stats{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		// Commit as the queue append would, so the next Build reads only
		// the new lines.
		if bt.Checkpoint != nil {
			r.tailer.Commit(bt.Checkpoint)
		}
		for _, bb := range bt.Batches {
			fig.add(bb)
		}
	}
	cpu := cpuNow(b) - cpu0
	fig.check(b, b.N)
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/cycle")
	fig.report(b, b.N)
}
