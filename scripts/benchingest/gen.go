package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/prompb"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/scripts/benchutil"
)

// rwPlan lays one batch out as remote-write requests of at most maxSamples
// samples each, the way Prometheus's queue manager caps a request at
// max_samples_per_send. The layout is fixed for a generator, so it is built
// once and only the sample values are refreshed per batch.
type rwPlan struct {
	reqs []rwRequest
}

type rwRequest struct {
	ts   []prompb.TimeSeries
	refs []rwRef // refs[i] says where ts[i]'s samples come from
	n    int     // samples in the request
}

type rwRef struct {
	series, from int
}

// newRWPlan builds the remote-write layout of g's batches. Every series
// carries the agent's identity as instance="<agent id>" and job="lightmetrics-bench",
// since a remote-write receiver has no other way to tell agents apart.
func newRWPlan(g *benchutil.HostGen, agentID string, maxSamples int) (*rwPlan, error) {
	if maxSamples < 1 {
		return nil, fmt.Errorf("max samples per send %d: want at least 1", maxSamples)
	}
	shape := g.Shape()
	labels := make([][]prompb.Label, len(shape.Series))
	for i, s := range shape.Series {
		ls := []prompb.Label{{Name: "__name__", Value: s.Name}, {Name: "instance", Value: agentID}, {Name: "job", Value: "lightmetrics-bench"}}
		for _, l := range s.Labels {
			ls = append(ls, prompb.Label{Name: l.Name, Value: l.Value})
		}
		// Receivers expect labels sorted by name, as Prometheus sends them.
		slices.SortFunc(ls, func(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) })
		labels[i] = ls
	}
	p := &rwPlan{}
	cur := rwRequest{}
	for i, s := range shape.Series {
		for from := 0; from < len(s.Samples); {
			if cur.n == maxSamples {
				p.reqs = append(p.reqs, cur)
				cur = rwRequest{}
			}
			k := min(len(s.Samples)-from, maxSamples-cur.n)
			cur.ts = append(cur.ts, prompb.TimeSeries{Labels: labels[i], Samples: make([]prompb.Sample, k)})
			cur.refs = append(cur.refs, rwRef{series: i, from: from})
			cur.n += k
			from += k
		}
	}
	if cur.n > 0 {
		p.reqs = append(p.reqs, cur)
	}
	return p, nil
}

// fill copies b's samples into the plan's requests.
func (p *rwPlan) fill(b *batch.Batch) {
	for r := range p.reqs {
		req := &p.reqs[r]
		for i := range req.ts {
			src := b.Series[req.refs[i].series].Samples[req.refs[i].from:]
			dst := req.ts[i].Samples
			for j := range dst {
				dst[j] = prompb.Sample{Timestamp: src[j].TimestampMs, Value: src[j].Value}
			}
		}
	}
}

// marshal returns request r as protobuf bytes (not yet compressed).
func (p *rwPlan) marshal(r int) ([]byte, error) {
	wr := prompb.WriteRequest{Timeseries: p.reqs[r].ts}
	buf := make([]byte, wr.Size())
	n, err := wr.MarshalToSizedBuffer(buf)
	if err != nil {
		return nil, fmt.Errorf("marshal remote write request: %w", err)
	}
	return buf[len(buf)-n:], nil
}
