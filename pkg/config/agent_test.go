package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lightmetrics/lightmetrics/pkg/limits"
)

func TestLoadAgentBad(t *testing.T) {
	const dir = "testdata/agent/"
	tests := []struct {
		file string
		want []string
	}{
		{"missing_agent_id.toml", []string{dir + "missing_agent_id.toml: agent_id: required"}},
		{"bad_agent_id.toml", []string{`:1: agent_id: "web 1" is not 1-128 characters`}},
		{"no_endpoints.toml", []string{":2: endpoints: must list at least one collector URL"}},
		{"http_endpoint.toml", []string{`:2: endpoints[1]: "http://collector.lab:8443" must be an https:// URL`}},
		{"endpoint_credentials.toml", []string{":2: endpoints[0]: ", "must not carry credentials"}},
		{"duplicate_endpoint.toml", []string{`:2: endpoints[1]: "https://collector.lab:8443" is already endpoints[0]`}},
		{"interval_too_short.toml", []string{":3: interval_ms: 999 must be at least 1000"}},
		{"series_below_floor.toml", []string{":3: max_series_per_batch: 106 is below the floor of 107"}},
		{"negative_alerts.toml", []string{":3: max_alerts_per_batch: -1 must be at least 0"}},
		{"bad_processes.toml", []string{
			`:5: processes.mode: "some" is not one of "top", "all", "off"`,
			":6: processes.top_n: 0 must be greater than 0",
			`:7: processes.sort_by: "mem" is not one of "cpu", "rss"`,
		}},
		{"logs_missing_source.toml", []string{dir + "logs_missing_source.toml: logs[0].source: required"}},
		{"logs_duplicate_source.toml", []string{`:9: logs[1].source: "syslog" is already the source of logs[0]`}},
		{"logs_no_paths.toml", []string{dir + "logs_no_paths.toml: logs[0].paths: must list at least one file or glob"}},
		{"logs_empty_path.toml", []string{":6: logs[0].paths[1]: must not be empty"}},
		{"logs_duplicate_path.toml", []string{`:10: logs[1].paths[0]: "/var/log/syslog" is already tailed by logs[0]`}},
		{"logs_bad_glob.toml", []string{`:6: logs[0].paths[0]: "/var/log/[abc" is not a valid glob pattern`}},
		{"logs_too_many_attributes.toml", []string{":7: logs[0].attributes: has 3 entries, at most 2"}},
		{"logs_reserved_attribute.toml", []string{`:9: logs[0].attributes.path: "path" is set by the agent itself`}},
		{"logs_long_attribute_value.toml", []string{":7: logs[0].attributes.env: value is 65 bytes, at most 64"}},
		{"logs_bad_start_at.toml", []string{`:7: logs[0].start_at: "now" is not one of "end", "beginning"`}},
		{"logs_unknown_key.toml", []string{":10: logs[1].path: unknown key"}},
		{"wrong_type_endpoints.toml", []string{":2: endpoints: wrong type: want an array, found a TOML string"}},
		{"bad_log_format.toml", []string{`:5: log.format: "yaml" is not one of "text", "json"`}},
		{"server_key_in_agent.toml", []string{":4: ingest: unknown key"}},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			path := dir + tt.file
			a, err := LoadAgent(path)
			if err == nil {
				t.Fatalf("LoadAgent(%s) = %+v, want an error", path, a)
			}
			checkErrorShape(t, err, path)
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) && !strings.HasSuffix(tt.file, "credentials.toml") {
				t.Errorf("got %d error lines, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				line := lines[min(i, len(lines)-1)]
				if !strings.Contains(line, w) {
					t.Errorf("error line %d: want substring %q in\n%v", i, w, err)
				}
			}
		})
	}
	assertCovered(t, "testdata/agent", covered)
}

func TestLoadAgentGood(t *testing.T) {
	abs, err := filepath.Abs("testdata/agent")
	if err != nil {
		t.Fatal(err)
	}
	a, err := LoadAgent("testdata/agent/good_minimal.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultAgent()
	want.AgentID, want.Endpoints = "web-1", []string{"https://collector.lab:8443"}
	want.Path, want.doc = a.Path, a.doc
	if !reflect.DeepEqual(a, want) {
		t.Errorf("minimal agent:\n got %+v\nwant %+v", a, want)
	}

	a, err = LoadAgent("testdata/agent/good_full.toml")
	if err != nil {
		t.Fatal(err)
	}
	wantFull := Agent{
		AgentID:            "db_2.lab",
		Endpoints:          []string{"https://c1.lab:8443", "https://c2.lab:8443/prefix", "https://[fd00::1]:8443"},
		AuthTokenFile:      filepath.Join(abs, "token"),
		TLSCACertFile:      filepath.Join(abs, "ca.pem"),
		QueueDir:           filepath.Join(abs, "queue"),
		IntervalMs:         1000,
		Hostname:           "db2",
		MaxSeriesPerBatch:  107,
		MaxLogMessageBytes: 1,
		MaxLogsPerBatch:    1,
		MaxAlertsPerBatch:  0,
		QueueMaxBatches:    1,
		QueueMaxBytes:      1,
		UploadTimeoutMs:    1,
		Processes:          Processes{Mode: ProcessesAll, TopN: 1, SortBy: "rss"},
		Logs: []LogInput{
			{Source: "syslog", Paths: []string{"/var/log/syslog"}, StartAt: "beginning",
				Attributes: map[string]string{"env": "lab", "team": "ops"}},
			{Source: "app/web", Paths: []string{filepath.Join(abs, "logs/*.log"), filepath.Join(abs, "logs/app.[0-9]")},
				StartAt: "end"},
		},
		Log:  Log{Level: "warn", Format: "json"},
		Path: a.Path,
		doc:  a.doc,
	}
	if !reflect.DeepEqual(*a, wantFull) {
		t.Errorf("full agent:\n got %+v\nwant %+v", *a, wantFull)
	}
	if want := (limits.AgentLimits{MaxSeriesPerBatch: 107, MaxLogMessageBytes: 1, MaxLogsPerBatch: 1}); a.Limits() != want {
		t.Errorf("Limits() = %+v", a.Limits())
	}
	if a.Interval().Milliseconds() != 1000 || a.UploadTimeout().Milliseconds() != 1 {
		t.Errorf("durations: %v %v", a.Interval(), a.UploadTimeout())
	}
}

func TestEmptyAgentNamesEveryRequiredKey(t *testing.T) {
	_, err := ParseAgent("agent.toml", strings.NewReader(""))
	want := "agent.toml: agent_id: required\nagent.toml: endpoints: required: at least one collector URL"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got %v\nwant prefix %q", err, want)
	}
}

func TestCheckAlignment(t *testing.T) {
	srv := func(doc string) *Server {
		s, err := ParseServer("server.toml", strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	agent := func(doc string) *Agent {
		a, err := ParseAgent("agent.toml", strings.NewReader("agent_id = \"a\"\nendpoints = [\"https://c:1\"]\n"+doc))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	tests := []struct {
		name   string
		server string
		agent  string
		want   []string
	}{
		{"defaults", "", "", nil},
		{"equal", "[ingest]\nmax_logs_per_batch = 200\n", "max_logs_per_batch = 200\n", nil},
		{"logs above", "[ingest]\nmax_logs_per_batch = 200\n", "max_logs_per_batch = 201\n",
			[]string{"agent.toml:3: max_logs_per_batch: 201 is above ingest.max_logs_per_batch = 200 in server.toml"}},
		{"message bytes above", "[ingest]\nmax_log_message_bytes = 1024\n", "",
			[]string{"agent.toml: max_log_message_bytes: 16384 is above ingest.max_log_message_bytes = 1024 in server.toml"}},
		{"alerts off at collector", "[ingest]\nmax_alerts_per_batch = 0\n", "",
			[]string{"agent.toml: max_alerts_per_batch: 1 is above ingest.max_alerts_per_batch = 0 in server.toml; set it to 0"}},
		{"alerts off on both", "[ingest]\nmax_alerts_per_batch = 0\n", "max_alerts_per_batch = 0\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckAlignment(agent(tt.agent), srv(tt.server))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("CheckAlignment() = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("want an alignment error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want %q", err, w)
				}
			}
		})
	}
}
