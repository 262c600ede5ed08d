package logtail

import (
	"path/filepath"
	"testing"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

func TestDetectLevel(t *testing.T) {
	tests := []struct {
		line string
		want level
	}{
		{"2024-01-02T03:04:05Z ERROR db: connection refused", levelError},
		{"2024-01-02 WARN disk almost full", levelWarn},
		{"WARNING: low memory", levelWarn},
		{"INFO started", levelInfo},
		{"DEBUG x=1", levelDebug},
		{"TRACE enter", levelTrace},
		{"FATAL cannot continue", levelFatal},
		{"PANIC: nil map", levelFatal},
		{`time=2024 level=warn msg="slow query"`, levelWarn},
		{`time=2024 level="error" msg=x`, levelError},
		{`ts=1 lvl=dbg msg=x`, levelDebug},
		{`{"time":"2024","level":"info","msg":"hi"}`, levelInfo},
		{`{"severity": "CRITICAL"}`, levelFatal},
		{"[error] 123#0: open() failed", levelError},
		{"<warn> lowercase in brackets", levelWarn},
		{"Jan  2 03:04:05 host sshd[12]: NOTICE accepted", levelInfo},
		{"no error occurred, all fine", levelNone}, // lower-case prose is not a level
		{"INFORMATION is not INFO_", levelNone},    // whole words only
		{"level=verbose", levelNone},               // unknown value
		{"Error: capitalised prose is not a level", levelNone},
		{"", levelNone},
		{string(make([]byte, 300)) + "ERROR beyond the scan window", levelNone},
	}
	for _, tt := range tests {
		if got := detectLevel([]byte(tt.line)); got != tt.want {
			t.Errorf("detectLevel(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestDetectLevelNoAllocs(t *testing.T) {
	line := []byte(`2024-01-02T03:04:05Z host app[1]: level=warn msg="something slow happened"`)
	if n := testing.AllocsPerRun(100, func() { detectLevel(line) }); n != 0 {
		t.Fatalf("detectLevel allocates %v times per call", n)
	}
}

func TestRecordAttrs(t *testing.T) {
	const path = "/var/log/app.log"
	tests := []struct {
		name  string
		host  string
		attrs map[string]string
		line  string
		want  batch.Labels
	}{
		{"path only", "", nil, "plain", batch.Labels{{Name: "path", Value: path}}},
		{"host", "h1", nil, "plain", batch.Labels{{Name: "host", Value: "h1"}, {Name: "path", Value: path}}},
		{"level", "h1", nil, "ERROR x",
			batch.Labels{{Name: "host", Value: "h1"}, {Name: "level", Value: "error"}, {Name: "path", Value: path}}},
		{"one static and level", "h1", map[string]string{"env": "lab"}, "WARN x",
			batch.Labels{{Name: "env", Value: "lab"}, {Name: "host", Value: "h1"}, {Name: "level", Value: "warn"}, {Name: "path", Value: path}}},
		{"two static: level dropped to stay at four", "h1", map[string]string{"env": "lab", "team": "ops"}, "ERROR x",
			batch.Labels{{Name: "env", Value: "lab"}, {Name: "host", Value: "h1"}, {Name: "path", Value: path}, {Name: "team", Value: "ops"}}},
		{"two static without host keeps level", "", map[string]string{"env": "lab", "team": "ops"}, "ERROR x",
			batch.Labels{{Name: "env", Value: "lab"}, {Name: "level", Value: "error"}, {Name: "path", Value: path}, {Name: "team", Value: "ops"}}},
		{"static level wins over detection", "", map[string]string{"level": "audit"}, "ERROR x",
			batch.Labels{{Name: "level", Value: "audit"}, {Name: "path", Value: path}}},
		{"static host wins over Hostname", "h1", map[string]string{"host": "vm7"}, "x",
			batch.Labels{{Name: "host", Value: "vm7"}, {Name: "path", Value: path}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := compileInput(Input{Source: "s", Paths: []string{path}, Attrs: tt.attrs})
			if err != nil {
				t.Fatal(err)
			}
			got := newAttrSet(in, path, tt.host).byLevel[detectLevel([]byte(tt.line))]
			if len(got) > MaxRecordAttrs {
				t.Fatalf("%d attributes", len(got))
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// Records of one file share attribute slices; appending to one must not
// change another.
func TestRecordAttrsShareSafely(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	writeFile(t, path, "INFO a\nINFO b\n")
	h := newHarness(t, inputAt(path, true), Options{Hostname: "h"})
	recs := h.poll(10)
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	_ = append(recs[0].Attrs, batch.Label{Name: "zzz", Value: "1"})
	if len(recs[1].Attrs) != 3 || cap(recs[1].Attrs) != 3 {
		t.Fatalf("attrs %v (cap %d): shared slices must be full", recs[1].Attrs, cap(recs[1].Attrs))
	}
}
