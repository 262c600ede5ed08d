package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/command"
	"github.com/lightmetrics/lightmetrics/pkg/limits"
	"github.com/lightmetrics/lightmetrics/pkg/queue"
	"github.com/lightmetrics/lightmetrics/pkg/tlsutil"
)

const testToken = "0123456789abcdef0123456789abcdef"

// receiver is a TLS endpoint that speaks the collector's ingest protocol
// and decodes every batch with pkg/codec. It stores each (agent, seq) once.
type receiver struct {
	srv     *httptest.Server
	caFile  string
	dec     *codec.Decoder
	mu      sync.Mutex
	batches map[uint64]*batch.Batch
	posts   int
	hang    chan struct{} // when non-nil, requests block until it is closed
	arrived chan struct{} // gets a value when a request starts
}

func newReceiver(t *testing.T, dir string) *receiver {
	t.Helper()
	ca, err := tlsutil.GenerateCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := tlsutil.IssueServerCert(ca, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	key, _ := kp.KeyPEM()
	os.WriteFile(certFile, append(kp.CertPEM(), ca.CertPEM()...), 0o644)
	os.WriteFile(keyFile, key, 0o600)
	r := &receiver{caFile: filepath.Join(dir, "ca.pem"), batches: map[uint64]*batch.Batch{}, arrived: make(chan struct{}, 100)}
	os.WriteFile(r.caFile, ca.CertPEM(), 0o644)
	if r.dec, err = codec.NewDecoder(codec.DefaultCaps()); err != nil {
		t.Fatal(err)
	}
	rl, err := tlsutil.ServerConfig(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	r.srv.TLS = rl.TLSConfig()
	// httptest installs its own certificate unless Certificates is set, and
	// a client dialling an IP sends no SNI, so GetCertificate alone is not
	// consulted.
	r.srv.TLS.Certificates = []tls.Certificate{pair}
	r.srv.StartTLS()
	t.Cleanup(func() {
		r.mu.Lock()
		if r.hang != nil {
			select {
			case <-r.hang:
			default:
				close(r.hang)
			}
		}
		r.mu.Unlock()
		r.srv.Close()
		r.dec.Close()
	})
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	select {
	case r.arrived <- struct{}{}:
	default:
	}
	r.mu.Lock()
	hang := r.hang
	r.posts++
	r.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-req.Context().Done():
		}
		http.Error(w, "gone", http.StatusServiceUnavailable)
		return
	}
	if req.Header.Get("Authorization") != "Bearer "+testToken {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	body, _ := io.ReadAll(req.Body)
	b, err := r.dec.Decode(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	status := "accepted"
	if _, ok := r.batches[b.Seq]; ok {
		status = "duplicate"
	} else {
		r.batches[b.Seq] = b
	}
	r.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]any{"agent_id": b.AgentID, "seq": b.Seq, "status": status})
}

func (r *receiver) addr() string { return strings.TrimPrefix(r.srv.URL, "https://") }

// lines returns every log message received, in seq order.
func (r *receiver) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	seqs := make([]uint64, 0, len(r.batches))
	for s := range r.batches {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	var out []string
	for _, s := range seqs {
		for _, l := range r.batches[s].Logs {
			out = append(out, l.Message)
		}
	}
	return out
}

type agentSet struct {
	dir, config, logFile, queueDir string
}

// writeAgent writes agent.toml pointing at endpoint with one log input.
func writeAgent(t *testing.T, dir, endpoint, caFile, extra string) agentSet {
	t.Helper()
	s := agentSet{dir: dir, config: filepath.Join(dir, "agent.toml"), logFile: filepath.Join(dir, "app.log"), queueDir: filepath.Join(dir, "queue")}
	os.WriteFile(filepath.Join(dir, "token"), []byte(testToken+"\n"), 0o600)
	if _, err := os.Stat(s.logFile); err != nil {
		os.WriteFile(s.logFile, nil, 0o644)
	}
	cfg := fmt.Sprintf(`agent_id = "test-agent"
endpoints = ["https://%s"]
auth_token_file = "token"
tls_ca_cert_file = %q
queue_dir = %q
interval_ms = 1000
upload_timeout_ms = 3000
%s

[processes]
mode = "top"
top_n = 5

[[logs]]
source = "app"
paths = [%q]
start_at = "beginning"
`, endpoint, caFile, s.queueDir, extra, s.logFile)
	if err := os.WriteFile(s.config, []byte(cfg), 0o640); err != nil {
		t.Fatal(err)
	}
	return s
}

func appendLines(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := from; i <= to; i++ {
		fmt.Fprintf(f, "line %d level=info something happened\n", i)
	}
}

func wantLines(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("line %d level=info something happened", i))
	}
	return out
}

func TestOnceShipsHostMetricsAndLogs(t *testing.T) {
	dir := t.TempDir()
	r := newReceiver(t, dir)
	s := writeAgent(t, dir, r.addr(), r.caFile, "")
	appendLines(t, s.logFile, 1, 3)
	var out bytes.Buffer
	if err := Once(context.Background(), s.config, &out); err != nil {
		t.Fatalf("once: %v (%s)", err, out.String())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.batches) == 0 {
		t.Fatal("no batch received")
	}
	lim := limits.Default()
	var hb *batch.Heartbeat
	cpuSeries, procSeries, logs := 0, 0, 0
	for seq, b := range r.batches {
		if err := lim.Validate(b); err != nil {
			t.Errorf("batch %d breaks the collector's default limits: %v", seq, err)
		}
		if b.Heartbeat != nil {
			hb = b.Heartbeat
		}
		for _, se := range b.Series {
			switch {
			case strings.HasPrefix(se.Name, "host_process_"):
				procSeries++
				if len(se.Labels) > 3 {
					t.Errorf("process series %s has %d labels", se.Name, len(se.Labels))
				}
			case se.Labels.Get("cpu") != "":
				cpuSeries++
				if len(se.Labels) > 2 {
					t.Errorf("cpu series %s has %d labels", se.Name, len(se.Labels))
				}
			default:
				if len(se.Labels) > 2 {
					t.Errorf("series %s has %d labels", se.Name, len(se.Labels))
				}
			}
		}
		for _, l := range b.Logs {
			logs++
			if len(l.Attrs) > 4 {
				t.Errorf("log record has %d attributes", len(l.Attrs))
			}
		}
	}
	if hb == nil || len(hb.Values) == 0 || len(hb.Values) > 107 {
		t.Fatalf("heartbeat: %+v", hb)
	}
	if cpuSeries == 0 || procSeries == 0 {
		t.Errorf("per-cpu series %d, process series %d: want both", cpuSeries, procSeries)
	}
	if logs != 3 {
		t.Errorf("got %d log records, want 3", logs)
	}
}

func TestCheckNeverOpensQueueOrNetwork(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conns := make(chan struct{}, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- struct{}{}
			c.Close()
		}
	}()
	s := writeAgent(t, dir, ln.Addr().String(), "", "")
	appendLines(t, s.logFile, 1, 2)
	var out bytes.Buffer
	if err := Check(context.Background(), s.config, command.AgentCheckOptions{}, &out); err != nil {
		t.Fatalf("check: %v", err)
	}
	if !strings.Contains(out.String(), "OK") || !strings.Contains(out.String(), "bytes encoded") {
		t.Fatalf("summary: %q", out.String())
	}
	if _, err := os.Stat(s.queueDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dry run touched the queue dir: %v", err)
	}
	select {
	case <-conns:
		t.Fatal("dry run opened a connection")
	case <-time.After(100 * time.Millisecond):
	}
}

func TestCheckAgainstCollectorConfig(t *testing.T) {
	dir := t.TempDir()
	s := writeAgent(t, dir, "127.0.0.1:1", "", "max_logs_per_batch = 5000")
	srv := filepath.Join(dir, "server.toml")
	os.WriteFile(srv, []byte("[ingest]\nmax_logs_per_batch = 1000\n"), 0o640)
	err := Check(context.Background(), s.config, command.AgentCheckOptions{CollectorConfig: srv}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "max_logs_per_batch") {
		t.Fatalf("misaligned limits: %v, want an error naming max_logs_per_batch", err)
	}
}

func TestFlushBesideRunningQueueSaysInUse(t *testing.T) {
	dir := t.TempDir()
	s := writeAgent(t, dir, "127.0.0.1:1", "", "")
	q, err := queue.Open(filepath.Join(s.queueDir, QueueFileName), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	done := make(chan error, 1)
	go func() { done <- Flush(context.Background(), s.config, io.Discard) }()
	select {
	case err := <-done:
		if !errors.Is(err, queue.ErrLocked) || !strings.Contains(err.Error(), "queue in use") {
			t.Fatalf("flush beside a holder: %v, want queue in use", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("flush hung on a locked queue")
	}
}

const childEnv = "LIGHTMETRICS_AGENT_CHILD_CONFIG"

// TestHelperAgentOnce is the child of TestKill9BetweenAppendAndUpload.
func TestHelperAgentOnce(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("helper process; runs only as a child")
	}
	err := Once(context.Background(), path, io.Discard)
	fmt.Println("ONCE", err)
	os.Exit(0)
}

// TestKill9BetweenAppendAndUpload kills the agent after it queued a batch
// and while the upload is in flight, restarts it, and checks every log line
// arrives exactly once.
func TestKill9BetweenAppendAndUpload(t *testing.T) {
	dir := t.TempDir()
	r := newReceiver(t, dir)
	s := writeAgent(t, dir, r.addr(), r.caFile, "")
	appendLines(t, s.logFile, 1, 5)

	r.mu.Lock()
	r.hang = make(chan struct{})
	r.mu.Unlock()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAgentOnce$")
	cmd.Env = append(os.Environ(), childEnv+"="+s.config)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.arrived: // the batch is queued: uploads start only after the append
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("child never started uploading")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	r.mu.Lock()
	close(r.hang)
	r.hang = nil
	r.mu.Unlock()

	appendLines(t, s.logFile, 6, 8)
	if err := Once(context.Background(), s.config, io.Discard); err != nil {
		t.Fatalf("once after the kill: %v", err)
	}
	appendLines(t, s.logFile, 9, 9)
	if err := Once(context.Background(), s.config, io.Discard); err != nil {
		t.Fatalf("third once: %v", err)
	}
	got, want := r.lines(), wantLines(1, 9)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lines received:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDaemonUploadsAndStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	r := newReceiver(t, dir)
	s := writeAgent(t, dir, r.addr(), r.caFile, "")
	appendLines(t, s.logFile, 1, 2)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Daemon(ctx, s.config, io.Discard) }()
	deadline := time.After(30 * time.Second)
	for len(r.lines()) < 2 {
		select {
		case <-deadline:
			cancel()
			t.Fatal("daemon uploaded nothing in 30s")
		case <-time.After(50 * time.Millisecond):
		}
	}
	appendLines(t, s.logFile, 3, 4)
	for len(r.lines()) < 4 {
		select {
		case <-deadline:
			cancel()
			t.Fatalf("daemon did not pick up new lines: %v", r.lines())
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("daemon stop: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not stop")
	}
	if got := r.lines(); strings.Join(got, "\n") != strings.Join(wantLines(1, 4), "\n") {
		t.Fatalf("lines %v", got)
	}
}
