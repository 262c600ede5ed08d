package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseMetrics(t *testing.T) {
	const page = `# HELP lightmetrics_landing_bytes_total Segment bytes uploaded to the object store.
# TYPE lightmetrics_landing_bytes_total counter
lightmetrics_landing_bytes_total 3.29e+06
lightmetrics_landing_upload_seconds_sum 0.7
lightmetrics_landing_upload_seconds_count 59
lightmetrics_landing_upload_seconds_bucket{le="+Inf"} 59
lightmetrics_manifest_accept_seconds_sum{outcome="accepted"} 2.5
lightmetrics_manifest_accept_seconds_count{outcome="accepted"} 500
weird{path="a b} c"} 7 1700000000000
`
	m, err := parseMetrics(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	for series, want := range map[string]float64{
		"lightmetrics_landing_bytes_total":                      3.29e6,
		`lightmetrics_landing_upload_seconds_bucket{le="+Inf"}`: 59,
		`weird{path="a b} c"}`:                                  7,
	} {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if mean, n := m.mean("lightmetrics_manifest_accept_seconds", `{outcome="accepted"}`); mean != 0.005 || n != 500 {
		t.Errorf("manifest mean %v over %v, want 0.005 over 500", mean, n)
	}
	if mean, n := m.mean("lightmetrics_spool_commit_duration_seconds", ""); mean != 0 || n != 0 {
		t.Errorf("absent histogram: mean %v over %v, want 0 over 0", mean, n)
	}

	for _, bad := range []string{"x{a=\"b\" 1\n", "lonely_name\n", "x notanumber\n"} {
		if _, err := parseMetrics(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestWriteReportRatiosAgainstLocalSpool(t *testing.T) {
	sum := func(p50, p99 float64) *loadSummary {
		s := &loadSummary{Agents: 20, SamplesPerBatch: 2000, OfferedBatchesPerS: 100, DurationS: 20, WarmupS: 1, Batches: 2000, BatchesPerS: 100}
		s.Latency.P50, s.Latency.P99 = p50, p99
		return s
	}
	runs := []*modeResult{
		{Mode: modeManifest, Load: sum(8, 30)}, // before the baseline: still compared with it
		{Mode: modeLocal, Load: sum(2, 10)},
		{Mode: modeLanding, Err: errors.New("collector did not start")},
	}
	land := &landResult{Records: 10, BodyBytes: 128e6, Segments: 16, SegmentBytes: 128e6, Took: 2 * time.Second}
	var b bytes.Buffer
	if err := writeReport(&b, runs, land, nil, landOptions{Agents: 20}); err != nil {
		t.Fatal(err)
	}
	out := squeeze(b.String())
	for _, want := range []string{
		"s3_manifest 2000 100.0 0 8.00 30.00 0.0 4.00x 3.00x", // p50 and p99 against local_spool
		"local_spool 2000 100.0 0 2.00 10.00 0.0 1.00x 1.00x",
		"local_spool+landing - - -",
		"FAILED local_spool+landing: collector did not start",
		"): 64.0 MB/s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}

	// Without a local_spool run there is nothing to compare with.
	b.Reset()
	if err := writeReport(&b, runs[:1], nil, errors.New("boom"), landOptions{}); err != nil {
		t.Fatal(err)
	}
	if out := squeeze(b.String()); !strings.Contains(out, "s3_manifest 2000 100.0 0 8.00 30.00 0.0 - -") || !strings.Contains(out, "landing throughput (in-process lander): FAILED: boom") {
		t.Errorf("report without a baseline:\n%s", out)
	}
}

func TestSelectModes(t *testing.T) {
	got, err := selectModes("s3_manifest, local_spool")
	if err != nil || len(got) != 2 || got[0] != modeManifest || got[1] != modeLocal {
		t.Fatalf("selectModes = %v, %v", got, err)
	}
	if _, err := selectModes("local_spool,s3"); err == nil {
		t.Fatal("unknown mode accepted")
	}
}

// squeeze turns every run of spaces into one, so table rows can be
// matched whatever the column widths.
func squeeze(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}
