package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/command"
)

type running struct {
	dir, query, token string
}

// startDemo runs the demo in-process until the test ends.
func startDemo(t *testing.T) running {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "demo")
	o := command.DemoOptions{Dir: dir, IngestAddr: freeAddr(t), QueryAddr: freeAddr(t)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out syncBuffer
	go func() { done <- Run(ctx, o, &out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			t.Error("demo did not stop")
		}
	})
	r := running{dir: dir, query: "http://" + o.QueryAddr}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if tok, err := os.ReadFile(filepath.Join(dir, "query-token")); err == nil {
			r.token = strings.TrimSpace(string(tok))
			if resp, err := http.Get(r.query + "/healthz"); err == nil {
				resp.Body.Close()
				return r
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("demo never served /healthz: %s", out.String())
	return r
}

func (r running) get(t *testing.T, path string, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", r.query+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// eventually retries fn every 200ms until it returns "" or 45s pass.
func eventually(t *testing.T, what string, fn func() string) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		if last = fn(); last == "" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: %s", what, last)
}

func appendLine(t *testing.T, path, line string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintln(f, line)
}

// TestQueryEndToEnd: the real agent → the real collector → the query API,
// promtool, the logs API and the live stream.
func TestQueryEndToEnd(t *testing.T) {
	r := startDemo(t)

	// Every private route but /healthz needs the query token.
	for _, p := range []string{"/metrics", "/api/v1/query?query=up", "/api/v1/query_range?query=up&start=0&end=1&step=1",
		"/api/v1/series?match[]=up", "/api/v1/labels", "/api/v1/label/agent/values", "/api/v1/agents",
		"/api/v1/logs", "/api/v1/alerts", "/api/v1/live", "/api/v1/dashboards", "/api/v1/dashboards/host-detail",
		"/api/v1/no-such-route"} {
		for _, tok := range []string{"", "wrong-token-wrong-token"} {
			if code, _ := r.get(t, p, tok); code != http.StatusUnauthorized {
				t.Errorf("%s with token %q: %d, want 401", p, tok, code)
			}
		}
	}

	// The console's static files need no token and carry the CSP.
	resp0, err := http.Get(r.query + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp0.Body.Close()
	if resp0.StatusCode != 200 || !strings.Contains(resp0.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("console: %d, CSP %q", resp0.StatusCode, resp0.Header.Get("Content-Security-Policy"))
	}
	if code, body := r.get(t, "/api/v1/dashboards/host-detail", r.token); code != 200 || !strings.Contains(string(body), "host-detail") {
		t.Fatalf("dashboard: %d %.200s", code, body)
	}

	// The live stream, opened before the line is written.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", r.query+"/api/v1/live?kind=log", nil)
	req.Header.Set("Authorization", "Bearer "+r.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("live: %v %v", resp, err)
	}
	defer resp.Body.Close()
	liveLines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			liveLines <- sc.Text()
		}
		close(liveLines)
	}()

	marker := fmt.Sprintf("e2e-marker-%d ERROR disk on fire", time.Now().UnixNano())
	appendLine(t, filepath.Join(r.dir, "demo.log"), marker)

	eventually(t, "log line found by regex", func() string {
		code, body := r.get(t, "/api/v1/logs?re="+url.QueryEscape("e2e-marker-[0-9]+ ERROR"), r.token)
		if code != 200 || !strings.Contains(string(body), marker) {
			return fmt.Sprintf("%d %.300s", code, body)
		}
		return ""
	})
	sawLive := false
	for !sawLive {
		select {
		case l, ok := <-liveLines:
			if !ok {
				t.Fatal("live stream ended")
			}
			sawLive = strings.HasPrefix(l, "data:") && strings.Contains(l, marker)
		case <-time.After(10 * time.Second):
			t.Fatal("the live stream did not carry the log line within 10s of it being queryable")
		}
	}

	// Heartbeat series through PromQL, and rate() of the CPU counters once
	// two heartbeats are in.
	eventually(t, "rate of CPU counters", func() string {
		code, body := r.get(t, "/api/v1/query?query="+url.QueryEscape(`sum by (agent) (rate(host_cpu_seconds_total[1m]))`), r.token)
		var res struct {
			Status string
			Data   struct {
				Result []struct {
					Metric map[string]string
					Value  [2]any
				}
			}
		}
		if code != 200 || json.Unmarshal(body, &res) != nil || len(res.Data.Result) != 1 {
			return fmt.Sprintf("%d %.300s", code, body)
		}
		v, _ := strconv.ParseFloat(fmt.Sprint(res.Data.Result[0].Value[1]), 64)
		if res.Data.Result[0].Metric["agent"] != "demo-agent" || v <= 0 || v > float64(runtime.NumCPU())*1.2 {
			return fmt.Sprintf("implausible CPU rate %v for %d CPUs: %s", v, runtime.NumCPU(), body)
		}
		return ""
	})
	code, body := r.get(t, "/api/v1/label/agent/values", r.token)
	if code != 200 || !strings.Contains(string(body), `"demo-agent"`) {
		t.Fatalf("label values: %d %s", code, body)
	}
	code, body = r.get(t, "/api/v1/agents", r.token)
	if code != 200 || !strings.Contains(string(body), `"demo-agent"`) || !strings.Contains(string(body), `"up"`) {
		t.Fatalf("agents: %d %.500s", code, body)
	}

	// promtool, a real Prometheus client, with the bearer token in its
	// HTTP config file.
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is missing: scripts/test.sh installs Debian's prometheus package")
		}
		t.Skip("promtool not installed (apt-get install prometheus); CI fails instead of skipping")
	}
	// Debian's promtool 2.42 has no --http.config.file for queries (newer
	// ones do), so a loopback proxy adds the bearer header the way a
	// Grafana data source or an http config would.
	target, _ := url.Parse(r.query)
	proxy := httputil.NewSingleHostReverseProxy(target)
	inner := proxy.Director
	proxy.Director = func(req *http.Request) {
		inner(req)
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	ps := httptest.NewServer(proxy)
	defer ps.Close()
	out, err := exec.Command(promtool, "query", "instant", ps.URL, "host_uptime_seconds").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `agent="demo-agent"`) {
		t.Fatalf("promtool query instant: %v\n%s", err, out)
	}
	now := time.Now()
	out, err = exec.Command(promtool, "query", "range",
		"--start="+now.Add(-2*time.Minute).Format(time.RFC3339), "--end="+now.Format(time.RFC3339), "--step=5s",
		ps.URL, "agent_info").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `demo-agent`) {
		t.Fatalf("promtool query range: %v\n%s", err, out)
	}
	if strings.Contains(string(out), r.token) {
		t.Fatal("promtool output shows the token")
	}
}
