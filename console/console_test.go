package console

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// uplotDir is the vendored uPlot folder, found rather than hard-coded so
// scripts/build-console.sh can change the version.
func uplotDir(t *testing.T) string {
	t.Helper()
	m, err := fs.Glob(staticFS, "static/vendor/uplot-*")
	if err != nil || len(m) != 1 {
		t.Fatalf("want exactly one static/vendor/uplot-* folder, got %v (%v)", m, err)
	}
	return strings.TrimPrefix(m[0], "static/")
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	h := Handler()
	vendor := uplotDir(t)
	targets := []struct{ method, target string }{
		{"GET", "/"},
		{"GET", "/index.html"},
		{"HEAD", "/"},
		{"GET", "/app.css"},
		{"GET", "/js/app.js"},
		{"GET", "/" + vendor + "/uPlot.iife.min.js"},
		{"GET", "/no-such-file.js"},
		{"GET", "/js/"},
		{"GET", "/api/v1/unknown"},
		{"POST", "/"},
		{"DELETE", "/js/app.js"},
	}
	want := map[string]string{
		"Content-Security-Policy": ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
	}
	for _, tc := range targets {
		rec := get(t, h, tc.method, tc.target, nil)
		for k, v := range want {
			if got := rec.Header().Get(k); got != v {
				t.Errorf("%s %s (%d): %s = %q, want %q", tc.method, tc.target, rec.Code, k, got, v)
			}
		}
	}
}

// TestPolicy pins the directives the console's safety rests on, so a
// loosened policy fails here and not in a review.
func TestPolicy(t *testing.T) {
	directives := map[string]string{}
	for _, d := range strings.Split(ContentSecurityPolicy, ";") {
		f := strings.Fields(d)
		if len(f) == 0 {
			continue
		}
		directives[f[0]] = strings.Join(f[1:], " ")
	}
	want := map[string]string{
		"default-src":               "'self'",
		"script-src":                "'self'",
		"style-src":                 "'self'",
		"img-src":                   "'self' data:",
		"connect-src":               "'self'",
		"frame-ancestors":           "'none'",
		"base-uri":                  "'none'",
		"form-action":               "'self'",
		"object-src":                "'none'",
		"require-trusted-types-for": "'script'",
	}
	for k, v := range want {
		if directives[k] != v {
			t.Errorf("%s = %q, want %q", k, directives[k], v)
		}
	}
	for k, v := range directives {
		if strings.Contains(v, "unsafe") || strings.Contains(v, "*") || strings.Contains(v, "http") {
			t.Errorf("%s allows too much: %q", k, v)
		}
	}
}

func TestServesFiles(t *testing.T) {
	h := Handler()
	vendor := uplotDir(t)
	tests := []struct {
		target, contentType, cache string
		code                       int
		bodyHas                    string
	}{
		{"/", "text/html; charset=utf-8", "no-cache", 200, `<script type="module" src="js/app.js">`},
		{"/index.html", "text/html; charset=utf-8", "no-cache", 200, "<title>Lightmetrics</title>"},
		{"/app.css", "text/css; charset=utf-8", "no-cache", 200, "prefers-color-scheme: dark"},
		{"/js/app.js", "text/javascript; charset=utf-8", "no-cache", 200, "import"},
		{"/js/pages/fleet.js", "text/javascript; charset=utf-8", "no-cache", 200, "export function mount"},
		{"/favicon.svg", "image/svg+xml", "no-cache", 200, "<svg"},
		{"/" + vendor + "/uPlot.iife.min.js", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", 200, "uPlot"},
		{"/" + vendor + "/uPlot.min.css", "text/css; charset=utf-8", "public, max-age=31536000, immutable", 200, ".uplot"},
		{"/" + vendor + "/LICENSE", "text/plain; charset=utf-8", "public, max-age=31536000, immutable", 200, "MIT"},
		{"/nope.js", "text/plain; charset=utf-8", "no-store", 404, "not found"},
		{"/vendor/", "text/plain; charset=utf-8", "no-store", 404, "not found"},
		{"/js", "text/plain; charset=utf-8", "no-store", 404, "not found"},
		{"/static/index.html", "text/plain; charset=utf-8", "no-store", 404, "not found"},
		{"/../console.go", "text/plain; charset=utf-8", "no-store", 404, "not found"},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			rec := get(t, h, "GET", tc.target, nil)
			if rec.Code != tc.code {
				t.Fatalf("code %d, want %d", rec.Code, tc.code)
			}
			if got := rec.Header().Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type %q, want %q", got, tc.contentType)
			}
			if got := rec.Header().Get("Cache-Control"); got != tc.cache {
				t.Errorf("Cache-Control %q, want %q", got, tc.cache)
			}
			if !strings.Contains(rec.Body.String(), tc.bodyHas) {
				t.Errorf("body lacks %q", tc.bodyHas)
			}
		})
	}
}

func TestMethodsAndRevalidation(t *testing.T) {
	h := Handler()
	rec := get(t, h, "POST", "/", nil)
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %d Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
	rec = get(t, h, "HEAD", "/js/app.js", nil)
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d with %d body bytes", rec.Code, rec.Body.Len())
	}
	first := get(t, h, "GET", "/js/app.js", nil)
	etag := first.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	again := get(t, h, "GET", "/js/app.js", map[string]string{"If-None-Match": etag})
	if again.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", again.Code)
	}
	if other := get(t, h, "GET", "/app.css", nil).Header().Get("ETag"); other == etag {
		t.Errorf("two files share ETag %s", etag)
	}
}

var (
	htmlRefRE   = regexp.MustCompile(`(?:src|href)="([^"#][^"]*)"`)
	importRE    = regexp.MustCompile(`(?m)^\s*import\s[^'"]*['"]([^'"]+)['"]`)
	inlineRE    = regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|<style|\sstyle=|\son[a-z]+=`)
	htmlSinksRE = regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\(\s*['"](?:style|on)|srcdoc`)
)

// TestReferencesResolve checks what a browser would fetch: every file
// index.html names and every module an ES module imports is embedded (a
// typo would otherwise show up only as a blank page).
func TestReferencesResolve(t *testing.T) {
	h := Handler()
	index, _ := staticFS.ReadFile("static/index.html")
	refs := htmlRefRE.FindAllStringSubmatch(string(index), -1)
	if len(refs) < 4 {
		t.Fatalf("index.html references only %v", refs)
	}
	for _, m := range refs {
		if rec := get(t, h, "GET", "/"+m[1], nil); rec.Code != http.StatusOK {
			t.Errorf("index.html references %s: %d", m[1], rec.Code)
		}
	}
	modules := 0
	_ = fs.WalkDir(staticFS, "static/js", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") {
			return err
		}
		modules++
		src, _ := staticFS.ReadFile(p)
		for _, m := range importRE.FindAllStringSubmatch(string(src), -1) {
			target := path.Join(path.Dir(p), m[1])
			if !strings.HasPrefix(m[1], ".") {
				t.Errorf("%s imports %q: only relative same-origin modules are allowed", p, m[1])
				continue
			}
			if _, err := fs.Stat(staticFS, target); err != nil {
				t.Errorf("%s imports %s, which is not embedded", p, m[1])
			}
		}
		return nil
	})
	if modules < 8 {
		t.Errorf("found %d modules under static/js", modules)
	}
}

// TestNoInlineCodeOrHTMLSinks is the static half of the CSP story: the
// page has no inline script, style or handler the policy would refuse, and
// the console's own modules never turn strings into HTML.
func TestNoInlineCodeOrHTMLSinks(t *testing.T) {
	index, _ := staticFS.ReadFile("static/index.html")
	if m := inlineRE.FindString(string(index)); m != "" {
		t.Errorf("index.html has inline code or style: %q", m)
	}
	_ = fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(p, "static/vendor/") {
			return err
		}
		src, _ := staticFS.ReadFile(p)
		for i, line := range strings.Split(string(src), "\n") {
			if m := htmlSinksRE.FindString(line); m != "" && !strings.HasPrefix(strings.TrimSpace(line), "//") {
				t.Errorf("%s:%d uses %s", p, i+1, m)
			}
			if strings.Contains(line, "http://") || strings.Contains(line, "https://") {
				if !strings.Contains(line, "www.w3.org/2000/svg") {
					t.Errorf("%s:%d names another origin: %s", p, i+1, strings.TrimSpace(line))
				}
			}
		}
		return nil
	})
}

func TestVendoredLicence(t *testing.T) {
	dir := uplotDir(t)
	for _, f := range []string{"uPlot.iife.min.js", "uPlot.min.css", "LICENSE", "SOURCE"} {
		if _, err := fs.Stat(staticFS, "static/"+dir+"/"+f); err != nil {
			t.Errorf("%s/%s: %v", dir, f, err)
		}
	}
	lic, _ := staticFS.ReadFile("static/" + dir + "/LICENSE")
	if !strings.Contains(string(lic), "MIT License") || !strings.Contains(string(lic), "Leon Sorokin") {
		t.Errorf("%s/LICENSE is not uPlot's MIT licence", dir)
	}
}
