// Package console embeds Lightmetrics' web console: static HTML, CSS and
// ES modules, plus the vendored uPlot chart library (see
// scripts/build-console.sh), compiled into the binary so a collector serves
// its UI with no Node and no files on disk.
//
// The console is a single page that talks only to the collector's own API
// on the same origin, with the query token as a bearer header. The
// handler's job is to make that the only thing the page can do: every
// answer carries a Content-Security-Policy that allows scripts, styles and
// connections from the page's own origin alone, no inline code, no frames
// and no HTML-string DOM sinks (Trusted Types), so text that agents send
// (hostnames, log lines, labels) cannot become markup or script even if a
// rendering bug tried.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var staticFS embed.FS

// ContentSecurityPolicy is sent with every response of Handler. Styles set
// through the CSSOM (element.style.x = …, which uPlot and the grid layout
// use) are not inline styles in CSP terms and stay allowed; style
// attributes and <style> elements are refused.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// vendorPrefix holds third-party files in version-named folders
// (vendor/uplot-1.6.32/): a new version is a new URL, so they may be cached
// for good.
const vendorPrefix = "vendor/"

// file is one embedded file ready to serve.
type file struct {
	data        []byte
	contentType string
	etag        string
	immutable   bool
}

// handler serves the embedded files, read once at construction.
type handler struct {
	files map[string]*file // by path without the leading "/"
}

// Handler returns the console's HTTP handler. Mount it at "/" of the private
// listener, beside the API routes: it answers GET and HEAD for "/" (the
// console page; its routes live in the URL fragment, /#/fleet, so no other
// path needs the page) and for the embedded files, 404 for any other path, and
// sets the security headers on every response, errors included. The
// files need no token: they hold no data, and the page asks for the token
// itself.
func Handler() http.Handler {
	h := &handler{files: map[string]*file{}}
	// An embed.FS cannot fail to walk or read its own files; a failure
	// here would leave the file out and make it 404, which the handler
	// tests would catch.
	_ = fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		data, err := staticFS.ReadFile(p)
		if err != nil {
			return nil
		}
		name := strings.TrimPrefix(p, "static/")
		sum := sha256.Sum256(data)
		h.files[name] = &file{
			data:        data,
			contentType: contentType(name),
			etag:        `"` + hex.EncodeToString(sum[:12]) + `"`,
			immutable:   strings.HasPrefix(name, vendorPrefix),
		}
		return nil
	})
	return h
}

// contentType names the type of an embedded file by its extension. The
// table is explicit so the answer does not depend on the host's
// /etc/mime.types (a module served as text/plain would not run).
func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".json", ".webmanifest":
		return "application/json"
	case ".txt", "":
		return "text/plain; charset=utf-8"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// setSecurityHeaders applies the headers every answer carries.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		plainError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/")
	if name == "" {
		name = "index.html"
	}
	f, ok := h.files[name]
	if !ok {
		plainError(w, http.StatusNotFound, "not found")
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", f.contentType)
	hd.Set("ETag", f.etag)
	if f.immutable {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		// The console's own files change with the binary: revalidate
		// every time (a 304 thanks to the ETag when nothing changed).
		hd.Set("Cache-Control", "no-cache")
	}
	// ServeContent answers Range and If-None-Match; the zero modtime keeps
	// Last-Modified out (the embedded files have none).
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.data))
}

// plainError writes a short text error that no browser will sniff as HTML.
func plainError(w http.ResponseWriter, code int, msg string) {
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}
