package ingest

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/limits"
	"github.com/lightmetrics/lightmetrics/pkg/queue"
)

// tightLimits are at the floors (and a few small counts) so that tests can
// break every limit with small batches.
func tightLimits() limits.Limits {
	l := limits.Default()
	l.MaxSeriesPerBatch = limits.FloorSeriesPerBatch
	l.MaxLabelsPerSeries = limits.FloorLabelsPerSeries
	l.MaxLabelValueBytes = 100
	l.MaxLogMessageBytes = 200
	l.MaxLogsPerBatch = 3
	l.MaxAlertsPerBatch = 0
	return l
}

func TestBatchStatuses(t *testing.T) {
	errStorage := errors.New("disk on fire")
	tests := []struct {
		name string
		cfg  envConfig
		// req builds the request; body is encoded with e's encoder.
		req func(e *env) request
		// status and the substrings the error (or ack) must contain.
		status    int
		contains  []string
		limit     string // the JSON "limit" field
		reason    string // lightmetrics_ingest_refusals_total{reason}
		retry     bool   // Retry-After expected
		wwwAuth   bool
		wantStore int // records in the queue afterwards
	}{
		{
			name:      "accepted",
			req:       func(e *env) request { return batchReq(e, "agent-a", testBatch("agent-a", 1)) },
			status:    200,
			contains:  []string{`"agent_id":"agent-a"`, `"seq":1`, `"status":"accepted"`},
			wantStore: 1,
		},
		{
			name:     "missing token",
			req:      func(e *env) request { r := batchReq(e, "agent-a", testBatch("agent-a", 1)); r.agent = ""; return r },
			status:   401,
			contains: []string{"missing or unknown bearer token"},
			reason:   "unauthorized",
			wwwAuth:  true,
		},
		{
			name: "unknown token",
			req: func(e *env) request {
				r := batchReq(e, "agent-a", testBatch("agent-a", 1))
				r.token = "Bearer not-a-token"
				return r
			},
			status:   401,
			contains: []string{"missing or unknown bearer token"},
			reason:   "unauthorized",
			wwwAuth:  true,
		},
		{
			name: "basic auth with a valid token",
			req: func(e *env) request {
				r := batchReq(e, "agent-a", testBatch("agent-a", 1))
				r.token = "Basic " + testTokens["agent-a"]
				return r
			},
			status:   401,
			contains: []string{"missing or unknown bearer token"},
			reason:   "unauthorized",
			wwwAuth:  true,
		},
		{
			name:     "token of agent A for a batch of agent B",
			req:      func(e *env) request { return batchReq(e, "agent-a", testBatch("agent-b", 1)) },
			status:   403,
			contains: []string{"token does not belong to agent", `agent-b`},
			reason:   "forbidden",
		},
		{
			name: "garbage body",
			req: func(e *env) request {
				return request{path: RouteBatches, agent: "agent-a", body: strings.NewReader("this is not a batch, but it is long enough to have a header")}
			},
			status:   400,
			contains: []string{"malformed batch", "bad magic"},
			reason:   "malformed",
		},
		{
			name: "empty body",
			req: func(e *env) request {
				return request{path: RouteBatches, agent: "agent-a", body: bytes.NewReader(nil)}
			},
			status:   400,
			contains: []string{"malformed batch", "short header"},
			reason:   "malformed",
		},
		{
			name: "corrupted payload",
			req: func(e *env) request {
				data := e.encode(testBatch("agent-a", 1))
				data[len(data)-3] ^= 0xff
				return request{path: RouteBatches, agent: "agent-a", body: bytes.NewReader(data)}
			},
			status:   400,
			contains: []string{"malformed batch", "checksum mismatch"},
			reason:   "malformed",
		},
		{
			name: "too many series (codec cap)",
			cfg:  envConfig{opts: Options{Limits: tightLimits()}},
			req: func(e *env) request {
				b := testBatch("agent-a", 1)
				for i := range 200 {
					b.Series = append(b.Series, batch.Series{Name: fmt.Sprintf("s_%d", i), Samples: []batch.Sample{{TimestampMs: 1, Value: 1}}})
				}
				return batchReq(e, "agent-a", b)
			},
			status:   422,
			contains: []string{"max_series_per_batch", "limit 107"},
			limit:    "max_series_per_batch",
			reason:   "max_series_per_batch",
		},
		{
			name: "too many labels (codec cap)",
			cfg:  envConfig{opts: Options{Limits: tightLimits()}},
			req: func(e *env) request {
				b := testBatch("agent-a", 1)
				b.Series[0].Labels = bl("a", "1", "b", "1", "c", "1", "d", "1", "e", "1", "f", "1")
				return batchReq(e, "agent-a", b)
			},
			status:   422,
			contains: []string{"max_labels_per_series", "6", "limit 4"},
			limit:    "max_labels_per_series",
			reason:   "max_labels_per_series",
		},
		{
			name: "too many logs (codec cap)",
			cfg:  envConfig{opts: Options{Limits: tightLimits()}},
			req: func(e *env) request {
				b := testBatch("agent-a", 1)
				for range 4 {
					b.Logs = append(b.Logs, b.Logs[0])
				}
				return batchReq(e, "agent-a", b)
			},
			status:   422,
			contains: []string{"max_logs_per_batch", "limit 3"},
			limit:    "max_logs_per_batch",
			reason:   "max_logs_per_batch",
		},
		{
			name: "alerts refused when max_alerts_per_batch is 0 (limits.Validate)",
			cfg:  envConfig{opts: Options{Limits: tightLimits()}},
			req: func(e *env) request {
				b := testBatch("agent-a", 1)
				b.Alerts = []batch.Alert{{TimeNs: 1, Name: "queue_dropped", Severity: batch.SeverityWarning, Message: "dropped 3 batches"}}
				return batchReq(e, "agent-a", b)
			},
			status:   422,
			contains: []string{"max_alerts_per_batch"},
			limit:    "max_alerts_per_batch",
			reason:   "max_alerts_per_batch",
		},
		{
			name: "label value over max_label_value_bytes (limits.Validate)",
			cfg:  envConfig{opts: Options{Limits: tightLimits()}},
			req: func(e *env) request {
				b := testBatch("agent-a", 1)
				b.Series[0].Labels[0].Value = strings.Repeat("v", 150)
				return batchReq(e, "agent-a", b)
			},
			status:   422,
			contains: []string{"max_label_value_bytes", "150", "100"},
			limit:    "max_label_value_bytes",
			reason:   "max_label_value_bytes",
		},
		{
			name: "log message over max_log_message_bytes (limits.Validate)",
			cfg:  envConfig{opts: Options{Limits: tightLimits()}},
			req: func(e *env) request {
				b := testBatch("agent-a", 1)
				b.Logs[0].Message = strings.Repeat("m", 201)
				return batchReq(e, "agent-a", b)
			},
			status:   422,
			contains: []string{"max_log_message_bytes", "201", "200"},
			limit:    "max_log_message_bytes",
			reason:   "max_log_message_bytes",
		},
		{
			name: "string over every string limit (codec cap)",
			cfg:  envConfig{opts: Options{Limits: tightLimits()}},
			req: func(e *env) request {
				b := testBatch("agent-a", 1)
				b.Logs[0].Message = strings.Repeat("m", 5000)
				return batchReq(e, "agent-a", b)
			},
			status:   422,
			contains: []string{"string of 5000 bytes", "max_log_message_bytes = 200"},
			limit:    "max_log_message_bytes",
			reason:   "max_log_message_bytes",
		},
		{
			name: "invalid metric name (structural rule)",
			req: func(e *env) request {
				b := testBatch("agent-a", 1)
				b.Series[0].Name = "cpu seconds"
				return batchReq(e, "agent-a", b)
			},
			status:   422,
			contains: []string{"metric_name"},
			limit:    "metric_name",
			reason:   "metric_name",
		},
		{
			name: "declared decoded size over max_decoded_bytes",
			cfg:  envConfig{opts: Options{MaxDecodedBytes: 4096}},
			req: func(e *env) request {
				b := testBatch("agent-a", 1)
				b.Logs[0].Message = strings.Repeat("x", 10000)
				return batchReq(e, "agent-a", b)
			},
			status:   413,
			contains: []string{"max_decoded_bytes", "limit 4096"},
			limit:    "max_decoded_bytes",
			reason:   "max_decoded_bytes",
		},
		{
			name: "declared Content-Length over max_body_bytes",
			cfg:  envConfig{opts: Options{MaxBodyBytes: 1024}},
			req: func(e *env) request {
				return request{path: RouteBatches, agent: "agent-a", body: bytes.NewReader(make([]byte, 4096))}
			},
			status:   413,
			contains: []string{"declared body of 4096 bytes exceeds max_body_bytes (1024)"},
			limit:    "max_body_bytes",
			reason:   "max_body_bytes",
		},
		{
			name: "chunked body over max_body_bytes",
			cfg:  envConfig{opts: Options{MaxBodyBytes: 1024}},
			req: func(e *env) request {
				return request{path: RouteBatches, agent: "agent-a", body: io.MultiReader(bytes.NewReader(make([]byte, 4096))), size: -1}
			},
			status:   413,
			contains: []string{"request body exceeds max_body_bytes (1024)"},
			limit:    "max_body_bytes",
			reason:   "max_body_bytes",
		},
		{
			name: "chunked body within max_body_bytes",
			req: func(e *env) request {
				r := batchReq(e, "agent-a", testBatch("agent-a", 9))
				r.body, r.size = io.MultiReader(r.body), -1
				return r
			},
			status:    200,
			contains:  []string{`"seq":9`, `"status":"accepted"`},
			wantStore: 1,
		},
		{
			name: "spool full: ErrUnavailable",
			cfg:  envConfig{queueOpts: queue.Options{MaxRecords: 1, OnFull: queue.RefuseNew}},
			req: func(e *env) request {
				if r := e.mustDo(batchReq(e, "agent-a", testBatch("agent-a", 1))); r.status != 200 {
					e.t.Fatalf("first batch: %d %s", r.status, r.body)
				}
				return batchReq(e, "agent-a", testBatch("agent-a", 2))
			},
			status:    503,
			contains:  []string{"storage unavailable", "queue: full", "retry later"},
			reason:    "unavailable",
			retry:     true,
			wantStore: 1,
		},
		{
			name: "appender fails with another error",
			cfg: envConfig{hook: func(context.Context, Record) error {
				return errStorage
			}},
			req:      func(e *env) request { return batchReq(e, "agent-a", testBatch("agent-a", 1)) },
			status:   503,
			contains: []string{"storage error", "disk on fire"},
			reason:   "unavailable",
			retry:    true,
		},
		{
			name:     "GET on the write route",
			req:      func(e *env) request { return request{method: http.MethodGet, path: RouteBatches, agent: "agent-a"} },
			status:   405,
			contains: []string{"use POST"},
			reason:   "malformed",
		},
		{
			name:     "unknown route",
			req:      func(e *env) request { return request{path: "/v1/nope", agent: "agent-a", body: strings.NewReader("x")} },
			status:   404,
			contains: []string{"no such route"},
			reason:   "not_found",
		},
		{
			name:     "healthz",
			req:      func(e *env) request { return request{method: http.MethodGet, path: RouteHealthz} },
			status:   200,
			contains: []string{"ok"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			resp := e.mustDo(tc.req(e))
			if resp.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", resp.status, tc.status, resp.body)
			}
			text := string(resp.body)
			if resp.status >= 400 {
				text = resp.errorJSON(t).Error
			}
			for _, s := range tc.contains {
				if !strings.Contains(text, s) {
					t.Errorf("answer %q does not contain %q", text, s)
				}
			}
			if resp.status >= 400 {
				eb := resp.errorJSON(t)
				if eb.Limit != tc.limit {
					t.Errorf("limit %q, want %q", eb.Limit, tc.limit)
				}
				if strings.Contains(string(resp.body), "accepted") {
					t.Errorf("refusal body says accepted: %s", resp.body)
				}
				if got := e.metric("lightmetrics_ingest_refusals_total", map[string]string{"reason": tc.reason}); got != 1 {
					t.Errorf("refusals_total{reason=%q} = %v, want 1", tc.reason, got)
				}
				if logs := e.logs.String(); !strings.Contains(logs, "ingest request refused") || !strings.Contains(logs, "reason="+tc.reason) {
					t.Errorf("no log line for the refusal:\n%s", logs)
				}
			}
			if got := resp.header.Get("Retry-After"); (got != "") != tc.retry || (tc.retry && got != "1") {
				t.Errorf("Retry-After %q, want set=%v (1)", got, tc.retry)
			}
			if got := resp.header.Get("WWW-Authenticate"); (got != "") != tc.wwwAuth {
				t.Errorf("WWW-Authenticate %q, want set=%v", got, tc.wwwAuth)
			}
			if got := len(e.stored()); got != tc.wantStore {
				t.Errorf("%d records stored, want %d", got, tc.wantStore)
			}
		})
	}
}

// batchReq posts b, encoded, with agent's token.
func batchReq(e *env, agent string, b *batch.Batch) request {
	return request{path: RouteBatches, agent: agent, body: bytes.NewReader(e.encode(b)),
		headers: map[string]string{"Content-Type": codec.ContentType}}
}

func TestDuplicateStoredOnce(t *testing.T) {
	for _, checker := range []bool{false, true} {
		t.Run(fmt.Sprintf("duplicate_checker=%v", checker), func(t *testing.T) {
			e := newEnv(t, envConfig{checker: checker})
			for i, want := range []string{"accepted", "duplicate", "duplicate"} {
				r := e.mustDo(batchReq(e, "agent-a", testBatch("agent-a", 7)))
				var ack ackBody
				if err := json.Unmarshal(r.body, &ack); err != nil || r.status != 200 {
					t.Fatalf("send %d: %d %s (%v)", i, r.status, r.body, err)
				}
				if ack != (ackBody{AgentID: "agent-a", Seq: 7, Status: want}) {
					t.Errorf("send %d: ack %+v, want status %s", i, ack, want)
				}
			}
			// The same seq from another agent is another batch.
			if r := e.mustDo(batchReq(e, "agent-b", testBatch("agent-b", 7))); !strings.Contains(string(r.body), `"accepted"`) {
				t.Errorf("agent-b seq 7: %d %s", r.status, r.body)
			}
			st := e.stored()
			if len(st) != 2 || len(st["agent-a/7"]) != 1 || len(st["agent-b/7"]) != 1 {
				t.Errorf("stored %v, want agent-a/7 and agent-b/7 once each", keys(st))
			}
			if got := e.metric("lightmetrics_ingest_batches_total", map[string]string{"status": "duplicate"}); got != 2 {
				t.Errorf("batches_total{duplicate} = %v, want 2", got)
			}
			if got := e.metric("lightmetrics_ingest_batches_total", map[string]string{"status": "accepted"}); got != 2 {
				t.Errorf("batches_total{accepted} = %v, want 2", got)
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestConcurrencyCap(t *testing.T) {
	entered := make(chan struct{}, 2)
	release := make(chan struct{})
	e := newEnv(t, envConfig{
		opts: Options{MaxConcurrent: 2},
		hook: func(ctx context.Context, rec Record) error {
			entered <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		},
	})
	var wg sync.WaitGroup
	results := make([]response, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.do(context.Background(), batchReq(e, "agent-a", testBatch("agent-a", uint64(i+1))))
			if err != nil {
				t.Errorf("blocked request %d: %v", i, err)
			}
			results[i] = r
		}()
	}
	<-entered
	<-entered
	// Both slots are held inside Append: the next request is over the cap.
	r := e.mustDo(batchReq(e, "agent-a", testBatch("agent-a", 3)))
	if r.status != 503 || r.header.Get("Retry-After") == "" || r.errorJSON(t).Limit != "max_concurrent_requests" ||
		!strings.Contains(string(r.body), "too many requests in flight") {
		t.Errorf("over the cap: %d %v %s", r.status, r.header, r.body)
	}
	// Healthz is not a write and is never capped.
	if r := e.mustDo(request{method: http.MethodGet, path: RouteHealthz}); r.status != 200 {
		t.Errorf("healthz while saturated: %d", r.status)
	}
	if got := e.metric("lightmetrics_ingest_in_flight", nil); got != 2 {
		t.Errorf("in_flight = %v while two requests are held, want 2", got)
	}
	close(release)
	wg.Wait()
	for i, r := range results {
		if r.status != 200 {
			t.Errorf("held request %d: %d %s", i, r.status, r.body)
		}
	}
	if got := len(e.stored()); got != 2 {
		t.Errorf("%d stored, want 2", got)
	}
	if got := e.metric("lightmetrics_ingest_in_flight", nil); got != 0 {
		t.Errorf("in_flight = %v at rest, want 0", got)
	}
}

// countingReader yields zeros up to n bytes and counts what was read.
type countingReader struct {
	mu   sync.Mutex
	n    int64
	read int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.read >= c.n {
		return 0, io.EOF
	}
	k := int64(len(p))
	if k > c.n-c.read {
		k = c.n - c.read
	}
	clear(p[:k])
	c.read += k
	return int(k), nil
}

func (c *countingReader) count() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.read
}

func TestHugeDeclaredBodyNotRead(t *testing.T) {
	e := newEnv(t, envConfig{})
	for _, tc := range []struct {
		name    string
		headers map[string]string
	}{
		{name: "plain"},
		{name: "expect 100-continue", headers: map[string]string{"Expect": "100-continue"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := &countingReader{n: 1 << 30}
			readBefore := e.serverRead.Load()
			// HTTP/1.1: with no flow control of its own, only the server's
			// refusing to read stops the client pushing the gigabyte.
			r, err := e.do(context.Background(), request{path: RouteBatches, agent: "agent-a", body: body, size: 1 << 30, headers: tc.headers, http1: true})
			if err != nil {
				t.Fatalf("read %d bytes of the body, then: %v", body.count(), err)
			}
			if r.status != 413 || r.errorJSON(t).Limit != "max_body_bytes" || !strings.Contains(string(r.body), "1073741824") {
				t.Fatalf("got %d %s, want 413 naming max_body_bytes", r.status, r.body)
			}
			e.client1.Transport.(*http.Transport).CloseIdleConnections()
			n, server := body.count(), e.serverRead.Load()-readBefore
			if n >= 1<<20 || server >= 1<<20 {
				t.Errorf("%d bytes of the body left the client and the server read %d bytes, want < 1 MiB each", n, server)
			}
			t.Logf("%d bytes of the body left the client, the server read %d bytes", n, server)
		})
	}
}

func TestTokenTableSwap(t *testing.T) {
	e := newEnv(t, envConfig{})
	if r := e.mustDo(batchReq(e, "agent-a", testBatch("agent-a", 1))); r.status != 200 {
		t.Fatalf("before swap: %d %s", r.status, r.body)
	}
	// SIGHUP: agent-a's token is rotated.
	e.auth.Store(tokenTable(t, map[string]string{"agent-a": "rotated-token-for-agent-a-0123456789"}))
	if r := e.mustDo(batchReq(e, "agent-a", testBatch("agent-a", 2))); r.status != 401 {
		t.Errorf("old token after swap: %d %s, want 401", r.status, r.body)
	}
	r := e.mustDo(request{path: RouteBatches, token: "Bearer rotated-token-for-agent-a-0123456789", body: bytes.NewReader(e.encode(testBatch("agent-a", 2)))})
	if r.status != 200 {
		t.Errorf("new token after swap: %d %s, want 200", r.status, r.body)
	}
	e.tokens["agent-a-rotated"] = "rotated-token-for-agent-a-0123456789"
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, envConfig{})
	b := testBatch("agent-a", 1)
	b.Alerts = []batch.Alert{{TimeNs: 1, Name: "queue_dropped", Message: "x"}}
	for _, r := range []request{
		batchReq(e, "agent-a", b),
		batchReq(e, "agent-a", b), // duplicate: not counted again
		batchReq(e, "agent-a", testBatch("agent-a", 2)),
		batchReq(e, "agent-a", testBatch("agent-b", 3)), // forbidden
		{method: http.MethodGet, path: RouteHealthz},
	} {
		e.mustDo(r)
	}
	want := float64(b.SampleCount() + testBatch("agent-a", 2).SampleCount())
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"lightmetrics_ingest_requests_total", map[string]string{"route": RouteBatches, "code": "200"}, 3},
		{"lightmetrics_ingest_requests_total", map[string]string{"route": RouteBatches, "code": "403"}, 1},
		{"lightmetrics_ingest_requests_total", map[string]string{"route": RouteHealthz, "code": "200"}, 1},
		{"lightmetrics_ingest_batches_total", map[string]string{"status": "accepted"}, 2},
		{"lightmetrics_ingest_batches_total", map[string]string{"status": "duplicate"}, 1},
		{"lightmetrics_ingest_samples_total", nil, want},
		{"lightmetrics_ingest_log_records_total", nil, 2},
		{"lightmetrics_ingest_alerts_total", nil, 1},
		{"lightmetrics_ingest_refusals_total", map[string]string{"reason": "forbidden"}, 1},
		{"lightmetrics_ingest_request_duration_seconds", map[string]string{"route": RouteBatches}, 4},
		{"lightmetrics_ingest_in_flight", nil, 0},
	} {
		if got := e.metric(c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// A second handler on the same registry would double count: refused.
	if _, err := New(e.app, e.auth, Options{Registerer: e.reg}); err == nil {
		t.Error("New registered its metrics twice on one registry")
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	auth := NewTokenHolder(tokenTable(t, map[string]string{"agent-a": testTokens["agent-a"]}))
	app := &queueAppender{}
	low := limits.Default()
	low.MaxSeriesPerBatch = 10
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"limits below floor", Options{Limits: low}, "max_series_per_batch"},
		{"negative body cap", Options{MaxBodyBytes: -1}, "max_body_bytes"},
		{"negative decoded cap", Options{MaxDecodedBytes: -5}, "max_decoded_bytes"},
		{"negative concurrency", Options{MaxConcurrent: -1}, "max_concurrent_requests"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(app, auth, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error naming %s", err, tc.want)
			}
		})
	}
	if _, err := New(nil, auth, Options{}); err == nil {
		t.Error("New accepted a nil Appender")
	}
}

// bombBody is a codec body for agent whose payload is a zstd frame of RLE
// blocks inflating to inflated bytes, while the header and the frame claim
// declared bytes. The checksum is correct, so only the size checks stand
// between it and the decompressor.
func bombBody(t *testing.T, e *env, agent string, declared, inflated uint32) []byte {
	t.Helper()
	// Let the real encoder write the header, then swap the payload.
	data := e.encode(&batch.Batch{AgentID: agent, Seq: 1, CreatedNs: 1})
	h, err := codec.PeekHeader(data)
	if err != nil {
		t.Fatal(err)
	}
	hdrLen := len(data) - int(h.PayloadBytes)
	// Frame: magic, descriptor (4-byte content size, single segment), size.
	frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0xa0}
	frame = binary.LittleEndian.AppendUint32(frame, declared)
	const block = 128 << 10
	for left := inflated; left > 0; {
		n := min(left, block)
		left -= n
		hdr := n<<3 | 1<<1 // RLE block of n bytes
		if left == 0 {
			hdr |= 1 // last block
		}
		frame = append(frame, byte(hdr), byte(hdr>>8), byte(hdr>>16), 'A')
	}
	out := append([]byte{}, data[:hdrLen]...)
	suffix := out[hdrLen-12:]
	binary.BigEndian.PutUint32(suffix[0:], uint32(len(frame)))
	binary.BigEndian.PutUint32(suffix[4:], declared)
	binary.BigEndian.PutUint32(suffix[8:], crc32c(frame))
	return append(out, frame...)
}

// bl builds batch labels from name, value pairs.
func bl(kv ...string) batch.Labels {
	var out batch.Labels
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, batch.Label{Name: kv[i], Value: kv[i+1]})
	}
	return out
}
