package promapi

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// key renders a metric map as name{k="v",...} with sorted label names.
func key(m map[string]string) string {
	var names []string
	for k := range m {
		if k != "__name__" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(m["__name__"])
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", n, m[n])
	}
	b.WriteByte('}')
	return b.String()
}

func decodeData(t *testing.T, resp apiResponse) queryData {
	t.Helper()
	var d queryData
	if err := json.Unmarshal(resp.Data, &d); err != nil {
		t.Fatalf("data: %v", err)
	}
	return d
}

func near(t *testing.T, got any, want float64) {
	t.Helper()
	s, ok := got.(string)
	if !ok {
		t.Fatalf("value %v (%T) is not a string", got, got)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.Abs(f-want) > 1e-9 {
		t.Fatalf("value %q, want %v", s, want)
	}
}

// wantVector checks an instant vector: its metrics, values and timestamps.
func wantVector(at time.Time, want map[string]float64) func(*testing.T, apiResponse) {
	return func(t *testing.T, resp apiResponse) {
		d := decodeData(t, resp)
		if d.ResultType != "vector" {
			t.Fatalf("resultType %q", d.ResultType)
		}
		var v []vectorSample
		if err := json.Unmarshal(d.Result, &v); err != nil {
			t.Fatal(err)
		}
		if len(v) != len(want) {
			t.Fatalf("got %d samples %v, want %v", len(v), v, want)
		}
		for _, s := range v {
			w, ok := want[key(s.Metric)]
			if !ok {
				t.Fatalf("unexpected %s in %v", key(s.Metric), v)
			}
			if ts, _ := s.Value[0].(float64); ts != float64(at.UnixMilli())/1000 {
				t.Fatalf("%s at %v, want %v", key(s.Metric), s.Value[0], unix(at))
			}
			near(t, s.Value[1], w)
		}
	}
}

// wantMatrix checks a range result: each series' metric and every value,
// at start, start+step, ...
func wantMatrix(start time.Time, step time.Duration, n int, want map[string]float64) func(*testing.T, apiResponse) {
	return func(t *testing.T, resp apiResponse) {
		d := decodeData(t, resp)
		if d.ResultType != "matrix" {
			t.Fatalf("resultType %q", d.ResultType)
		}
		var m []matrixSeries
		if err := json.Unmarshal(d.Result, &m); err != nil {
			t.Fatal(err)
		}
		if len(m) != len(want) {
			t.Fatalf("got %d series, want %d", len(m), len(want))
		}
		for _, s := range m {
			w, ok := want[key(s.Metric)]
			if !ok {
				t.Fatalf("unexpected %s", key(s.Metric))
			}
			if len(s.Values) != n {
				t.Fatalf("%s: %d points, want %d", key(s.Metric), len(s.Values), n)
			}
			for i, p := range s.Values {
				if ts, _ := p[0].(float64); ts != float64(start.Add(time.Duration(i)*step).UnixMilli())/1000 {
					t.Fatalf("%s point %d at %v", key(s.Metric), i, p[0])
				}
				near(t, p[1], w)
			}
		}
	}
}

func wantStrings(want ...string) func(*testing.T, apiResponse) {
	return func(t *testing.T, resp apiResponse) {
		var got []string
		if err := json.Unmarshal(resp.Data, &got); err != nil || got == nil {
			t.Fatalf("data %s: %v", resp.Data, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func wantSeries(want ...string) func(*testing.T, apiResponse) {
	return func(t *testing.T, resp apiResponse) {
		var got []map[string]string
		if err := json.Unmarshal(resp.Data, &got); err != nil || got == nil {
			t.Fatalf("data %s: %v", resp.Data, err)
		}
		var keys []string
		for _, m := range got {
			keys = append(keys, key(m))
		}
		slices.Sort(keys)
		slices.Sort(want)
		if !slices.Equal(keys, want) {
			t.Fatalf("got %v, want %v", keys, want)
		}
	}
}

func wantWarning(substr string, inner func(*testing.T, apiResponse)) func(*testing.T, apiResponse) {
	return func(t *testing.T, resp apiResponse) {
		if !slices.ContainsFunc(resp.Warnings, func(w string) bool { return strings.Contains(w, substr) }) {
			t.Fatalf("warnings %q lack %q", resp.Warnings, substr)
		}
		inner(t, resp)
	}
}

func params(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func TestAPI(t *testing.T) {
	var (
		up1  = `up_like_metric{agent="a1"}`
		up2  = `up_like_metric{agent="a2"}`
		cpu0 = `cpu_seconds_total{agent="a1",cpu="0",mode="user"}`
		cpu1 = `cpu_seconds_total{agent="a1",cpu="1",mode="user"}`
	)
	tests := []struct {
		name    string
		opts    Options
		method  string
		path    string
		params  url.Values
		code    int
		errType string
		errText string
		check   func(*testing.T, apiResponse)
	}{
		// Instant queries.
		{name: "instant vector at now by default", path: "/api/v1/query", params: params("query", "up_like_metric"),
			code: 200, check: wantVector(now, map[string]float64{up1: 1, up2: 0})},
		{name: "instant vector at unix time", path: "/api/v1/query", params: params("query", "mem_used", "time", unix(t0.Add(time.Minute))),
			code: 200, check: wantVector(t0.Add(time.Minute), map[string]float64{`mem_used{agent="a1"}`: 1000, `mem_used{agent="a2"}`: 2000})},
		{name: "instant vector at RFC 3339 time", path: "/api/v1/query", params: params("query", `up_like_metric{agent="a1"}`, "time", t0.Add(time.Minute).Format(time.RFC3339)),
			code: 200, check: wantVector(t0.Add(time.Minute), map[string]float64{up1: 1})},
		{name: "instant query by POST form", method: http.MethodPost, path: "/api/v1/query", params: params("query", "up_like_metric", "time", unix(now)),
			code: 200, check: wantVector(now, map[string]float64{up1: 1, up2: 0})},
		{name: "rate of a counter", path: "/api/v1/query", params: params("query", `rate(cpu_seconds_total{agent="a1"}[5m])`),
			code: 200, check: wantVector(now, map[string]float64{`{agent="a1",cpu="0",mode="user"}`: 0.1, `{agent="a1",cpu="1",mode="user"}`: 0.1})},
		{name: "sum by", path: "/api/v1/query", params: params("query", `sum by (cpu) (rate(cpu_seconds_total[5m]))`),
			code: 200, check: wantVector(now, map[string]float64{`{cpu="0"}`: 0.2, `{cpu="1"}`: 0.2})},
		{name: "scalar", path: "/api/v1/query", params: params("query", "1+1", "time", "1700000000.5"),
			code: 200, check: func(t *testing.T, resp apiResponse) {
				if string(resp.Data) != `{"resultType":"scalar","result":[1700000000.500,"2"]}` {
					t.Fatalf("data %s", resp.Data)
				}
			}},
		{name: "string", path: "/api/v1/query", params: params("query", `"hi"`, "time", "100"),
			code: 200, check: func(t *testing.T, resp apiResponse) {
				if string(resp.Data) != `{"resultType":"string","result":[100,"hi"]}` {
					t.Fatalf("data %s", resp.Data)
				}
			}},
		{name: "nothing matches: empty vector", path: "/api/v1/query", params: params("query", "nope"),
			code: 200, check: wantVector(now, map[string]float64{})},
		{name: "limit truncates with a warning", path: "/api/v1/query", params: params("query", "up_like_metric", "limit", "1"),
			code: 200, check: wantWarning("results truncated due to limit", func(t *testing.T, resp apiResponse) {
				var v []vectorSample
				_ = json.Unmarshal(decodeData(t, resp).Result, &v)
				if len(v) != 1 {
					t.Fatalf("%d samples", len(v))
				}
			})},
		{name: "info annotation", path: "/api/v1/query", params: params("query", "rate(mem_used[5m])"),
			code: 200, check: func(t *testing.T, resp apiResponse) {
				if len(resp.Infos) == 0 || !strings.Contains(resp.Infos[0], "might not be a counter") {
					t.Fatalf("infos %q", resp.Infos)
				}
			}},

		// Range queries.
		{name: "range matrix", path: "/api/v1/query_range", params: params("query", `up_like_metric{agent="a1"}`, "start", unix(t0), "end", unix(now), "step", "60"),
			code: 200, check: wantMatrix(t0, time.Minute, 11, map[string]float64{up1: 1})},
		{name: "range rate with duration step", method: http.MethodPost, path: "/api/v1/query_range",
			params: params("query", `rate(cpu_seconds_total{agent="a1"}[1m])`, "start", unix(t0.Add(2*time.Minute)), "end", unix(now), "step", "2m"),
			code:   200, check: wantMatrix(t0.Add(2*time.Minute), 2*time.Minute, 5, map[string]float64{`{agent="a1",cpu="0",mode="user"}`: 0.1, `{agent="a1",cpu="1",mode="user"}`: 0.1})},
		{name: "range beyond the data", path: "/api/v1/query_range", params: params("query", `up_like_metric`, "start", unix(now.Add(time.Hour)), "end", unix(now.Add(2*time.Hour)), "step", "60"),
			code: 200, check: wantMatrix(now, time.Minute, 0, map[string]float64{})},

		// Series and labels.
		{name: "series", path: "/api/v1/series", params: params("match[]", `cpu_seconds_total{agent="a1"}`),
			code: 200, check: wantSeries(cpu0, cpu1)},
		{name: "series, two matchers merged", method: http.MethodPost, path: "/api/v1/series", params: params("match[]", "up_like_metric", "match[]", `{__name__=~"up.*",agent="a2"}`),
			code: 200, check: wantSeries(up1, up2)},
		{name: "series outside the time range", path: "/api/v1/series", params: params("match[]", "up_like_metric", "start", unix(now.Add(time.Hour))),
			code: 200, check: wantSeries()},
		{name: "series capped by MaxSeries", opts: Options{MaxSeries: 1}, path: "/api/v1/series", params: params("match[]", `cpu_seconds_total{agent="a1"}`),
			code: 200, check: wantWarning("server's limit of 1", func(t *testing.T, resp apiResponse) {
				var got []map[string]string
				_ = json.Unmarshal(resp.Data, &got)
				if len(got) != 1 {
					t.Fatalf("%d series", len(got))
				}
			})},
		{name: "labels", path: "/api/v1/labels",
			code: 200, check: wantStrings("__name__", "agent", "cpu", "mode")},
		{name: "labels with match", path: "/api/v1/labels", params: params("match[]", "mem_used"),
			code: 200, check: wantStrings("__name__", "agent")},
		{name: "labels capped by MaxSeries", opts: Options{MaxSeries: 2}, path: "/api/v1/labels",
			code: 200, check: wantWarning("server's limit of 2", wantStrings("__name__", "agent"))},
		{name: "label values", path: "/api/v1/label/__name__/values",
			code: 200, check: wantStrings("cpu_seconds_total", "mem_used", "up_like_metric")},
		{name: "label values with match", path: "/api/v1/label/cpu/values", params: params("match[]", `cpu_seconds_total{agent="a2"}`),
			code: 200, check: wantStrings("0", "1")},
		{name: "label values, escaped name", path: "/api/v1/label/U__agent/values",
			code: 200, check: wantStrings("a1", "a2")},
		{name: "label values limit", path: "/api/v1/label/__name__/values", params: params("limit", "1"),
			code: 200, check: wantWarning("results truncated due to limit", wantStrings("cpu_seconds_total"))},
		{name: "label values of an unknown label", path: "/api/v1/label/nope/values",
			code: 200, check: wantStrings()},

		// What Grafana asks besides.
		{name: "buildinfo", path: "/api/v1/status/buildinfo", code: 200, check: func(t *testing.T, resp apiResponse) {
			var d map[string]string
			if err := json.Unmarshal(resp.Data, &d); err != nil || d["version"] != DefaultVersion || d["goVersion"] == "" {
				t.Fatalf("data %s", resp.Data)
			}
		}},
		{name: "metadata", path: "/api/v1/metadata", code: 200, check: func(t *testing.T, resp apiResponse) {
			if string(resp.Data) != "{}" {
				t.Fatalf("data %s", resp.Data)
			}
		}},
		{name: "exemplars", path: "/api/v1/query_exemplars", params: params("query", "up_like_metric"), code: 200, check: func(t *testing.T, resp apiResponse) {
			if string(resp.Data) != "[]" {
				t.Fatalf("data %s", resp.Data)
			}
		}},

		// Errors.
		{name: "bad query", path: "/api/v1/query", params: params("query", "sum(up_like_metric"),
			code: 400, errType: "bad_data", errText: `invalid parameter "query": `},
		{name: "empty query", path: "/api/v1/query", code: 400, errType: "bad_data", errText: `invalid parameter "query"`},
		{name: "bad time", path: "/api/v1/query", params: params("query", "1", "time", "yesterday"),
			code: 400, errType: "bad_data", errText: `invalid parameter "time": invalid time value for 'time': cannot parse "yesterday" to a valid timestamp`},
		{name: "bad timeout", path: "/api/v1/query", params: params("query", "1", "timeout", "soon"),
			code: 400, errType: "bad_data", errText: `invalid parameter "timeout"`},
		{name: "bad limit", path: "/api/v1/query", params: params("query", "1", "limit", "-1"),
			code: 400, errType: "bad_data", errText: `invalid parameter "limit"`},
		{name: "range without start", path: "/api/v1/query_range", params: params("query", "1", "end", "10", "step", "1"),
			code: 400, errType: "bad_data", errText: `invalid parameter "start"`},
		{name: "range end before start", path: "/api/v1/query_range", params: params("query", "1", "start", "10", "end", "5", "step", "1"),
			code: 400, errType: "bad_data", errText: "end timestamp must not be before start time"},
		{name: "zero step", path: "/api/v1/query_range", params: params("query", "1", "start", "0", "end", "5", "step", "0"),
			code: 400, errType: "bad_data", errText: "zero or negative query resolution step"},
		{name: "bad step", path: "/api/v1/query_range", params: params("query", "1", "start", "0", "end", "5", "step", "often"),
			code: 400, errType: "bad_data", errText: `cannot parse "often" to a valid duration`},
		{name: "too many points", path: "/api/v1/query_range", params: params("query", "1", "start", "0", "end", "11001", "step", "1"),
			code: 400, errType: "bad_data", errText: "exceeded maximum resolution of 11,000 points"},
		{name: "11000 points are fine", path: "/api/v1/query_range", params: params("query", "1", "start", "0", "end", "10999", "step", "1"),
			code: 200, check: func(t *testing.T, resp apiResponse) {}},
		{name: "series without match", path: "/api/v1/series", code: 400, errType: "bad_data", errText: "no match[] parameter provided"},
		{name: "series with a bad selector", path: "/api/v1/series", params: params("match[]", "{"),
			code: 400, errType: "bad_data", errText: `invalid parameter "match[]"`},
		{name: "series matching everything", path: "/api/v1/series", params: params("match[]", `{agent=~".*"}`),
			code: 400, errType: "bad_data", errText: "match[] must contain at least one non-empty matcher"},
		{name: "labels with a bad selector", path: "/api/v1/labels", params: params("match[]", "up{"),
			code: 400, errType: "bad_data"},
		{name: "invalid label name", path: "/api/v1/label/%ff/values", code: 400, errType: "bad_data", errText: "invalid label name"},
		{name: "too many samples", opts: Options{MaxSamples: 10}, path: "/api/v1/query", params: params("query", "cpu_seconds_total[10m]"),
			code: 422, errType: "execution", errText: "too many samples"},
		{name: "too many samples in a range query", opts: Options{MaxSamples: 100}, path: "/api/v1/query_range",
			params: params("query", "count_over_time(cpu_seconds_total[10m])", "start", unix(t0), "end", unix(now), "step", "10"),
			code:   422, errType: "execution", errText: "too many samples"},
		{name: "engine timeout", opts: Options{Timeout: time.Nanosecond}, path: "/api/v1/query_range",
			params: params("query", "sum by (cpu) (count_over_time(cpu_seconds_total[10m]))", "start", unix(t0), "end", unix(now), "step", "1"),
			code:   503, errType: "timeout"},
		{name: "request timeout", path: "/api/v1/query_range",
			params: params("query", "sum by (cpu) (count_over_time(cpu_seconds_total[10m]))", "start", unix(t0), "end", unix(now), "step", "1", "timeout", "0.000000001"),
			code:   503, errType: "timeout"},
		{name: "method not allowed", method: http.MethodPut, path: "/api/v1/query", params: params("query", "1"),
			code: 405, errType: "bad_data"},
		{name: "unknown endpoint", path: "/api/v1/nope", code: 404, errType: "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(t, tt.opts)
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			code, resp, body := do(t, h, method, tt.path, tt.params)
			if code != tt.code {
				t.Fatalf("status %d, want %d: %s", code, tt.code, body)
			}
			if tt.errType != "" {
				if resp.Status != "error" || resp.ErrorType != tt.errType || !strings.Contains(resp.Error, tt.errText) || resp.Data != nil {
					t.Fatalf("got %s; want errorType %q containing %q", body, tt.errType, tt.errText)
				}
				return
			}
			if resp.Status != "success" || resp.ErrorType != "" {
				t.Fatalf("not a success: %s", body)
			}
			tt.check(t, resp)
		})
	}
}

// TestExactShape pins one vector and one matrix response byte for byte to
// the Prometheus format.
func TestExactShape(t *testing.T) {
	h := newHandler(t, Options{})
	_, _, body := do(t, h, http.MethodGet, "/api/v1/query", params("query", `up_like_metric{agent="a1"}`))
	want := `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up_like_metric","agent":"a1"},"value":[1700000600,"1"]}]}}`
	if body != want {
		t.Fatalf("vector:\n got %s\nwant %s", body, want)
	}
	_, _, body = do(t, h, http.MethodGet, "/api/v1/query_range", params("query", `up_like_metric{agent="a2"} + 0.5`, "start", "1700000000", "end", "1700000010.25", "step", "10.25"))
	want = `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"agent":"a2"},"values":[[1700000000,"0.5"],[1700000010.250,"0.5"]]}]}}`
	if body != want {
		t.Fatalf("matrix:\n got %s\nwant %s", body, want)
	}
	_, _, body = do(t, h, http.MethodGet, "/api/v1/query", params("query", "sum(", "time", "1"))
	want = `{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis"}`
	if body != want {
		t.Fatalf("error:\n got %s\nwant %s", body, want)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHandler(t, Options{Registerer: reg})
	for range 3 {
		do(t, h, http.MethodGet, "/api/v1/query", params("query", "1"))
	}
	do(t, h, http.MethodGet, "/api/v1/query", params("query", "("))
	do(t, h, http.MethodGet, "/api/v1/labels", nil)

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	var observed uint64
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			lv := map[string]string{}
			for _, l := range m.GetLabel() {
				lv[l.GetName()] = l.GetValue()
			}
			switch mf.GetName() {
			case "lightmetrics_query_requests_total":
				counts[lv["endpoint"]+" "+lv["code"]] = m.GetCounter().GetValue()
			case "lightmetrics_query_request_duration_seconds":
				observed += m.GetHistogram().GetSampleCount()
			}
		}
	}
	want := map[string]float64{"query 200": 3, "query 400": 1, "labels 200": 1}
	if fmt.Sprint(counts) != fmt.Sprint(want) || observed != 5 {
		t.Fatalf("requests %v (want %v), durations observed %d (want 5)", counts, want, observed)
	}
	// A second handler on the same registry is refused, not a panic.
	if _, err := New(fixtureStore(t), Options{Registerer: reg}); err == nil {
		t.Fatal("registering twice succeeded")
	}
}

// TestConcurrencyCap: with every slot taken, a query waits and times out
// in Prometheus's shape; once a slot frees, it runs.
func TestConcurrencyCap(t *testing.T) {
	h := newHandler(t, Options{MaxConcurrent: 1})
	h.slots <- struct{}{} // a query in flight
	code, resp, body := do(t, h, http.MethodGet, "/api/v1/query", params("query", "up_like_metric", "timeout", "0.05"))
	if code != http.StatusServiceUnavailable || resp.ErrorType != "timeout" {
		t.Fatalf("with no free slot: %d %s", code, body)
	}
	<-h.slots
	if code, _, body := do(t, h, http.MethodGet, "/api/v1/query", params("query", "up_like_metric", "timeout", "5")); code != http.StatusOK {
		t.Fatalf("with a free slot: %d %s", code, body)
	}
}
