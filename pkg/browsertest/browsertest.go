// Package browsertest drives Debian's chromium for the console's browser
// tests: it finds the browser, starts one headless tab with a probe that
// records alert() calls and Content-Security-Policy violations, and
// collects what must never happen in the page (uncaught exceptions,
// console errors, dialogs).
//
// It is a normal package only so that tests in several packages can share
// it; only _test.go files import it, and it imports nothing of ours.
package browsertest

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Chromium finds Debian's chromium ($LIGHTMETRICS_CHROMIUM first). Without
// it the test skips on a developer's machine and fails in CI (CI set),
// where scripts/test.sh installs it.
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("LIGHTMETRICS_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "chromium not found: the console's browser tests need Debian's chromium package (apt-get install chromium)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg + "; skipping (CI fails instead)")
	return ""
}

// Probe runs before the console's own scripts on every document: it
// records alert() calls (what XSS payloads would run) and CSP violations
// (Trusted Types included) in window.__lm, where the test can read them.
const Probe = `
window.__lm = { alerts: [], csp: [] };
window.alert = (m) => { window.__lm.alerts.push(String(m)); };
document.addEventListener('securitypolicyviolation', (e) => {
  window.__lm.csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || ''));
});
`

// Page drives one chromium tab and collects what must never happen in it.
type Page struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string
}

// New starts headless chromium (the binary at chromium, see Chromium) with
// a 1280x800 window under ctx, opens a tab that listens for problems and
// installs Probe on every new document. Everything stops when the test
// ends.
func New(t *testing.T, ctx context.Context, chromium string) *Page {
	t.Helper()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	t.Cleanup(cancelAlloc)
	p := &Page{t: t}
	tabCtx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(p.Listen))
	t.Cleanup(cancelTab)
	p.ctx = tabCtx
	if _, err := chromedp.Call(tabCtx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: Probe}); err != nil {
		t.Fatalf("start chromium (%s): %v", chromium, err)
	}
	return p
}

// Context is the tab's context, for chromedp calls the helpers lack.
func (p *Page) Context() context.Context { return p.ctx }

// Listen records uncaught exceptions, console errors and asserts, and
// dialogs as problems. New installs it on the tab.
func (p *Page) Listen(ev any) {
	var problem string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		problem = "uncaught exception: " + ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			problem += " " + ev.ExceptionDetails.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			problem = "console error: " + strings.Join(args, " ")
		}
	case *page.EventJavascriptDialogOpening:
		problem = "a dialog opened: " + ev.Message
	}
	if problem != "" {
		p.mu.Lock()
		p.problems = append(p.problems, problem)
		p.mu.Unlock()
	}
}

// Problems returns the problems seen so far.
func (p *Page) Problems() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.problems...)
}

// Do runs actions in the tab and fails the test, describing the page, when
// one fails.
func (p *Page) Do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v%s", what, err, p.State())
	}
}

// Eval evaluates a JavaScript expression in the page and fails the test
// when that fails.
func Eval[T any](p *Page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v%s", expr, err, p.State())
	}
	return v
}

// WaitFor polls a JavaScript condition from Go (chromedp's Poll compiles
// its predicate with new Function, which the console's CSP rightly
// refuses) for at most limit, running every, when set, every 3 s between
// tries that fail.
func (p *Page) WaitFor(what, cond string, limit time.Duration, every func()) {
	p.t.Helper()
	deadline := time.Now().Add(limit)
	nextEvery := time.Now().Add(3 * time.Second)
	for {
		ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`!!(`+cond+`)`))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) || p.ctx.Err() != nil {
			p.t.Fatalf("waiting for %s: not true after %v (last error %v)%s", what, limit, err, p.State())
		}
		if every != nil && time.Now().After(nextEvery) {
			every()
			nextEvery = time.Now().Add(3 * time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// State describes the page for a failure message: the fragment, the
// visible text of main and the problems seen so far (never a token: the
// tests check it is in neither).
func (p *Page) State() string {
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](
		`location.hash + '\n' + (document.querySelector('main')?.innerText || '').slice(0, 1500)`))
	problems := strings.Join(p.Problems(), "\n")
	if problems != "" {
		problems = "\nin the page: " + problems
	}
	if err != nil {
		return problems
	}
	return "\npage state: " + s + problems
}

// Screenshot saves the viewport as PNG under name in every dir and checks
// it is an image of the asked size with content: a blank page compresses
// to a few kB.
func (p *Page) Screenshot(name string, width, height int, dirs ...string) {
	p.t.Helper()
	buf, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(buf))
	if err != nil {
		p.t.Fatalf("screenshot %s: not a PNG: %v", name, err)
	}
	if cfg.Width != width || cfg.Height != height {
		p.t.Errorf("screenshot %s is %dx%d, want %dx%d", name, cfg.Width, cfg.Height, width, height)
	}
	if len(buf) < 8000 {
		p.t.Errorf("screenshot %s is only %d bytes: a blank page?", name, len(buf))
	}
	for _, dir := range dirs {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, buf, 0o644); err != nil {
			p.t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Size() != int64(len(buf)) {
			p.t.Fatalf("screenshot %s not saved whole: %v", path, err)
		}
		p.t.Logf("screenshot %s (%d bytes)", path, len(buf))
	}
}

// Check reports, as test errors, what must never have happened in the
// page: alert() calls and CSP violations Probe recorded, and the problems
// Listen collected.
func (p *Page) Check() {
	p.t.Helper()
	probe := Eval[struct {
		Alerts []string `json:"alerts"`
		CSP    []string `json:"csp"`
	}](p, `window.__lm`)
	if len(probe.Alerts) > 0 {
		p.t.Errorf("alert() ran: %q", probe.Alerts)
	}
	if len(probe.CSP) > 0 {
		p.t.Errorf("Content-Security-Policy violations: %q", probe.CSP)
	}
	for _, pr := range p.Problems() {
		p.t.Error(pr)
	}
}

// T is the test the page belongs to.
func (p *Page) T() *testing.T { return p.t }
