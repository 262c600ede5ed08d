package ingest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/queue"
	"github.com/lightmetrics/lightmetrics/pkg/tlsutil"
	"github.com/lightmetrics/lightmetrics/pkg/tokens"
)

// The collector's token table is what the handler authenticates with.
var _ Authenticator = (*tokens.Table)(nil)

// tokenTable builds a real pkg/tokens table from agent -> token.
func tokenTable(t *testing.T, byAgent map[string]string) *tokens.Table {
	t.Helper()
	var doc strings.Builder
	for agent, tok := range byAgent {
		fmt.Fprintf(&doc, "[[tokens]]\nagent_id = %q\ntoken = %q\n\n", agent, tok)
	}
	table, err := tokens.ParseTable("ingest-tokens.toml", strings.NewReader(doc.String()))
	if err != nil {
		t.Fatalf("token table: %v", err)
	}
	return table
}

// queueAppender stores records in a real pkg/queue, deduplicating on
// "agentID/seq" as the collector's spool does.
type queueAppender struct {
	q *queue.Queue
	// hook, when set, runs first; a non-nil error is returned instead of
	// appending. Tests use it to block or fail the appender.
	hook func(ctx context.Context, rec Record) error
}

func dedupeKey(agentID string, seq uint64) []byte {
	return []byte(agentID + "/" + strconv.FormatUint(seq, 10))
}

func (a *queueAppender) Append(ctx context.Context, rec Record) (Result, error) {
	if a.hook != nil {
		if err := a.hook(ctx, rec); err != nil {
			return Result{}, err
		}
	}
	res, err := a.q.Append(ctx, queue.Entry{Data: rec.Data, DedupeKey: dedupeKey(rec.AgentID, rec.Seq)})
	if err != nil {
		if errors.Is(err, queue.ErrFull) {
			return Result{}, fmt.Errorf("spool append: %w: %w", ErrUnavailable, err)
		}
		return Result{}, fmt.Errorf("spool append: %w", err)
	}
	return Result{Duplicate: res.Duplicate, SpoolSeq: res.Seq}, nil
}

// checkingAppender adds the optional DuplicateChecker.
type checkingAppender struct{ *queueAppender }

func (a checkingAppender) Durable(_ context.Context, agentID string, seq uint64) (bool, error) {
	_, ok, err := a.q.Dedupe(dedupeKey(agentID, seq))
	return ok, err
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Agents and tokens every test environment knows. The tokens are long and
// distinctive so a leak into any output is unmistakable.
var testTokens = map[string]string{
	"agent-a": "tok-A-7f3c9e1d2b4a60f8e5d7c3b1a9f2e4d6",
	"agent-b": "tok-B-0a1b2c3d4e5f60718293a4b5c6d7e8f9",
}

type envConfig struct {
	opts      Options
	queueOpts queue.Options
	// checker adds DuplicateChecker to the appender.
	checker bool
	hook    func(ctx context.Context, rec Record) error
	// agents adds generated agents agent-000.. with their own tokens.
	agents int
}

// env is one handler behind a real TLS listener on 127.0.0.1, storing into
// a real queue in t.TempDir().
type env struct {
	t       *testing.T
	url     string
	h       *Handler
	q       *queue.Queue
	app     *queueAppender
	auth    *TokenHolder
	tokens  map[string]string // agent -> token
	reg     *prometheus.Registry
	logs    *syncBuffer
	client  *http.Client // HTTP/2 when the server offers it
	client1 *http.Client // HTTP/1.1 only
	enc     *codec.Encoder
	dec     *codec.Decoder

	mu   sync.Mutex
	seen []string // every response's headers and body, checked for tokens

	// serverRead counts the bytes the server read from its connections.
	serverRead atomic.Int64
}

// Socket buffers for the tests that measure how much of a body was read.
// Fixed sizes turn off Linux's buffer autotuning, which would otherwise let
// megabytes sit in the kernel between a client that writes and a server
// that never reads.
const testSocketBuffer = 64 << 10

// countingListener counts what the server reads and pins its receive
// buffer.
type countingListener struct {
	net.Listener
	read *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(testSocketBuffer)
	}
	return countingConn{Conn: c, read: l.read}, nil
}

type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// smallBufferDial pins the client's send buffer (see testSocketBuffer).
func smallBufferDial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(testSocketBuffer)
	}
	return c, nil
}

func newEnv(t *testing.T, cfg envConfig) *env {
	t.Helper()
	dir := t.TempDir()
	q, err := queue.Open(filepath.Join(dir, "spool.db"), cfg.queueOpts)
	if err != nil {
		t.Fatalf("open queue: %v", err)
	}
	t.Cleanup(func() { _ = q.Close() })

	e := &env{t: t, q: q, app: &queueAppender{q: q, hook: cfg.hook}, tokens: map[string]string{}, reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	for agent, tok := range testTokens {
		e.tokens[agent] = tok
	}
	for i := 0; i < cfg.agents; i++ {
		e.tokens[fmt.Sprintf("agent-%03d", i)] = fmt.Sprintf("tok-%03d-c0ffee%026d", i, i*7919)
	}
	e.auth = NewTokenHolder(tokenTable(t, e.tokens))

	o := cfg.opts
	o.Registerer = e.reg
	o.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var app Appender = e.app
	if cfg.checker {
		app = checkingAppender{e.app}
	}
	h, err := New(app, e.auth, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(h.Close)
	e.h = h

	e.startTLS(dir, h)

	if e.enc, err = codec.NewEncoder(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.enc.Close)
	if e.dec, err = codec.NewDecoder(codec.DefaultCaps()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.dec.Close)

	t.Cleanup(func() {
		// Runs before the queue and handler are closed (cleanups run last
		// first): no token may have reached any response or log line.
		e.mu.Lock()
		seen := strings.Join(e.seen, "\n")
		e.mu.Unlock()
		logs := e.logs.String()
		for agent, tok := range e.tokens {
			if strings.Contains(seen, tok) {
				t.Errorf("token of %s appears in a response", agent)
			}
			if strings.Contains(logs, tok) {
				t.Errorf("token of %s appears in the log", agent)
			}
		}
	})
	return e
}

// startTLS serves h over TLS on 127.0.0.1 with a certificate from a CA made
// by pkg/tlsutil, served through its Reloader as the collector does. The
// clients trust only that CA and send SNI "localhost", so a handshake that
// fell back to httptest's built-in certificate would fail verification.
func (e *env) startTLS(dir string, h http.Handler) {
	t := e.t
	ca, err := tlsutil.GenerateCA("ingest test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := tlsutil.IssueServerCert(ca, []string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := leaf.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, caFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")
	for _, f := range []struct {
		path string
		data []byte
	}{{certFile, leaf.CertPEM()}, {keyFile, keyPEM}, {caFile, ca.CertPEM()}} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rel, err := tlsutil.ServerConfig(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = countingListener{Listener: srv.Listener, read: &e.serverRead}
	srv.EnableHTTP2 = true
	srv.TLS = rel.TLSConfig()
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	e.url = srv.URL

	clientTLS := func() *tls.Config {
		c, err := tlsutil.ClientConfig(caFile)
		if err != nil {
			t.Fatal(err)
		}
		c.ServerName = "localhost"
		return c
	}
	tr2 := &http.Transport{TLSClientConfig: clientTLS(), ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 128}
	// A client that sends "Expect: 100-continue" must wait for the 100:
	// Go's server closes at once, not lingering, on such a client when it
	// refuses without reading.
	tr1 := &http.Transport{TLSClientConfig: clientTLS(), TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConnsPerHost: 128, ExpectContinueTimeout: time.Minute, DialContext: smallBufferDial}
	t.Cleanup(tr2.CloseIdleConnections)
	t.Cleanup(tr1.CloseIdleConnections)
	e.client = &http.Client{Transport: tr2, Timeout: time.Minute}
	e.client1 = &http.Client{Transport: tr1, Timeout: time.Minute}
}

// request is one call to the handler.
type request struct {
	method  string // POST when empty
	path    string
	agent   string // whose token to send; "" sends none
	token   string // a literal Authorization value, overriding agent
	body    io.Reader
	size    int64 // Content-Length; -1 for chunked; 0 means len(body bytes)
	headers map[string]string
	http1   bool
}

// response is what came back, body read whole.
type response struct {
	status int
	header http.Header
	body   []byte
	proto  string
}

// errorJSON decodes the body as a refusal.
func (r response) errorJSON(t *testing.T) errorBody {
	t.Helper()
	var b errorBody
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatalf("status %d: body %q is not a JSON error: %v", r.status, r.body, err)
	}
	return b
}

func (e *env) do(ctx context.Context, r request) (response, error) {
	method := r.method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, e.url+r.path, r.body)
	if err != nil {
		return response{}, err
	}
	if r.size != 0 {
		req.ContentLength = r.size
		if r.size < 0 {
			req.TransferEncoding = []string{"chunked"}
		}
	}
	switch {
	case r.token != "":
		req.Header.Set("Authorization", r.token)
	case r.agent != "":
		req.Header.Set("Authorization", "Bearer "+e.tokens[r.agent])
	}
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	c := e.client
	if r.http1 {
		c = e.client1
	}
	resp, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	var hdr bytes.Buffer
	_ = resp.Header.Write(&hdr)
	e.mu.Lock()
	e.seen = append(e.seen, hdr.String(), string(body))
	e.mu.Unlock()
	return response{status: resp.StatusCode, header: resp.Header, body: body, proto: resp.Proto}, nil
}

func (e *env) mustDo(r request) response {
	e.t.Helper()
	resp, err := e.do(context.Background(), r)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	return resp
}

// testBatch is a small, valid batch: a heartbeat, two series, a log record.
func testBatch(agent string, seq uint64) *batch.Batch {
	return &batch.Batch{
		AgentID:   agent,
		Seq:       seq,
		CreatedNs: 1_700_000_000_000_000_000 + int64(seq),
		Heartbeat: &batch.Heartbeat{
			TimestampMs: 1_700_000_000_000, Hostname: "host-" + agent, AgentVersion: "test", OS: "linux",
			Values: []batch.Scalar{{Name: "load1", Kind: batch.KindGauge, Value: 0.5}, {Name: "uptime_seconds", Kind: batch.KindCounter, Value: 1234}},
		},
		Series: []batch.Series{
			{Name: "cpu_seconds_total", Kind: batch.KindCounter, Labels: batch.Labels{{Name: "cpu", Value: "0"}, {Name: "mode", Value: "user"}},
				Samples: []batch.Sample{{TimestampMs: 1_700_000_000_000, Value: float64(seq)}}},
			{Name: "filesystem_free_bytes", Kind: batch.KindGauge, Labels: batch.Labels{{Name: "mountpoint", Value: "/"}},
				Samples: []batch.Sample{{TimestampMs: 1_700_000_000_000, Value: 1e9}, {TimestampMs: 1_700_000_010_000, Value: 2e9}}},
		},
		Logs: []batch.LogRecord{{TimeNs: 1_700_000_000_000_000_000, Source: "syslog", Message: "hello", Attrs: batch.Labels{{Name: "path", Value: "/var/log/syslog"}}}},
	}
}

func (e *env) encode(b *batch.Batch) []byte {
	e.t.Helper()
	data, err := e.enc.Encode(b)
	if err != nil {
		e.t.Fatalf("encode: %v", err)
	}
	return data
}

// stored returns every record in the queue, decoded, keyed by dedupe key.
func (e *env) stored() map[string][]*batch.Batch {
	e.t.Helper()
	out := map[string][]*batch.Batch{}
	err := e.q.Scan(context.Background(), 0, func(_ uint64, data []byte) error {
		b, err := e.dec.Decode(data)
		if err != nil {
			return err
		}
		k := string(dedupeKey(b.AgentID, b.Seq))
		out[k] = append(out[k], b)
		return nil
	})
	if err != nil {
		e.t.Fatalf("scan queue: %v", err)
	}
	return out
}

// metric returns the value of the series name{labels} in the registry (the
// sample count for a histogram), 0 when absent.
func (e *env) metric(name string, labels map[string]string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !labelsMatch(m, labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return 0
}

func labelsMatch(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, lp := range m.GetLabel() {
		got[lp.GetName()] = lp.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}
