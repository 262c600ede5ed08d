package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/lightmetrics/lightmetrics/pkg/browsertest"
	"github.com/lightmetrics/lightmetrics/pkg/dashboards"
)

// waitFor polls a JavaScript condition for at most 15 s.
func waitFor(p *browsertest.Page, what, cond string) {
	p.T().Helper()
	p.WaitFor(what, cond, 15*time.Second, nil)
}

func navigate(p *browsertest.Page, hash string) {
	p.T().Helper()
	p.Do("go to "+hash, chromedp.Evaluate[chromedp.Void](fmt.Sprintf("location.hash = %q", hash)))
}

// countPanels counts a built-in dashboard's panels of one type.
func countPanels(t *testing.T, id string, typ dashboards.PanelType) int {
	t.Helper()
	all, err := dashboards.Builtins()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range all {
		if d.ID != id {
			continue
		}
		n := 0
		for _, p := range d.Panels {
			if p.Type == typ {
				n++
			}
		}
		return n
	}
	t.Fatalf("no built-in dashboard %q", id)
	return 0
}

type tokenState struct {
	Href   string `json:"href"`
	Stored string `json:"stored"`
	Local  string `json:"local"`
	Cookie string `json:"cookie"`
}

const readTokenState = `({ href: location.href, stored: sessionStorage.getItem('lightmetrics.token') || '',
  local: JSON.stringify(Object.assign({}, localStorage)), cookie: document.cookie })`

// TestConsoleInBrowser drives the console in headless chromium against a
// fake API: login, fleet, a dashboard, the explorer, logs with paging and
// the live tail, alerts, sign-out and a token the collector stops
// accepting, on a desktop and a phone viewport, with the production CSP in
// force throughout.
func TestConsoleInBrowser(t *testing.T) {
	chromium := browsertest.Chromium(t)
	const token = "query-token-5e1f0b7c9a2d"

	set, err := dashboards.Load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fake := newFakeAPI(token)
	srv := httptest.NewServer(fake.handler(set))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(fake.done) }) // runs first: ends open streams

	shots := os.Getenv("LIGHTMETRICS_SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 75*time.Second)
	t.Cleanup(cancel)
	p := browsertest.New(t, ctx, chromium)
	p.Do("open the console", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(srv.URL+"/"))

	// Login: a wrong token keeps the login page and says so.
	waitFor(p, "the login page", `location.hash.startsWith('#/login') && document.querySelector('#token')`)
	checkModules(t, p)
	p.Do("submit a wrong token",
		chromedp.SetValue(chromedp.CSS("#token"), "not-the-token"),
		chromedp.Click(chromedp.CSS(".login-form button[type=submit]")))
	waitFor(p, "the wrong-token error", `document.querySelector('#login-status.msg-error')?.textContent.includes('did not accept')`)
	if ts := browsertest.Eval[tokenState](p, readTokenState); ts.Stored != "" || !strings.Contains(ts.Href, "#/login") {
		t.Fatalf("after a wrong token: %+v", ts)
	}

	// The right token leads to the fleet.
	p.Do("submit the token",
		chromedp.SetValue(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS(".login-form button[type=submit]")))
	waitFor(p, "three agents on the fleet page", `document.querySelectorAll('.fleet-table tbody tr').length === 3`)
	ts := browsertest.Eval[tokenState](p, readTokenState)
	if strings.Contains(ts.Href, token) || ts.Stored != token || strings.Contains(ts.Local, token) || ts.Cookie != "" {
		t.Fatalf("token handling: href %q, sessionStorage %q, localStorage %q, cookie %q", ts.Href, ts.Stored, ts.Local, ts.Cookie)
	}
	hosts := browsertest.Eval[[]string](p, `[...document.querySelectorAll('.fleet-table a.host')].map((a) => a.textContent)`)
	if !containsString(hosts, hostileHostname) {
		t.Errorf("fleet hostnames %q lack the markup-looking one shown as text", hosts)
	}
	if n := browsertest.Eval[int](p, `document.querySelectorAll('img').length`); n != 0 {
		t.Errorf("%d img elements on the fleet page: a hostname became markup", n)
	}
	waitFor(p, "CPU sparklines", `document.querySelectorAll('.fleet-table .spark-box canvas').length === 2`)
	p.Screenshot("fleet-1280x800.png", 1280, 800, shots)

	// A host's dashboard: a drawn canvas per timeseries panel.
	p.Do("open web-1's dashboard", chromedp.Click(chromedp.CSS(`.fleet-table tr[data-agent="web-1"] a.host`)))
	nTS := countPanels(t, "host-detail", dashboards.PanelTimeseries)
	waitFor(p, fmt.Sprintf("%d drawn timeseries panels", nTS), fmt.Sprintf(`(() => {
		const ps = [...document.querySelectorAll('.panel[data-type=timeseries]')];
		return ps.length === %d && ps.every((p) => p.dataset.state === 'ok' && p.querySelector('canvas') && Number(p.dataset.points) > 0);
	})()`, nTS))
	waitFor(p, "every panel loaded", `document.querySelectorAll('.panel[data-state=loading], .panel[data-state=error]').length === 0`)
	if h := browsertest.Eval[string](p, `location.hash`); h != "#/d/host-detail?var-agent=web-1" {
		t.Errorf("dashboard fragment %q", h)
	}
	if v := browsertest.Eval[string](p, `document.querySelector('select[data-var=agent]').value`); v != "web-1" {
		t.Errorf("agent variable %q, want web-1", v)
	}
	if n := browsertest.Eval[int](p, `[...document.querySelectorAll('.panel[data-type=stat]')].filter((p) => /\d/.test(p.querySelector('.stat-value')?.textContent)).length`); n != countPanels(t, "host-detail", dashboards.PanelStat) {
		t.Errorf("%d stat panels show a number, want every one", n)
	}
	// A label value holding markup is text in uPlot's legend and in tables.
	if !browsertest.Eval[bool](p, `[...document.querySelectorAll('.u-legend th, .panel td')].some((e) => e.textContent.includes('<img src=y'))`) {
		t.Error("the markup-looking label value is not shown as text in a legend or table")
	}
	if n := browsertest.Eval[int](p, `document.querySelectorAll('img').length`); n != 0 {
		t.Errorf("%d img elements on the dashboard: a label became markup", n)
	}
	p.Screenshot("dashboard-1280x800.png", 1280, 800, shots)

	// Dark mode follows the system setting, charts included: the page is
	// drawn again (a new grid) when the setting flips.
	p.Do("mark the light grid", chromedp.Evaluate[chromedp.Void](`document.querySelector('.grid').dataset.light = '1'`))
	p.Do("prefer dark", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
		})
		return err
	}))
	waitFor(p, "the dark theme", fmt.Sprintf(`getComputedStyle(document.body).backgroundColor === 'rgb(14, 18, 23)' &&
		!document.querySelector('.grid[data-light]') &&
		document.querySelectorAll('.panel[data-type=timeseries][data-state=ok] canvas').length === %d`, nTS))
	p.Screenshot("dashboard-dark-1280x800.png", 1280, 800, shots)
	p.Do("prefer light", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}},
		})
		return err
	}))

	// Every built-in dashboard renders without a failed panel: its
	// variables (agent, custom, text) are all substituted, since the fake
	// API refuses an expression with a "$" left in it.
	builtins, err := dashboards.Builtins()
	if err != nil {
		t.Fatal(err)
	}
	navigate(p, "#/dashboards")
	waitFor(p, "the dashboard list", fmt.Sprintf(`document.querySelectorAll('.cards a.card').length === %d`, len(builtins)))
	for _, d := range builtins {
		navigate(p, "#/d/"+d.ID+"?var-agent=web-1")
		waitFor(p, "dashboard "+d.ID, fmt.Sprintf(`(() => {
			const g = document.querySelector('.grid[data-dashboard=%q]');
			const ps = g ? [...g.querySelectorAll('.panel')] : [];
			return ps.length === %d && ps.every((p) => p.dataset.state === 'ok' &&
				(p.dataset.type !== 'timeseries' || p.querySelector('canvas')));
		})()`, d.ID, len(d.Panels)))
	}
	if !browsertest.Eval[bool](p, fmt.Sprintf(`document.querySelector('.panel[data-type=logs] .log-message')?.textContent === %q`, hostileLog)) {
		t.Error("the logs dashboard's logs panel does not show web-1's record as text")
	}

	// The explorer: an expression gives a chart and a table.
	navigate(p, "#/explore")
	waitFor(p, "the explorer", `document.querySelector('#expr')`)
	p.Do("run a query",
		chromedp.SetValue(chromedp.CSS("#expr"), "host_load1"),
		chromedp.Click(chromedp.CSS(".explore-form button[type=submit]")))
	waitFor(p, "query results", `document.querySelectorAll('.result-table tbody tr').length === 2 && document.querySelector('.explore-chart canvas')`)
	p.Screenshot("explore-1280x800.png", 1280, 800, shots)
	if h := browsertest.Eval[string](p, `location.hash`); !strings.Contains(h, "expr=host_load1") {
		t.Errorf("explorer fragment %q does not keep the expression", h)
	}

	// Logs: markup in a line is text; paging; the live tail resumes after
	// a dropped stream with Last-Event-ID.
	navigate(p, "#/logs")
	waitFor(p, "log records", `document.querySelectorAll('#log-list .log-row').length === 2`)
	if !browsertest.Eval[bool](p, fmt.Sprintf(`[...document.querySelectorAll('#log-list .log-message')].some((e) => e.textContent === %q)`, hostileLog)) {
		t.Error("the log line with a <script> tag is not shown as its text")
	}
	p.Do("load older records", chromedp.Click(chromedp.CSS(".logs button.secondary")))
	waitFor(p, "the second page", fmt.Sprintf(`document.querySelector('#log-list').textContent.includes(%q)`, olderLog))
	p.Do("turn on the live tail", chromedp.Click(chromedp.CSS("#live-tail")))
	waitFor(p, "two live lines", fmt.Sprintf(`(() => { const t = document.querySelector('#log-list').textContent; return t.includes(%q) && t.includes(%q); })()`, liveLine1, liveLine2))
	if n := browsertest.Eval[int](p, `document.querySelectorAll('#log-list script, #log-list b, #log-list img').length`); n != 0 {
		t.Errorf("%d elements made from log text", n)
	}
	if _, ids := fake.seen(); !containsString(ids, liveFirstID) {
		t.Errorf("live tail reconnects sent Last-Event-ID %q, want one with %q", ids, liveFirstID)
	}
	p.Screenshot("logs-1280x800.png", 1280, 800, shots)

	// Alerts.
	navigate(p, "#/alerts")
	waitFor(p, "an alert", `document.querySelector('.alerts-table tbody')?.textContent.includes('queue_dropped')`)

	// A phone: the fleet and a dashboard fit 390 px without sideways scrolling.
	p.Do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	navigate(p, "#/fleet")
	waitFor(p, "the fleet on a phone", `document.querySelectorAll('.fleet-table tbody tr').length === 3 && document.querySelectorAll('.spark-box canvas').length === 2`)
	if w := browsertest.Eval[int](p, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("fleet page is %d px wide on a 390 px phone", w)
	}
	p.Screenshot("fleet-390x844.png", 390, 844, shots)
	navigate(p, "#/d/host-detail?var-agent=web-1")
	waitFor(p, "the dashboard on a phone", fmt.Sprintf(`document.querySelectorAll('.panel[data-type=timeseries][data-state=ok] canvas').length === %d`, nTS))
	if w := browsertest.Eval[int](p, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("dashboard is %d px wide on a 390 px phone", w)
	}
	p.Screenshot("dashboard-390x844.png", 390, 844, shots)
	p.Do("desktop viewport", chromedp.EmulateViewport(1280, 800))

	// Sign out drops the token.
	p.Do("sign out", chromedp.Click(chromedp.CSS("#signout")))
	waitFor(p, "the login page after sign-out", `location.hash.startsWith('#/login') && document.querySelector('#token') && !sessionStorage.getItem('lightmetrics.token')`)

	// A 401 from any call (the token was rotated) returns to the login.
	p.Do("sign in again",
		chromedp.SetValue(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS(".login-form button[type=submit]")))
	waitFor(p, "the fleet again", `document.querySelectorAll('.fleet-table tbody tr').length === 3`)
	fake.setToken("a-rotated-token")
	navigate(p, "#/alerts")
	waitFor(p, "the login page after a 401", `location.hash.startsWith('#/login') && document.querySelector('.login-card')?.textContent.includes('no longer accepts') && !sessionStorage.getItem('lightmetrics.token')`)

	// What must never have happened.
	p.Check()
	urls, _ := fake.seen()
	for _, u := range urls {
		if strings.Contains(u, token) {
			t.Errorf("the token was sent in a URL: %s", u)
		}
	}
	if len(urls) < 20 {
		t.Errorf("the fake API saw only %d requests", len(urls))
	}
	if b, err := json.Marshal(hosts); err == nil {
		t.Logf("fleet hosts %s; %d requests", b, len(urls))
	}
}

// checkModules runs the console's pure helpers in the page, as the page
// loads them, against the rules pkg/dashboards documents.
func checkModules(t *testing.T, p *browsertest.Page) {
	t.Helper()
	tests := []struct{ expr, want string }{
		// $name and ${name}; "$1" and unknown names stay; regexes take ${name} only.
		{`t.substitute('rate(x{agent="$agent"}[$__rate_interval])', {agent: 'web-1', __rate_interval: '70s'})`, `rate(x{agent="web-1"}[70s])`},
		{`t.substitute('${agent}_$agentx $1 $unknown', {agent: 'a'})`, `a_$agentx $1 $unknown`},
		{`t.substitute('^${src}$ $src', {src: 'app'}, true)`, `^app$ $src`},
		{`t.substitute('$__range$__interval', {__range: '1h', __interval: '15s'})`, `1h15s`},
		{`t.substitute('$constructor', {})`, `$constructor`},
		{`JSON.stringify(t.builtins(t.timeWindow('1h', 36000)))`, `{"__interval":"15s","__rate_interval":"40s","__range":"1h"}`},
		{`JSON.stringify(t.builtins(t.timeWindow('24h', 360000)))`, `{"__interval":"5m","__rate_interval":"310s","__range":"24h"}`},
		{`JSON.stringify(t.parseLabelValues('label_values(host_x{a="1", b="2"}, mountpoint)'))`, `{"selector":"host_x{a=\"1\", b=\"2\"}","label":"mountpoint"}`},
		{`JSON.stringify(t.rangeChoices('3h'))`, `["15m","1h","3h","6h","24h","7d"]`},
		{`[f.parseDuration('1h30m'), f.parseDuration('7d'), f.parseDuration('90s'), f.parseDuration('x')].join()`, `5400,604800,90,NaN`},
		{`[f.value(1536, 'bytes'), f.value(0.25, 'ratio'), f.value(42.123, 'percent', 1), f.value(90, 'seconds'), f.value(NaN)].join('|')`, `1.50 KiB|25%|42.1%|1 min 30 s|–`},
		{`[f.num('+Inf'), f.num('-Inf'), f.num('NaN'), f.num('2.5')].join()`, `Infinity,-Infinity,NaN,2.5`},
		{`f.legend('{{device}} {{ direction }} {{missing}}', {device: 'eth0', direction: 'rx'})`, `eth0 rx `},
		{`f.seriesName({__name__: 'up', job: 'a"b'})`, `up{job="a\"b"}`},
	}
	for _, tc := range tests {
		got, err := chromedp.Run(p.Context(), chromedp.Evaluate[string](
			`Promise.all([import('/js/time.js'), import('/js/format.js')]).then(([t, f]) => String(`+tc.expr+`))`,
			chromedp.EvalAwaitPromise))
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
