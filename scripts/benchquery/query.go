package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// queryAPI is a Prometheus HTTP API (/api/v1/query, /api/v1/query_range).
type queryAPI struct {
	base   string     // e.g. http://127.0.0.1:9090
	token  string     // bearer token, "" for none; never printed
	extra  url.Values // added to every query, e.g. VictoriaMetrics' nocache=1
	client *http.Client
}

// series is one result series: its labels and its points by time (ms).
type series struct {
	labels map[string]string
	points map[int64]float64
}

// apiResponse is the part of the Prometheus JSON answer read here.
type apiResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"` // matrix
			Value  [2]any            `json:"value"`  // vector
		} `json:"result"`
	} `json:"data"`
}

// get runs one API call and returns the raw body and how long the whole
// answer took to arrive: the latency a client sees, JSON included.
func (a queryAPI) get(ctx context.Context, path string, params url.Values) ([]byte, time.Duration, error) {
	q := url.Values{}
	for k, v := range a.extra {
		q[k] = v
	}
	for k, v := range params {
		q[k] = v
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path+"?"+q.Encode(), nil)
	if err != nil {
		return nil, 0, fmt.Errorf("query: %w", err)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	start := time.Now()
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("query %s: %w", path, err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	took := time.Since(start)
	resp.Body.Close()
	if err != nil {
		return nil, 0, fmt.Errorf("query %s: reading the answer: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("query %s %q: %s: %.300s", path, params.Get("query"), resp.Status, body)
	}
	return body, took, nil
}

// rangeQuery runs query_range and returns the result and its latency.
func (a queryAPI) rangeQuery(ctx context.Context, query string, start, end int64, stepMs int64) ([]series, time.Duration, error) {
	body, took, err := a.get(ctx, "/api/v1/query_range", url.Values{
		"query": {query},
		"start": {fmtSeconds(start)},
		"end":   {fmtSeconds(end)},
		"step":  {fmtSeconds(stepMs)},
	})
	if err != nil {
		return nil, 0, err
	}
	ss, err := parseResult(body, "matrix")
	if err != nil {
		return nil, 0, fmt.Errorf("query_range %q: %w", query, err)
	}
	return ss, took, nil
}

// instant runs an instant query at t (ms).
func (a queryAPI) instant(ctx context.Context, query string, t int64) ([]series, error) {
	body, _, err := a.get(ctx, "/api/v1/query", url.Values{"query": {query}, "time": {fmtSeconds(t)}})
	if err != nil {
		return nil, err
	}
	ss, err := parseResult(body, "vector")
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", query, err)
	}
	return ss, nil
}

// scalarAt runs an instant query expected to give at most one series and
// returns its value (0 when empty).
func (a queryAPI) scalarAt(ctx context.Context, query string, t int64) (float64, error) {
	ss, err := a.instant(ctx, query, t)
	if err != nil {
		return 0, err
	}
	if len(ss) == 0 {
		return 0, nil
	}
	if len(ss) > 1 {
		return 0, fmt.Errorf("query %q: %d series, want one", query, len(ss))
	}
	for _, v := range ss[0].points {
		return v, nil
	}
	return 0, nil
}

func fmtSeconds(ms int64) string { return strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64) }

// parseResult decodes a Prometheus API answer of the given result type.
func parseResult(body []byte, want string) ([]series, error) {
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("decoding the answer: %w", err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("status %q: %s: %s", r.Status, r.ErrorType, r.Error)
	}
	if r.Data.ResultType != want {
		return nil, fmt.Errorf("result type %q, want %q", r.Data.ResultType, want)
	}
	out := make([]series, 0, len(r.Data.Result))
	for _, res := range r.Data.Result {
		s := series{labels: res.Metric, points: make(map[int64]float64)}
		pts := res.Values
		if want == "vector" {
			pts = [][2]any{res.Value}
		}
		for _, p := range pts {
			t, v, err := parsePoint(p)
			if err != nil {
				return nil, err
			}
			s.points[t] = v
		}
		out = append(out, s)
	}
	return out, nil
}

func parsePoint(p [2]any) (int64, float64, error) {
	ts, ok := p[0].(float64)
	if !ok {
		return 0, 0, fmt.Errorf("point time %v is not a number", p[0])
	}
	vs, ok := p[1].(string)
	if !ok {
		return 0, 0, fmt.Errorf("point value %v is not a string", p[1])
	}
	v, err := strconv.ParseFloat(vs, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("point value: %w", err)
	}
	return int64(math.Round(ts * 1000)), v, nil
}

// byLabel indexes series by the value of one label.
func byLabel(ss []series, name string) map[string]map[int64]float64 {
	out := make(map[string]map[int64]float64, len(ss))
	for _, s := range ss {
		out[s.labels[name]] = s.points
	}
	return out
}

// diff compares two results keyed by a label: the series and points only
// one side has, and the largest relative difference where both have a
// point.
type diff struct {
	seriesA, seriesB int // series count on each side
	onlyOne          int // series or points present on one side only
	compared         int // points present on both
	maxRel           float64
	where            string // the worst point
}

func (d diff) String() string {
	s := fmt.Sprintf("%d vs %d series, %d points compared, max relative difference %.3g", d.seriesA, d.seriesB, d.compared, d.maxRel)
	if d.where != "" {
		s += " (" + d.where + ")"
	}
	if d.onlyOne > 0 {
		s += fmt.Sprintf(", %d series/points on one side only", d.onlyOne)
	}
	return s
}

// compare compares b against a.
func compare(a, b map[string]map[int64]float64) diff {
	d := diff{seriesA: len(a), seriesB: len(b)}
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for k := range b {
		if _, ok := a[k]; !ok {
			d.onlyOne++
		}
	}
	for _, k := range keys {
		pb, ok := b[k]
		if !ok {
			d.onlyOne++
			continue
		}
		for t, va := range a[k] {
			vb, ok := pb[t]
			if !ok {
				d.onlyOne++
				continue
			}
			d.compared++
			if rel := relDiff(va, vb); rel > d.maxRel {
				d.maxRel = rel
				d.where = fmt.Sprintf("cpu=%s at %s: %.9g vs %.9g", k, time.UnixMilli(t).UTC().Format(time.RFC3339), va, vb)
			}
		}
		for t := range pb {
			if _, ok := a[k][t]; !ok {
				d.onlyOne++
			}
		}
	}
	return d
}

// relDiff is |a-b| relative to the larger magnitude (0 when both are 0).
func relDiff(a, b float64) float64 {
	if a == b {
		return 0
	}
	m := max(math.Abs(a), math.Abs(b))
	if math.IsNaN(a) || math.IsNaN(b) || math.IsInf(m, 0) {
		return math.Inf(1)
	}
	return math.Abs(a-b) / m
}

// expectedByCPU turns the generator's sums into the shape compare takes,
// limited to [from, to].
func expectedByCPU(g *generated, from, to int64) map[string]map[int64]float64 {
	out := make(map[string]map[int64]float64, len(g.lastByCPU))
	for c, m := range g.lastByCPU {
		pts := make(map[int64]float64)
		for t, v := range m {
			if t >= from && t <= to {
				pts[t] = v
			}
		}
		out[strconv.Itoa(c)] = pts
	}
	return out
}

// quantile is the nearest-rank q-quantile of ds (sorted in place).
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(math.Ceil(q*float64(len(ds)))) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// fmtDur prints a latency in milliseconds with sensible precision.
func fmtDur(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case d == 0:
		return "-"
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 2, 64) + " ms"
	case ms < 100:
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	default:
		return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	}
}

// trimVersion shortens a version string such as "2.42.0+ds" to "2.42.0".
func trimVersion(v string) string {
	v, _, _ = strings.Cut(strings.TrimSpace(v), "+")
	return v
}
