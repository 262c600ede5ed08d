package ingest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// fuzzBounds are small so the fuzzer reaches every limit.
var fuzzBounds = rwBounds{maxDecoded: 1 << 16, maxSeries: 8, maxLabels: 4, maxSamples: 64}

// FuzzRemoteWriteBody feeds decodeRemoteWrite arbitrary bodies: as sent
// (raw=false, so the snappy layer is fuzzed too) or as a protobuf the target
// compresses first (raw=true, so mutations land in the protobuf). Besides
// "never panics", it checks the parser against prompb's generated
// Unmarshal: whenever prompb can read the request, decodeRemoteWrite must
// reach the same verdict and the same series as a straightforward
// conversion of prompb's result. (The other way round it may accept more:
// it skips exemplars and metadata without reading them.)
func FuzzRemoteWriteBody(f *testing.F) {
	for _, wr := range fuzzSeeds() {
		pb, err := wr.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pb, true)
		f.Add(snappy.Encode(nil, pb), false)
	}
	f.Add([]byte{}, false)
	f.Add([]byte("\xff\xff\xff\xff\x0f"), false)
	f.Fuzz(func(t *testing.T, data []byte, raw bool) {
		body := data
		if raw {
			body = snappy.Encode(nil, data)
		}
		b, err := decodeRemoteWrite(body, "agent-f", fuzzBounds)
		var le *rwLimitError
		if err != nil && !errors.As(err, &le) && !errors.Is(err, errRemoteWriteMalformed) {
			t.Fatalf("error is neither a limit nor malformed: %v", err)
		}
		if err == nil {
			if b.AgentID != "agent-f" || b.Seq&(1<<63) == 0 || len(b.Series) > fuzzBounds.maxSeries {
				t.Fatalf("bad batch identity or size: %s/%d, %d series", b.AgentID, b.Seq, len(b.Series))
			}
		}

		// The oracle must not inflate a bomb either.
		n, derr := snappy.DecodedLen(body)
		if derr != nil || n > fuzzBounds.maxDecoded {
			if err == nil {
				t.Fatalf("accepted a body snappy refuses (%v) or one over the bound (%d bytes)", derr, n)
			}
			return
		}
		pb, derr := snappy.Decode(nil, body)
		if derr != nil {
			if err == nil {
				t.Fatalf("accepted a body snappy cannot decode: %v", derr)
			}
			return
		}
		var wr prompb.WriteRequest
		if wr.Unmarshal(pb) != nil {
			return
		}
		want, ok := referenceConvert(&wr, "agent-f", fuzzBounds)
		switch {
		case ok && err != nil && hasUnknownFields(&wr) && strings.Contains(err.Error(), "proto:"):
			// A wire error inside an unknown field: protowire checks
			// deprecated proto2 groups (matching end marker, valid field
			// numbers inside) where gogo skips them blindly. No remote-write
			// sender emits groups; refusing a broken one is the stricter,
			// correct reading.
		case ok && err != nil:
			t.Fatalf("prompb reads the request and the reference accepts it, decodeRemoteWrite says: %v", err)
		case !ok && err == nil:
			t.Fatalf("the reference refuses the request, decodeRemoteWrite accepted it: %+v", b.Series)
		case ok && !seriesEqual(b.Series, want):
			t.Fatalf("series differ:\n got %+v\nwant %+v", b.Series, want)
		}
	})
}

// hasUnknownFields reports whether gogo kept unknown fields of any message
// the parser reads field by field (the others it skips whole).
func hasUnknownFields(wr *prompb.WriteRequest) bool {
	if len(wr.XXX_unrecognized) > 0 {
		return true
	}
	for _, ts := range wr.Timeseries {
		if len(ts.XXX_unrecognized) > 0 {
			return true
		}
		for _, l := range ts.Labels {
			if len(l.XXX_unrecognized) > 0 {
				return true
			}
		}
		for _, smp := range ts.Samples {
			if len(smp.XXX_unrecognized) > 0 {
				return true
			}
		}
	}
	return false
}

// referenceConvert applies the documented conversion rules to a request
// prompb has decoded, the slow and obvious way.
func referenceConvert(wr *prompb.WriteRequest, agent string, bd rwBounds) ([]batch.Series, bool) {
	if len(wr.Timeseries) > bd.maxSeries {
		return nil, false
	}
	var out []batch.Series
	samples := 0
	for _, ts := range wr.Timeseries {
		if len(ts.Histograms) > 0 || len(ts.Labels)-1 > bd.maxLabels {
			return nil, false
		}
		if samples += len(ts.Samples); samples > bd.maxSamples {
			return nil, false
		}
		s := batch.Series{}
		names := 0
		for _, l := range ts.Labels {
			if l.Name == "" || !utf8.ValidString(l.Name) || !utf8.ValidString(l.Value) {
				return nil, false
			}
			switch {
			case l.Name == "__name__":
				names++
				s.Name = l.Value
			case l.Name == "agent" || l.Value == "":
			default:
				s.Labels = append(s.Labels, batch.Label{Name: l.Name, Value: l.Value})
			}
		}
		if names > 1 || s.Name == "" {
			return nil, false
		}
		s.Labels = append(s.Labels, batch.Label{Name: "agent", Value: agent})
		slices.SortFunc(s.Labels, func(a, b batch.Label) int { return strings.Compare(a.Name, b.Name) })
		for i := 1; i < len(s.Labels); i++ {
			if s.Labels[i].Name == s.Labels[i-1].Name {
				return nil, false
			}
		}
		for _, smp := range ts.Samples {
			s.Samples = append(s.Samples, batch.Sample{TimestampMs: smp.Timestamp, Value: smp.Value})
		}
		if len(s.Samples) > 0 {
			out = append(out, s)
		}
	}
	return out, true
}

// fuzzSeeds are requests covering each conversion rule once; they are also
// the seed corpus written to testdata/fuzz/FuzzRemoteWriteBody.
func fuzzSeeds() []*prompb.WriteRequest {
	one := func(labels ...string) *prompb.WriteRequest {
		return &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{Labels: lbls(labels...), Samples: []prompb.Sample{{Value: 1, Timestamp: 1}}}}}
	}
	hist := sampleRequest()
	hist.Timeseries[0].Histograms = []prompb.Histogram{{Count: &prompb.Histogram_CountInt{CountInt: 1}}}
	empty := one("__name__", "m")
	empty.Timeseries[0].Samples = nil
	return []*prompb.WriteRequest{
		sampleRequest(),
		{Metadata: sampleRequest().Metadata},
		hist,
		empty,
		one("__name__", "m", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5"),
		one("job", "no-name"),
		one("__name__", "m", "job", "x", "job", "y"),
		one("__name__", "m", "__name__", "n"),
		one("__name__", "m", "", "empty-name"),
		one("__name__", "m", "bad", "\xff"),
	}
}
