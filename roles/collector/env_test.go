package collector

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/tlsutil"
	"github.com/lightmetrics/lightmetrics/pkg/uplink"
)

// env is a collector config set in a temp dir: dev CA, server cert, a token
// per agent, a query token and server.toml listening on 127.0.0.1:0.
type env struct {
	dir        string
	serverToml string
	caFile     string
	tokens     map[string]string // agent id -> token
	queryToken string
}

func writeFile(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func tokenFor(agent string) string {
	return hex.EncodeToString([]byte(fmt.Sprintf("tok-%-24s", agent)))
}

// newEnv writes the config set; extra is appended to [ingest].
func newEnv(t testing.TB, dir string, agents int, extraIngest string) *env {
	t.Helper()
	e := &env{dir: dir, tokens: map[string]string{}, queryToken: strings.Repeat("q", 40)}
	ca, err := tlsutil.GenerateCA("lightmetrics test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := tlsutil.IssueServerCert(ca, []string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.caFile = filepath.Join(dir, "ca.pem")
	writeFile(t, e.caFile, string(ca.CertPEM()), 0o644)
	writeFile(t, filepath.Join(dir, "tls/fullchain.pem"), string(srv.CertPEM())+string(ca.CertPEM()), 0o644)
	key, err := srv.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "tls/key.pem"), string(key), 0o600)
	var tb strings.Builder
	for i := 0; i < agents; i++ {
		id := fmt.Sprintf("agent-%03d", i)
		e.tokens[id] = tokenFor(id)
		fmt.Fprintf(&tb, "[[tokens]]\nagent_id = %q\ntoken = %q\n\n", id, e.tokens[id])
	}
	writeFile(t, filepath.Join(dir, "ingest-tokens.toml"), tb.String(), 0o600)
	writeFile(t, filepath.Join(dir, "query-token"), e.queryToken+"\n", 0o600)
	e.serverToml = filepath.Join(dir, "server.toml")
	writeFile(t, e.serverToml, fmt.Sprintf(`
[ingest]
listen = "127.0.0.1:0"
token_file = "ingest-tokens.toml"
%s

[ingest.tls]
cert_file = "tls/fullchain.pem"
key_file = "tls/key.pem"

[query]
listen = "127.0.0.1:0"
token_file = "query-token"

[storage]
spool_dir = "spool"
cache_dir = "cache"

[dashboards]
definition_dirs = []
`, extraIngest), 0o640)
	return e
}

// client returns an uplink client for agent id against addr.
func (e *env) client(t testing.TB, id, addr string) *uplink.Client {
	t.Helper()
	tlsCfg, err := tlsutil.ClientConfig(e.caFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := uplink.New(uplink.Options{
		Endpoints: []string{"https://" + addr},
		Token:     e.tokens[id],
		TLS:       tlsCfg,
		Timeout:   5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) tlsClientConfig(t testing.TB) *tls.Config {
	t.Helper()
	c, err := tlsutil.ClientConfig(e.caFile)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// encodeBatch builds a small valid batch for agent id and seq.
func encodeBatch(t testing.TB, enc *codec.Encoder, id string, seq uint64) []byte {
	t.Helper()
	now := time.Now()
	b := &batch.Batch{
		AgentID: id, Seq: seq, CreatedNs: now.UnixNano(),
		Heartbeat: &batch.Heartbeat{TimestampMs: now.UnixMilli(), Hostname: "h-" + id, AgentVersion: "test",
			Values: []batch.Scalar{{Name: "host_uptime_seconds", Kind: batch.KindGauge, Value: float64(seq)}}},
		Series: []batch.Series{{Name: "host_cpu_seconds_total", Kind: batch.KindCounter,
			Labels:  batch.Labels{{Name: "cpu", Value: "0"}, {Name: "mode", Value: "user"}},
			Samples: []batch.Sample{{TimestampMs: now.UnixMilli(), Value: float64(seq) * 1.5}}}},
	}
	data, err := enc.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// started runs Serve in the background and returns the bound addresses and
// a stop function that waits for a clean exit.
func started(t testing.TB, e *env) (ingestAddr, queryAddr string, stop func() error) {
	t.Helper()
	c, err := load(e.serverToml)
	if err != nil {
		t.Fatalf("load %s: %v", e.serverToml, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	type addrs struct{ in, q net.Addr }
	ready := make(chan addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, e.serverToml, c, Options{Ready: func(in, q net.Addr) { ready <- addrs{in, q} }})
	}()
	select {
	case a := <-ready:
		return a.in.String(), a.q.String(), func() error { cancel(); return <-done }
	case err := <-done:
		cancel()
		t.Fatalf("collector exited before listening: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("collector did not start listening within 20s")
	}
	return "", "", nil
}
