package main

import (
	"bufio"
	"reflect"
	"strings"
	"testing"
)

func TestSumMetric(t *testing.T) {
	text := `# HELP lightmetrics_ingest_refusals_total Refused writes.
# TYPE lightmetrics_ingest_refusals_total counter
lightmetrics_ingest_refusals_total{reason="malformed"} 3
lightmetrics_ingest_refusals_total{reason="unavailable"} 126
lightmetrics_ingest_refusals_total_other{reason="unavailable"} 9
lightmetrics_landing_lag_records 0
lightmetrics_landing_lag_records_x 5
`
	tests := []struct {
		name   string
		labels []string
		want   float64
		found  bool
	}{
		{"lightmetrics_ingest_refusals_total", []string{`reason="unavailable"`}, 126, true},
		{"lightmetrics_ingest_refusals_total", nil, 129, true},
		{"lightmetrics_ingest_refusals_total", []string{`reason="forbidden"`}, 0, false},
		{"lightmetrics_landing_lag_records", nil, 0, true},
		{"lightmetrics_absent", nil, 0, false},
	}
	for _, tc := range tests {
		got, found := sumMetric(text, tc.name, tc.labels...)
		if got != tc.want || found != tc.found {
			t.Errorf("sumMetric(%s, %v) = %v, %v; want %v, %v", tc.name, tc.labels, got, found, tc.want, tc.found)
		}
	}
}

func TestParseLine(t *testing.T) {
	p := "soak daemon-ab line "
	for msg, want := range map[string]int{"soak daemon-ab line 12": 12, "soak daemon-ab line 0": 0, "soak daemon-ab line 1x": 0,
		"soak daemon-c line 3": 0, "soak daemon-ab line 12 tail": 0} {
		n, ok := parseLine(msg, p)
		if (want == 0) == ok || n != want && ok {
			t.Errorf("parseLine(%q) = %d, %v; want %d", msg, n, ok, want)
		}
	}
	if n, ok := parseLine(lineText("daemon-ab", 42), p); !ok || n != 42 {
		t.Errorf("lineText does not read back: %d, %v", n, ok)
	}
}

func TestParseSampleUint(t *testing.T) {
	for s, want := range map[string]uint64{"1795601233729931": 1795601233729931, "1.795601233729931e+15": 1795601233729931, "7": 7} {
		if got, err := parseSampleUint(s); err != nil || got != want {
			t.Errorf("parseSampleUint(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"1.5", "-3", "NaN", "x"} {
		if _, err := parseSampleUint(s); err == nil {
			t.Errorf("parseSampleUint(%q) accepted", s)
		}
	}
}

func TestFlushOutput(t *testing.T) {
	out := "time=… level=INFO msg=x\nflushed 3 of 4 queued batch(es): uploaded 3, duplicates 0, moved aside 0; 1 left\nError: flush (data kept in the queue): boom\n"
	line := flushSummary(out)
	if !strings.HasPrefix(line, "flushed 3 of 4") {
		t.Fatalf("flushSummary = %q", line)
	}
	if n, ok := flushLeft(line); !ok || n != 1 {
		t.Errorf("flushLeft = %d, %v", n, ok)
	}
	if _, ok := flushLeft("Error: open queue: queue in use by another process"); ok {
		t.Error("flushLeft read a number from an error")
	}
}

func TestFindPanics(t *testing.T) {
	log := "level=INFO msg=ok\npanic: runtime error: index out of range\n\ngoroutine 1 [running]:\nfatal error: concurrent map writes\nmsg=\"no panic here\"\n"
	got, err := findPanics(bufio.NewReader(strings.NewReader(log)))
	want := []string{"panic: runtime error: index out of range", "fatal error: concurrent map writes"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("findPanics = %q, %v; want %q", got, err, want)
	}
}
