package benchutil

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// The load generators of the benchmarks share one simulated host, so every
// benchmark posts and stores bodies of the same shape and compressibility.

// genSeries is one simulated series: what it is called and how its value
// moves from one sample to the next.
type genSeries struct {
	name   string
	kind   batch.Kind
	labels batch.Labels // sorted by name
	value  float64
	// step is the scale of a change per sample: a counter grows by up to
	// step, a gauge wanders by up to ±step around its start.
	step float64
	// quantum rounds values the way the real source reports them (whole
	// bytes, 10 ms CPU ticks), so they compress like real data and not like
	// random float64 bits.
	quantum float64
	base    float64
}

// HostGen produces one simulated agent's batches: a fixed, host-like set
// of series (per-CPU times, memory, load, network, filesystems, block devices,
// then top processes for as many series as asked), each batch carrying
// samplesPerSeries consecutive samples of every series.
type HostGen struct {
	agentID          string
	series           []genSeries
	samplesPerSeries int
	stepMs           int64
	nextTs           int64
	seq              uint64
	rng              *rand.Rand
	b                batch.Batch
}

// GenOptions shape every agent's batches.
type GenOptions struct {
	SeriesPerBatch   int
	SamplesPerSeries int
	// StepMs is the spacing of samples on the simulated clock.
	StepMs int64
	// StartMs is the timestamp of every agent's first sample.
	StartMs int64
	// FirstSeq is the sequence number of the first batch (1 for a fresh
	// collector).
	FirstSeq uint64
}

var (
	cpuModes   = []string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"}
	memoryKeys = []string{"total", "available", "free", "used", "cached", "buffers"}
	netDevices = []string{"eth0", "lo", "docker0", "wg0"}
	netMetrics = []string{"host_netdev_bytes_total", "host_netdev_packets_total", "host_netdev_errors_total", "host_netdev_drops_total"}
	mounts     = []struct{ mountpoint, fstype string }{
		{"/", "ext4"}, {"/boot", "ext4"}, {"/var/lib/docker", "xfs"}, {"/home", "ext4"},
	}
	fsMetrics    = []string{"host_filesystem_size_bytes", "host_filesystem_used_bytes", "host_filesystem_avail_bytes", "host_filesystem_inodes", "host_filesystem_inodes_used"}
	blockDevices = []string{"vda", "vdb"}
	blockMetrics = []string{"host_blockdev_reads_completed_total", "host_blockdev_writes_completed_total",
		"host_blockdev_read_bytes_total", "host_blockdev_written_bytes_total", "host_blockdev_io_time_seconds_total"}
	processNames = []string{"systemd", "sshd", "postgres", "nginx", "dockerd", "containerd", "java", "python3",
		"node", "redis-server", "lightmetrics", "journald", "cron", "chronyd", "haproxy", "prometheus"}
	processUsers   = []string{"root", "postgres", "www-data", "app", "redis"}
	processMetrics = []struct {
		name                string
		kind                batch.Kind
		base, step, quantum float64
	}{
		{"host_process_cpu_seconds_total", batch.KindCounter, 1000, 0.05, 0.01},
		{"host_process_resident_memory_bytes", batch.KindGauge, 200 << 20, 1 << 20, 4096},
		{"host_process_virtual_memory_bytes", batch.KindGauge, 1 << 30, 4 << 20, 4096},
		{"host_process_threads", batch.KindGauge, 12, 1, 1},
		{"host_process_open_fds", batch.KindGauge, 64, 2, 1},
	}
)

// NewHostGen builds the series set of agent number idx. The set depends
// only on idx and o, so reruns send the same series.
func NewHostGen(agentID string, idx int, o GenOptions) (*HostGen, error) {
	if o.SeriesPerBatch < 1 {
		return nil, fmt.Errorf("series per batch %d: want at least 1", o.SeriesPerBatch)
	}
	if o.SamplesPerSeries < 1 {
		return nil, fmt.Errorf("samples per series %d: want at least 1", o.SamplesPerSeries)
	}
	if o.StepMs < 1 {
		return nil, fmt.Errorf("sample step %d ms: want at least 1", o.StepMs)
	}
	g := &HostGen{
		agentID:          agentID,
		samplesPerSeries: o.SamplesPerSeries,
		stepMs:           o.StepMs,
		nextTs:           o.StartMs,
		seq:              o.FirstSeq,
		rng:              rand.New(rand.NewPCG(uint64(idx)+1, 0x6c6d62656e6368)),
	}
	if g.seq == 0 {
		g.seq = 1
	}
	g.series = hostSeries(g.rng, idx, o.SeriesPerBatch)
	g.b = batch.Batch{AgentID: agentID, Series: make([]batch.Series, len(g.series))}
	for i := range g.series {
		s := &g.series[i]
		g.b.Series[i] = batch.Series{Name: s.name, Kind: s.kind, Labels: s.labels, Samples: make([]batch.Sample, o.SamplesPerSeries)}
	}
	return g, nil
}

// hostSeries returns n series shaped like a Lightmetrics agent's collection
// of a mid-sized Linux host.
func hostSeries(rng *rand.Rand, idx, n int) []genSeries {
	out := make([]genSeries, 0, n)
	add := func(s genSeries, labels ...string) bool {
		if len(out) == n {
			return false
		}
		for i := 0; i+1 < len(labels); i += 2 {
			s.labels = append(s.labels, batch.Label{Name: labels[i], Value: labels[i+1]})
		}
		s.labels.Sort()
		s.value = s.base * (0.5 + rng.Float64())
		s.value = quantize(s.value, s.quantum)
		s.base = s.value
		out = append(out, s)
		return true
	}
	counter := func(name string, base, step, quantum float64) genSeries {
		return genSeries{name: name, kind: batch.KindCounter, base: base, step: step, quantum: quantum}
	}
	gauge := func(name string, base, step, quantum float64) genSeries {
		return genSeries{name: name, kind: batch.KindGauge, base: base, step: step, quantum: quantum}
	}

	cpus := 4 << (idx % 3) // 4, 8 or 16 CPUs
	for c := range cpus {
		for _, m := range cpuModes {
			if !add(counter("host_cpu_seconds_total", 1e5, 0.02, 0.01), "cpu", strconv.Itoa(c), "mode", m) {
				return out
			}
		}
	}
	for _, k := range memoryKeys {
		if !add(gauge("host_memory_"+k+"_bytes", 8<<30, 16<<20, 4096)) {
			return out
		}
	}
	for _, w := range []string{"1", "5", "15"} {
		if !add(gauge("host_load"+w, 2, 0.1, 0.01)) {
			return out
		}
	}
	for _, dev := range netDevices {
		for _, dir := range []string{"receive", "transmit"} {
			for _, m := range netMetrics {
				if !add(counter(m, 1e9, 64<<10, 1), "device", dev, "direction", dir) {
					return out
				}
			}
		}
	}
	for _, mnt := range mounts {
		for _, m := range fsMetrics {
			if !add(gauge(m, 100<<30, 1<<20, 4096), "fstype", mnt.fstype, "mountpoint", mnt.mountpoint) {
				return out
			}
		}
	}
	for _, dev := range blockDevices {
		for _, m := range blockMetrics {
			if !add(counter(m, 1e7, 512, 1), "device", dev) {
				return out
			}
		}
	}
	// Processes fill the rest, as the agent's top-N does on a busy host.
	for p := 0; ; p++ {
		name := processNames[p%len(processNames)]
		pid := strconv.Itoa(300 + p*37 + idx%7)
		user := processUsers[p%len(processUsers)]
		for _, m := range processMetrics {
			s := genSeries{name: m.name, kind: m.kind, base: m.base, step: m.step, quantum: m.quantum}
			if !add(s, "name", name, "pid", pid, "user", user) {
				return out
			}
		}
	}
}

func quantize(v, q float64) float64 {
	if q <= 0 {
		return v
	}
	return math.Round(v/q) * q
}

// Next fills the generator's batch with the next samplesPerSeries samples of
// every series and the next sequence number, and returns it. The batch and
// its slices are reused by the following call.
func (g *HostGen) Next(createdNs int64) *batch.Batch {
	g.b.Seq = g.seq
	g.seq++
	g.b.CreatedNs = createdNs
	for i := range g.series {
		s := &g.series[i]
		samples := g.b.Series[i].Samples
		for j := range samples {
			switch s.kind {
			case batch.KindCounter:
				s.value += quantize(g.rng.Float64()*s.step, s.quantum)
			default:
				v := s.value + (g.rng.Float64()*2-1)*s.step
				// Pull back towards the base so gauges stay plausible.
				v += (s.base - v) * 0.05
				s.value = max(0, quantize(v, s.quantum))
			}
			samples[j] = batch.Sample{TimestampMs: g.nextTs + int64(j)*g.stepMs, Value: s.value}
		}
	}
	g.nextTs += int64(g.samplesPerSeries) * g.stepMs
	return &g.b
}

// Shape is the batch Next fills: every series' name, labels and sample
// slots, for callers that lay batches out another way (remote write).
func (g *HostGen) Shape() *batch.Batch { return &g.b }
