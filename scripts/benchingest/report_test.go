package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestHistogramQuantiles checks quantiles against exact ones within the
// histogram's promised precision, across the whole range of latencies.
func TestHistogramQuantiles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values func(i int) time.Duration
		n      int
	}{
		{"sub-millisecond", func(i int) time.Duration { return time.Duration(i) * time.Microsecond }, 900},
		{"milliseconds", func(i int) time.Duration { return time.Duration(i) * 37 * time.Microsecond }, 10000},
		{"seconds", func(i int) time.Duration { return time.Duration(i) * 3 * time.Millisecond }, 2000},
		{"one value", func(int) time.Duration { return 1234567 * time.Nanosecond }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h histogram
			for i := 1; i <= tc.n; i++ {
				h.record(tc.values(i))
			}
			for _, q := range []float64{0.5, 0.9, 0.99, 1} {
				rank := max(1, int(q*float64(tc.n)+0.5))
				exact := tc.values(rank)
				got := h.quantile(q)
				// Upper bucket edge: never below the truth by more than the
				// microsecond truncation, at most 1/64 above it.
				if got < exact-time.Microsecond || float64(got) > float64(exact)*(1+1.0/subBuckets)+float64(time.Microsecond) {
					t.Errorf("q%.2f = %s, exact %s", q, got, exact)
				}
			}
			if time.Duration(h.maxNs) != tc.values(tc.n) {
				t.Errorf("max %s, want %s", time.Duration(h.maxNs), tc.values(tc.n))
			}
		})
	}
	for us := uint64(0); us < 1<<20; us += 7 {
		if i := bucketOf(us); bucketUpper(i) < us || (i > 0 && bucketUpper(i-1) >= us) {
			t.Fatalf("%d us lands in bucket %d of upper %d", us, i, bucketUpper(i))
		}
	}
}

// TestReport checks that the table puts every run in, against the
// Lightmetrics baseline.
func TestReport(t *testing.T) {
	runs := []summary{
		{System: "lightmetrics (agent, fsync)", Target: targetLightmetrics, SamplesPerS: 1_000_000, Latency: latencySummary{P99: 10}},
		{System: "prometheus 2.42.0", Target: targetRemoteWrite, SamplesPerS: 450_000, Latency: latencySummary{P99: 25}, MaxSamplesPerSend: 2000,
			Errors: map[string]uint64{"400": 3}, ErrorRequests: 3},
		{System: "lightmetrics (agent, fsync)", Target: targetLightmetrics, SamplesPerS: 2_000_000, Latency: latencySummary{P99: 20}},
	}
	var in bytes.Buffer
	in.WriteString("a human line\n")
	for _, r := range runs {
		line, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		in.Write(line)
		in.WriteByte('\n')
	}
	got, err := readSummaries(&in)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("read %d summaries, want 3", len(got))
	}
	var out bytes.Buffer
	if err := writeTable(&out, got); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1,000,000", "450,000", "0.45x", "2.50x", "errors prometheus 2.42.0: 400 x3", "max 2000 samples per request",
		"median per system", "1,500,000", "0.30x", // the median of the two Lightmetrics runs, and Prometheus against it
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}
