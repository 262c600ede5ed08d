package httpauth

import (
	"crypto/subtle"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type secret string

func (s secret) Equal(c string) bool { return subtle.ConstantTimeCompare([]byte(s), []byte(c)) == 1 }

func TestRequire(t *testing.T) {
	const tok = "0123456789abcdef0123456789abcdef"
	h := Require(secret(tok), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "inside")
	}))
	tests := []struct {
		name   string
		header string
		want   int
	}{
		{"none", "", 401},
		{"wrong", "Bearer nope", 401},
		{"basic scheme", "Basic " + tok, 401},
		{"prefix of token", "Bearer " + tok[:10], 401},
		{"right", "Bearer " + tok, 200},
		{"scheme case", "bearer " + tok, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/metrics", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d", w.Code, tt.want)
			}
			body := w.Body.String()
			if tt.want == 401 && (strings.Contains(body, "inside") || strings.Contains(body, tok) || w.Header().Get("WWW-Authenticate") == "") {
				t.Fatalf("401 body %q / header leaks or lacks WWW-Authenticate", body)
			}
		})
	}
}

func TestHolderSwaps(t *testing.T) {
	h := NewHolder(secret("old-token-old-token"))
	if !h.Equal("old-token-old-token") || h.Equal("new-token-new-token") {
		t.Fatal("holder does not verify against the first secret")
	}
	h.Store(secret("new-token-new-token"))
	if h.Equal("old-token-old-token") || !h.Equal("new-token-new-token") {
		t.Fatal("holder did not switch to the new secret")
	}
}
