package demo

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/command"
	"github.com/lightmetrics/lightmetrics/roles/agent"
	"github.com/lightmetrics/lightmetrics/roles/collector"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestPrepareOnlyWritesARunnableSet(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	var out bytes.Buffer
	o := command.DemoOptions{Dir: dir, PrepareOnly: true, IngestAddr: "127.0.0.1:18443", QueryAddr: "127.0.0.1:19099"}
	if err := Run(context.Background(), o, &out); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	for _, f := range []string{"server.toml", "agent.toml", "ingest-tokens.toml", "token", "query-token", "ca.pem",
		"tls/fullchain.pem", "tls/key.pem", "dashboards.d", "spool", "cache", "queue", "demo.log"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	tok, err := os.ReadFile(filepath.Join(dir, "query-token"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), strings.TrimSpace(string(tok))) {
		t.Fatal("demo output shows the query token")
	}
	if !strings.Contains(out.String(), filepath.Join(dir, "query-token")) {
		t.Fatalf("demo output does not say where the query token is: %q", out.String())
	}
	server, agentCfg := filepath.Join(dir, "server.toml"), filepath.Join(dir, "agent.toml")
	if err := collector.Check(context.Background(), server, false, io.Discard); err != nil {
		t.Fatalf("check-config of the demo set: %v", err)
	}
	if err := agent.Check(context.Background(), agentCfg, command.AgentCheckOptions{CollectorConfig: server}, io.Discard); err != nil {
		t.Fatalf("agent dry run of the demo set: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "queue", agent.QueueFileName)); err == nil {
		t.Fatal("the dry run created the queue file")
	}
}

// TestDemoRunsBothRoles runs the whole demo in-process and waits until the
// collector has accepted batches from the agent, then stops it cleanly.
func TestDemoRunsBothRoles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	o := command.DemoOptions{Dir: dir, IngestAddr: freeAddr(t), QueryAddr: freeAddr(t)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o, &out) }()

	tokFile := filepath.Join(dir, "query-token")
	deadline := time.Now().Add(45 * time.Second)
	accepted := false
	for !accepted && time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("demo exited early: %v\n%s", err, out.String())
		case <-time.After(200 * time.Millisecond):
		}
		tok, err := os.ReadFile(tokFile)
		if err != nil {
			continue
		}
		req, _ := http.NewRequest("GET", "http://"+o.QueryAddr+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, `lightmetrics_ingest_batches_total{status="accepted"}`) && !strings.HasSuffix(line, " 0") {
				accepted = true
			}
		}
	}
	if !accepted {
		t.Fatalf("the collector accepted no batch from the demo agent within 45s\n%s", out.String())
	}
	if !strings.Contains(out.String(), "console: http://"+o.QueryAddr+"/") {
		t.Errorf("demo output lacks the console URL: %q", out.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo stop: %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("demo did not stop within 40s of cancel")
	}
}
