package logstore

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

var t0 = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func rec(ts time.Time, source, msg string, attrs ...string) batch.LogRecord {
	r := batch.LogRecord{TimeNs: ts.UnixNano(), Source: source, Message: msg}
	for i := 0; i+1 < len(attrs); i += 2 {
		r.Attrs = append(r.Attrs, batch.Label{Name: attrs[i], Value: attrs[i+1]})
	}
	return r
}

func logBatch(agent string, seq uint64, recs ...batch.LogRecord) *batch.Batch {
	return &batch.Batch{AgentID: agent, Seq: seq, CreatedNs: t0.UnixNano(), Logs: recs}
}

// fixedClock is an Options.Now the test moves by hand.
type fixedClock struct{ now time.Time }

func (c *fixedClock) Now() time.Time { return c.now }

// apiAnswer is the Prometheus-style envelope as a client decodes it.
type apiAnswer struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

func get(t *testing.T, h http.Handler, target string) (int, apiAnswer) {
	t.Helper()
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, target, nil))
	if ct := rr.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: Content-Type %q", target, ct)
	}
	var a apiAnswer
	if err := json.Unmarshal(rr.Body.Bytes(), &a); err != nil {
		t.Fatalf("GET %s: decode %q: %v", target, rr.Body.String(), err)
	}
	return rr.Code, a
}

func getLogs(t *testing.T, h http.Handler, target string) LogPage {
	t.Helper()
	code, a := get(t, h, target)
	if code != http.StatusOK || a.Status != "success" {
		t.Fatalf("GET %s: %d %s %s", target, code, a.ErrorType, a.Error)
	}
	var p LogPage
	if err := json.Unmarshal(a.Data, &p); err != nil {
		t.Fatalf("GET %s: decode data: %v", target, err)
	}
	return p
}

func ids(recs []LogRecordJSON) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func newRecorder(h http.Handler, method, target string) *httptest.ResponseRecorder {
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest(method, target, nil))
	return rr
}
