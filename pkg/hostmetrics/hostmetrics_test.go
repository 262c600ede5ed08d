package hostmetrics

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// These tests read the real /proc of the machine running them.

func TestCollectRealProc(t *testing.T) {
	c := newCollector(t, Options{})
	now := time.Now()
	snap := collect(t, c, now)
	for _, err := range snap.Errors {
		t.Errorf("source error on a healthy host: %v", err)
	}
	checkSnapshot(t, snap, now)

	hb := heartbeatMap(snap)
	positive := []string{"host_uptime_seconds", "host_memory_total_bytes", "host_memory_available_bytes",
		"host_cpu_count", "host_cpu_idle_seconds_total", "host_processes", "host_threads",
		"host_context_switches_total", "host_forks_total", "host_filefd_maximum"}
	for _, name := range positive {
		if v, ok := hb[name]; !ok || v <= 0 {
			t.Errorf("heartbeat %s = %v (present %v), want > 0", name, v, ok)
		}
	}
	if bt := hb["host_boot_time_seconds"]; bt <= 0 || bt >= float64(now.Unix()) {
		t.Errorf("boot time %v not in the past (now %d)", bt, now.Unix())
	}
	if hb["host_memory_available_bytes"] > hb["host_memory_total_bytes"] {
		t.Errorf("available memory %v > total %v", hb["host_memory_available_bytes"], hb["host_memory_total_bytes"])
	}
	if hb["host_threads"] < hb["host_processes"] {
		t.Errorf("threads %v < processes %v", hb["host_threads"], hb["host_processes"])
	}

	var cpuSeries int
	modes := map[string]bool{}
	for _, s := range snap.Series {
		if s.Name == "host_cpu_seconds_total" {
			cpuSeries++
			if s.Labels.Get("cpu") == "" || s.Labels.Get("mode") == "" {
				t.Errorf("cpu series labels %v, want cpu and mode", s.Labels)
			}
			modes[s.Labels.Get("mode")] = true
		}
	}
	if want := int(hb["host_cpu_count"]) * seriesModes; cpuSeries != want {
		t.Errorf("%d cpu series, want %d (cpus x modes)", cpuSeries, want)
	}
	if modes["guest"] || !modes["idle"] {
		t.Errorf("per-cpu modes %v: want idle, no guest", modes)
	}
	t.Logf("heartbeat %d values, %d series, took %v", len(snap.Heartbeat), len(snap.Series), snap.Took)
}

func TestCollectTwiceKeepsIdentities(t *testing.T) {
	c := newCollector(t, Options{Processes: ProcessOptions{Mode: ProcessModeOff}})
	first := collect(t, c, time.Now())
	second := collect(t, c, time.Now().Add(time.Second))
	// The host's interfaces, disks, filesystems and CPUs do not change
	// between two cycles a moment apart: same series, counters not lower.
	a, b := seriesMap(first), seriesMap(second)
	if len(a) != len(b) {
		t.Fatalf("series count changed %d -> %d", len(a), len(b))
	}
	kinds := map[string]batch.Kind{}
	for _, s := range first.Series {
		kinds[seriesKey(s.Name, s.Labels)] = s.Kind
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok {
			t.Errorf("series %s vanished", k)
		} else if kinds[k] == batch.KindCounter && w < v {
			t.Errorf("counter %s went down %v -> %v", k, v, w)
		}
	}
}

func TestProcessModesRealProc(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	tests := []struct {
		name      string
		opts      ProcessOptions
		maxPids   int // 0: no limit
		wantSelf  bool
		wantEmpty bool
	}{
		{name: "top5 cpu", opts: ProcessOptions{Mode: ProcessModeTop, TopN: 5, SortBy: SortByCPU}, maxPids: 5},
		{name: "top5 rss", opts: ProcessOptions{Mode: ProcessModeTop, TopN: 5, SortBy: SortByRSS}, maxPids: 5},
		{name: "top large rss", opts: ProcessOptions{Mode: ProcessModeTop, TopN: 100000, SortBy: SortByRSS}, wantSelf: true},
		{name: "all", opts: ProcessOptions{Mode: ProcessModeAll}, wantSelf: true},
		{name: "off", opts: ProcessOptions{Mode: ProcessModeOff}, wantEmpty: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCollector(t, Options{Processes: tt.opts})
			now := time.Now()
			snap := collect(t, c, now)
			checkSnapshot(t, snap, now)
			pids := processPids(snap)
			if tt.wantEmpty && len(pids) != 0 {
				t.Errorf("mode off emitted process series for %d pids", len(pids))
			}
			if !tt.wantEmpty && len(pids) == 0 {
				t.Errorf("no process series")
			}
			if tt.maxPids > 0 && len(pids) > tt.maxPids {
				t.Errorf("%d pids reported, want at most %d", len(pids), tt.maxPids)
			}
			if tt.wantSelf && !pids[self] {
				t.Errorf("own pid %s not among %d reported", self, len(pids))
			}
			// Process counts are part of the heartbeat in every mode.
			if heartbeatMap(snap)["host_processes"] <= 0 {
				t.Errorf("host_processes missing or zero")
			}
		})
	}
}

func TestOwnProcessValues(t *testing.T) {
	c := newCollector(t, Options{Processes: ProcessOptions{Mode: ProcessModeAll}})
	now := time.Now()
	snap := collect(t, c, now)
	self := strconv.Itoa(os.Getpid())
	got := map[string]float64{}
	for _, s := range snap.Series {
		if s.Labels.Get("pid") == self {
			got[s.Name] = s.Samples[0].Value
		}
	}
	if got["host_process_resident_memory_bytes"] < 1<<20 {
		t.Errorf("own RSS %v, want at least 1 MiB", got["host_process_resident_memory_bytes"])
	}
	if got["host_process_threads"] < 1 {
		t.Errorf("own threads %v", got["host_process_threads"])
	}
	if got["host_process_open_fds"] < 3 {
		t.Errorf("own open fds %v, want >= 3", got["host_process_open_fds"])
	}
	if st := got["host_process_start_time_seconds"]; st > float64(now.Unix())+1 || st < float64(now.Add(-24*time.Hour).Unix()) {
		t.Errorf("own start time %v, now %d", st, now.Unix())
	}
}

func TestDisabledSources(t *testing.T) {
	c := newCollector(t, Options{Disabled: []string{"processes", "filesystem"}})
	snap := collect(t, c, time.Now())
	for _, s := range snap.Heartbeat {
		if strings.HasPrefix(s.Name, "host_process") || strings.HasPrefix(s.Name, "host_disk_space_") {
			t.Errorf("disabled source emitted %s", s.Name)
		}
	}
	for _, s := range snap.Series {
		if strings.HasPrefix(s.Name, "host_process_") || strings.HasPrefix(s.Name, "host_filesystem_") {
			t.Errorf("disabled source emitted %s", s.Name)
		}
	}
}

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{name: "zero value", opts: Options{}},
		{name: "bad mode", opts: Options{Processes: ProcessOptions{Mode: "some"}}, wantErr: "mode"},
		{name: "bad sort", opts: Options{Processes: ProcessOptions{SortBy: "mem"}}, wantErr: "sort_by"},
		{name: "negative top", opts: Options{Processes: ProcessOptions{TopN: -1}}, wantErr: "top_n"},
		{name: "unknown source", opts: Options{Disabled: []string{"gpu"}}, wantErr: "gpu"},
		{name: "missing proc root", opts: Options{ProcRoot: "/nonexistent/proc"}, wantErr: "proc root"},
		{name: "proc root is a file", opts: Options{ProcRoot: "testdata/proc/uptime"}, wantErr: "not a directory"},
		{name: "negative statfs timeout", opts: Options{StatfsTimeout: -1}, wantErr: "statfs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.opts)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				p := c.opts.Processes
				if p.Mode != ProcessModeTop || p.SortBy != SortByCPU || p.TopN != DefaultTopN ||
					c.procRoot != "/proc" || c.opts.StatfsTimeout != DefaultStatfsTimeout {
					t.Errorf("defaults not applied: %+v", c.opts)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestSourcesListed(t *testing.T) {
	want := []string{"host", "load", "cpu", "memory", "disk", "filesystem", "network", "processes"}
	if got := Sources(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Sources() = %v, want %v", got, want)
	}
}

// fakeSource lets the orchestration be tested without /proc.
type fakeSource struct {
	n   string
	run func(ctx context.Context, s *sink) error
}

var descFake = scalarDesc("host_fake", batch.KindGauge, "", "", "")

func (f *fakeSource) name() string                               { return f.n }
func (f *fakeSource) describe() []*desc                          { return []*desc{descFake} }
func (f *fakeSource) collect(ctx context.Context, s *sink) error { return f.run(ctx, s) }

func collectorWith(t *testing.T, srcs ...source) *Collector {
	t.Helper()
	c := newCollector(t, Options{})
	c.sources = srcs
	return c
}

func TestSourceFailuresAreIsolated(t *testing.T) {
	boom := errors.New("boom")
	ok := func(_ context.Context, s *sink) error { s.scalar(descFake, 1); return nil }
	c := collectorWith(t,
		&fakeSource{n: "fails", run: func(context.Context, *sink) error { return boom }},
		&fakeSource{n: "panics", run: func(context.Context, *sink) error { var m map[string]int; m["x"]++; return nil }},
		&fakeSource{n: "empty", run: func(context.Context, *sink) error { return ErrNoData }},
		&fakeSource{n: "partial", run: func(_ context.Context, s *sink) error { s.scalar(descFake, 2); return boom }},
		&fakeSource{n: "ok", run: ok},
	)
	snap, err := c.Collect(context.Background(), time.Now())
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	var failed []string
	for _, e := range snap.Errors {
		var se *SourceError
		if !errors.As(e, &se) {
			t.Fatalf("error %v is not a *SourceError", e)
		}
		failed = append(failed, se.Source)
	}
	if got := strings.Join(failed, ","); got != "fails,panics,partial" {
		t.Errorf("failed sources %q, want fails,panics,partial (ErrNoData is not a failure)", got)
	}
	if !errors.Is(snap.Errors[0], boom) {
		t.Errorf("SourceError does not unwrap to the cause: %v", snap.Errors[0])
	}
	if len(snap.Heartbeat) != 2 {
		t.Errorf("heartbeat %v: want the partial source's value and the ok source's", snap.Heartbeat)
	}
}

func TestEverySourceFailing(t *testing.T) {
	boom := errors.New("boom")
	c := collectorWith(t,
		&fakeSource{n: "a", run: func(context.Context, *sink) error { return boom }},
		&fakeSource{n: "b", run: func(context.Context, *sink) error { return boom }},
	)
	snap, err := c.Collect(context.Background(), time.Now())
	if err == nil || !errors.Is(err, boom) {
		t.Fatalf("Collect error %v, want one wrapping every failure", err)
	}
	if len(snap.Errors) != 2 {
		t.Errorf("%d errors, want 2", len(snap.Errors))
	}
}

func TestCollectCancelled(t *testing.T) {
	t.Run("before start", func(t *testing.T) {
		c := newCollector(t, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		snap, err := c.Collect(ctx, time.Now())
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Collect error %v, want context.Canceled", err)
		}
		if len(snap.Heartbeat)+len(snap.Series) != 0 {
			t.Errorf("cancelled collect returned data")
		}
	})
	t.Run("during a source", func(t *testing.T) {
		ranAfter := false
		c := collectorWith(t,
			&fakeSource{n: "first", run: func(_ context.Context, s *sink) error { s.scalar(descFake, 1); return nil }},
			&fakeSource{n: "blocks", run: func(ctx context.Context, _ *sink) error { <-ctx.Done(); return ctx.Err() }},
			&fakeSource{n: "never", run: func(context.Context, *sink) error { ranAfter = true; return nil }},
		)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { time.Sleep(10 * time.Millisecond); cancel() }()
		snap, err := c.Collect(ctx, time.Now())
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Collect error %v, want context.Canceled", err)
		}
		if ranAfter {
			t.Errorf("a source ran after cancellation")
		}
		if len(snap.Heartbeat) != 1 {
			t.Errorf("partial snapshot lost what was gathered before cancellation: %v", snap.Heartbeat)
		}
	})
	t.Run("real sources", func(t *testing.T) {
		c := newCollector(t, Options{Processes: ProcessOptions{Mode: ProcessModeAll}})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		// Past the up-front check, each real source must notice ctx too.
		s := c.newSink(ctx, time.Now())
		for _, src := range c.sources {
			if src.name() != "processes" && src.name() != "filesystem" {
				continue
			}
			if err := src.collect(ctx, s); !errors.Is(err, context.Canceled) {
				t.Errorf("source %s with a cancelled ctx returned %v", src.name(), err)
			}
		}
	})
}

func TestCloseReleasesDescriptors(t *testing.T) {
	openFDs := func() int {
		t.Helper()
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(entries)
	}
	before := openFDs()
	c, err := New(Options{Processes: ProcessOptions{Mode: ProcessModeAll}})
	if err != nil {
		t.Fatal(err)
	}
	snap := collect(t, c, time.Now())
	procs := int(heartbeatMap(snap)["host_processes"])
	if during := openFDs(); during < before+procs/2 {
		t.Errorf("%d descriptors open while %d processes are tracked (before: %d): stat files not kept", during, procs, before)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if after := openFDs(); after > before {
		t.Errorf("%d descriptors open after Close, %d before", after, before)
	}
	if _, err := c.Collect(context.Background(), time.Now()); !errors.Is(err, ErrClosed) {
		t.Errorf("Collect after Close: %v, want ErrClosed", err)
	}
}

// TestKeptDescriptorsFollowProcesses checks that a process that exits has
// its kept stat descriptor closed, and that a new one is picked up.
func TestKeptDescriptorsFollowProcesses(t *testing.T) {
	c := newCollector(t, Options{Processes: ProcessOptions{Mode: ProcessModeOff}})
	collect(t, c, time.Now())
	ps := c.sources[len(c.sources)-1].(*processSource)

	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := int32(cmd.Process.Pid)
	collect(t, c, time.Now())
	st, ok := ps.prev[pid]
	if !ok || st.statFD < 0 {
		t.Fatalf("new process %d not tracked with a kept descriptor: %+v", pid, st)
	}
	kept := st.statFD
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	collect(t, c, time.Now())
	if _, ok := ps.prev[pid]; ok {
		t.Fatalf("exited process %d still tracked", pid)
	}
	// The descriptor number must be closed (or reused for something else,
	// which a still-open /proc/<pid>/stat would prevent).
	if target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(kept)); err == nil && target == "/proc/"+strconv.Itoa(int(pid))+"/stat" {
		t.Errorf("descriptor %d of the exited process still open", kept)
	}
	open := 0
	for _, st := range ps.prev {
		if st.statFD >= 0 {
			open++
		}
	}
	if open != ps.keptFDs {
		t.Errorf("keptFDs %d, but %d tracked processes hold one", ps.keptFDs, open)
	}
}

func TestKeptDescriptorCap(t *testing.T) {
	c := newCollector(t, Options{Processes: ProcessOptions{Mode: ProcessModeOff}})
	ps := c.sources[len(c.sources)-1].(*processSource)
	ps.maxStatFDs = 5
	for i := 0; i < 2; i++ {
		snap := collect(t, c, time.Now())
		if ps.keptFDs != 5 {
			t.Fatalf("cycle %d: %d descriptors kept, cap 5", i, ps.keptFDs)
		}
		// Processes beyond the cap are still read, with open/read/close.
		if n := int(heartbeatMap(snap)["host_processes"]); n != len(ps.prev) || n <= 5 {
			t.Fatalf("cycle %d: %d processes counted, %d tracked", i, n, len(ps.prev))
		}
	}
}
