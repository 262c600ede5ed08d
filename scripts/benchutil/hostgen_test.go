package benchutil

import (
	"testing"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/codec"
)

func TestHostGenShape(t *testing.T) {
	for _, tc := range []struct{ idx, series, samples int }{{0, 200, 10}, {2, 7, 1}, {1, 500, 3}} {
		g, err := NewHostGen("h", tc.idx, GenOptions{SeriesPerBatch: tc.series, SamplesPerSeries: tc.samples, StepMs: 10_000, StartMs: 1_000_000})
		if err != nil {
			t.Fatal(err)
		}
		prev := map[int]float64{}
		lastTs := int64(0)
		for n := range 3 {
			b := g.Next(int64(n))
			if b.Seq != uint64(n+1) || len(b.Series) != tc.series {
				t.Fatalf("%+v batch %d: seq %d, %d series", tc, n, b.Seq, len(b.Series))
			}
			for i, s := range b.Series {
				if len(s.Samples) != tc.samples {
					t.Fatalf("%s: %d samples, want %d", s.Name, len(s.Samples), tc.samples)
				}
				for _, sm := range s.Samples {
					if s.Kind == batch.KindCounter && sm.Value < prev[i] {
						t.Fatalf("counter %s%v went down: %v after %v", s.Name, s.Labels, sm.Value, prev[i])
					}
					if sm.Value < 0 {
						t.Fatalf("%s: negative value %v", s.Name, sm.Value)
					}
					prev[i] = sm.Value
				}
				if i == 0 {
					if s.Samples[0].TimestampMs <= lastTs {
						t.Fatalf("timestamps do not advance: %d after %d", s.Samples[0].TimestampMs, lastTs)
					}
					lastTs = s.Samples[len(s.Samples)-1].TimestampMs
				}
			}
		}
	}
	if _, err := NewHostGen("h", 0, GenOptions{SeriesPerBatch: 0, SamplesPerSeries: 10, StepMs: 10_000, StartMs: 0}); err == nil {
		t.Fatal("zero series accepted")
	}
}

// TestHostGenEncodes checks the batches are valid for the codec and that
// every series of a batch is distinct, as the collector requires.
func TestHostGenEncodes(t *testing.T) {
	g, err := NewHostGen("web-1", 1, GenOptions{SeriesPerBatch: 200, SamplesPerSeries: 10, StepMs: 10_000, StartMs: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := codec.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	b := g.Next(1)
	seen := map[string]bool{}
	for _, s := range b.Series {
		key := s.Name
		for _, l := range s.Labels {
			key += "," + l.Name + "=" + l.Value
		}
		if seen[key] {
			t.Fatalf("series %s twice", key)
		}
		seen[key] = true
	}
	body, err := enc.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	h, err := codec.PeekHeader(body)
	if err != nil || h.AgentID != "web-1" || h.Seq != 1 {
		t.Fatalf("header %+v, %v", h, err)
	}
}
