package hostmetrics

import (
	"cmp"
	"context"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v3/cpu"
	"github.com/shirou/gopsutil/v3/host"
	"github.com/shirou/gopsutil/v3/load"
	"github.com/shirou/gopsutil/v3/process"
)

// cpuTime is the process's user+system CPU time so far. Benchmarks report
// CPU per cycle as well as wall time: the agent's budget is CPU, and much of
// the work is the kernel rendering /proc files, which ns/op alone hides
// behind scheduling noise.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs fn b.N times and reports cpu-ms/cycle next to ns/op and
// allocs/op.
func measure(b *testing.B, fn func()) {
	b.Helper()
	fn() // warm caches and per-pid state, as a running agent has them
	b.ReportAllocs()
	b.ResetTimer()
	before := cpuTime(b)
	for i := 0; i < b.N; i++ {
		fn()
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-before)/float64(time.Millisecond)/float64(b.N), "cpu-ms/cycle")
}

// spawnSleepers starts n idle processes so that the process walk sees a host
// with a few hundred processes; they are killed when the benchmark ends.
func spawnSleepers(b *testing.B, n int) {
	b.Helper()
	cmds := make([]*exec.Cmd, 0, n)
	b.Cleanup(func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	})
	for i := 0; i < n; i++ {
		c := exec.Command("sleep", "600")
		if err := c.Start(); err != nil {
			b.Fatalf("start sleeper: %v", err)
		}
		cmds = append(cmds, c)
	}
}

// BenchmarkCollect measures one full cycle on the real /proc.
func BenchmarkCollect(b *testing.B) {
	cases := []struct {
		name     string
		procs    ProcessOptions
		sleepers int
	}{
		{name: "top25", procs: ProcessOptions{Mode: ProcessModeTop}},
		{name: "off", procs: ProcessOptions{Mode: ProcessModeOff}},
		{name: "all", procs: ProcessOptions{Mode: ProcessModeAll}},
		{name: "top25+300procs", procs: ProcessOptions{Mode: ProcessModeTop}, sleepers: 300},
		{name: "all+300procs", procs: ProcessOptions{Mode: ProcessModeAll}, sleepers: 300},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			spawnSleepers(b, bc.sleepers)
			c, err := New(Options{Processes: bc.procs})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			var snap Snapshot
			measure(b, func() {
				if snap, err = c.Collect(ctx, time.Now()); err != nil {
					b.Fatal(err)
				}
			})
			b.ReportMetric(float64(len(snap.Heartbeat)), "heartbeat")
			b.ReportMetric(float64(len(snap.Series)), "series")
		})
	}
}

// BenchmarkSource measures each source alone, to see where a cycle's CPU
// goes.
func BenchmarkSource(b *testing.B) {
	c, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	for _, src := range c.sources {
		b.Run(src.name(), func(b *testing.B) {
			measure(b, func() {
				s := c.newSink(ctx, time.Now())
				if err := src.collect(ctx, s); err != nil && err != ErrNoData {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkProcessWalk compares the hand-written walk with the same data
// gathered through gopsutil's process API, for the choice made in
// processes.go. Both visit every process and report the top 25 by RSS.
func BenchmarkProcessWalk(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{0, 300} {
		name := "host"
		if n > 0 {
			name = "host+300procs"
		}
		b.Run(name, func(b *testing.B) {
			spawnSleepers(b, n)
			b.Run("raw", func(b *testing.B) {
				c, err := New(Options{Processes: ProcessOptions{SortBy: SortByRSS}})
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				p := c.sources[len(c.sources)-1]
				measure(b, func() {
					if err := p.collect(ctx, c.newSink(ctx, time.Now())); err != nil {
						b.Fatal(err)
					}
				})
			})
			b.Run("gopsutil", func(b *testing.B) {
				measure(b, func() { gopsutilWalk(ctx, b, 25) })
			})
		})
	}
}

// gopsutilWalk gathers with gopsutil what processSource gathers: state and
// threads of every process, and for the top n by RSS the name, user, CPU
// times, memory, fds and start time.
func gopsutilWalk(ctx context.Context, b *testing.B, n int) {
	procs, err := process.ProcessesWithContext(ctx)
	if err != nil {
		b.Fatal(err)
	}
	type ranked struct {
		p   *process.Process
		rss uint64
	}
	var all []ranked
	for _, p := range procs {
		if _, err := p.StatusWithContext(ctx); err != nil {
			continue
		}
		_, _ = p.NumThreadsWithContext(ctx)
		mi, err := p.MemoryInfoWithContext(ctx)
		if err != nil {
			continue
		}
		all = append(all, ranked{p, mi.RSS})
	}
	slices.SortFunc(all, func(a, b ranked) int { return cmp.Compare(b.rss, a.rss) })
	for i := 0; i < len(all) && i < n; i++ {
		p := all[i].p
		_, _ = p.NameWithContext(ctx)
		_, _ = p.UsernameWithContext(ctx)
		_, _ = p.TimesWithContext(ctx)
		_, _ = p.NumFDsWithContext(ctx)
		_, _ = p.CreateTimeWithContext(ctx)
	}
}

// BenchmarkStatAlternatives compares the hand-parsed /proc/stat and
// /proc/uptime (cpu.go, host.go) with the gopsutil calls giving the same
// values: aggregate and per-CPU times, boot time, uptime and the kernel
// counters.
func BenchmarkStatAlternatives(b *testing.B) {
	ctx := context.Background()
	b.Run("raw", func(b *testing.B) {
		c, err := New(Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		hs, cs := &hostSource{}, &cpuSource{}
		measure(b, func() {
			s := c.newSink(ctx, time.Now())
			if err := hs.collect(ctx, s); err != nil {
				b.Fatal(err)
			}
			if err := cs.collect(ctx, s); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("gopsutil", func(b *testing.B) {
		measure(b, func() {
			_, _ = cpu.TimesWithContext(ctx, false)
			_, _ = cpu.TimesWithContext(ctx, true)
			_, _ = host.BootTimeWithContext(ctx)
			_, _ = host.UptimeWithContext(ctx)
			_, _ = load.MiscWithContext(ctx)
		})
	})
}
