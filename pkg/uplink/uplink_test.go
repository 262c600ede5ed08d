package uplink

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lightmetrics/lightmetrics/pkg/tlsutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testToken = "tok-5ecret-5ecret-5ecret-0123456789abcdef"

// fakeQueue is an in-memory Queue; the real one is tested in pkg/queue.
type fakeQueue struct {
	mu      sync.Mutex
	records map[uint64][]byte
	dead    map[uint64]string
	deletes int // Delete calls
}

func newFakeQueue(seqs ...uint64) *fakeQueue {
	q := &fakeQueue{records: map[uint64][]byte{}, dead: map[uint64]string{}}
	for _, s := range seqs {
		q.records[s] = body(s)
	}
	return q
}

func body(seq uint64) []byte { return []byte(fmt.Sprintf("batch-%d", seq)) }

func (q *fakeQueue) Scan(ctx context.Context, from uint64, fn func(uint64, []byte) error) error {
	q.mu.Lock()
	var seqs []uint64
	for s := range q.records {
		if s >= from {
			seqs = append(seqs, s)
		}
	}
	q.mu.Unlock()
	slices.Sort(seqs)
	for _, s := range seqs {
		q.mu.Lock()
		data, ok := q.records[s]
		q.mu.Unlock()
		if !ok {
			continue
		}
		if err := fn(s, data); err != nil {
			return err
		}
	}
	return nil
}

func (q *fakeQueue) Delete(ctx context.Context, seqs ...uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.deletes++
	for _, s := range seqs {
		if _, ok := q.records[s]; !ok {
			return fmt.Errorf("delete %d: not found", s)
		}
		delete(q.records, s)
	}
	return nil
}

func (q *fakeQueue) MoveAside(ctx context.Context, seq uint64, reason string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.records[seq]; !ok {
		return fmt.Errorf("move aside %d: not found", seq)
	}
	delete(q.records, seq)
	q.dead[seq] = reason
	return nil
}

func (q *fakeQueue) left() []uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []uint64
	for s := range q.records {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// devTLS is a dev CA, a server certificate for 127.0.0.1 and a client
// configuration trusting the CA.
type devTLS struct {
	server tls.Certificate
	client *tls.Config
}

func newDevTLS(t *testing.T) devTLS {
	t.Helper()
	ca, err := tlsutil.GenerateCA("uplink test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := tlsutil.IssueServerCert(ca, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := leaf.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(leaf.CertPEM(), keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return devTLS{server: cert, client: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
}

// reply is what the scripted collector answers for one request.
type reply struct {
	code       int
	body       string // "" = the ack for the request's seq with status "accepted"
	retryAfter string
}

// collector is an httptest TLS server on 127.0.0.1 answering with script.
type collector struct {
	URL      string
	requests atomic.Int64
	srv      *httptest.Server
}

func newCollector(t *testing.T, d devTLS, script func(seq uint64, n int64) reply) *collector {
	t.Helper()
	c := &collector{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := c.requests.Add(1)
		if r.Method != http.MethodPost || r.URL.Path != BatchPath {
			t.Errorf("request %s %s, want POST %s", r.Method, r.URL.Path, BatchPath)
		}
		if r.ProtoMajor != 2 {
			t.Errorf("request over %s, want HTTP/2", r.Proto)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer "+testToken {
			t.Errorf("Authorization header = %q", got)
		}
		if got := r.Header.Get("Content-Type"); got != ContentType {
			t.Errorf("Content-Type = %q, want %q", got, ContentType)
		}
		if got := r.Header.Get("User-Agent"); got != "lm-test/1" {
			t.Errorf("User-Agent = %q", got)
		}
		data, _ := io.ReadAll(r.Body)
		seq, err := strconv.ParseUint(strings.TrimPrefix(string(data), "batch-"), 10, 64)
		if err != nil {
			t.Errorf("body %q is not a test batch", data)
		}
		rep := script(seq, n)
		if rep.code == 0 {
			rep.code = http.StatusOK
		}
		if rep.body == "" && rep.code == http.StatusOK {
			rep.body = fmt.Sprintf(`{"agent_id":"a1","seq":%d,"status":"accepted"}`, seq)
		}
		if rep.retryAfter != "" {
			w.Header().Set("Retry-After", rep.retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.code)
		io.WriteString(w, rep.body)
	})
	c.srv = httptest.NewUnstartedServer(h)
	c.srv.EnableHTTP2 = true
	c.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected here
	c.srv.TLS = &tls.Config{Certificates: []tls.Certificate{d.server}}
	c.srv.StartTLS()
	t.Cleanup(c.srv.Close)
	c.URL = c.srv.URL
	return c
}

type harness struct {
	client *Client
	logs   *bytes.Buffer
	sleeps []time.Duration
}

func newClient(t *testing.T, d devTLS, endpoints []string, mod func(*Options)) *harness {
	t.Helper()
	h := &harness{logs: &bytes.Buffer{}}
	o := Options{
		Endpoints: endpoints,
		Token:     testToken,
		TLS:       d.client,
		Timeout:   10 * time.Second,
		Backoff:   Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2, Jitter: 0},
		Logger:    slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		UserAgent: "lm-test/1",
	}
	if mod != nil {
		mod(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	// Record the waits instead of spending them; the delays are asserted,
	// never the wall time.
	c.sleep = func(ctx context.Context, d time.Duration) error {
		h.sleeps = append(h.sleeps, d)
		return ctx.Err()
	}
	t.Cleanup(c.Close)
	h.client = c
	return h
}

// noToken fails the test if the token appears in any of the strings.
func noToken(t *testing.T, what string, ss ...string) {
	t.Helper()
	for _, s := range ss {
		if strings.Contains(s, testToken) {
			t.Errorf("%s contains the token: %q", what, s)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestDrain(t *testing.T) {
	d := newDevTLS(t)
	refuse := func(code int) func(uint64, int64) reply {
		return func(seq uint64, _ int64) reply {
			if seq == 2 {
				// The reason echoes the token to prove it is scrubbed.
				return reply{code: code, body: `{"error":"max_series_per_batch: too many series (Bearer ` + testToken + `)"}`}
			}
			return reply{}
		}
	}
	tests := []struct {
		name        string
		script      func(seq uint64, n int64) reply
		maxAttempts int
		wantErr     func(error) bool
		wantErrText string
		want        Report // LastError is checked for presence only
		wantLeft    []uint64
		wantDead    map[uint64]string // substring of the reason
		wantSleeps  []time.Duration   // nil = not checked
		wantReqs    int64
	}{
		{
			name:     "all accepted",
			script:   func(uint64, int64) reply { return reply{} },
			want:     Report{Sent: 3, Bytes: 21},
			wantReqs: 3,
		},
		{
			name: "duplicates deleted too",
			script: func(seq uint64, _ int64) reply {
				return reply{body: fmt.Sprintf(`{"agent_id":"a1","seq":%d,"status":"duplicate"}`, seq)}
			},
			want:     Report{Duplicates: 3, Bytes: 21},
			wantReqs: 3,
		},
		{name: "400 moved aside", script: refuse(400), want: Report{Sent: 2, MovedAside: 1, MovedAsideSeqs: []uint64{2}, Bytes: 14},
			wantDead: map[uint64]string{2: "HTTP 400 Bad Request: max_series_per_batch"}, wantReqs: 3},
		{
			// The token belongs to another agent_id: every batch would be
			// refused, so nothing is moved aside.
			name:        "403 keeps everything and stops",
			script:      func(uint64, int64) reply { return reply{code: 403, body: "token is for another agent"} },
			wantErr:     IsSetup,
			wantErrText: "HTTP 403 Forbidden",
			wantLeft:    []uint64{1, 2, 3},
			wantReqs:    1,
			wantSleeps:  []time.Duration{},
		},
		{name: "413 moved aside", script: refuse(413), want: Report{Sent: 2, MovedAside: 1, MovedAsideSeqs: []uint64{2}, Bytes: 14},
			wantDead: map[uint64]string{2: "HTTP 413"}, wantReqs: 3},
		{name: "422 moved aside", script: refuse(422), want: Report{Sent: 2, MovedAside: 1, MovedAsideSeqs: []uint64{2}, Bytes: 14},
			wantDead: map[uint64]string{2: "HTTP 422 Unprocessable Entity: max_series_per_batch: too many series (Bearer [redacted])"}, wantReqs: 3},
		{
			name:        "401 keeps everything and stops",
			script:      func(uint64, int64) reply { return reply{code: 401, body: "unknown token"} },
			wantErr:     IsSetup,
			wantErrText: "HTTP 401 Unauthorized: unknown token",
			wantLeft:    []uint64{1, 2, 3},
			wantReqs:    1,
			wantSleeps:  []time.Duration{},
		},
		{
			name:        "404 keeps everything and stops",
			script:      func(uint64, int64) reply { return reply{code: 404} },
			wantErr:     IsSetup,
			wantLeft:    []uint64{1, 2, 3},
			wantReqs:    1,
			wantSleeps:  []time.Duration{},
			wantErrText: "HTTP 404",
		},
		{
			name: "503 with Retry-After retried",
			script: func(seq uint64, n int64) reply {
				if n == 1 {
					return reply{code: 503, retryAfter: "3", body: "spool busy"}
				}
				return reply{}
			},
			want:       Report{Sent: 3, Retries: 1, Bytes: 21},
			wantSleeps: []time.Duration{3 * time.Second},
			wantReqs:   4,
		},
		{
			name: "429 and 408 retried with backoff",
			script: func(seq uint64, n int64) reply {
				switch n {
				case 1:
					return reply{code: 429}
				case 2:
					return reply{code: 408}
				}
				return reply{}
			},
			want:       Report{Sent: 3, Retries: 2, Bytes: 21},
			wantSleeps: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond},
			wantReqs:   5,
		},
		{
			name:        "5xx bounded by MaxAttempts, data kept",
			script:      func(uint64, int64) reply { return reply{code: 500} },
			maxAttempts: 4,
			want:        Report{Retries: 3},
			wantErr:     IsTransient,
			wantErrText: "gave up after 4 attempts",
			wantLeft:    []uint64{1, 2, 3},
			wantSleeps:  []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond},
			wantReqs:    4,
		},
		{
			name: "ack with the wrong seq is a failure",
			script: func(seq uint64, _ int64) reply {
				return reply{body: fmt.Sprintf(`{"agent_id":"a1","seq":%d,"status":"accepted"}`, seq+100)}
			},
			maxAttempts: 2,
			want:        Report{Retries: 1},
			wantErr:     IsTransient,
			wantErrText: "ack names seq 101, sent seq 1",
			wantLeft:    []uint64{1, 2, 3},
			wantReqs:    2,
		},
		{
			name:        "ack with an unknown status is a failure",
			script:      func(seq uint64, _ int64) reply { return reply{body: fmt.Sprintf(`{"seq":%d,"status":"maybe"}`, seq)} },
			maxAttempts: 1,
			wantErr:     IsTransient,
			wantErrText: `ack status "maybe"`,
			wantLeft:    []uint64{1, 2, 3},
			wantReqs:    1,
		},
		{
			name:        "200 without an ack is a failure",
			script:      func(uint64, int64) reply { return reply{body: "ok"} },
			maxAttempts: 1,
			wantErr:     IsTransient,
			wantErrText: "decode ack",
			wantLeft:    []uint64{1, 2, 3},
			wantReqs:    1,
		},
		{
			name: "oversized answer is bounded",
			script: func(seq uint64, _ int64) reply {
				return reply{body: fmt.Sprintf(`{"seq":%d,"status":"accepted","pad":"%s"}`, seq, strings.Repeat("x", 1<<20))}
			},
			maxAttempts: 1,
			wantErr:     IsTransient,
			wantErrText: "ack larger than 65536 bytes",
			wantLeft:    []uint64{1, 2, 3},
			wantReqs:    1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			col := newCollector(t, d, tt.script)
			h := newClient(t, d, []string{col.URL}, func(o *Options) { o.MaxAttempts = tt.maxAttempts })
			q := newFakeQueue(1, 2, 3)

			rep, err := h.client.Drain(context.Background(), q)

			if tt.wantErr == nil && err != nil {
				t.Fatalf("Drain: %v", err)
			}
			if tt.wantErr != nil {
				if err == nil || !tt.wantErr(err) {
					t.Fatalf("Drain error = %v, wrong class", err)
				}
				if !strings.Contains(err.Error(), tt.wantErrText) {
					t.Fatalf("Drain error = %q, want it to contain %q", err, tt.wantErrText)
				}
			}
			wantLast := err != nil || tt.want.MovedAside > 0 || tt.want.Retries > 0
			if (rep.LastError != nil) != wantLast {
				t.Errorf("Report.LastError = %v, want set: %v", rep.LastError, wantLast)
			}
			got := rep
			got.LastError = nil
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Report = %+v, want %+v", got, tt.want)
			}
			if left := q.left(); !slices.Equal(left, tt.wantLeft) {
				t.Errorf("left in queue %v, want %v", left, tt.wantLeft)
			}
			if len(q.dead) != len(tt.wantDead) {
				t.Errorf("moved aside %v, want %v", q.dead, tt.wantDead)
			}
			for seq, want := range tt.wantDead {
				if !strings.Contains(q.dead[seq], want) {
					t.Errorf("moved-aside reason for %d = %q, want it to contain %q", seq, q.dead[seq], want)
				}
			}
			if tt.wantSleeps != nil && !slices.Equal(h.sleeps, tt.wantSleeps) && !(len(h.sleeps) == 0 && len(tt.wantSleeps) == 0) {
				t.Errorf("waits %v, want %v", h.sleeps, tt.wantSleeps)
			}
			if n := col.requests.Load(); n != tt.wantReqs {
				t.Errorf("collector saw %d requests, want %d", n, tt.wantReqs)
			}
			reasons := make([]string, 0, len(q.dead))
			for _, r := range q.dead {
				reasons = append(reasons, r)
			}
			noToken(t, "an error, a reason or the log", append(reasons, errString(err), errString(rep.LastError), h.logs.String())...)
		})
	}
}

// deadEndpoint returns an https URL on 127.0.0.1 where nothing listens.
func deadEndpoint(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "https://" + addr
}

// hangupEndpoint accepts TCP connections and closes them at once, counting them.
func hangupEndpoint(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return "https://" + ln.Addr().String(), &n
}

func TestSendFailover(t *testing.T) {
	d := newDevTLS(t)
	ok := func(uint64, int64) reply { return reply{} }
	busy := func(uint64, int64) reply { return reply{code: 503, body: "busy"} }

	hangup, hangups := hangupEndpoint(t)
	busyCol := newCollector(t, d, busy)
	tests := []struct {
		name  string
		first string
		tries func() int64 // attempts the first endpoint saw
	}{
		{name: "connection refused", first: deadEndpoint(t)},
		{name: "hang up during handshake", first: hangup, tries: hangups.Load},
		{name: "503", first: busyCol.URL, tries: busyCol.requests.Load},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before int64
			if tt.tries != nil {
				before = tt.tries()
			}
			second := newCollector(t, d, ok)
			h := newClient(t, d, []string{tt.first, second.URL}, nil)

			ack, err := h.client.Send(context.Background(), body(7))
			if err != nil {
				t.Fatalf("Send with a failing first endpoint: %v", err)
			}
			if ack.Seq != 7 || ack.Status != StatusAccepted || ack.AgentID != "a1" {
				t.Fatalf("ack = %+v", ack)
			}
			if _, err := h.client.Send(context.Background(), body(8)); err != nil {
				t.Fatalf("second Send: %v", err)
			}
			if n := second.requests.Load(); n != 2 {
				t.Fatalf("second endpoint saw %d requests, want 2", n)
			}
			if tt.tries != nil {
				// Sticky: after the failover the first endpoint is not tried again.
				if n := tt.tries() - before; n != 1 {
					t.Fatalf("first endpoint tried %d times, want 1 (sticky on the second)", n)
				}
			}

			// When the second goes away too, every endpoint's failure is reported.
			second.srv.Close()
			_, err = h.client.Send(context.Background(), body(9))
			if err == nil || !IsTransient(err) {
				t.Fatalf("Send with every endpoint down = %v, want a transient error", err)
			}
			for _, u := range []string{tt.first, second.URL} {
				if !strings.Contains(err.Error(), u) {
					t.Errorf("error %q does not name endpoint %s", err, u)
				}
			}
			noToken(t, "error", err.Error())
		})
	}
}

func TestSendPermanentDoesNotFailOver(t *testing.T) {
	d := newDevTLS(t)
	first := newCollector(t, d, func(uint64, int64) reply { return reply{code: 422, body: "max_labels_per_series"} })
	second := newCollector(t, d, func(uint64, int64) reply { return reply{} })
	h := newClient(t, d, []string{first.URL, second.URL}, nil)
	_, err := h.client.Send(context.Background(), body(1))
	var p *PermanentError
	if !errors.As(err, &p) || p.StatusCode != 422 || p.Reason != "max_labels_per_series" {
		t.Fatalf("Send = %v, want a PermanentError 422 with the reason", err)
	}
	if n := second.requests.Load(); n != 0 {
		t.Fatalf("a batch refused for good was offered to another endpoint %d times", n)
	}
}

func TestSendUntrustedCertificate(t *testing.T) {
	d := newDevTLS(t)
	col := newCollector(t, d, func(uint64, int64) reply { return reply{} })
	h := newClient(t, d, []string{col.URL}, func(o *Options) { o.TLS = nil }) // system roots
	_, err := h.client.Send(context.Background(), body(1))
	if err == nil || !IsTransient(err) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Send to a dev-CA collector with system roots = %v, want a certificate error", err)
	}
	if col.requests.Load() != 0 {
		t.Fatal("the request reached a collector the client must not trust")
	}
}

func TestDrainCancelKeepsDataAndRecordsAcks(t *testing.T) {
	d := newDevTLS(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	col := newCollector(t, d, func(seq uint64, _ int64) reply {
		if seq == 1 {
			return reply{}
		}
		cancel() // the operator hits Ctrl-C while the agent backs off
		return reply{code: 503}
	})
	h := newClient(t, d, []string{col.URL}, func(o *Options) {
		o.Backoff = Backoff{Initial: time.Hour, Max: time.Hour}
	})
	h.client.sleep = sleepCtx // the real wait, which ctx must cut short
	q := newFakeQueue(1, 2, 3)

	rep, err := h.client.Drain(ctx, q)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Drain = %v, want context.Canceled", err)
	}
	if rep.Sent != 1 {
		t.Fatalf("Sent = %d, want 1", rep.Sent)
	}
	if left := q.left(); !slices.Equal(left, []uint64{2, 3}) {
		t.Fatalf("left in queue %v, want [2 3]: the acked batch deleted, the rest kept", left)
	}
}

func TestDrainBatchesDeletes(t *testing.T) {
	d := newDevTLS(t)
	col := newCollector(t, d, func(uint64, int64) reply { return reply{} })
	h := newClient(t, d, []string{col.URL}, nil)
	var seqs []uint64
	for s := uint64(1); s <= 40; s++ {
		seqs = append(seqs, s)
	}
	q := newFakeQueue(seqs...)
	rep, err := h.client.Drain(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent != 40 || len(q.left()) != 0 {
		t.Fatalf("Sent %d, left %v; want 40 sent and an empty queue", rep.Sent, q.left())
	}
	if want := (40 + scanChunk - 1) / scanChunk; q.deletes != want {
		t.Fatalf("%d Delete calls for 40 batches, want %d (one per chunk)", q.deletes, want)
	}
}

func TestNewValidates(t *testing.T) {
	good := Options{Endpoints: []string{"https://127.0.0.1:8443"}, Token: testToken}
	tests := []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"no endpoints", func(o *Options) { o.Endpoints = nil }, "no endpoints"},
		{"plain http", func(o *Options) { o.Endpoints = []string{"http://127.0.0.1:8443"} }, "https"},
		{"no host", func(o *Options) { o.Endpoints = []string{"https:///x"} }, "no host"},
		{"query", func(o *Options) { o.Endpoints = []string{"https://h:1/?a=b"} }, "query"},
		{"password in URL redacted", func(o *Options) { o.Endpoints = []string{"http://u:hunter2@h:1"} }, "xxxxx"},
		{"empty token", func(o *Options) { o.Token = "" }, "empty token"},
		{"token with a newline", func(o *Options) { o.Token = testToken + "\n" }, "whitespace"},
		{"negative attempts", func(o *Options) { o.MaxAttempts = -1 }, "negative"},
		{"jitter", func(o *Options) { o.Backoff.Jitter = 2 }, "jitter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.mod(&o)
			_, err := New(o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.want)
			}
			noToken(t, "error", err.Error())
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error %q shows the URL's password", err)
			}
		})
	}
	c, err := New(good)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "opts", good, "client", c)
	noToken(t, "printed Options or Client", fmt.Sprintf("%v %+v %s %v %+v", good, good, good, c, c), buf.String())
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-3", 0},
		{"7", 7 * time.Second},
		{" 7 ", 7 * time.Second},
		{"nonsense", 0},
		{"99999999999", maxRetryAfter},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(24 * time.Hour).Format(http.TimeFormat), maxRetryAfter},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestDelayBounds(t *testing.T) {
	c, err := New(Options{Endpoints: []string{"https://127.0.0.1:1"}, Token: testToken,
		Backoff: Backoff{Initial: time.Second, Max: 8 * time.Second, Multiplier: 2, Jitter: 0.25}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for attempt := 1; attempt <= 40; attempt++ {
		base := min(time.Second<<min(attempt-1, 10), 8*time.Second)
		lo, hi := time.Duration(float64(base)*0.75), time.Duration(float64(base)*1.25)
		seen := map[time.Duration]bool{}
		for i := 0; i < 50; i++ {
			d := c.delay(attempt)
			if d < lo || d > hi {
				t.Fatalf("delay(%d) = %v outside [%v, %v]", attempt, d, lo, hi)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Fatalf("delay(%d) never varies: jitter not applied", attempt)
		}
	}
}

func TestClassifyStatus(t *testing.T) {
	codes := map[string][]int{
		"permanent": {400, 402, 409, 410, 411, 413, 422, 431, 451},
		"transient": {408, 429, 500, 502, 503, 504, 507},
		"setup":     {301, 302, 307, 308, 401, 403, 404, 405, 407, 415, 426},
	}
	for want, list := range codes {
		for _, code := range list {
			err := classifyStatus("https://x", code, "", 0)
			var got []string
			if IsPermanent(err) {
				got = append(got, "permanent")
			}
			if IsTransient(err) {
				got = append(got, "transient")
			}
			if IsSetup(err) {
				got = append(got, "setup")
			}
			sort.Strings(got)
			if len(got) != 1 || got[0] != want {
				t.Errorf("status %d classified %v, want %s", code, got, want)
			}
		}
	}
	if err := classifyStatus("https://x", 200, "", 0); err != nil {
		t.Errorf("200 classified as %v", err)
	}
}
