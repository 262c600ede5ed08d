package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/lightmetrics/lightmetrics/pkg/limits"
)

// joined splits an error into its errors.Join parts.
func joined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// checkErrorShape asserts what every config error promises: each part is a
// *Error for the named file, and each line of the message starts with it.
func checkErrorShape(t *testing.T, err error, file string) {
	t.Helper()
	for _, e := range joined(err) {
		var ce *Error
		if !errors.As(e, &ce) {
			t.Errorf("error %q is %T, not *config.Error", e, e)
			continue
		}
		if ce.File != file {
			t.Errorf("error %q names file %q, want %q", e, ce.File, file)
		}
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if !strings.HasPrefix(line, file+":") {
			t.Errorf("message line %q does not start with %q", line, file+":")
		}
	}
}

func TestLoadServerBad(t *testing.T) {
	const dir = "testdata/server/"
	tests := []struct {
		file string
		want []string // substrings, in this order, each on its own line
	}{
		{"unknown_key.toml", []string{dir + "unknown_key.toml:3: ingest.max_seris_per_batch: unknown key"}},
		{"unknown_section.toml", []string{dir + "unknown_section.toml:1: ingest.tsl: unknown key"}},
		{"below_floor.toml", []string{dir + "below_floor.toml:4: ingest.max_series_per_batch: 100 is below the floor of 107"}},
		{"all_floors.toml", []string{
			":2: ingest.max_series_per_batch: 106 is below the floor of 107",
			":3: ingest.max_labels_per_series: 3 is below the floor of 4",
			":4: ingest.max_label_key_bytes: 13 is below the floor of 14",
			":5: ingest.max_label_value_bytes: 63 is below the floor of 64",
			":6: ingest.max_log_message_bytes: 0 must be at least 1",
			":7: ingest.max_logs_per_batch: 0 must be at least 1",
			":8: ingest.max_alerts_per_batch: -1 must be at least 0",
		}},
		{"wrong_type.toml", []string{":2: ingest.max_labels_per_series: wrong type: want an integer, found a TOML string"}},
		{"wrong_type_array.toml", []string{":2: dashboards.definition_dirs: wrong type: want an array, found a TOML string"}},
		{"bad_acceptance.toml", []string{`:2: ingest.acceptance: "s3" is not one of "local_spool", "s3_manifest"`}},
		{"s3_manifest_without_store.toml", []string{`:2: ingest.acceptance: "s3_manifest" needs an [object_store] section`}},
		{"endpoint_with_scheme.toml", []string{`:2: object_store.endpoint: "https://minio.lab:9000": give host:port without a scheme`}},
		{"endpoint_bad_port.toml", []string{`:2: object_store.endpoint: "minio.lab:99999": port "99999"`}},
		{"store_missing_bucket.toml", []string{dir + "store_missing_bucket.toml: object_store.bucket: required"}},
		{"bad_bucket.toml", []string{`:3: object_store.bucket: "My_Bucket" is not an S3 bucket name`}},
		{"ca_without_tls.toml", []string{":5: object_store.ca_file: set, but secure = false"}},
		{"half_credentials.toml", []string{dir + "half_credentials.toml: object_store.secret_key_file: required when object_store.access_key_file is set"}},
		{"bad_listen.toml", []string{`:2: query.listen: "9099" is not a listen address`}},
		{"bad_listen_host.toml", []string{`:2: ingest.listen: "bad host!:8443" is not a listen address`}},
		{"zero_timeout.toml", []string{":2: ingest.read_timeout_ms: 0 must be greater than 0"}},
		{"negative_spool_cap.toml", []string{":2: storage.spool_max_bytes: -1 must be at least 0"}},
		{"same_dirs.toml", []string{":3: storage.cache_dir: must differ from storage.spool_dir"}},
		{"empty_token_file.toml", []string{":2: ingest.token_file: must not be empty"}},
		{"half_query_tls.toml", []string{dir + "half_query_tls.toml: query.tls.key_file: required when query.tls.cert_file is set"}},
		{"down_before_stale.toml", []string{":3: query.agent_down_after_ms: 30000 is below agent_stale_after_ms (60000)"}},
		{"bad_log_level.toml", []string{`:2: log.level: "verbose" is not one of`, `:3: log.format: "logfmt" is not one of "text", "json"`}},
		{"syntax_error.toml", []string{":2: syntax error at column"}},
		{"duplicate_key.toml", []string{":3: ingest.max_logs_per_batch:"}},
		{"duplicate_table.toml", []string{":4: ingest: table ingest already exists"}},
		{"too_large_int.toml", []string{":2: ingest.max_body_bytes: decimal number is too large"}},
		{"empty_dashboard_dir.toml", []string{":2: dashboards.definition_dirs[1]: must not be empty"}},
		{"several_errors.toml", []string{
			`several_errors.toml:2: ingest.acceptance: "nope" is not one of`,
			"several_errors.toml:3: ingest.max_series_per_batch: 100 is below the floor of 107",
			"several_errors.toml:6: query.timeout_ms: -5 must be greater than 0",
			`several_errors.toml:9: log.format: "xml" is not one of`,
		}},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			path := dir + tt.file
			s, err := LoadServer(path)
			if err == nil {
				t.Fatalf("LoadServer(%s) = %+v, want an error", path, s)
			}
			checkErrorShape(t, err, path)
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Errorf("got %d error lines, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				if i >= len(lines) || !strings.Contains(lines[i], w) {
					t.Errorf("error line %d: want substring %q in\n%v", i, w, err)
				}
			}
		})
	}
	assertCovered(t, "testdata/server", covered)
}

// assertCovered keeps the fixture directory and the test tables in step:
// a fixture no table names would never be checked.
func assertCovered(t *testing.T, dir string, covered map[string]bool) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".toml") && !strings.HasPrefix(e.Name(), "good_") && !covered[e.Name()] {
			t.Errorf("%s/%s is in no test table", dir, e.Name())
		}
	}
}

func TestLoadServerGood(t *testing.T) {
	abs, err := filepath.Abs("testdata/server")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file  string
		check func(t *testing.T, s *Server)
	}{
		{"good_empty.toml", func(t *testing.T, s *Server) {
			want := DefaultServer()
			want.Path = s.Path
			want.doc = s.doc
			if !reflect.DeepEqual(s, want) {
				t.Errorf("empty file does not give the defaults:\n got %+v\nwant %+v", s, want)
			}
			if s.ObjectStore != nil {
				t.Error("ObjectStore must be nil without [object_store]")
			}
		}},
		{"good_full.toml", func(t *testing.T, s *Server) {
			want := Server{
				Ingest: Ingest{Listen: "[::1]:8443", Acceptance: AcceptS3Manifest, ObjectLandingIntervalMs: 1000,
					MaxSeriesPerBatch: 107, MaxLabelsPerSeries: 4, MaxLabelKeyBytes: 14, MaxLabelValueBytes: 64,
					MaxLogMessageBytes: 1, MaxLogsPerBatch: 1, MaxAlertsPerBatch: 0,
					TokenFile: filepath.Join(abs, "ingest-tokens.toml"), MaxBodyBytes: 1, MaxDecodedBytes: 1,
					MaxConcurrentRequests: 1, ReadHeaderTimeoutMs: 1, ReadTimeoutMs: 1, WriteTimeoutMs: 1, IdleTimeoutMs: 1,
					TLS: TLS{CertFile: filepath.Join(abs, "tls/fullchain.pem"), KeyFile: filepath.Join(abs, "tls/key.pem")}},
				Query: Query{Listen: ":0", TokenFile: "/abs/query-token", MaxSamples: 1, TimeoutMs: 1, MaxSeries: 1,
					LookbackDeltaMs: 1, AgentStaleAfterMs: 1, AgentDownAfterMs: 1,
					TLS: TLS{CertFile: filepath.Join(abs, "q.pem"), KeyFile: filepath.Join(abs, "q-key.pem")}},
				Storage: Storage{SpoolDir: filepath.Join(abs, "spool"), CacheDir: filepath.Join(abs, "cache"),
					SpoolMaxBytes: 0, RetentionHours: 1, CacheMaxBytes: 1},
				Dashboards: Dashboards{DefinitionFiles: []string{filepath.Join(abs, "one.toml")}, DefinitionDirs: []string{}},
				ObjectStore: &ObjectStore{Endpoint: "minio.lab:9000", Bucket: "lightmetrics-test", Prefix: "collectors/a",
					Region: "eu-west-1", Secure: true, CAFile: filepath.Join(abs, "ca.pem"),
					AccessKeyFile: filepath.Join(abs, "ak"), SecretKeyFile: filepath.Join(abs, "sk"),
					PathStyle: false, RequestTimeoutMs: 5, PollIntervalMs: 7},
				Log:  Log{Level: "debug", Format: "json"},
				Path: s.Path,
				doc:  s.doc,
			}
			if !reflect.DeepEqual(*s, want) {
				t.Errorf("got  %+v\nwant %+v\nstore got %+v", *s, want, *s.ObjectStore)
			}
			wantLimits := limits.Limits{MaxSeriesPerBatch: 107, MaxLabelsPerSeries: 4, MaxLabelKeyBytes: 14,
				MaxLabelValueBytes: 64, MaxLogMessageBytes: 1, MaxLogsPerBatch: 1, MaxAlertsPerBatch: 0}
			if s.Limits() != wantLimits {
				t.Errorf("Limits() = %+v", s.Limits())
			}
		}},
		{"good_store_defaults.toml", func(t *testing.T, s *Server) {
			want := DefaultObjectStore()
			want.Endpoint, want.Bucket = "s3.amazonaws.com", "lm.metrics-1"
			if s.ObjectStore == nil || *s.ObjectStore != *want {
				t.Errorf("ObjectStore = %+v, want %+v", s.ObjectStore, want)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s, err := LoadServer("testdata/server/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if s.Path != "testdata/server/"+tt.file {
				t.Errorf("Path = %q", s.Path)
			}
			tt.check(t, s)
		})
	}
	entries, _ := filepath.Glob("testdata/server/good_*.toml")
	if len(entries) != len(tests) {
		t.Errorf("%d good fixtures, %d tested", len(entries), len(tests))
	}
}

func TestDefaults(t *testing.T) {
	s := DefaultServer()
	if s.Limits() != limits.Default() {
		t.Errorf("server limits %+v differ from limits.Default()", s.Limits())
	}
	if err := s.Validate(); err != nil {
		t.Errorf("DefaultServer() does not validate: %v", err)
	}
	a := DefaultAgent()
	if a.Limits() != limits.DefaultAgent() {
		t.Errorf("agent limits %+v differ from limits.DefaultAgent()", a.Limits())
	}
	a.AgentID, a.Endpoints = "x", []string{"https://c:8443"}
	if err := a.Validate(); err != nil {
		t.Errorf("DefaultAgent() with id and endpoint does not validate: %v", err)
	}
	if err := CheckAlignment(a, s); err != nil {
		t.Errorf("default agent and server are not aligned: %v", err)
	}
}

// TestRelativePaths pins the documented rule: relative paths in a config
// are taken from the config file's directory, whatever the working
// directory is.
func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "etc", "server.toml")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o755); err != nil {
		t.Fatal(err)
	}
	doc := `[ingest]
token_file = "ingest-tokens.toml"
[ingest.tls]
cert_file = "tls/fullchain.pem"
key_file = "/abs/key.pem"
[storage]
spool_dir = "../var/spool"
[dashboards]
definition_dirs = ["dashboards.d", "./more/../other.d"]
[object_store]
endpoint = "minio:9000"
bucket = "lightmetrics"
secret_key_file = "sk"
access_key_file = "ak"
`
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	etc := filepath.Join(dir, "etc")
	// Load through a relative path from another working directory.
	t.Chdir(dir)
	s, err := LoadServer("etc/server.toml")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{
		"token_file":  s.Ingest.TokenFile,
		"cert_file":   s.Ingest.TLS.CertFile,
		"key_file":    s.Ingest.TLS.KeyFile,
		"spool_dir":   s.Storage.SpoolDir,
		"cache_dir":   s.Storage.CacheDir,
		"dash0":       s.Dashboards.DefinitionDirs[0],
		"dash1":       s.Dashboards.DefinitionDirs[1],
		"access_key":  s.ObjectStore.AccessKeyFile,
		"query_token": s.Query.TokenFile,
	}
	want := map[string]string{
		"token_file":  filepath.Join(etc, "ingest-tokens.toml"),
		"cert_file":   filepath.Join(etc, "tls", "fullchain.pem"),
		"key_file":    "/abs/key.pem",
		"spool_dir":   filepath.Join(dir, "var", "spool"),
		"cache_dir":   DefaultCacheDir,
		"dash0":       filepath.Join(etc, "dashboards.d"),
		"dash1":       filepath.Join(etc, "other.d"),
		"access_key":  filepath.Join(etc, "ak"),
		"query_token": DefaultQueryTokenFile,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("resolved paths\n got %v\nwant %v", got, want)
	}
	if s.Path != "etc/server.toml" {
		t.Errorf("Path = %q, want it as given", s.Path)
	}
}

func TestLoadServerMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope.toml")
	_, err := LoadServer(p)
	var ce *Error
	if !errors.As(err, &ce) || ce.File != p || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("LoadServer(missing) = %v", err)
	}
	if strings.Count(err.Error(), p) != 1 {
		t.Errorf("path repeated in %q", err)
	}
}

func TestParseServerGuards(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string
	}{
		{"nul", "[ingest]\x00", "contains NUL bytes"},
		{"too large", "#" + strings.Repeat("x", maxConfigBytes), "larger than 1 MiB"},
	}
	for _, tt := range tests {
		_, err := ParseServer("big.toml", strings.NewReader(tt.data))
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "big.toml: ") {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

// TestMarshalRoundTrip lets other code (the demo) write a config with
// toml.Marshal and read it back unchanged.
func TestMarshalRoundTrip(t *testing.T) {
	in := DefaultServer()
	in.ObjectStore = DefaultObjectStore()
	in.ObjectStore.Endpoint, in.ObjectStore.Bucket = "minio:9000", "lightmetrics"
	data, err := toml.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ParseServer("/x/server.toml", strings.NewReader(string(data)))
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	out.Path, out.doc = "", nil
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip changed the config:\n in %+v\nout %+v", in, out)
	}
	// Every [ingest] key is spelled out by Marshal: the demo relies on it.
	for _, key := range schemaKeys(reflect.TypeOf(Ingest{}), "") {
		if !strings.Contains(string(data), "\n"+strings.Split(key, ".")[len(strings.Split(key, "."))-1]+" = ") {
			t.Errorf("marshalled config lacks %s", key)
		}
	}
}

func TestErrorsSortedByLine(t *testing.T) {
	doc := "[log]\nformat = \"x\"\n[ingest]\nacceptance = \"y\"\n[object_store]\nendpoint = \"m:1\"\n"
	_, err := ParseServer("s.toml", strings.NewReader(doc))
	if err == nil {
		t.Fatal("want errors")
	}
	var lines []int
	for _, e := range joined(err) {
		var ce *Error
		errors.As(e, &ce)
		lines = append(lines, ce.Line)
	}
	want := []int{2, 4, 0} // bucket is missing: no line, so last
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("lines %v, want %v: %v", lines, want, err)
	}
	if !sort.IntsAreSorted(lines[:2]) {
		t.Error("not sorted")
	}
}
