package demoprep_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/lightmetrics/lightmetrics/pkg/config"
	"github.com/lightmetrics/lightmetrics/pkg/demoprep"
)

// decodeAsWritten decodes a config file into v with no defaults applied and
// unknown keys refused: exactly what the file spells out.
func decodeAsWritten(t *testing.T, path string, v any) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var raw map[string]any
	if err := toml.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	return raw
}

// tomlKeys lists the toml keys of a struct type's fields.
func tomlKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("toml"), ",")[0]
		if tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	return keys
}

func TestConfigPackageAcceptsPreparedSet(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	o := demoprep.Options{Dir: dir, IngestAddr: "127.0.0.1:18443", QueryAddr: "127.0.0.1:19099", AgentID: "lab-1", IntervalMs: 2000}
	r, err := demoprep.Prepare(o)
	if err != nil {
		t.Fatal(err)
	}

	s, err := config.LoadServer(r.ServerConfig)
	if err != nil {
		t.Fatalf("LoadServer: %v", err)
	}
	if err := config.CheckFiles(s); err != nil {
		t.Fatalf("CheckFiles(server): %v", err)
	}
	if w := s.FileModeWarnings(); len(w) != 0 {
		t.Errorf("server file mode warnings: %v", w)
	}
	a, err := config.LoadAgent(r.AgentConfig)
	if err != nil {
		t.Fatalf("LoadAgent: %v", err)
	}
	if err := a.CheckFiles(); err != nil {
		t.Fatalf("CheckFiles(agent): %v", err)
	}
	if w := a.FileModeWarnings(); len(w) != 0 {
		t.Errorf("agent file mode warnings: %v", w)
	}
	if err := config.CheckAlignment(a, s); err != nil {
		t.Errorf("agent limits not aligned with the collector's: %v", err)
	}

	// What the loader ends up with is what the files say: no key fell back
	// to a default the demo did not write.
	var ws config.Server
	raw := decodeAsWritten(t, r.ServerConfig, &ws)
	for name, pair := range map[string][2]any{
		"ingest":     {ws.Ingest, s.Ingest},
		"query":      {ws.Query, s.Query},
		"storage":    {ws.Storage, s.Storage},
		"dashboards": {ws.Dashboards, s.Dashboards},
		"log":        {ws.Log, s.Log},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("[%s] loaded %+v\nbut the file says %+v", name, pair[1], pair[0])
		}
	}
	var wa config.Agent
	decodeAsWritten(t, r.AgentConfig, &wa)
	wa.Path, wa.Hostname = a.Path, a.Hostname // hostname is left to the OS on purpose
	if !reflect.DeepEqual(wa.Limits(), a.Limits()) || !reflect.DeepEqual(wa.Logs, a.Logs) ||
		!reflect.DeepEqual(wa.Processes, a.Processes) || !reflect.DeepEqual(wa.Endpoints, a.Endpoints) ||
		wa.QueueMaxBatches != a.QueueMaxBatches || wa.QueueMaxBytes != a.QueueMaxBytes ||
		wa.UploadTimeoutMs != a.UploadTimeoutMs || wa.Log != a.Log {
		t.Errorf("agent loaded %+v\nbut the file says %+v", a, wa)
	}

	// Every [ingest] key is spelled out, even those whose default is zero.
	ingest, _ := raw["ingest"].(map[string]any)
	for _, k := range tomlKeys(reflect.TypeOf(config.Ingest{})) {
		if _, ok := ingest[k]; !ok {
			t.Errorf("server.toml leaves ingest.%s to its default", k)
		}
	}
	if _, ok := raw["object_store"]; ok || s.ObjectStore != nil {
		t.Error("server.toml has an [object_store] section")
	}

	checks := []struct {
		what      string
		got, want any
	}{
		{"ingest.listen", s.Ingest.Listen, o.IngestAddr},
		{"ingest.acceptance", s.Ingest.Acceptance, config.AcceptLocalSpool},
		{"query.listen", s.Query.Listen, o.QueryAddr},
		{"dashboards.definition_dirs", s.Dashboards.DefinitionDirs, []string{filepath.Join(dir, "dashboards.d")}},
		{"agent_id", a.AgentID, o.AgentID},
		{"endpoints", a.Endpoints, []string{"https://127.0.0.1:18443"}},
		{"interval_ms", a.IntervalMs, int64(2000)},
		{"tls_ca_cert_file", a.TLSCACertFile, filepath.Join(dir, "ca.pem")},
		{"queue_dir", a.QueueDir, filepath.Join(dir, "queue")},
		{"auth_token_file", a.AuthTokenFile, filepath.Join(dir, "token")},
		{"logs", len(a.Logs), 1},
		{"logs.source", a.Logs[0].Source, "demo"},
		{"logs.paths", a.Logs[0].Paths, []string{r.LogFile}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	paths := []string{
		s.Ingest.TokenFile, s.Ingest.TLS.CertFile, s.Ingest.TLS.KeyFile, s.Query.TokenFile,
		s.Storage.SpoolDir, s.Storage.CacheDir, a.AuthTokenFile, a.TLSCACertFile, a.QueueDir,
	}
	paths = append(paths, s.Dashboards.DefinitionDirs...)
	paths = append(paths, s.Dashboards.DefinitionFiles...)
	for _, l := range a.Logs {
		paths = append(paths, l.Paths...)
	}
	for _, p := range paths {
		if !filepath.IsAbs(p) || !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			t.Errorf("path %q is not an absolute path inside %s", p, dir)
		}
	}
}
