package main

import (
	"cmp"
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// decodeAll reads generated requests back through snappy and prompb's own
// decoder, as a receiver does.
func decodeAll(t *testing.T, bodies [][]byte) []prompb.WriteRequest {
	t.Helper()
	out := make([]prompb.WriteRequest, 0, len(bodies))
	for i, b := range bodies {
		raw, err := snappy.Decode(nil, b)
		if err != nil {
			t.Fatalf("request %d: snappy: %v", i, err)
		}
		var wr prompb.WriteRequest
		if err := wr.Unmarshal(raw); err != nil {
			t.Fatalf("request %d: unmarshal: %v", i, err)
		}
		out = append(out, wr)
	}
	return out
}

func TestGenerate(t *testing.T) {
	const queryStep = 60_000
	tests := []struct {
		name string
		d    dataset
		l    layout
	}{
		{"even", dataset{hosts: 3, cpus: 2, samples: 60, stepMs: 10_000, endMs: 1_700_000_040_000}, layout{seriesPerReq: 3, samplesPerSeries: 20}},
		{"ragged", dataset{hosts: 2, cpus: 3, samples: 50, stepMs: 10_000, endMs: 1_700_000_040_000}, layout{seriesPerReq: 4, samplesPerSeries: 7}},
		{"one series", dataset{hosts: 1, cpus: 1, samples: 13, stepMs: 20_000, endMs: 1_700_000_040_000}, layout{seriesPerReq: 5, samplesPerSeries: 5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, l := tc.d, tc.l
			g, err := generate(d, l, queryStep)
			if err != nil {
				t.Fatal(err)
			}
			if want := l.slices(d) * l.groups(d); len(g.bodies) != want {
				t.Fatalf("%d requests, want %d", len(g.bodies), want)
			}
			if g.samples != d.totalSamples() {
				t.Fatalf("%d samples, want %d", g.samples, d.totalSamples())
			}
			type key struct{ host, cpu string }
			bySeries := make(map[key][]prompb.Sample)
			for i, wr := range decodeAll(t, g.bodies) {
				n := 0
				if len(wr.Timeseries) > l.seriesPerReq {
					t.Errorf("request %d: %d series, limit %d", i, len(wr.Timeseries), l.seriesPerReq)
				}
				for _, ts := range wr.Timeseries {
					if !slices.IsSortedFunc(ts.Labels, func(a, b prompb.Label) int { return cmp.Compare(a.Name, b.Name) }) {
						t.Errorf("request %d: labels not sorted: %v", i, ts.Labels)
					}
					var k key
					for _, lb := range ts.Labels {
						switch lb.Name {
						case "host":
							k.host = lb.Value
						case "cpu":
							k.cpu = lb.Value
						}
					}
					bySeries[k] = append(bySeries[k], ts.Samples...)
					n += len(ts.Samples)
				}
				if n > l.seriesPerReq*l.samplesPerSeries {
					t.Errorf("request %d: %d samples", i, n)
				}
			}
			if len(bySeries) != d.seriesCount() {
				t.Fatalf("%d series, want %d", len(bySeries), d.seriesCount())
			}
			// Recompute sum by (cpu) (x) at every query step from the
			// decoded samples, independently of the generator's bookkeeping.
			want := make(map[string]map[int64]float64)
			for k, ss := range bySeries {
				if len(ss) != d.samples {
					t.Errorf("%v: %d samples, want %d", k, len(ss), d.samples)
				}
				for i, s := range ss {
					if s.Timestamp <= d.endMs-d.span() || s.Timestamp >= d.endMs {
						t.Errorf("%v: sample at %d outside (%d, %d)", k, s.Timestamp, d.endMs-d.span(), d.endMs)
					}
					if s.Timestamp%queryStep == 0 {
						t.Errorf("%v: sample at %d is on a query step", k, s.Timestamp)
					}
					if math.Round(s.Value*100)/100 != s.Value || s.Value < 0 {
						t.Errorf("%v: value %v is not a counter in 1/100 s", k, s.Value)
					}
					if i > 0 && (s.Timestamp != ss[i-1].Timestamp+d.stepMs || s.Value < ss[i-1].Value) {
						t.Errorf("%v: sample %d (%d, %v) does not follow (%d, %v)", k, i, s.Timestamp, s.Value, ss[i-1].Timestamp, ss[i-1].Value)
					}
				}
				if want[k.cpu] == nil {
					want[k.cpu] = make(map[int64]float64)
				}
				for q := (d.endMs - d.span() + queryStep - 1) / queryStep * queryStep; q <= d.endMs; q += queryStep {
					j := sortSearchLE(ss, q)
					if j >= 0 && q-ss[j].Timestamp < 5*60_000 {
						want[k.cpu][q] += ss[j].Value
					}
				}
			}
			df := compare(want, expectedByCPU(g, d.endMs-d.span(), d.endMs))
			if !df.ok(d.cpus, 1e-12) {
				t.Errorf("expected sums differ from the samples: %v", df)
			}
		})
	}
}

// sortSearchLE is the index of the last sample at or before t, or -1.
func sortSearchLE(ss []prompb.Sample, t int64) int {
	i, _ := slices.BinarySearchFunc(ss, t+1, func(s prompb.Sample, t int64) int { return cmp.Compare(s.Timestamp, t) })
	return i - 1
}

func TestGenerateRefusesMisalignedEnd(t *testing.T) {
	d := dataset{hosts: 1, cpus: 1, samples: 10, stepMs: 10_000, endMs: 1_700_000_010_000}
	if _, err := generate(d, layout{seriesPerReq: 1, samplesPerSeries: 1}, 60_000); err == nil {
		t.Fatal("an end off the query step was accepted")
	}
}

func TestSendAll(t *testing.T) {
	d := dataset{hosts: 4, cpus: 2, samples: 30, stepMs: 10_000, endMs: 1_700_000_040_000}
	l := layout{seriesPerReq: 3, samplesPerSeries: 4}
	g, err := generate(d, l, 60_000)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		refuse     int // request index answered 400, -1 for none
		wantFailed int
	}{
		{"all accepted", -1, 0},
		{"one refused", 5, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			last := make(map[string]int64) // newest timestamp per series seen
			var got, outOfOrder int
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Content-Encoding") != "snappy" {
					http.Error(w, "bad headers", http.StatusUnauthorized)
					return
				}
				body, _ := io.ReadAll(r.Body)
				raw, err := snappy.Decode(nil, body)
				var wr prompb.WriteRequest
				if err == nil {
					err = wr.Unmarshal(raw)
				}
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if tc.refuse >= 0 && slices.IndexFunc(g.bodies, func(b []byte) bool { return string(b) == string(body) }) == tc.refuse {
					http.Error(w, "out of bounds", http.StatusBadRequest)
					return
				}
				for _, ts := range wr.Timeseries {
					var k string
					for _, lb := range ts.Labels {
						k += lb.Name + "=" + lb.Value + ","
					}
					if ts.Samples[0].Timestamp <= last[k] {
						outOfOrder++
					}
					last[k] = ts.Samples[len(ts.Samples)-1].Timestamp
					got += len(ts.Samples)
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			res := sendAll(context.Background(), writeTarget{url: srv.URL, token: "tok", client: srv.Client()}, g.bodies, g.groups, 4)
			if res.failed != tc.wantFailed {
				t.Fatalf("failed = %d (%s), want %d", res.failed, res.firstErr, tc.wantFailed)
			}
			if outOfOrder != 0 {
				t.Errorf("%d series reached the server out of order", outOfOrder)
			}
			if tc.wantFailed == 0 && got != g.samples {
				t.Errorf("server got %d samples, want %d", got, g.samples)
			}
		})
	}
}

func TestParseResult(t *testing.T) {
	tests := []struct {
		name, body, typ string
		want            map[string]map[int64]float64
		wantErr         bool
	}{
		{"matrix", `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"cpu":"0"},"values":[[1700000000,"1.5"],[1700000060.5,"2"]]}]}}`, "matrix",
			map[string]map[int64]float64{"0": {1_700_000_000_000: 1.5, 1_700_000_060_500: 2}}, false},
		{"vector", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"8640000"]}]}}`, "vector",
			map[string]map[int64]float64{"": {1_700_000_000_000: 8_640_000}}, false},
		{"error", `{"status":"error","errorType":"bad_data","error":"parse error"}`, "matrix", nil, true},
		{"wrong type", `{"status":"success","data":{"resultType":"vector","result":[]}}`, "matrix", nil, true},
		{"bad value", `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}}`, "matrix", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ss, err := parseResult([]byte(tc.body), tc.typ)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if df := compare(tc.want, byLabel(ss, "cpu")); df.onlyOne != 0 || df.maxRel != 0 || df.compared == 0 {
				t.Errorf("parsed %v, want %v (%v)", ss, tc.want, df)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	a := map[string]map[int64]float64{"0": {1: 100, 2: 200}, "1": {1: 10}}
	tests := []struct {
		name    string
		b       map[string]map[int64]float64
		onlyOne int
		maxRel  float64
	}{
		{"same", map[string]map[int64]float64{"0": {1: 100, 2: 200}, "1": {1: 10}}, 0, 0},
		{"off by a tenth", map[string]map[int64]float64{"0": {1: 100, 2: 200}, "1": {1: 9}}, 0, 0.1},
		{"missing point and series", map[string]map[int64]float64{"0": {1: 100}}, 2, 0},
		{"extra point", map[string]map[int64]float64{"0": {1: 100, 2: 200, 3: 1}, "1": {1: 10}}, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			df := compare(a, tc.b)
			if df.onlyOne != tc.onlyOne || math.Abs(df.maxRel-tc.maxRel) > 1e-12 {
				t.Errorf("compare = %+v, want onlyOne %d maxRel %v", df, tc.onlyOne, tc.maxRel)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		in   []time.Duration
		q    float64
		want time.Duration
	}{
		{ms(5, 1, 4, 2, 3, 10, 9, 8, 7, 6), 0.5, 5 * time.Millisecond},
		{ms(5, 1, 4, 2, 3, 10, 9, 8, 7, 6), 0.9, 9 * time.Millisecond},
		{ms(3), 0.9, 3 * time.Millisecond},
		{nil, 0.5, 0},
	}
	for _, tc := range tests {
		if got := quantile(tc.in, tc.q); got != tc.want {
			t.Errorf("quantile(%v, %v) = %v, want %v", tc.in, tc.q, got, tc.want)
		}
	}
}
