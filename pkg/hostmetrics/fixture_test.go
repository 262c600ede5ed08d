package hostmetrics

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These tests run the collector on testdata/proc, a hand-made procfs tree,
// and check exact values. Filesystem sizes (statfs of the real "/") do not
// come from the tree and are only checked for presence.

const fixtureRoot = "testdata/proc"

func fixtureCollector(t *testing.T, p ProcessOptions) *Collector {
	t.Helper()
	c := newCollector(t, Options{ProcRoot: fixtureRoot, Processes: p})
	// The expected values assume the usual USER_HZ; pin it so that the test
	// does not depend on the build host.
	c.clkTck = 100
	return c
}

func approxEqual(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b))
}

func TestFixtureHeartbeat(t *testing.T) {
	c := fixtureCollector(t, ProcessOptions{Mode: ProcessModeAll})
	now := time.Unix(1700001000, 0)
	snap, err := c.Collect(t.Context(), now)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	checkSnapshot(t, snap, now)

	const kib = 1024
	page := float64(os.Getpagesize())
	want := map[string]float64{
		"host_boot_time_seconds":            1700000000,
		"host_uptime_seconds":               12345.67,
		"host_context_switches_total":       987654,
		"host_interrupts_total":             123456,
		"host_forks_total":                  4321,
		"host_filefd_allocated":             2048,
		"host_filefd_maximum":               100000,
		"host_entropy_available_bits":       256,
		"host_load1":                        0.5,
		"host_load5":                        0.25,
		"host_load15":                       0.1,
		"host_cpu_user_seconds_total":       10,
		"host_cpu_nice_seconds_total":       0.2,
		"host_cpu_system_seconds_total":     3,
		"host_cpu_idle_seconds_total":       400,
		"host_cpu_iowait_seconds_total":     0.5,
		"host_cpu_irq_seconds_total":        0.06,
		"host_cpu_softirq_seconds_total":    0.07,
		"host_cpu_steal_seconds_total":      0.08,
		"host_cpu_guest_seconds_total":      0.09,
		"host_cpu_guest_nice_seconds_total": 0.1,
		"host_cpu_count":                    2,
		"host_memory_total_bytes":           8000000 * kib,
		"host_memory_available_bytes":       5000000 * kib,
		"host_memory_free_bytes":            1000000 * kib,
		"host_memory_buffers_bytes":         200000 * kib,
		"host_memory_cached_bytes":          (3000000 + 100000) * kib, // Cached + SReclaimable
		"host_memory_used_bytes":            (8000000 - 1000000 - 200000 - 3100000) * kib,
		"host_swap_total_bytes":             1000000 * kib,
		"host_swap_used_bytes":              100000 * kib,
		"host_swap_in_bytes_total":          10 * page,
		"host_swap_out_bytes_total":         20 * page,
		// sda and nvme0n1 only: partitions, loop, ram skipped; dm-0 stacked.
		"host_disk_reads_completed_total":  100 + 300,
		"host_disk_writes_completed_total": 200 + 400,
		"host_disk_read_bytes_total":       (2000 + 6000) * 512,
		"host_disk_written_bytes_total":    (4000 + 8000) * 512,
		"host_disk_io_time_seconds_total":  (1500 + 2500) / 1000.0,
		// eth0 + eth1, not lo.
		"host_network_receive_bytes_total":    1500000,
		"host_network_transmit_bytes_total":   500000,
		"host_network_receive_packets_total":  3000,
		"host_network_transmit_packets_total": 2300,
		"host_network_receive_errors_total":   4,
		"host_network_transmit_errors_total":  5,
		"host_network_receive_drops_total":    6,
		"host_network_transmit_drops_total":   7,
		// pids 1 (S), 42 (R, 7 threads), 77 (Z), 300 (D); 1000 is malformed.
		"host_processes":          4,
		"host_processes_running":  1,
		"host_processes_sleeping": 1,
		"host_processes_blocked":  1,
		"host_processes_zombie":   1,
		"host_processes_stopped":  0,
		"host_threads":            10,
	}
	got := heartbeatMap(snap)
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s missing", name)
		} else if !approxEqual(g, w) {
			t.Errorf("%s = %v, want %v", name, g, w)
		}
	}
	for _, name := range []string{"host_disk_space_size_bytes", "host_disk_space_used_bytes", "host_disk_space_avail_bytes"} {
		if _, ok := got[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}
	if len(got) != len(want)+3 {
		t.Errorf("heartbeat has %d values, want %d", len(got), len(want)+3)
	}

	// The malformed /proc/1000/stat is the only failure, and it is the
	// processes source's.
	if len(snap.Errors) != 1 {
		t.Fatalf("errors %v, want exactly the malformed stat", snap.Errors)
	}
	var se *SourceError
	if !errors.As(snap.Errors[0], &se) || se.Source != "processes" || !errors.Is(se, errStatFormat) ||
		!strings.Contains(se.Error(), "pid 1000") {
		t.Errorf("error %v, want processes source naming pid 1000", snap.Errors[0])
	}
}

func TestFixtureSeries(t *testing.T) {
	c := fixtureCollector(t, ProcessOptions{Mode: ProcessModeAll})
	now := time.Unix(1700001000, 0)
	snap, _ := c.Collect(t.Context(), now)
	page := float64(os.Getpagesize())
	want := map[string]float64{
		"host_cpu_seconds_total{cpu=0,mode=user}":    6,
		"host_cpu_seconds_total{cpu=0,mode=steal}":   0.05,
		"host_cpu_seconds_total{cpu=1,mode=idle}":    200,
		"host_cpu_seconds_total{cpu=1,mode=softirq}": 0.03,

		"host_blockdev_reads_completed_total{device=sda}":      100,
		"host_blockdev_read_bytes_total{device=nvme0n1}":       6000 * 512,
		"host_blockdev_written_bytes_total{device=dm-0}":       1200 * 512,
		"host_blockdev_io_time_seconds_total{device=sda}":      1.5,
		"host_blockdev_writes_completed_total{device=nvme0n1}": 400,

		"host_netdev_bytes_total{device=eth0,direction=rx}":   1000000,
		"host_netdev_bytes_total{device=eth0,direction=tx}":   300000,
		"host_netdev_packets_total{device=lo,direction=rx}":   50,
		"host_netdev_errors_total{device=eth1,direction=rx}":  1,
		"host_netdev_drops_total{device=eth1,direction=tx}":   1,
		"host_netdev_drops_total{device=eth0,direction=rx}":   4,
		"host_netdev_packets_total{device=eth1,direction=tx}": 800,

		"host_process_cpu_seconds_total{name=systemd,pid=1,user=root}":               20,
		"host_process_resident_memory_bytes{name=systemd,pid=1,user=root}":           3000 * page,
		"host_process_virtual_memory_bytes{name=systemd,pid=1,user=root}":            170000000,
		"host_process_threads{name=systemd,pid=1,user=root}":                         1,
		"host_process_open_fds{name=systemd,pid=1,user=root}":                        3,
		"host_process_start_time_seconds{name=systemd,pid=1,user=root}":              1700000000.05,
		"host_process_cpu_seconds_total{name=my (odd) proc,pid=42,user=4242424}":     7.5,
		"host_process_resident_memory_bytes{name=my (odd) proc,pid=42,user=4242424}": 25000 * page,
		"host_process_virtual_memory_bytes{name=my (odd) proc,pid=42,user=4242424}":  900000000,
		"host_process_threads{name=my (odd) proc,pid=42,user=4242424}":               7,
		"host_process_open_fds{name=my (odd) proc,pid=42,user=4242424}":              5,
		"host_process_start_time_seconds{name=my (odd) proc,pid=42,user=4242424}":    1700000010,
		"host_process_cpu_seconds_total{name=kworker/u8:2,pid=300,user=root}":        0.4,
		"host_process_resident_memory_bytes{name=kworker/u8:2,pid=300,user=root}":    0,
		"host_process_threads{name=kworker/u8:2,pid=300,user=root}":                  1,
		"host_process_start_time_seconds{name=kworker/u8:2,pid=300,user=root}":       1700000000.3,
		"host_filesystem_size_bytes{fstype=ext4,mountpoint=/}":                       -1, // present, value from the real "/"
		"host_filesystem_inodes_used{fstype=ext4,mountpoint=/}":                      -1,
	}
	got := seriesMap(snap)
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s missing", k)
		} else if w >= 0 && !approxEqual(g, w) {
			t.Errorf("%s = %v, want %v", k, g, w)
		}
	}
	// What must not be there: partitions, loop and ram devices, pseudo and
	// tmpfs filesystems, the bind mount, the zombie without a status file,
	// and an fd count for a process whose fd directory is missing.
	for k := range got {
		for _, bad := range []string{"device=sda1", "device=nvme0n1p1", "device=loop0", "device=ram0",
			"mountpoint=/proc", "mountpoint=/sys", "mountpoint=/dev/shm", "mountpoint=/run",
			"mountpoint=/etc/hosts", "pid=77", "pid=1000", "open_fds{name=kworker"} {
			if strings.Contains(k, bad) {
				t.Errorf("unexpected series %s", k)
			}
		}
	}
	// 2 CPUs x 8 modes + 3 devices x 5 + 3 interfaces x 8 + 1 filesystem x 5
	// + pids 1 and 42 x 6 + pid 300 x 5 (no fd directory).
	if want := 16 + 15 + 24 + 5 + 12 + 5; len(snap.Series) != want {
		t.Errorf("%d series, want %d", len(snap.Series), want)
	}
}

func TestFixtureTopN(t *testing.T) {
	tests := []struct {
		name string
		opts ProcessOptions
		want string // pids in report order
	}{
		// First cycle: no previous totals, so lifetime CPU ranks.
		{name: "cpu top2", opts: ProcessOptions{Mode: ProcessModeTop, TopN: 2, SortBy: SortByCPU}, want: "1,42"},
		{name: "rss top2", opts: ProcessOptions{Mode: ProcessModeTop, TopN: 2, SortBy: SortByRSS}, want: "42,1"},
		{name: "rss top1", opts: ProcessOptions{Mode: ProcessModeTop, TopN: 1, SortBy: SortByRSS}, want: "42"},
		// Ties (zero RSS) break by pid; 77 has no status and is skipped.
		{name: "rss all", opts: ProcessOptions{Mode: ProcessModeTop, TopN: 10, SortBy: SortByRSS}, want: "42,1,300"},
		{name: "off", opts: ProcessOptions{Mode: ProcessModeOff}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fixtureCollector(t, tt.opts)
			snap, _ := c.Collect(t.Context(), time.Unix(1700001000, 0))
			if got := reportedPidOrder(snap); got != tt.want {
				t.Errorf("reported pids %q, want %q", got, tt.want)
			}
		})
	}
}

// reportedPidOrder lists pids in the order their series first appear.
func reportedPidOrder(snap Snapshot) string {
	var order []string
	seen := map[string]bool{}
	for _, s := range snap.Series {
		if pid := s.Labels.Get("pid"); pid != "" && !seen[pid] {
			seen[pid] = true
			order = append(order, pid)
		}
	}
	return strings.Join(order, ",")
}

// TestCPURankUsesDelta proves that "top by cpu" ranks by CPU used since the
// previous cycle, not lifetime totals, and that a reused pid starts afresh.
func TestCPURankUsesDelta(t *testing.T) {
	root := t.TempDir()
	copyTree(t, fixtureRoot, root)
	c := newCollector(t, Options{ProcRoot: root, Processes: ProcessOptions{Mode: ProcessModeTop, TopN: 1, SortBy: SortByCPU}})

	top := func() string {
		t.Helper()
		snap, _ := c.Collect(t.Context(), time.Now())
		return reportedPidOrder(snap)
	}
	if got := top(); got != "1" {
		t.Fatalf("cycle 1 top %q, want 1 (largest lifetime total)", got)
	}
	// pid 1 uses 10 more ticks, pid 42 uses 50 more: 42 leads on the delta
	// although its total (800) stays below pid 1's (2010).
	rewriteStat(t, root, "1", "1200 800", "1205 805")
	rewriteStat(t, root, "42", "500 250", "530 270")
	if got := top(); got != "42" {
		t.Fatalf("cycle 2 top %q, want 42 (largest delta)", got)
	}
	// Unchanged totals: pid 1 and 42 both 0 delta; pid 300 gets a new start
	// time (the pid was reused), so its whole 40 ticks count as delta.
	rewriteStat(t, root, "300", " 0 40 0 0 20 0 1 0 30 ", " 0 40 0 0 20 0 1 0 31 ")
	if got := top(); got != "300" {
		t.Fatalf("cycle 3 top %q, want 300 (new process behind a reused pid)", got)
	}
	// Pids that vanished are forgotten.
	if err := os.RemoveAll(filepath.Join(root, "300")); err != nil {
		t.Fatal(err)
	}
	top()
	if _, ok := c.sources[len(c.sources)-1].(*processSource).prev[300]; ok {
		t.Errorf("state for vanished pid 300 kept")
	}
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatalf("copy fixture: %v", err)
	}
}

func rewriteStat(t *testing.T, root, pid, old, new string) {
	t.Helper()
	path := filepath.Join(root, pid, "stat")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}
