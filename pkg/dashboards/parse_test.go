package dashboards

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/golden")

// badCases maps each file in testdata/bad to substrings its error must
// contain. Lines are part of the expectation where the key is in the file.
var badCases = map[string][]string{
	"unknown_key.toml":        {"unknown_key.toml:7: panels[0].colour: unknown key"},
	"unknown_key_nested.toml": {"unknown_key_nested.toml:15: panels[0].queries[1].legnd: unknown key"},
	"bad_panel_type.toml":     {`bad_panel_type.toml:7: panels[0].type: "graph" is not one of "timeseries", "stat", "table", "logs"`},
	"bad_unit.toml":           {`bad_unit.toml:8: panels[0].unit: "furlongs" is not one of`},
	"bad_variable_kind.toml":  {`bad_variable_kind.toml:6: variables[0].kind: "host" is not one of "agent", "label_values", "custom", "text"`},
	"bad_promql.toml":         {`bad_promql.toml:17: panels[1].queries[0].expr: panel "net": invalid PromQL`, "unclosed left parenthesis"},
	"range_vector_expr.toml":  {`range_vector_expr.toml:9: panels[0].queries[0].expr: panel "net": expression is a range vector`},
	"duplicate_panel_id.toml": {`duplicate_panel_id.toml:12: panels[1].id: duplicate panel id "load" (first used by panels[0])`},
	"layout_out_of_grid.toml": {"layout_out_of_grid.toml:13: panels[0].layout.w: x 18 + w 8 = 26 runs past the 24-column grid"},
	"layout_zero_size.toml":   {"layout_zero_size.toml:8: panels[0].layout.h: height 0 must be at least 1"},
	"layout_missing.toml":     {"layout_missing.toml:4: panels[0].layout: required"},
	"layout_overlap.toml":     {`layout_overlap.toml:15: panels[1].layout: overlaps panel "load" (panels[0]) at x 0-11, y 0-7`},
	"undefined_variable.toml": {"undefined_variable.toml:14: panels[0].queries[0].expr: undefined variable $mount"},
	"logs_with_queries.toml":  {`logs_with_queries.toml:9: panels[0].queries: panel "syslog" of type "logs" takes a logs query`},
	"logs_missing_query.toml": {`logs_missing_query.toml:4: panels[0].logs: panel "syslog" of type "logs" needs a logs query`},
	"logs_bad_regex.toml":     {"logs_bad_regex.toml:16: panels[0].logs.re: invalid RE2 regular expression"},
	"logs_on_metric_panel.toml": {
		`logs_on_metric_panel.toml:10: panels[0].logs: only panels of type "logs" take a logs query`,
	},
	"queries_missing.toml": {`queries_missing.toml:4: panels[0].queries: panel "load" of type "timeseries" needs at least one query`},
	"empty_expr.toml":      {`empty_expr.toml:11: panels[0].queries[0].expr: panel "load": required`},
	"bad_id.toml":          {`bad_id.toml:1: id: "Web Servers" is not a valid id`},
	"missing_required.toml": {
		"missing_required.toml: id: required",
		"missing_required.toml: title: required",
		"missing_required.toml: panels: a dashboard needs at least one panel",
	},
	"toml_syntax.toml":      {"toml_syntax.toml:4: expected ']]'"},
	"type_mismatch.toml":    {"type_mismatch.toml:8: panels[0].decimals: expected an integer, got a string"},
	"bad_duration.toml":     {`bad_duration.toml:3: refresh: "soon" is not a duration`, `bad_duration.toml:4: time_range: "-1h" is not a positive duration`},
	"bad_label_values.toml": {`bad_label_values.toml:7: variables[0].query: invalid series selector "host_uptime_seconds{agent=}"`},
	"custom_default_not_option.toml": {
		`custom_default_not_option.toml:8: variables[0].default: "15" is not one of the options`,
	},
	"bad_legend.toml": {`bad_legend.toml:9: panels[0].queries[0].legend: unclosed {{ in legend "{{agent"`},
	"bad_thresholds.toml": {
		"bad_thresholds.toml:12: panels[0].thresholds[1].value: thresholds must be in ascending order",
		`bad_thresholds.toml:12: panels[0].thresholds[1].color: "purple" is not one of`,
	},
	"variable_order.toml": {"variable_order.toml:7: variables[0].query: variable $agent is declared after this one"},
	"bad_variables.toml": {
		`bad_variables.toml:5: variables[0].name: "__range": names starting with __ are reserved`,
		`bad_variables.toml:14: variables[2].name: duplicate variable "agent"`,
		`bad_variables.toml:16: variables[2].options: only variables of kind "custom" take options`,
	},
}

func TestParseBad(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	// Every fixture has an expectation and every expectation a fixture, so
	// neither can silently stop being tested.
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	var want []string
	for name := range badCases {
		want = append(want, name)
	}
	sort.Strings(want)
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("testdata/bad files %v do not match the cases %v", names, want)
	}
	for _, name := range names {
		t.Run(strings.TrimSuffix(name, ".toml"), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata/bad", name))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(name, data)
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			msg := err.Error()
			for _, sub := range badCases[name] {
				if !strings.Contains(msg, sub) {
					t.Errorf("error\n%s\ndoes not contain\n%s", msg, sub)
				}
			}
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(line, name+":") {
					t.Errorf("error line %q does not start with the file name", line)
				}
			}
			var e *Error
			if !errors.As(err, &e) || e.File != name {
				t.Errorf("error is not a *Error naming %s: %#v", name, err)
			}
		})
	}
}

func TestParseGood(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/good files")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".toml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			d, err := Parse(f, data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if d.Source != f || d.Builtin {
				t.Errorf("Source %q Builtin %v, want %q false", d.Source, d.Builtin, f)
			}
			got, err := json.MarshalIndent(d, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata/golden", name+".json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("JSON differs from %s:\n%s", golden, got)
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	data, err := os.ReadFile("testdata/good/minimal.toml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse("minimal.toml", data)
	if err != nil {
		t.Fatal(err)
	}
	if d.Refresh != "30s" || d.TimeRange != "1h" || d.Panels[0].Unit != UnitNone {
		t.Errorf("defaults not applied: refresh %q time_range %q unit %q", d.Refresh, d.TimeRange, d.Panels[0].Unit)
	}
	logs := []byte(`id = "l"
title = "L"
[[panels]]
id = "p"
title = "P"
type = "logs"
layout = { x = 0, y = 0, w = 1, h = 1 }
logs = { source = "app" }
`)
	d, err = Parse("logs.toml", logs)
	if err != nil {
		t.Fatal(err)
	}
	if d.Panels[0].Logs.Limit != DefaultLogsLimit || d.Panels[0].Unit != "" {
		t.Errorf("logs defaults: limit %d unit %q", d.Panels[0].Logs.Limit, d.Panels[0].Unit)
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	data := []byte(`id = "many"
title = "Many problems"
[[panels]]
id = "a"
title = "A"
type = "graph"
layout = { x = 30, y = 0, w = 1, h = 1 }
[[panels]]
id = "a"
title = "B"
type = "stat"
layout = { x = 0, y = 0, w = 1, h = 1 }
queries = [{ expr = "sum(" }]
`)
	_, err := Parse("many.toml", data)
	if err == nil {
		t.Fatal("want errors")
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Fatalf("error is not a joined error: %v", err)
	}
	if n := len(joined.Unwrap()); n != 4 {
		t.Errorf("got %d errors, want 4 (type, layout.x, duplicate id, PromQL):\n%v", n, err)
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{File: "a.toml", Key: "panels[0].id", Line: 7, Msg: "required"}, "a.toml:7: panels[0].id: required"},
		{Error{File: "a.toml", Key: "id", Msg: "required"}, "a.toml: id: required"},
		{Error{File: "a.toml", Line: 3, Msg: "syntax"}, "a.toml:3: syntax"},
		{Error{File: "/etc/d", Msg: "read definition directory: does not exist"}, "/etc/d: read definition directory: does not exist"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestScanRefs(t *testing.T) {
	tests := []struct {
		in         string
		bracedOnly bool
		want       []string
	}{
		{`up{agent="$agent"}`, false, []string{"agent"}},
		{`rate(x[${__rate_interval}]) / $n`, false, []string{"__rate_interval", "n"}},
		{`label_replace(x, "a", "$1", "b", "(.*)")`, false, nil},
		{`label_replace(x, "a", "${1}", "b", "(.*)")`, false, nil},
		{`$a$b ${c}d $`, false, []string{"a", "b", "c"}},
		{`^err$agent`, true, nil},
		{`^err${agent}$`, true, []string{"agent"}},
		{`${unclosed`, false, nil},
		{`$`, false, nil},
	}
	for _, tt := range tests {
		var got []string
		for _, r := range scanRefs(tt.in, tt.bracedOnly) {
			got = append(got, r.name)
			if tt.in[r.start] != '$' {
				t.Errorf("%q: ref %q starts at %d, not at a $", tt.in, r.name, r.start)
			}
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("scanRefs(%q, %v) = %v, want %v", tt.in, tt.bracedOnly, got, tt.want)
		}
	}
}

func TestKeyIndexLines(t *testing.T) {
	doc := `id = "x"
[[variables]]
name = "a"
[[panels]]
id = "p0"
layout = { x = 0,
  w = 1 }
[[panels.queries]]
expr = "q00"
[[panels]]
id = "p1"
queries = [
  { expr = "q10" },
  { expr = "q11", legend = "l" },
]
[panels.logs]
re = "x"
[[panels]]
layout.h = 2
"quoted" = 1
`
	idx := indexKeys([]byte(doc))
	tests := map[string]int{
		"id":                          1,
		"variables[0]":                2,
		"variables[0].name":           3,
		"panels[0]":                   4,
		"panels[0].id":                5,
		"panels[0].layout.x":          6,
		"panels[0].layout.w":          7,
		"panels[0].queries[0].expr":   9,
		"panels[1].id":                11,
		"panels[1].queries[1]":        14,
		"panels[1].queries[1].legend": 14,
		"panels[1].logs.re":           17,
		"panels[2].layout.h":          19,
		"panels[2].quoted":            20,
		// Absent keys fall back to their nearest ancestor.
		"panels[1].queries[0].legend": 13,
		"panels[2].layout.w":          19,
		"panels[9].id":                4, // the array's first header
		"nothing":                     0,
	}
	for path, want := range tests {
		if got := idx.line(path); got != want {
			t.Errorf("line(%q) = %d, want %d", path, got, want)
		}
	}
	if p, ok := idx.pathAt(14, "legend"); !ok || p != "panels[1].queries[1].legend" {
		t.Errorf("pathAt(14, legend) = %q, %v", p, ok)
	}
}

func TestParseUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{
			name: "wrong case names the right key",
			doc:  "id = \"x\"\nTitle = \"X\"\n",
			want: []string{`x.toml:2: Title: unknown key (keys are case-sensitive: did you mean "title"?)`},
		},
		{
			name: "unknown table reported once",
			doc:  "id = \"x\"\n[extra]\na = 1\nb = 2\n",
			want: []string{"x.toml:2: extra: unknown key"},
		},
		{
			name: "quoted key",
			doc:  "id = \"x\"\n\"odd key\" = 1\n",
			want: []string{`x.toml:2: "odd key": unknown key`},
		},
		{
			name: "tag-less internal fields are not keys",
			doc:  "id = \"x\"\nbuiltin = true\nsource = \"a\"\nlines = 1\n",
			want: []string{"x.toml:2: builtin: unknown key", "x.toml:3: source: unknown key", "x.toml:4: lines: unknown key"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.toml", []byte(tt.doc))
			if err == nil {
				t.Fatal("want an error")
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestParseCapsErrorCount(t *testing.T) {
	var b strings.Builder
	b.WriteString("id = \"x\"\n")
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&b, "stray%d = %d\n", i, i)
	}
	_, err := Parse("x.toml", []byte(b.String()))
	if err == nil {
		t.Fatal("want an error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxErrorsPerFile+1 || lines[len(lines)-1] != "x.toml: 1950 more problems not shown" {
		t.Errorf("got %d lines ending %q", len(lines), lines[len(lines)-1])
	}
	if lines[0] != "x.toml:2: stray0: unknown key" {
		t.Errorf("first line %q", lines[0])
	}
}
