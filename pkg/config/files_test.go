package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/tokens"
)

// writePair writes a self-signed ECDSA certificate and its key as PEM.
func writePair(t *testing.T, certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "lightmetrics-test"},
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA:         true,
		KeyUsage:     x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, certPath, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), 0o644)
	mustWrite(t, keyPath, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})), 0o600)
}

func mustWrite(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

const (
	agentToken = "agent-token-0123456789abcdef"
	queryToken = "query-token-0123456789abcdef"
)

// installServer lays out a complete, valid collector config set in a temp
// dir (relative paths, as the demo does) and returns server.toml's path.
func installServer(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	writePair(t, filepath.Join(dir, "tls/fullchain.pem"), filepath.Join(dir, "tls/key.pem"))
	mustWrite(t, filepath.Join(dir, "ingest-tokens.toml"),
		"[[tokens]]\nagent_id = \"web-1\"\ntoken = \""+agentToken+"\"\n", 0o600)
	mustWrite(t, filepath.Join(dir, "query-token"), queryToken+"\n", 0o600)
	cfg := filepath.Join(dir, "server.toml")
	mustWrite(t, cfg, `[ingest]
token_file = "ingest-tokens.toml"
[ingest.tls]
cert_file = "tls/fullchain.pem"
key_file = "tls/key.pem"
[query]
token_file = "query-token"
[storage]
spool_dir = "spool"
cache_dir = "cache"
`+extra, 0o600)
	return cfg
}

func TestCheckFilesServer(t *testing.T) {
	tests := []struct {
		name  string
		extra string                       // appended to server.toml
		setup func(t *testing.T, d string) // breaks something in the config dir
		want  []string                     // substrings, one per error line, in order
	}{
		{"all good", "", nil, nil},
		{"missing certificate", "", func(t *testing.T, d string) { os.Remove(filepath.Join(d, "tls/fullchain.pem")) },
			[]string{"server.toml:4: ingest.tls.cert_file: cannot read " + "DIR/tls/fullchain.pem: no such file or directory"}},
		{"key of another certificate", "", func(t *testing.T, d string) {
			writePair(t, filepath.Join(d, "other.pem"), filepath.Join(d, "tls/key.pem"))
		}, []string{"server.toml:4: ingest.tls.cert_file: DIR/tls/fullchain.pem and DIR/tls/key.pem are not a usable certificate and key: private key does not match public key"}},
		{"key file is a certificate", "", func(t *testing.T, d string) {
			data, _ := os.ReadFile(filepath.Join(d, "tls/fullchain.pem"))
			mustWrite(t, filepath.Join(d, "tls/key.pem"), string(data), 0o600)
		}, []string{"ingest.tls.cert_file: DIR/tls/fullchain.pem and DIR/tls/key.pem are not a usable certificate and key: found a certificate rather than a key"}},
		{"missing token table", "", func(t *testing.T, d string) { os.Remove(filepath.Join(d, "ingest-tokens.toml")) },
			[]string{"server.toml:2: ingest.token_file: cannot read DIR/ingest-tokens.toml: no such file or directory"}},
		{"bad token table", "", func(t *testing.T, d string) {
			mustWrite(t, filepath.Join(d, "ingest-tokens.toml"), "[[tokens]]\nagent_id = \"web-1\"\ntoken = \"tooShort\"\n", 0o600)
		}, []string{"DIR/ingest-tokens.toml:3: tokens[0].token: token is 8 bytes long, shorter than the minimum of 16"}},
		{"empty query token", "", func(t *testing.T, d string) { mustWrite(t, filepath.Join(d, "query-token"), "\n", 0o600) },
			[]string{"server.toml:7: query.token_file: DIR/query-token: file is empty"}},
		{"query tls files missing", "[query.tls]\ncert_file = \"q.pem\"\nkey_file = \"q-key.pem\"\n", nil,
			[]string{"server.toml:12: query.tls.cert_file: cannot read DIR/q.pem", "server.toml:13: query.tls.key_file: cannot read DIR/q-key.pem"}},
		{"object store files", "[object_store]\nendpoint = \"m:9000\"\nbucket = \"lightmetrics\"\nca_file = \"query-token\"\naccess_key_file = \"ak\"\nsecret_key_file = \"query-token\"\n", nil,
			[]string{"server.toml:14: object_store.ca_file: DIR/query-token holds no PEM certificate",
				"server.toml:15: object_store.access_key_file: cannot read DIR/ak"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := installServer(t, tt.extra)
			dir := filepath.Dir(cfg)
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			s, err := LoadServer(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = CheckFiles(s)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("CheckFiles() = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("CheckFiles() = nil, want errors")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Errorf("got %d lines, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				w = strings.ReplaceAll(w, "DIR", dir)
				if i < len(lines) && !strings.Contains(lines[i], w) {
					t.Errorf("line %d = %q\nwant substring %q", i, lines[i], w)
				}
			}
			for _, secret := range []string{agentToken, queryToken, "tooShort"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("CheckFiles leaked a token: %v", err)
				}
			}
			for _, e := range joined(err) {
				var ce *Error
				if !errors.As(e, &ce) {
					t.Errorf("%v is %T, not *Error", e, e)
				}
			}
		})
	}
}

func TestCheckFilesAgent(t *testing.T) {
	dir := t.TempDir()
	writePair(t, filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"))
	mustWrite(t, filepath.Join(dir, "token"), agentToken, 0o600)
	mustWrite(t, filepath.Join(dir, "short"), "abc", 0o600)
	base := "agent_id = \"web-1\"\nendpoints = [\"https://c:8443\"]\n"
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"good", base + "auth_token_file = \"token\"\ntls_ca_cert_file = \"ca.pem\"\n", ""},
		{"system roots", base + "auth_token_file = \"token\"\n", ""},
		{"short token", base + "auth_token_file = \"short\"\n", "agent.toml:3: auth_token_file: " + dir + "/short: token is 3 bytes long"},
		{"missing token", base + "auth_token_file = \"nope\"\n", "agent.toml:3: auth_token_file: cannot read " + dir + "/nope"},
		{"ca not pem", base + "auth_token_file = \"token\"\ntls_ca_cert_file = \"token\"\n", "agent.toml:4: tls_ca_cert_file: " + dir + "/token holds no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := filepath.Join(dir, "agent.toml")
			mustWrite(t, cfg, tt.doc, 0o600)
			a, err := LoadAgent(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = a.CheckFiles()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckFiles() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckFiles() = %v\nwant %q", err, tt.want)
			}
			if strings.Contains(err.Error(), agentToken) {
				t.Fatal("token leaked")
			}
		})
	}
}

func TestFileModeWarnings(t *testing.T) {
	cfg := installServer(t, "")
	s, err := LoadServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if w := s.FileModeWarnings(); len(w) != 0 {
		t.Fatalf("private files gave warnings: %v", w)
	}
	if err := os.Chmod(s.Query.TokenFile, 0o644); err != nil {
		t.Fatal(err)
	}
	w := s.FileModeWarnings()
	var me *tokens.ModeError
	if len(w) != 1 || !errors.As(w[0], &me) || me.Path != s.Query.TokenFile {
		t.Fatalf("FileModeWarnings() = %v, want one for the query token", w)
	}
	if err := CheckFiles(s); err != nil {
		t.Fatalf("a loose mode must only warn, CheckFiles() = %v", err)
	}
}

// TestSamples loads the shipped samples: they must be valid as they are,
// and the only thing CheckFiles may miss on a machine without an install is
// the production files themselves.
func TestSamples(t *testing.T) {
	if _, err := os.Stat("/etc/lightmetrics"); err == nil {
		t.Skip("/etc/lightmetrics exists here; the sample's files would be found")
	}
	s, err := LoadServer("../../configs/server.toml")
	if err != nil {
		t.Fatalf("configs/server.toml: %v", err)
	}
	if s.ObjectStore != nil || s.Limits() != DefaultServer().Limits() {
		t.Errorf("sample server.toml differs from the defaults it documents: %+v", s)
	}
	a, err := LoadAgent("../../configs/agent.toml")
	if err != nil {
		t.Fatalf("configs/agent.toml: %v", err)
	}
	if err := CheckAlignment(a, s); err != nil {
		t.Errorf("samples are not aligned: %v", err)
	}
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"server", CheckFiles(s), []string{"ingest.tls.cert_file", "ingest.tls.key_file", "ingest.token_file", "query.token_file"}},
		{"agent", a.CheckFiles(), []string{"auth_token_file"}},
	}
	for _, tt := range tests {
		var keys []string
		for _, e := range joined(tt.err) {
			var ce *Error
			if !errors.As(e, &ce) || !errors.Is(e, fs.ErrNotExist) {
				t.Errorf("%s: complaint %v is not a missing production file", tt.name, e)
				continue
			}
			if !strings.Contains(ce.Msg, "/etc/lightmetrics/") {
				t.Errorf("%s: %v does not name a production path", tt.name, e)
			}
			keys = append(keys, ce.Key)
		}
		sort.Strings(keys)
		sort.Strings(tt.want)
		if strings.Join(keys, " ") != strings.Join(tt.want, " ") {
			t.Errorf("%s: complaints about %v, want %v", tt.name, keys, tt.want)
		}
	}
}

// TestSampleSpellsOutIngest: the sample server.toml shows every [ingest]
// key with its default, as the install guide promises.
func TestSampleSpellsOutIngest(t *testing.T) {
	s, err := LoadServer("../../configs/server.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range schemaKeys(reflect.TypeOf(Server{}), "") {
		if strings.HasPrefix(key, "ingest.") && s.doc.Line(key) == 0 {
			t.Errorf("configs/server.toml does not spell out %s", key)
		}
	}
}
