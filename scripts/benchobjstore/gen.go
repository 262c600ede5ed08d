package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// genSeries is one simulated series and how its value moves.
type genSeries struct {
	name   string
	kind   batch.Kind
	labels batch.Labels
	// value is the current value; base the level a gauge is pulled back to.
	value, base float64
	// step is the scale of one change; quantum rounds values the way the
	// real source reports them (whole bytes, 10 ms CPU ticks), so bodies
	// compress like real ones and not like random float64 bits.
	step, quantum float64
}

// hostGen makes one simulated agent's batches for the landing phase: the
// series shape of scripts/benchingest's generator (per-CPU times, memory,
// load, network, block devices, then processes for the rest), so the spool
// the lander reads holds bodies like the ones the load phase posted. That
// generator lives in a package main and cannot be imported; this is the
// part the landing phase needs.
type hostGen struct {
	series  []genSeries
	rng     *rand.Rand
	stepMs  int64
	nextMs  int64
	seq     uint64
	samples int
	b       batch.Batch
}

// newHostGen builds agent idx's generator: seriesPerBatch series with
// samplesPerSeries samples each, stepMs apart from startMs on.
func newHostGen(agentID string, idx, seriesPerBatch, samplesPerSeries int, stepMs, startMs int64) (*hostGen, error) {
	if seriesPerBatch < 1 || samplesPerSeries < 1 || stepMs < 1 {
		return nil, fmt.Errorf("generator: %d series x %d samples every %d ms: want all at least 1", seriesPerBatch, samplesPerSeries, stepMs)
	}
	g := &hostGen{rng: rand.New(rand.NewPCG(uint64(idx)+1, 0x6c6d6f626a)), stepMs: stepMs, nextMs: startMs, seq: 1, samples: samplesPerSeries}
	g.series = hostSeries(g.rng, idx, seriesPerBatch)
	g.b = batch.Batch{AgentID: agentID, Series: make([]batch.Series, len(g.series))}
	for i, s := range g.series {
		g.b.Series[i] = batch.Series{Name: s.name, Kind: s.kind, Labels: s.labels, Samples: make([]batch.Sample, samplesPerSeries)}
	}
	return g, nil
}

// hostSeries returns n series of a mid-sized Linux host.
func hostSeries(rng *rand.Rand, idx, n int) []genSeries {
	out := make([]genSeries, 0, n)
	add := func(name string, kind batch.Kind, base, step, quantum float64, labels ...string) bool {
		if len(out) == n {
			return false
		}
		s := genSeries{name: name, kind: kind, step: step, quantum: quantum}
		for i := 0; i+1 < len(labels); i += 2 {
			s.labels = append(s.labels, batch.Label{Name: labels[i], Value: labels[i+1]})
		}
		s.labels.Sort()
		s.value = quantize(base*(0.5+rng.Float64()), quantum)
		s.base = s.value
		out = append(out, s)
		return true
	}
	const counter, gauge = batch.KindCounter, batch.KindGauge
	for c := range 4 << (idx % 3) { // 4, 8 or 16 CPUs
		for _, m := range []string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"} {
			if !add("host_cpu_seconds_total", counter, 1e5, 0.02, 0.01, "cpu", strconv.Itoa(c), "mode", m) {
				return out
			}
		}
	}
	for _, k := range []string{"total", "available", "free", "used", "cached", "buffers"} {
		if !add("host_memory_"+k+"_bytes", gauge, 8<<30, 16<<20, 4096) {
			return out
		}
	}
	for _, w := range []string{"1", "5", "15"} {
		if !add("host_load"+w, gauge, 2, 0.1, 0.01) {
			return out
		}
	}
	for _, dev := range []string{"eth0", "lo", "docker0", "wg0"} {
		for _, dir := range []string{"receive", "transmit"} {
			for _, m := range []string{"bytes", "packets", "errors", "drops"} {
				if !add("host_netdev_"+m+"_total", counter, 1e9, 64<<10, 1, "device", dev, "direction", dir) {
					return out
				}
			}
		}
	}
	for _, dev := range []string{"vda", "vdb"} {
		for _, m := range []string{"reads_completed", "writes_completed", "read_bytes", "written_bytes"} {
			if !add("host_blockdev_"+m+"_total", counter, 1e7, 512, 1, "device", dev) {
				return out
			}
		}
	}
	names := []string{"systemd", "sshd", "postgres", "nginx", "dockerd", "java", "python3", "node", "redis-server", "cron"}
	for p := 0; ; p++ {
		labels := []string{"name", names[p%len(names)], "pid", strconv.Itoa(300 + p*37 + idx%7)}
		if !add("host_process_cpu_seconds_total", counter, 1000, 0.05, 0.01, labels...) ||
			!add("host_process_resident_memory_bytes", gauge, 200<<20, 1<<20, 4096, labels...) ||
			!add("host_process_threads", gauge, 12, 1, 1, labels...) ||
			!add("host_process_open_fds", gauge, 64, 2, 1, labels...) {
			return out
		}
	}
}

func quantize(v, q float64) float64 { return math.Round(v/q) * q }

// next returns the agent's next batch: the next samples of every series and
// the next sequence number. The batch is reused by the following call.
func (g *hostGen) next(createdNs int64) *batch.Batch {
	g.b.Seq = g.seq
	g.seq++
	g.b.CreatedNs = createdNs
	for i := range g.series {
		s := &g.series[i]
		samples := g.b.Series[i].Samples
		for j := range samples {
			if s.kind == batch.KindCounter {
				s.value += quantize(g.rng.Float64()*s.step, s.quantum)
			} else {
				v := s.value + (g.rng.Float64()*2-1)*s.step
				v += (s.base - v) * 0.05 // pulled back towards the base
				s.value = max(0, quantize(v, s.quantum))
			}
			samples[j] = batch.Sample{TimestampMs: g.nextMs + int64(j)*g.stepMs, Value: s.value}
		}
	}
	g.nextMs += int64(g.samples) * g.stepMs
	return &g.b
}
