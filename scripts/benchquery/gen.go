package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// dataset is the benchmark's data: hosts × cpus counters x{cpu, host}, each
// with samples samples every stepMs, the newest just before endMs.
//
// The values are plausible CPU-seconds counters, as read from /proc/stat in
// 1/100 s units: each step adds the host's busy fraction (a daily wave per
// host plus noise, per CPU) times the step, rounded to 0.01. Every host is
// scraped at its own phase within the step (1 to 9 s past the step
// boundary, like scrapers that spread their targets), so no sample falls on
// a query step (a multiple of 60 s from endMs): that keeps the samples each
// rate() window holds the same under Prometheus 2's closed and 3's
// left-open range selectors, and the answers comparable.
type dataset struct {
	hosts, cpus int
	samples     int   // per series
	stepMs      int64 // between samples of a series
	endMs       int64 // every sample is older; a multiple of the query step
}

// seriesCount is the number of series.
func (d dataset) seriesCount() int { return d.hosts * d.cpus }

// totalSamples is the number of samples over all series.
func (d dataset) totalSamples() int { return d.seriesCount() * d.samples }

// phaseMs is host h's scrape phase within a step, in [stepMs/10, 9*stepMs/10).
func (d dataset) phaseMs(h int) int64 {
	lo := d.stepMs / 10
	return lo + int64(h)*7919%(d.stepMs-2*lo)
}

// ts is the timestamp (ms) of sample i of host h's series.
func (d dataset) ts(h, i int) int64 {
	return d.endMs - int64(d.samples)*d.stepMs + d.phaseMs(h) + int64(i)*d.stepMs
}

// counter generates one series' values in order.
type counter struct {
	rng   *rand.Rand
	v     float64
	base  float64 // mean busy fraction
	amp   float64 // amplitude of the daily wave
	phase float64 // of the daily wave, radians
}

// newCounter seeds the counter of series k (host k/cpus, cpu k%cpus) so the
// data is the same for every system and every run. Hosts share a wave and
// CPUs of a host differ by their own noise.
func (d dataset) newCounter(k int) *counter {
	host := rand.New(rand.NewPCG(uint64(k/d.cpus), 0x6c6d2d6265))
	c := &counter{
		rng:   rand.New(rand.NewPCG(uint64(k), 0x71756572)),
		base:  0.05 + 0.5*host.Float64(),
		amp:   0.3 * host.Float64(),
		phase: 2 * math.Pi * host.Float64(),
	}
	// A host up for a while: up to about 5.8 days of one busy CPU.
	c.v = float64(c.rng.IntN(50_000_000)) / 100
	return c
}

// next returns the counter's value at time tsMs, stepMs after the previous.
func (c *counter) next(tsMs, stepMs int64) float64 {
	const dayMs = 86_400_000
	busy := c.base + c.amp*math.Sin(2*math.Pi*float64(tsMs%dayMs)/dayMs+c.phase) + 0.2*(c.rng.Float64()-0.5)
	busy = min(max(busy, 0), 1)
	inc := math.Round(busy*float64(stepMs)/10) / 100 // busy × step in seconds, in 1/100 s
	c.v = math.Round((c.v+inc)*100) / 100
	return c.v
}

// layout is how the samples are cut into remote-write requests: each
// request carries seriesPerReq series with samplesPerSeries consecutive
// samples each. Requests go out slice by slice (all series' samples of one
// stretch of time, then the next), so every receiver sees time move
// forward as a live sender would show it, never more than a slice apart.
type layout struct {
	seriesPerReq, samplesPerSeries int
}

// slices is the number of time slices, groups the number of requests per
// slice.
func (l layout) slices(d dataset) int { return ceilDiv(d.samples, l.samplesPerSeries) }
func (l layout) groups(d dataset) int { return ceilDiv(d.seriesCount(), l.seriesPerReq) }

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// generated is the whole load, ready to send, and what a correct store
// answers for sum by (cpu) (x) at every query step.
type generated struct {
	// bodies are the snappy-compressed WriteRequests, in sending order:
	// request r is slice r/groups, group r%groups.
	bodies [][]byte
	groups int
	// lastByCPU[cpu][t] is the sum over hosts of each series' last sample
	// at or before t (ms), for every multiple t of queryStepMs in the
	// data's range. With samples every stepMs and no sample on a query
	// step, that last sample is the one of the step just before t.
	lastByCPU   []map[int64]float64
	samples     int
	rawBytes    int // protobuf bytes before snappy
	maxPerReq   int // most samples in one request
	maxSeriesRq int // most series in one request
}

// generate builds every request of the load and the expected sums.
func generate(d dataset, l layout, queryStepMs int64) (*generated, error) {
	if d.hosts < 1 || d.cpus < 1 || d.samples < 1 || d.stepMs < 10 || queryStepMs < 1 {
		return nil, fmt.Errorf("generate: empty or invalid dataset %+v", d)
	}
	if d.endMs%queryStepMs != 0 || queryStepMs%d.stepMs != 0 {
		return nil, fmt.Errorf("generate: the end (%d ms) must be a multiple of the query step (%d ms), itself a multiple of the sample step (%d ms)",
			d.endMs, queryStepMs, d.stepMs)
	}
	if l.seriesPerReq < 1 || l.samplesPerSeries < 1 {
		return nil, fmt.Errorf("generate: invalid layout %+v", l)
	}
	n := d.seriesCount()
	counters := make([]*counter, n)
	labels := make([][]prompb.Label, n)
	for k := range n {
		counters[k] = d.newCounter(k)
		labels[k] = []prompb.Label{
			{Name: "__name__", Value: "x"},
			{Name: "cpu", Value: strconv.Itoa(k % d.cpus)},
			{Name: "host", Value: fmt.Sprintf("host-%03d", k/d.cpus)},
		}
	}
	g := &generated{groups: l.groups(d), lastByCPU: make([]map[int64]float64, d.cpus)}
	for c := range g.lastByCPU {
		g.lastByCPU[c] = make(map[int64]float64)
	}
	var pb []byte
	for s := range l.slices(d) {
		from, to := s*l.samplesPerSeries, min((s+1)*l.samplesPerSeries, d.samples)
		for grp := range g.groups {
			lo, hi := grp*l.seriesPerReq, min((grp+1)*l.seriesPerReq, n)
			wr := prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, 0, hi-lo)}
			for k := lo; k < hi; k++ {
				h, cpu := k/d.cpus, k%d.cpus
				ss := make([]prompb.Sample, 0, to-from)
				for i := from; i < to; i++ {
					t := d.ts(h, i)
					v := counters[k].next(t, d.stepMs)
					ss = append(ss, prompb.Sample{Timestamp: t, Value: v})
					// The first query step at or after this sample: the
					// sample is the last one there if the next comes later.
					q := (t + queryStepMs - 1) / queryStepMs * queryStepMs
					if q < t+d.stepMs && q <= d.endMs {
						g.lastByCPU[cpu][q] += v
					}
				}
				wr.Timeseries = append(wr.Timeseries, prompb.TimeSeries{Labels: labels[k], Samples: ss})
				g.samples += len(ss)
			}
			size := wr.Size()
			if cap(pb) < size {
				pb = make([]byte, size)
			}
			m, err := wr.MarshalToSizedBuffer(pb[:size])
			if err != nil {
				return nil, fmt.Errorf("generate: marshal request %d: %w", len(g.bodies), err)
			}
			g.rawBytes += m
			g.bodies = append(g.bodies, snappy.Encode(nil, pb[size-m:size]))
			g.maxPerReq = max(g.maxPerReq, (hi-lo)*(to-from))
			g.maxSeriesRq = max(g.maxSeriesRq, hi-lo)
		}
	}
	return g, nil
}
