package main

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/limits"
	"github.com/lightmetrics/lightmetrics/scripts/benchutil"
)

// TestGeneratorBatches checks that every generated batch is one the
// collector accepts as it is (limits, codec round trip), that consecutive
// batches continue each series in time and sequence, and that a batch holds
// exactly the series and samples asked for.
func TestGeneratorBatches(t *testing.T) {
	enc, err := codec.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	dec, err := codec.NewDecoder(codec.DefaultCaps())
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	lim := limits.Default()

	for _, tc := range []struct {
		series, samples, agent int
	}{
		{200, 10, 0},  // the default load
		{200, 10, 2},  // a 16-CPU host: more CPU series, fewer processes
		{1, 1, 1},     // smallest
		{2048, 1, 5},  // max_series_per_batch, node_exporter-like
		{37, 3, 7},    // cut in the middle of a series family
		{700, 4, 100}, // mostly processes
	} {
		t.Run(fmt.Sprintf("%dx%d-agent%d", tc.series, tc.samples, tc.agent), func(t *testing.T) {
			g, err := benchutil.NewHostGen("bench-001", tc.agent, benchutil.GenOptions{
				SeriesPerBatch: tc.series, SamplesPerSeries: tc.samples, StepMs: 10, StartMs: 1_700_000_000_000, FirstSeq: 1,
			})
			if err != nil {
				t.Fatal(err)
			}
			lastTs := map[string]int64{}
			for want := uint64(1); want <= 3; want++ {
				b := g.Next(1_700_000_000_000_000_000 + int64(want))
				if b.Seq != want {
					t.Fatalf("seq %d, want %d", b.Seq, want)
				}
				if len(b.Series) != tc.series || b.SampleCount() != tc.series*tc.samples {
					t.Fatalf("%d series, %d samples; want %d and %d", len(b.Series), b.SampleCount(), tc.series, tc.series*tc.samples)
				}
				if err := lim.Validate(b); err != nil {
					t.Fatalf("batch %d refused by limits: %v", want, err)
				}
				data, err := enc.Encode(b)
				if err != nil {
					t.Fatalf("encode: %v", err)
				}
				got, err := dec.Decode(data)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if got.AgentID != b.AgentID || got.Seq != b.Seq || len(got.Series) != len(b.Series) {
					t.Fatalf("decoded %s/%d with %d series, sent %s/%d with %d", got.AgentID, got.Seq, len(got.Series), b.AgentID, b.Seq, len(b.Series))
				}
				for i := range b.Series {
					if !reflect.DeepEqual(got.Series[i].Samples, b.Series[i].Samples) {
						t.Fatalf("series %d samples changed in the round trip", i)
					}
				}
				for _, s := range b.Series {
					id := seriesID(s)
					for _, smp := range s.Samples {
						if last, ok := lastTs[id]; ok && smp.TimestampMs <= last {
							t.Fatalf("series %s: timestamp %d after %d", id, smp.TimestampMs, last)
						}
						lastTs[id] = smp.TimestampMs
					}
				}
				if len(lastTs) != tc.series {
					t.Fatalf("%d distinct series, want %d", len(lastTs), tc.series)
				}
			}
		})
	}
}

func seriesID(s batch.Series) string {
	var b strings.Builder
	b.WriteString(s.Name)
	for _, l := range s.Labels {
		fmt.Fprintf(&b, ",%s=%s", l.Name, l.Value)
	}
	return b.String()
}

// TestRWPlan checks that a batch becomes remote-write requests of at most
// max samples carrying exactly the batch's samples, with sorted labels that
// name the agent.
func TestRWPlan(t *testing.T) {
	for _, tc := range []struct {
		series, samples, max, wantReqs int
	}{
		{200, 10, 2000, 1},
		{200, 10, 500, 4},
		{3, 5, 4, 4}, // a series split across requests
		{1, 1, 2000, 1},
	} {
		t.Run(fmt.Sprintf("%dx%d-max%d", tc.series, tc.samples, tc.max), func(t *testing.T) {
			g, err := benchutil.NewHostGen("bench-042", 42, benchutil.GenOptions{SeriesPerBatch: tc.series, SamplesPerSeries: tc.samples, StepMs: 10, StartMs: 1000, FirstSeq: 1})
			if err != nil {
				t.Fatal(err)
			}
			p, err := newRWPlan(g, "bench-042", tc.max)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.reqs) != tc.wantReqs {
				t.Fatalf("%d requests, want %d", len(p.reqs), tc.wantReqs)
			}
			b := g.Next(0)
			p.fill(b)
			// What the requests carry, per series identity, in order.
			got := map[string][]batch.Sample{}
			for r := range p.reqs {
				pb, err := p.marshal(r)
				if err != nil {
					t.Fatal(err)
				}
				// Through snappy and prompb's own decoder, as a receiver does.
				raw, err := snappy.Decode(nil, snappy.Encode(nil, pb))
				if err != nil {
					t.Fatal(err)
				}
				var wr prompb.WriteRequest
				if err := wr.Unmarshal(raw); err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, ts := range wr.Timeseries {
					if !slices.IsSortedFunc(ts.Labels, func(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) }) {
						t.Fatalf("labels not sorted: %v", ts.Labels)
					}
					s := batch.Series{}
					for _, l := range ts.Labels {
						switch l.Name {
						case "__name__":
							s.Name = l.Value
						case "instance":
							if l.Value != "bench-042" {
								t.Fatalf("instance %q", l.Value)
							}
						case "job":
						default:
							s.Labels = append(s.Labels, batch.Label{Name: l.Name, Value: l.Value})
						}
					}
					for _, smp := range ts.Samples {
						got[seriesID(s)] = append(got[seriesID(s)], batch.Sample{TimestampMs: smp.Timestamp, Value: smp.Value})
					}
					n += len(ts.Samples)
				}
				if n > tc.max || n != p.reqs[r].n {
					t.Fatalf("request %d has %d samples, plan says %d, max %d", r, n, p.reqs[r].n, tc.max)
				}
			}
			if len(got) != len(b.Series) {
				t.Fatalf("%d series sent, batch has %d", len(got), len(b.Series))
			}
			for _, s := range b.Series {
				if !reflect.DeepEqual(got[seriesID(s)], s.Samples) {
					t.Fatalf("series %s: sent %v, batch has %v", seriesID(s), got[seriesID(s)], s.Samples)
				}
			}
		})
	}
}
