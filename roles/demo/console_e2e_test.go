package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lightmetrics/lightmetrics/pkg/browsertest"
	"github.com/lightmetrics/lightmetrics/pkg/command"
	"github.com/lightmetrics/lightmetrics/pkg/dashboards"
	"github.com/lightmetrics/lightmetrics/pkg/demoprep"
	"github.com/lightmetrics/lightmetrics/roles/collector"
)

// The end-to-end console test drives Debian's chromium against the real
// collector of the demo, fed by the real agent: nothing is faked between
// the host's /proc and the pixels. console/browser_test.go covers the
// console's corners against a fake API; this test proves the pieces fit.

// e2eDashboardID is the custom dashboard the test drops into the demo's
// dashboards.d before the collector starts.
const e2eDashboardID = "e2e-custom"

// e2eDashboard is a custom definition over a heartbeat value every agent
// sends (docs/metrics.md), scoped by the agent variable like the built-in
// host dashboard.
const e2eDashboard = `# Written by TestConsoleEndToEnd.
id = "e2e-custom"
title = "E2E custom load"
description = "A custom dashboard from definition_dirs."
tags = ["e2e"]
refresh = "10s"
time_range = "15m"

[[variables]]
name = "agent"
label = "Agent"
kind = "agent"

[[panels]]
id = "e2e-load1"
title = "Load (1 min) of $agent"
type = "timeseries"
unit = "none"
layout = { x = 0, y = 0, w = 24, h = 8 }
queries = [{ expr = 'host_load1{agent="$agent"}', legend = "{{agent}}" }]
`

// prepareDemoDir makes the demo directory the way demoprep accepts an
// existing one (a 0700 directory of ours) and writes files into it, by
// slash-separated name, before anything runs from it.
func prepareDemoDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "demo")
	if err := os.MkdirAll(filepath.Join(dir, "dashboards.d"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil { // MkdirAll obeys the umask
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(name)), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// startDemoIn is startDemo for a directory the test prepared first.
func startDemoIn(t *testing.T, dir string) running {
	t.Helper()
	o := command.DemoOptions{Dir: dir, IngestAddr: freeAddr(t), QueryAddr: freeAddr(t)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out syncBuffer
	go func() { done <- Run(ctx, o, &out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo stop: %v", err)
			}
		case <-time.After(40 * time.Second):
			t.Error("demo did not stop within 40 s")
		}
	})
	r := running{dir: dir, query: "http://" + o.QueryAddr}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("demo exited early: %v\n%s", err, out.String())
		default:
		}
		if tok, err := os.ReadFile(filepath.Join(dir, "query-token")); err == nil {
			r.token = strings.TrimSpace(string(tok))
			if resp, err := http.Get(r.query + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return r
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("demo never served /healthz: %s", out.String())
	return r
}

// syncBuffer is a bytes.Buffer the demo goroutine writes while the test
// may read it for a failure message.
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

// navigate goes to a console page, mounting it afresh when it is the
// current one (setting an unchanged fragment fires no hashchange; the
// console's own router does the same).
func navigate(p *browsertest.Page, hash string) {
	p.T().Helper()
	p.Do("go to "+hash, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`location.hash === %[1]q ? window.dispatchEvent(new HashChangeEvent('hashchange')) : (location.hash = %[1]q)`, hash)))
}

// seriesPixels counts the pixels of a panel's canvas drawn in the first
// series colour (chart.js's palette starts with #3b82f6): axes and grid
// are grey, so blue pixels mean a line was drawn from the data.
const seriesPixels = `((sel) => {
  const c = document.querySelector(sel);
  if (!c) return -1;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] > 100 && Math.abs(d[i] - 59) < 48 && Math.abs(d[i + 1] - 130) < 48 && Math.abs(d[i + 2] - 246) < 48) n++;
  }
  return n;
})(%q)`

// panelDrawn is true when the panel shows a chart whose every series has
// at least two points on the step grid, so uPlot draws a line segment, not
// a lone invisible point.
const panelDrawn = `(() => {
  const p = document.querySelector(%q);
  return !!p && p.dataset.state === 'ok' && !!p.querySelector('canvas') &&
    Number(p.dataset.series) > 0 && Number(p.dataset.points) >= 2 * Number(p.dataset.series);
})()`

// TestConsoleEndToEnd runs the demo (the real collector and agent, in
// process) with a custom dashboard in its dashboards.d, and drives the
// console in headless chromium over the private listener: sign in with the
// query token, the agent on the fleet page, its host dashboard drawn from
// ingested data, a PromQL query typed into the explorer, a log line with a
// script tag written during the test arriving in the live tail as text,
// and the custom dashboard listed and rendered.
func TestConsoleEndToEnd(t *testing.T) {
	chromium := browsertest.Chromium(t)
	started := time.Now()
	// One deadline for the whole test, demo start-up included: every
	// browser step fails once it passes.
	ctx, cancel := context.WithDeadline(context.Background(), started.Add(85*time.Second))
	t.Cleanup(cancel)

	dir := prepareDemoDir(t, map[string]string{"dashboards.d/e2e.toml": e2eDashboard})
	r := startDemoIn(t, dir)
	agentID := demoprep.DefaultAgentID

	shots := []string{t.TempDir()}
	if d := os.Getenv("LIGHTMETRICS_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		shots = append(shots, d)
	}

	p := browsertest.New(t, ctx, chromium)
	p.Do("open the console", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(r.query+"/"))

	// Sign in with the token from the demo's query-token file.
	p.WaitFor("the login page", `location.hash.startsWith('#/login') && document.querySelector('#token')`, 15*time.Second, nil)
	p.Do("sign in",
		chromedp.SendKeys(chromedp.CSS("#token"), r.token),
		chromedp.Click(chromedp.CSS(".login-form button[type=submit]")))

	// The fleet lists the demo agent, up, once its first heartbeat is in
	// (the page refreshes every 30 s, so reload it while waiting).
	agentRow := fmt.Sprintf(`.fleet-table tr[data-agent=%q]`, agentID)
	p.WaitFor("the demo agent on the fleet page", fmt.Sprintf(`(() => {
		const row = document.querySelector(%q);
		return location.hash === '#/fleet' && row && row.dataset.state === 'up' && row.textContent.includes(%q);
	})()`, agentRow, agentID), 30*time.Second, func() { navigate(p, "#/fleet") })
	if href := browsertest.Eval[string](p, `location.href`); strings.Contains(href, r.token) {
		t.Fatal("the token is in the URL")
	}
	p.Screenshot("e2e-fleet-1280x800.png", 1280, 800, shots...)

	// Two heartbeats (5 s apart in the demo) before looking for lines.
	eventually(t, "two heartbeats stored", func() string {
		q := url.QueryEscape(fmt.Sprintf(`count_over_time(host_load1{agent=%q}[5m])`, agentID))
		code, body := r.get(t, "/api/v1/query?query="+q, r.token)
		var res struct {
			Data struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if code != 200 || json.Unmarshal(body, &res) != nil || len(res.Data.Result) != 1 {
			return fmt.Sprintf("%d %.300s", code, body)
		}
		if n, _ := strconv.Atoi(fmt.Sprint(res.Data.Result[0].Value[1])); n < 2 {
			return fmt.Sprintf("%d heartbeats", n)
		}
		return ""
	})

	// With two heartbeats the fleet can compute the agent's CPU use.
	navigate(p, "#/fleet")
	p.WaitFor("the demo agent's CPU sparkline", fmt.Sprintf(`document.querySelector(%q) && /\d+%%/.test(document.querySelector(%q).textContent)`,
		agentRow+" .spark-box canvas", agentRow+" .cpu-now"), 20*time.Second, func() { navigate(p, "#/fleet") })

	// The host dashboard, opened from the fleet: the load panel draws a
	// line of each of its three series. "Refresh now" is pressed while
	// waiting, since the panel needs two 15 s steps of data.
	p.Do("open the demo agent's dashboard", chromedp.Click(chromedp.CSS(agentRow+" a.host")))
	p.WaitFor("the host dashboard", `document.querySelector('.grid[data-dashboard=host-detail] .panel')`, 15*time.Second, nil)
	if h := browsertest.Eval[string](p, `location.hash`); h != "#/d/host-detail?var-agent="+agentID {
		t.Errorf("host dashboard fragment %q", h)
	}
	loadPanel := `.grid[data-dashboard=host-detail] .panel[data-panel=load][data-type=timeseries]`
	p.WaitFor("a drawn load chart with data points", fmt.Sprintf(panelDrawn, loadPanel), 40*time.Second,
		func() { p.Do("refresh now", chromedp.Click(chromedp.CSS(".dashboard .toolbar .icon-button"))) })
	if n := browsertest.Eval[int](p, fmt.Sprintf(seriesPixels, loadPanel+" canvas")); n < 3 {
		t.Errorf("the load chart has %d pixels in the series colour: no line drawn", n)
	} else {
		t.Logf("load chart: %s points, %d pixels in the first series colour",
			browsertest.Eval[string](p, fmt.Sprintf(`document.querySelector(%q).dataset.points`, loadPanel)), n)
	}
	if v := browsertest.Eval[string](p, `document.querySelector('select[data-var=agent]')?.value`); v != agentID {
		t.Errorf("agent variable %q, want %s", v, agentID)
	}
	if s := browsertest.Eval[string](p, `document.querySelector('.panel[data-panel=uptime] .stat-value')?.textContent || ''`); !strings.ContainsAny(s, "0123456789") {
		t.Errorf("the uptime stat shows %q", s)
	}
	p.WaitFor("no panel failed", `document.querySelectorAll('.panel[data-state=error]').length === 0`, 10*time.Second, nil)
	p.Screenshot("e2e-host-detail-1280x800.png", 1280, 800, shots...)

	// The explorer: a typed expression gives a result row for the agent.
	p.Do("open the explorer", chromedp.Click(chromedp.CSS(`#topbar a[data-route=explore]`)))
	p.WaitFor("the explorer", `document.querySelector('#expr')`, 10*time.Second, nil)
	p.Do("type a query",
		chromedp.SendKeys(chromedp.CSS("#expr"), "host_uptime_seconds"),
		chromedp.Click(chromedp.CSS(".explore-form button[type=submit]")))
	p.WaitFor("a result row", fmt.Sprintf(`[...document.querySelectorAll('.result-table tbody tr')].some((tr) =>
		tr.textContent.includes('host_uptime_seconds') && tr.textContent.includes('agent="%s"') && /\d/.test(tr.querySelector('.num')?.textContent))`, agentID),
		15*time.Second, nil)
	p.WaitFor("the explorer chart", `document.querySelector('.explore-chart[data-state=ok] canvas') && Number(document.querySelector('.explore-chart').dataset.points) > 0`, 10*time.Second, nil)
	p.Screenshot("e2e-explore-1280x800.png", 1280, 800, shots...)

	// Logs with the live tail on: a line appended to the file the agent
	// tails, holding a script tag, arrives as text and runs nothing.
	p.Do("open the logs", chromedp.Click(chromedp.CSS(`#topbar a[data-route=logs]`)))
	p.WaitFor("the logs page", `document.querySelector('#live-tail')`, 10*time.Second, nil)
	p.Do("turn on the live tail", chromedp.Click(chromedp.CSS("#live-tail")))
	p.WaitFor("the live tail following", `document.querySelector('.live-state')?.dataset.state === 'open'`, 15*time.Second, nil)
	if h := browsertest.Eval[string](p, `location.hash`); !strings.Contains(h, "live=1") {
		t.Errorf("logs fragment %q does not keep the live tail on", h)
	}
	marker := fmt.Sprintf("e2e-live-%d", time.Now().UnixNano())
	hostile := marker + ` ERROR <script>window.__pwned=1</script> <img src=x onerror="window.__pwned=2">`
	appendLine(t, filepath.Join(dir, "demo.log"), hostile)
	p.WaitFor("the line in the live tail", fmt.Sprintf(`[...document.querySelectorAll('#log-list .log-row.fresh .log-message')].some((e) => e.textContent === %q)`, hostile),
		30*time.Second, nil)
	if pwned := browsertest.Eval[string](p, `typeof window.__pwned`); pwned != "undefined" {
		t.Errorf("the log line's script ran: window.__pwned is %s", pwned)
	}
	if n := browsertest.Eval[int](p, `[...document.querySelectorAll('script')].filter((s) => s.textContent.includes('__pwned')).length`); n != 0 {
		t.Errorf("%d script elements made from the log line", n)
	}
	if n := browsertest.Eval[int](p, `document.querySelectorAll('#log-list script, #log-list img, img[onerror]').length`); n != 0 {
		t.Errorf("%d elements made from log text", n)
	}
	p.Screenshot("e2e-logs-live-1280x800.png", 1280, 800, shots...)

	// The custom dashboard is listed as custom, and renders from the data.
	p.Do("open the dashboards", chromedp.Click(chromedp.CSS(`#topbar a[data-route=dashboards]`)))
	p.WaitFor("the custom dashboard listed", fmt.Sprintf(`(() => {
		const c = document.querySelector('.cards a.card[data-dashboard=%q]');
		return c && c.textContent.includes('E2E custom load') && c.querySelector('.tag-custom');
	})()`, e2eDashboardID), 10*time.Second, nil)
	builtins, err := dashboards.Builtins()
	if err != nil {
		t.Fatal(err)
	}
	if n := browsertest.Eval[int](p, `document.querySelectorAll('.cards a.card').length`); n != len(builtins)+1 {
		t.Errorf("%d dashboards listed, want %d built-in + 1 custom", n, len(builtins))
	}
	p.Screenshot("e2e-dashboards-1280x800.png", 1280, 800, shots...)
	p.Do("open the custom dashboard", chromedp.Click(chromedp.CSS(fmt.Sprintf(`.cards a.card[data-dashboard=%q]`, e2eDashboardID))))
	customPanel := fmt.Sprintf(`.grid[data-dashboard=%q] .panel[data-panel=e2e-load1]`, e2eDashboardID)
	p.WaitFor("the custom panel drawn", fmt.Sprintf(panelDrawn, customPanel), 20*time.Second,
		func() { p.Do("refresh now", chromedp.Click(chromedp.CSS(".dashboard .toolbar .icon-button"))) })
	if s := browsertest.Eval[string](p, fmt.Sprintf(`document.querySelector(%q).textContent`, customPanel+" .panel-title")); s != "Load (1 min) of "+agentID {
		t.Errorf("custom panel title %q: the variable was not substituted", s)
	}
	if n := browsertest.Eval[int](p, fmt.Sprintf(seriesPixels, customPanel+" canvas")); n < 3 {
		t.Errorf("the custom chart has %d pixels in the series colour: no line drawn", n)
	}
	p.Screenshot("e2e-custom-dashboard-1280x800.png", 1280, 800, shots...)

	// What must never have happened.
	if s := browsertest.Eval[string](p, `JSON.stringify(Object.assign({}, localStorage)) + document.cookie + location.href`); strings.Contains(s, r.token) {
		t.Error("the token left sessionStorage (localStorage, a cookie or the URL)")
	}
	p.Check()
	t.Logf("browser session done %v after the test started", time.Since(started).Round(100*time.Millisecond))
}

// TestConsoleCustomDashboardCheckConfig: a custom dashboard in the demo's
// definition_dirs folder is counted by check-config, and a broken one
// fails it with the file's path and the line of the problem.
func TestConsoleCustomDashboardCheckConfig(t *testing.T) {
	const head = "id = \"e2e-broken\"\ntitle = \"Broken\"\n\n[[panels]]\nid = \"load\"\ntitle = \"Load\"\ntype = \"timeseries\"\n"
	const layout = "layout = { x = 0, y = 0, w = 24, h = 8 }\n"
	const query = "queries = [{ expr = \"host_load1\" }]\n"
	tests := []struct {
		name  string
		files map[string]string // in dashboards.d
		file  string            // the file the error must name
		line  int
		key   string // "" when the problem has no key
	}{
		{"unknown key", map[string]string{"broken.toml": head + "colour = \"red\"\n" + layout + query},
			"broken.toml", 8, "colour"},
		{"toml syntax", map[string]string{"broken.toml": "id = \"e2e-broken\"\ntitle = \"Broken\n"},
			"broken.toml", 2, ""},
		{"bad promql", map[string]string{"broken.toml": head + layout + "queries = [{ expr = \"rate(host_load1[5m]\" }]\n"},
			"broken.toml", 9, "expr"},
		{"built-in id without override", map[string]string{"broken.toml": strings.Replace(head, "e2e-broken", "host-detail", 1) + layout + query},
			"broken.toml", 1, "id"},
		{"duplicate custom id", map[string]string{"a.toml": head + layout + query, "b.toml": head + layout + query},
			"b.toml", 1, "id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "demo")
			res, err := demoprep.Prepare(demoprep.Options{Dir: dir, IngestAddr: "127.0.0.1:18443", QueryAddr: "127.0.0.1:19099"})
			if err != nil {
				t.Fatal(err)
			}
			if err := collector.Check(context.Background(), res.ServerConfig, false, io.Discard); err != nil {
				t.Fatalf("check-config before the broken file: %v", err)
			}
			for name, content := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, "dashboards.d", name), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var out bytes.Buffer
			err = collector.Check(context.Background(), res.ServerConfig, false, &out)
			if err == nil {
				t.Fatalf("check-config accepted the broken dashboard: %s", out.String())
			}
			msg := err.Error()
			t.Logf("check-config: %s", msg)
			where := fmt.Sprintf("%s:%d: ", filepath.Join(dir, "dashboards.d", tc.file), tc.line)
			if !strings.Contains(msg, where) {
				t.Errorf("error does not name %q:\n%s", where, msg)
			}
			if tc.key != "" && !strings.Contains(msg[strings.Index(msg, where)+len(where):], tc.key) {
				t.Errorf("error does not name the key %q after %q:\n%s", tc.key, where, msg)
			}
		})
	}

	t.Run("good custom dashboard counted", func(t *testing.T) {
		dir := prepareDemoDir(t, map[string]string{"dashboards.d/e2e.toml": e2eDashboard})
		res, err := demoprep.Prepare(demoprep.Options{Dir: dir, IngestAddr: "127.0.0.1:18443", QueryAddr: "127.0.0.1:19099"})
		if err != nil {
			t.Fatalf("prepare over an existing directory: %v", err)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "dashboards.d", "e2e.toml")); err != nil || string(b) != e2eDashboard {
			t.Fatalf("prepare changed the custom dashboard: %v", err)
		}
		builtins, err := dashboards.Builtins()
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := collector.Check(context.Background(), res.ServerConfig, false, &out); err != nil {
			t.Fatalf("check-config with the custom dashboard: %v", err)
		}
		if want := fmt.Sprintf("%d dashboards", len(builtins)+1); !strings.Contains(out.String(), want) {
			t.Errorf("check-config output %q lacks %q", out.String(), want)
		}
	})
}
