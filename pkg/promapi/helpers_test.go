package promapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/tsstore"
)

// t0 is where the fixture's samples start; the fixture's "now" is t0+10m.
var (
	t0  = time.UnixMilli(1_700_000_000_000).UTC()
	now = t0.Add(10 * time.Minute)
)

// unix renders a time as the API's float seconds.
func unix(t time.Time) string { return formatSeconds(t.UnixMilli()) }

func formatSeconds(ms int64) string { return string(appendTimestamp(nil, ms)) }

// fixtureStore holds, every 10 s from t0 to t0+10m (61 samples each):
//   - up_like_metric{agent="a1"} = 1 and {agent="a2"} = 0 (heartbeats);
//   - cpu_seconds_total{agent, cpu="0"|"1", mode="user"}, counting 1 per
//     10 s, so its rate is 0.1/s;
//   - mem_used{agent} = 1000 * agent number, a gauge.
func fixtureStore(t testing.TB) *tsstore.Store {
	t.Helper()
	s := tsstore.New(tsstore.Options{})
	for i := range 61 {
		ts := t0.Add(time.Duration(i) * 10 * time.Second).UnixMilli()
		for a, agent := range []string{"a1", "a2"} {
			b := &batch.Batch{AgentID: agent, Seq: uint64(i),
				Heartbeat: &batch.Heartbeat{TimestampMs: ts, Values: []batch.Scalar{{Name: "up_like_metric", Value: float64(1 - a)}}},
				Series: []batch.Series{
					{Name: "mem_used", Samples: []batch.Sample{{TimestampMs: ts, Value: float64(1000 * (a + 1))}}},
				},
			}
			for _, cpu := range []string{"0", "1"} {
				b.Series = append(b.Series, batch.Series{
					Name: "cpu_seconds_total", Kind: batch.KindCounter,
					Labels:  batch.Labels{{Name: "cpu", Value: cpu}, {Name: "mode", Value: "user"}},
					Samples: []batch.Sample{{TimestampMs: ts, Value: float64(i)}},
				})
			}
			if _, err := s.Add(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	return s
}

func newHandler(t testing.TB, o Options) *Handler {
	t.Helper()
	if o.Now == nil {
		o.Now = func() time.Time { return now }
	}
	h, err := New(fixtureStore(t), o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// apiResponse is the Prometheus response envelope.
type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
	Infos     []string        `json:"infos"`
}

type queryData struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

type vectorSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

type matrixSeries struct {
	Metric map[string]string `json:"metric"`
	Values [][2]any          `json:"values"`
}

// do sends a request (GET with the parameters in the URL, or POST with
// them as a form) and decodes the envelope.
func do(t *testing.T, h http.Handler, method, path string, params url.Values) (int, apiResponse, string) {
	t.Helper()
	var req *http.Request
	if method == http.MethodPost {
		req = httptest.NewRequest(method, path, strings.NewReader(params.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, path+"?"+params.Encode(), nil)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Body)
	var resp apiResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatalf("%s %s: response is not JSON: %v\n%s", method, path, err, body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	return rec.Code, resp, string(body)
}
