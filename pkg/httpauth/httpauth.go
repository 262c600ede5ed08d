// Package httpauth guards the collector's private listener with the query
// bearer token.
package httpauth

import (
	"net/http"
	"strings"
	"sync/atomic"
)

// Verifier checks a presented token in constant time; tokens.Secret is one.
type Verifier interface {
	Equal(candidate string) bool
}

// BearerToken returns the token of an "Authorization: Bearer <token>"
// header, or "" when there is none. The scheme is case-insensitive.
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return ""
	}
	return strings.TrimSpace(h[len(prefix):])
}

// Require answers 401 to any request without the right bearer token and
// passes the others to next. The answer never says whether a token was sent
// or which part was wrong.
func Require(v Verifier, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := BearerToken(r)
		if tok == "" || !v.Equal(tok) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lightmetrics"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"status":"error","errorType":"unauthorized","error":"a valid query bearer token is required"}` + "\n"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Holder is a Verifier whose secret can be replaced while requests are
// served (SIGHUP token rotation), without a lock on the request path.
type Holder struct {
	p atomic.Pointer[box]
}

type box struct{ v Verifier }

// NewHolder returns a Holder verifying against v.
func NewHolder(v Verifier) *Holder {
	h := &Holder{}
	h.Store(v)
	return h
}

// Store replaces the verifier.
func (h *Holder) Store(v Verifier) { h.p.Store(&box{v: v}) }

// Equal checks candidate against the current verifier.
func (h *Holder) Equal(candidate string) bool { return h.p.Load().v.Equal(candidate) }
