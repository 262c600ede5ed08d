package codec

import (
	"fmt"
	"math"
	"math/rand"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// hostBatch builds a batch shaped like what an agent sends after a backlog of
// `cycles` collection cycles: a heartbeat of ~100 scalars plus ~100 series of
// per-CPU, per-interface, per-disk, per-filesystem and per-process metrics.
// Values follow the shapes gopsutil produces (USER_HZ-quantised CPU seconds,
// integral byte counters, jittery gauges) so that size measurements mean
// something.
func hostBatch(seed int64, cycles int) *batch.Batch {
	r := rand.New(rand.NewSource(seed))
	const start = int64(1_767_000_000_000)
	ts := make([]int64, cycles)
	for i := range ts {
		ts[i] = start + int64(i)*10_000 + int64(r.Intn(7)) - 3
	}
	b := &batch.Batch{AgentID: "web-01.lab.example", Seq: 4711, CreatedNs: ts[cycles-1]*1e6 + 1234}

	hb := &batch.Heartbeat{TimestampMs: ts[cycles-1], Hostname: "web-01", AgentVersion: "0.1.0", OS: "linux"}
	hbBases := []string{"cpu_usage_percent", "mem_used_bytes", "mem_available_bytes", "swap_used_bytes",
		"load1", "load5", "load15", "uptime_seconds", "procs_running", "procs_blocked"}
	for i := 0; len(hb.Values) < 100; i++ {
		name := hbBases[i%len(hbBases)]
		if i >= len(hbBases) {
			name = fmt.Sprintf("%s_%d", name, i/len(hbBases))
		}
		k := batch.KindGauge
		v := math.Round(r.Float64()*1e4) / 100
		if i%3 == 0 {
			v = float64(r.Int63n(1 << 34))
		}
		if i%10 == 7 {
			k = batch.KindCounter
			v = float64(r.Int63n(1 << 40))
		}
		hb.Values = append(hb.Values, batch.Scalar{Name: name, Kind: k, Value: v})
	}
	b.Heartbeat = hb

	counter := func(name string, ls batch.Labels, base, step float64, quantum float64) batch.Series {
		s := batch.Series{Name: name, Kind: batch.KindCounter, Labels: ls}
		v := base
		for _, t := range ts {
			v += math.Round(step*(0.5+r.Float64())/quantum) * quantum
			s.Samples = append(s.Samples, batch.Sample{TimestampMs: t, Value: math.Round(v/quantum) * quantum})
		}
		return s
	}
	gauge := func(name string, ls batch.Labels, base, spread float64, quantum float64) batch.Series {
		s := batch.Series{Name: name, Kind: batch.KindGauge, Labels: ls}
		for _, t := range ts {
			v := math.Round((base+spread*(r.Float64()-0.5))/quantum) * quantum
			s.Samples = append(s.Samples, batch.Sample{TimestampMs: t, Value: v})
		}
		return s
	}
	for cpu := 0; cpu < 4; cpu++ {
		for _, mode := range []string{"user", "system", "idle", "iowait", "irq", "softirq", "steal", "nice"} {
			b.Series = append(b.Series, counter("node_cpu_seconds_total",
				batch.Labels{{Name: "cpu", Value: fmt.Sprint(cpu)}, {Name: "mode", Value: mode}},
				r.Float64()*1e6, 3, 0.01))
		}
	}
	for _, dev := range []string{"eth0", "lo", "docker0"} {
		for _, m := range []string{"node_network_receive_bytes_total", "node_network_transmit_bytes_total",
			"node_network_receive_packets_total", "node_network_transmit_packets_total"} {
			b.Series = append(b.Series, counter(m, batch.Labels{{Name: "device", Value: dev}},
				float64(r.Int63n(1<<40)), 2e5, 1))
		}
	}
	for _, dev := range []string{"sda", "nvme0n1"} {
		for _, m := range []string{"node_disk_read_bytes_total", "node_disk_written_bytes_total", "node_disk_io_time_seconds_total"} {
			b.Series = append(b.Series, counter(m, batch.Labels{{Name: "device", Value: dev}},
				float64(r.Int63n(1<<38)), 1e6, 512))
		}
	}
	for _, fs := range [][3]string{{"/dev/sda1", "ext4", "/"}, {"/dev/nvme0n1p2", "xfs", "/var"}, {"tmpfs", "tmpfs", "/run"}} {
		ls := batch.Labels{{Name: "device", Value: fs[0]}, {Name: "fstype", Value: fs[1]}, {Name: "mountpoint", Value: fs[2]}}
		b.Series = append(b.Series, gauge("node_filesystem_avail_bytes", ls, float64(r.Int63n(1<<36)), 1<<24, 4096))
		b.Series = append(b.Series, gauge("node_filesystem_size_bytes", ls, float64(r.Int63n(1<<37)), 0, 4096))
	}
	comms := []string{"systemd", "sshd", "nginx", "postgres", "redis-server", "containerd", "dockerd", "node",
		"python3", "java", "chronyd", "rsyslogd", "cron", "bash", "lightmetrics", "kworker/0:1", "journald",
		"udevd", "dbus-daemon", "agetty", "polkitd", "snapd"}
	for i, comm := range comms {
		ls := batch.Labels{{Name: "comm", Value: comm}, {Name: "pid", Value: fmt.Sprint(100 + i*137)}}
		b.Series = append(b.Series, counter("process_cpu_seconds_total", ls, r.Float64()*1e4, 0.5, 0.01))
		b.Series = append(b.Series, gauge("process_resident_memory_bytes", ls, float64(r.Int63n(1<<30)), 1<<20, 4096))
	}
	return b
}
