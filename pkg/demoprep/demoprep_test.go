package demoprep

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/tlsutil"
	"github.com/lightmetrics/lightmetrics/pkg/tokens"
)

func prepare(t *testing.T, o Options) Result {
	t.Helper()
	r, err := Prepare(o)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return r
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// secrets returns the demo's two token values.
func secrets(t *testing.T, dir string) []string {
	t.Helper()
	return []string{
		strings.TrimSpace(string(read(t, filepath.Join(dir, "token")))),
		strings.TrimSpace(string(read(t, filepath.Join(dir, "query-token")))),
	}
}

func noSecret(t *testing.T, dir, what, s string) {
	t.Helper()
	for _, v := range secrets(t, dir) {
		if strings.Contains(s, v) {
			t.Errorf("%s contains a token: %s", what, s)
		}
	}
}

func TestPrepareLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	r := prepare(t, Options{Dir: dir})

	want := Result{
		Dir:            dir,
		ServerConfig:   filepath.Join(dir, "server.toml"),
		AgentConfig:    filepath.Join(dir, "agent.toml"),
		QueryTokenFile: filepath.Join(dir, "query-token"),
		ConsoleURL:     "http://127.0.0.1:9099/",
		LogFile:        filepath.Join(dir, "demo.log"),
	}
	if r != want {
		t.Fatalf("Result = %+v\nwant     %+v", r, want)
	}

	files := []struct {
		name string
		mode os.FileMode // with os.ModeDir for directories
	}{
		{".", os.ModeDir | 0o700},
		{"server.toml", 0o640},
		{"agent.toml", 0o640},
		{"ingest-tokens.toml", 0o600},
		{"token", 0o600},
		{"query-token", 0o600},
		{"ca.pem", 0o644},
		{"tls", os.ModeDir | 0o700},
		{"tls/fullchain.pem", 0o644},
		{"tls/key.pem", 0o600},
		{"dashboards.d", os.ModeDir | 0o700},
		{"spool", os.ModeDir | 0o700},
		{"cache", os.ModeDir | 0o700},
		{"queue", os.ModeDir | 0o700},
		{"demo.log", 0o644 &^ umask(t)},
	}
	for _, f := range files {
		fi, err := os.Stat(filepath.Join(dir, f.name))
		if err != nil {
			t.Errorf("%s: %v", f.name, err)
			continue
		}
		if got := fi.Mode() & (os.ModeDir | os.ModePerm); got != f.mode {
			t.Errorf("%s: mode %v, want %v", f.name, got, f.mode)
		}
	}
	if fi, err := os.Stat(r.LogFile); err != nil || fi.Size() != 0 {
		t.Errorf("demo.log: %v, size %d; want an empty file", err, fi.Size())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(files)-3 { // less ".", and the two files inside tls/
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("demo dir holds %v; want exactly the listed set (no temporary files)", names)
	}

	// Tokens: 32 random bytes, hex; distinct; the agent's in the table.
	hex64 := regexp.MustCompile(`^[0-9a-f]{64}$`)
	toks := secrets(t, dir)
	for _, v := range toks {
		if !hex64.MatchString(v) {
			t.Errorf("token is not 64 hex characters (%d long)", len(v))
		}
	}
	if toks[0] == toks[1] {
		t.Error("agent and query tokens are the same")
	}
	table, err := tokens.LoadTable(filepath.Join(dir, "ingest-tokens.toml"))
	if err != nil {
		t.Fatalf("ingest token table: %v", err)
	}
	if id, ok := table.Lookup(toks[0]); !ok || id != DefaultAgentID {
		t.Errorf("table.Lookup(agent token) = %q, %v; want %q", id, ok, DefaultAgentID)
	}
	if _, ok := table.Lookup(toks[1]); ok {
		t.Error("the query token authorises ingest")
	}
	noSecret(t, dir, "Result", fmt.Sprintf("%+v", r))

	checkCerts(t, dir, time.Now(), []string{"127.0.0.1", "localhost"})
}

// checkCerts verifies the chain against ca.pem for hosts at now, and the 24 h validity.
func checkCerts(t *testing.T, dir string, now time.Time, hosts []string) *x509.Certificate {
	t.Helper()
	cas, err := tlsutil.ReadCertFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	chain, err := tlsutil.ReadCertFile(filepath.Join(dir, "tls/fullchain.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tlsutil.ServerConfig(filepath.Join(dir, "tls/fullchain.pem"), filepath.Join(dir, "tls/key.pem")); err != nil {
		t.Fatalf("the collector could not load the pair: %v", err)
	}
	roots := x509.NewCertPool()
	for _, c := range cas {
		roots.AddCert(c)
	}
	leaf := chain[0]
	for _, h := range hosts {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: h, Roots: roots, CurrentTime: now}); err != nil {
			t.Errorf("certificate for %s at %v: %v", h, now, err)
		}
	}
	if life := leaf.NotAfter.Sub(now); life < 23*time.Hour || life > 24*time.Hour {
		t.Errorf("certificate lives %v from issue, want 24 h", life)
	}
	return leaf
}

func umask(t *testing.T) os.FileMode {
	t.Helper()
	f := filepath.Join(t.TempDir(), "probe")
	if err := os.WriteFile(f, nil, 0o777); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(f)
	if err != nil {
		t.Fatal(err)
	}
	return 0o777 &^ fi.Mode().Perm()
}

func TestRerunKeepsTokensAndCerts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	prepare(t, Options{Dir: dir})
	kept := []string{"token", "query-token", "ca.pem", "tls/fullchain.pem", "tls/key.pem", "ingest-tokens.toml"}
	before := map[string][]byte{}
	for _, f := range kept {
		before[f] = read(t, filepath.Join(dir, f))
	}
	if err := os.WriteFile(filepath.Join(dir, "demo.log"), []byte("line 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A loosened key mode is tightened again.
	if err := os.Chmod(filepath.Join(dir, "token"), 0o644); err != nil {
		t.Fatal(err)
	}

	r := prepare(t, Options{Dir: dir, Now: func() time.Time { return time.Now().Add(22 * time.Hour) }})
	if r.Renewed {
		t.Error("Renewed on a re-run with certificates valid for 2 more hours")
	}
	for _, f := range kept {
		if !bytes.Equal(read(t, filepath.Join(dir, f)), before[f]) {
			t.Errorf("%s changed on re-run", f)
		}
	}
	if got := string(read(t, r.LogFile)); got != "line 1\n" {
		t.Errorf("demo.log = %q after re-run, want its lines kept", got)
	}
	if fi, err := os.Stat(filepath.Join(dir, "token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token mode after re-run: %v %v, want 0600", fi.Mode().Perm(), err)
	}
}

func TestRerunRenewsCertificates(t *testing.T) {
	start := time.Now()
	tests := []struct {
		name    string
		later   time.Duration
		damage  func(t *testing.T, dir string)
		opts    Options
		hosts   []string
		renewed bool
	}{
		{name: "valid for hours more", later: 20 * time.Hour},
		{name: "expiring within the hour", later: 23*time.Hour + 30*time.Minute, renewed: true},
		{name: "expired", later: 30 * time.Hour, renewed: true},
		{name: "key missing", damage: func(t *testing.T, dir string) { rm(t, filepath.Join(dir, "tls/key.pem")) }, renewed: true},
		{name: "CA missing", damage: func(t *testing.T, dir string) { rm(t, filepath.Join(dir, "ca.pem")) }, renewed: true},
		{
			name: "CA from elsewhere",
			damage: func(t *testing.T, dir string) {
				ca, err := tlsutil.GenerateCA("elsewhere", 24*time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				if err := tlsutil.WriteCertPEM(filepath.Join(dir, "ca.pem"), ca.Cert); err != nil {
					t.Fatal(err)
				}
			},
			renewed: true,
		},
		{
			name:    "new ingest host",
			opts:    Options{IngestAddr: "collector.lab:8443"},
			hosts:   []string{"127.0.0.1", "localhost", "collector.lab"},
			renewed: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "demo")
			prepare(t, Options{Dir: dir, Now: func() time.Time { return start }})
			oldToks := secrets(t, dir)
			oldCert := read(t, filepath.Join(dir, "tls/fullchain.pem"))
			if tt.damage != nil {
				tt.damage(t, dir)
			}
			now := start.Add(tt.later)
			o := tt.opts
			o.Dir, o.Now = dir, func() time.Time { return now }
			r := prepare(t, o)

			if r.Renewed != tt.renewed {
				t.Fatalf("Renewed = %v, want %v", r.Renewed, tt.renewed)
			}
			changed := !bytes.Equal(read(t, filepath.Join(dir, "tls/fullchain.pem")), oldCert)
			if changed != tt.renewed {
				t.Fatalf("certificate file changed = %v, want %v", changed, tt.renewed)
			}
			if tt.renewed {
				hosts := tt.hosts
				if hosts == nil {
					hosts = []string{"127.0.0.1", "localhost"}
				}
				checkCerts(t, dir, now, hosts) // issued at the injected clock
			}
			if got := secrets(t, dir); got[0] != oldToks[0] || got[1] != oldToks[1] {
				t.Error("tokens changed with the certificates")
			}
		})
	}
}

func rm(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func TestAddresses(t *testing.T) {
	tests := []struct {
		name         string
		opts         Options
		wantEndpoint string
		wantConsole  string
		wantHosts    []string
	}{
		{"defaults", Options{}, "https://127.0.0.1:8443", "http://127.0.0.1:9099/", []string{"127.0.0.1", "localhost"}},
		{"wildcard binds dial loopback", Options{IngestAddr: "0.0.0.0:18443", QueryAddr: ":19099"},
			"https://127.0.0.1:18443", "http://127.0.0.1:19099/", []string{"127.0.0.1", "localhost"}},
		{"IPv6", Options{IngestAddr: "[::1]:18443", QueryAddr: "[::1]:19099"},
			"https://[::1]:18443", "http://[::1]:19099/", []string{"127.0.0.1", "localhost", "::1"}},
		{"named host", Options{IngestAddr: "collector.lab:8443"},
			"https://collector.lab:8443", "http://127.0.0.1:9099/", []string{"127.0.0.1", "localhost", "collector.lab"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "demo")
			o := tt.opts
			o.Dir = dir
			r := prepare(t, o)
			if r.ConsoleURL != tt.wantConsole {
				t.Errorf("ConsoleURL = %q, want %q", r.ConsoleURL, tt.wantConsole)
			}
			agent := string(read(t, r.AgentConfig))
			if want := fmt.Sprintf("endpoints = ['%s']", tt.wantEndpoint); !strings.Contains(agent, want) {
				t.Errorf("agent.toml lacks %s:\n%s", want, agent)
			}
			checkCerts(t, dir, time.Now(), tt.wantHosts)
		})
	}
}

func TestPrepareRefuses(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "a-file")
	if err := os.WriteFile(file, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(base, "world-writable")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"dir is a file", Options{Dir: file}, "exists and is not a directory"},
		{"dir writable by others", Options{Dir: open}, "writable by other users"},
		{"bad ingest address", Options{IngestAddr: "8443"}, "ingest address"},
		{"bad query port", Options{QueryAddr: "127.0.0.1:http"}, "query address"},
		{"same listener twice", Options{IngestAddr: "127.0.0.1:9000", QueryAddr: "127.0.0.1:9000"}, "both on"},
		{"interval too short", Options{IntervalMs: 500}, "below the agent's minimum"},
		{"bad agent id", Options{AgentID: "my agent"}, "agent id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			if o.Dir == "" {
				o.Dir = filepath.Join(t.TempDir(), "demo")
			}
			_, err := Prepare(o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Prepare = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if got := string(read(t, file)); got != "keep me" {
		t.Errorf("the file given as Dir was changed to %q", got)
	}
}

func TestTokensNeverReplacedNorShown(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	prepare(t, Options{Dir: dir})

	// An unusable existing token is reported, not overwritten, not quoted.
	bad := "short-but-secret"[:10]
	tokenFile := filepath.Join(dir, "query-token")
	good := read(t, tokenFile)
	if err := os.WriteFile(tokenFile, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Prepare(Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), tokenFile) {
		t.Fatalf("Prepare with an unusable token file = %v, want an error naming it", err)
	}
	if strings.Contains(err.Error(), bad) {
		t.Errorf("error quotes the file's content: %v", err)
	}
	if got := string(read(t, tokenFile)); got != bad {
		t.Errorf("unusable token file was overwritten")
	}
	if err := os.WriteFile(tokenFile, good, 0o600); err != nil {
		t.Fatal(err)
	}

	// A failure after the tokens exist does not show them.
	if err := os.RemoveAll(filepath.Join(dir, "tls")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Prepare(Options{Dir: dir})
	if err == nil {
		t.Fatal("Prepare with tls/ a file succeeded")
	}
	noSecret(t, dir, "error", err.Error())

	// A blank token file (e.g. created by hand) is filled in.
	if err := os.Remove(filepath.Join(dir, "tls")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokenFile, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := prepare(t, Options{Dir: dir})
	noSecret(t, dir, "Result", fmt.Sprintf("%+v", r))
	if s, err := tokens.LoadSecret(tokenFile); err != nil || s.IsZero() {
		t.Fatalf("blank token file not filled: %v", err)
	}
}
