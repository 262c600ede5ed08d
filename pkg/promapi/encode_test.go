package promapi

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

func TestAppendString(t *testing.T) {
	cases := []string{"", "plain", `quote " and \ backslash`, "tab\tnl\ncr\r", "\x00\x1f\x7f", "<a href='x'>&amp;</a>",
		"héllo wörld ✓ 🚀", "bad \xff utf8 \xc3", "line\u2028sep\u2029", "\u00e9\u0301"}
	rng := rand.New(rand.NewPCG(7, 7))
	for range 2000 {
		b := make([]byte, rng.IntN(24))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); string(got) != string(want) {
			t.Fatalf("appendString(%q) = %s, encoding/json gives %s", s, got, want)
		}
	}
}

func TestAppendNumbers(t *testing.T) {
	ts := []struct {
		ms   int64
		want string
	}{
		{0, "0"}, {1000, "1"}, {1500, "1.500"}, {1001, "1.001"}, {1010, "1.010"}, {1700000000123, "1700000000.123"},
		{-1500, "-1.500"}, {-5, "-0.005"},
	}
	for _, tt := range ts {
		if got := string(appendTimestamp(nil, tt.ms)); got != tt.want {
			t.Errorf("appendTimestamp(%d) = %s, want %s", tt.ms, got, tt.want)
		}
	}
	fs := []struct {
		f    float64
		want string
	}{
		{0, `"0"`}, {1, `"1"`}, {0.1, `"0.1"`}, {-2.5, `"-2.5"`}, {1e-6, `"0.000001"`}, {1e-7, `"1e-07"`},
		{1e20, `"100000000000000000000"`}, {1e21, `"1e+21"`}, {math.NaN(), `"NaN"`}, {math.Inf(1), `"+Inf"`}, {math.Inf(-1), `"-Inf"`},
	}
	for _, tt := range fs {
		if got := string(appendFloat(nil, tt.f)); got != tt.want {
			t.Errorf("appendFloat(%v) = %s, want %s", tt.f, got, tt.want)
		}
	}
}

func TestAppendQueryData(t *testing.T) {
	h := &histogram.FloatHistogram{
		Schema: 0, Count: 3, Sum: 5, ZeroThreshold: 0.001, ZeroCount: 1,
		PositiveSpans: []histogram.Span{{Offset: 0, Length: 2}}, PositiveBuckets: []float64{1, 1},
	}
	tests := []struct {
		name string
		v    interface{ String() string }
		want string
	}{
		{"empty vector", promql.Vector{}, `{"resultType":"vector","result":[]}`},
		{"empty matrix", promql.Matrix{}, `{"resultType":"matrix","result":[]}`},
		{"vector", promql.Vector{{T: 1500, F: 2, Metric: labels.FromStrings("__name__", "x", "a", `q"`)}},
			`{"resultType":"vector","result":[{"metric":{"__name__":"x","a":"q\""},"value":[1.500,"2"]}]}`},
		{"matrix", promql.Matrix{{Metric: labels.FromStrings("a", "b"), Floats: []promql.FPoint{{T: 1000, F: 1}, {T: 2000, F: math.Inf(1)}}}},
			`{"resultType":"matrix","result":[{"metric":{"a":"b"},"values":[[1,"1"],[2,"+Inf"]]}]}`},
		{"histogram sample", promql.Vector{{T: 1000, H: h, Metric: labels.EmptyLabels()}},
			`{"resultType":"vector","result":[{"metric":{},"histogram":[1,{"count":"3","sum":"5","buckets":[[3,"-0.001","0.001","1"],[0,"0.5","1","1"],[0,"1","2","1"]]}]}]}`},
		{"histogram series", promql.Matrix{{Metric: labels.EmptyLabels(), Histograms: []promql.HPoint{{T: 1000, H: h}}}},
			`{"resultType":"matrix","result":[{"metric":{},"histograms":[[1,{"count":"3","sum":"5","buckets":[[3,"-0.001","0.001","1"],[0,"0.5","1","1"],[0,"1","2","1"]]}]]}]}`},
		{"scalar in plain notation", promql.Scalar{T: 1000, V: 1e-7}, `{"resultType":"scalar","result":[1,"0.0000001"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []byte
			switch v := tt.v.(type) {
			case promql.Vector:
				got = appendQueryData(nil, v)
			case promql.Matrix:
				got = appendQueryData(nil, v)
			case promql.Scalar:
				got = appendQueryData(nil, v)
			}
			if string(got) != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Fatalf("invalid JSON %s", got)
			}
		})
	}
}
