package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// api reads a collector's private listener with the query token.
type api struct {
	base, token string
	client      *http.Client
}

func newAPI(base, token string) *api {
	return &api{base: base, token: token, client: &http.Client{Timeout: 60 * time.Second}}
}

func (a *api) fetch(ctx context.Context, path string, params url.Values) ([]byte, error) {
	u := a.base + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %.300s", path, resp.Status, body)
	}
	return body, nil
}

// data GETs an /api/v1 endpoint and decodes its "data" member into out.
func (a *api) data(ctx context.Context, path string, params url.Values, out any) error {
	body, err := a.fetch(ctx, path, params)
	if err != nil {
		return err
	}
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if env.Status != "success" {
		return fmt.Errorf("GET %s: %s", path, env.Error)
	}
	return json.Unmarshal(env.Data, out)
}

type promMatrix struct {
	ResultType string `json:"resultType"`
	Result     []struct {
		Metric map[string]string `json:"metric"`
		Values [][2]any          `json:"values"`
		Value  [2]any            `json:"value"`
	} `json:"result"`
}

// rangeSamples evaluates sel[window] at t and returns, per agent label,
// how often each sample value occurs.
func (a *api) rangeSamples(ctx context.Context, sel string, t time.Time, window time.Duration) (map[string]map[uint64]int, error) {
	q := fmt.Sprintf("%s[%ds]", sel, int64(window.Seconds()))
	var m promMatrix
	if err := a.data(ctx, "/api/v1/query", url.Values{"query": {q}, "time": {unixSeconds(t)}}, &m); err != nil {
		return nil, err
	}
	out := map[string]map[uint64]int{}
	for _, r := range m.Result {
		ag := r.Metric["agent"]
		if out[ag] == nil {
			out[ag] = map[uint64]int{}
		}
		for _, v := range r.Values {
			s, _ := v[1].(string)
			n, err := parseSampleUint(s)
			if err != nil {
				return nil, fmt.Errorf("%s: agent %s: %w", q, ag, err)
			}
			out[ag][n]++
		}
	}
	return out, nil
}

// parseSampleUint reads a sample value that holds an integer (a sequence
// number below 2^53, exact in a float64).
func parseSampleUint(s string) (uint64, error) {
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f != float64(uint64(f)) {
		return 0, fmt.Errorf("sample value %q is not a sequence number", s)
	}
	return uint64(f), nil
}

func unixSeconds(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

// instant evaluates q at t and returns the value per agent label.
func (a *api) instant(ctx context.Context, q string, t time.Time) (map[string]float64, error) {
	var m promMatrix
	if err := a.data(ctx, "/api/v1/query", url.Values{"query": {q}, "time": {unixSeconds(t)}}, &m); err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, r := range m.Result {
		s, _ := r.Value[1].(string)
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q, err)
		}
		out[r.Metric["agent"]] = f
	}
	return out, nil
}

// agentBatches is /api/v1/agents' batch count per agent: the batches this
// collector's spool holds.
func (a *api) agentBatches(ctx context.Context) (map[string]uint64, error) {
	var d struct {
		Agents []struct {
			ID      string `json:"id"`
			Batches uint64 `json:"batches"`
		} `json:"agents"`
	}
	if err := a.data(ctx, "/api/v1/agents", nil, &d); err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for _, ag := range d.Agents {
		out[ag.ID] = ag.Batches
	}
	return out, nil
}

// logLines pages through /api/v1/logs for one agent's soak lines and
// returns, per line number, the record times (ns); records whose message
// is not a soak line of that agent are counted in other.
func (a *api) logLines(ctx context.Context, agent string) (lines map[int][]int64, other int, err error) {
	lines = map[int][]int64{}
	prefix := "soak " + agent + " line "
	params := url.Values{"agent": {agent}, "q": {prefix}, "limit": {"5000"}, "direction": {"forward"}}
	for page := 0; page < 10000; page++ {
		var d struct {
			Records []struct {
				Time    string `json:"time"`
				Agent   string `json:"agent"`
				Message string `json:"message"`
			} `json:"records"`
			NextCursor string `json:"next_cursor"`
		}
		if err := a.data(ctx, "/api/v1/logs", params, &d); err != nil {
			return nil, 0, err
		}
		for _, r := range d.Records {
			n, ok := parseLine(r.Message, prefix)
			t, terr := time.Parse(time.RFC3339Nano, r.Time)
			if !ok || terr != nil || r.Agent != agent {
				other++
				continue
			}
			lines[n] = append(lines[n], t.UnixNano())
		}
		if d.NextCursor == "" {
			return lines, other, nil
		}
		params.Set("cursor", d.NextCursor)
	}
	return nil, 0, fmt.Errorf("logs of %s: more than 10000 pages", agent)
}

// parseLine reads n from "<prefix><n>".
func parseLine(msg, prefix string) (int, bool) {
	rest, ok := strings.CutPrefix(msg, prefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil && n > 0
}

// metricSum reads /metrics and sums the samples of name whose label set
// contains every one of labels (`reason="unavailable"`); found is false
// when no sample matched.
func (a *api) metricSum(ctx context.Context, name string, labels ...string) (float64, bool, error) {
	body, err := a.fetch(ctx, "/metrics", nil)
	if err != nil {
		return 0, false, err
	}
	v, found := sumMetric(string(body), name, labels...)
	return v, found, nil
}

// sumMetric sums the samples of name in a Prometheus text exposition.
func sumMetric(text, name string, labels ...string) (float64, bool) {
	var sum float64
	found := false
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		lbls := ""
		if rest[0] == '{' {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				continue
			}
			lbls, rest = rest[1:end], rest[end+1:]
		}
		match := true
		for _, l := range labels {
			if !strings.Contains(","+lbls+",", ","+l+",") {
				match = false
				break
			}
		}
		f := strings.Fields(rest)
		if !match || len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}
