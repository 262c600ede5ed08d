package dashboards

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// loadTestSet is the built-ins plus the custom definitions in testdata/good.
func loadTestSet(t *testing.T) *Set {
	t.Helper()
	s, err := Load(nil, []string{"testdata/good"})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return s
}

type envelope struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

func serve(t *testing.T, h http.Handler, method, target string) (*httptest.ResponseRecorder, envelope) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	var env envelope
	if method != http.MethodHead {
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v\n%s", method, target, err, rec.Body.String())
		}
	}
	return rec, env
}

func TestHandlerList(t *testing.T) {
	s := loadTestSet(t)
	rec, env := serve(t, NewHandler(s), http.MethodGet, Path)
	if rec.Code != http.StatusOK || env.Status != "success" {
		t.Fatalf("GET %s: %d %+v", Path, rec.Code, env)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	var got []Summary
	if err := json.Unmarshal(env.Data, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s.List()) {
		t.Errorf("listing\n got %+v\nwant %+v", got, s.List())
	}
	// Built-ins first, then the custom ones, flagged as such.
	if len(got) < 6 || got[0].ID != "fleet-overview" || !got[0].Builtin {
		t.Fatalf("listing starts %+v", got[:1])
	}
	custom := map[string]bool{}
	for _, d := range got {
		if !d.Builtin {
			custom[d.ID] = true
		}
	}
	if !custom["full-schema"] {
		t.Errorf("custom dashboard full-schema missing from %v", got)
	}
}

func TestHandlerGet(t *testing.T) {
	s := loadTestSet(t)
	h := NewHandler(s)
	for _, sum := range s.List() {
		t.Run(sum.ID, func(t *testing.T) {
			rec, env := serve(t, h, http.MethodGet, Path+"/"+sum.ID)
			if rec.Code != http.StatusOK || env.Status != "success" {
				t.Fatalf("%d %+v", rec.Code, env)
			}
			var got Dashboard
			if err := json.Unmarshal(env.Data, &got); err != nil {
				t.Fatal(err)
			}
			want, _ := s.Get(sum.ID)
			want.Source = "" // not served
			want.lines = got.lines
			if !reflect.DeepEqual(got, want) {
				t.Errorf("dashboard\n got %+v\nwant %+v", got, want)
			}
			if strings.Contains(rec.Body.String(), "testdata") {
				t.Errorf("answer reveals the definition's file: %s", rec.Body.String())
			}
		})
	}
}

func TestHandlerErrors(t *testing.T) {
	h := NewHandler(loadTestSet(t))
	tests := []struct {
		name, method, target string
		code                 int
		errType, errHas      string
	}{
		{"unknown id", http.MethodGet, Path + "/no-such-board", http.StatusNotFound, "not_found", `"no-such-board"`},
		{"nested path", http.MethodGet, Path + "/host-detail/panels", http.StatusNotFound, "not_found", "host-detail/panels"},
		{"other prefix", http.MethodGet, Path + "x", http.StatusNotFound, "not_found", "no such endpoint"},
		{"long id clipped", http.MethodGet, Path + "/" + strings.Repeat("a", 300), http.StatusNotFound, "not_found", strings.Repeat("a", 64) + "…"},
		{"post", http.MethodPost, Path, http.StatusMethodNotAllowed, "bad_data", "POST"},
		{"delete one", http.MethodDelete, Path + "/host-detail", http.StatusMethodNotAllowed, "bad_data", "DELETE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, env := serve(t, h, tc.method, tc.target)
			if rec.Code != tc.code {
				t.Fatalf("code %d, want %d (%s)", rec.Code, tc.code, rec.Body.String())
			}
			if env.Status != "error" || env.ErrorType != tc.errType || !strings.Contains(env.Error, tc.errHas) {
				t.Errorf("got %+v, want errorType %q and an error containing %q", env, tc.errType, tc.errHas)
			}
			if strings.Contains(env.Error, strings.Repeat("a", 65)) {
				t.Errorf("error echoes the whole path: %q", env.Error)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if tc.code == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q", rec.Header().Get("Allow"))
			}
		})
	}
}

func TestHandlerHeadAndTrailingSlash(t *testing.T) {
	h := NewHandler(loadTestSet(t))
	rec, _ := serve(t, h, http.MethodHead, Path+"/host-detail")
	if rec.Code != http.StatusOK {
		t.Errorf("HEAD one: %d", rec.Code)
	}
	rec, env := serve(t, h, http.MethodGet, Path+"/")
	var list []Summary
	if rec.Code != http.StatusOK || json.Unmarshal(env.Data, &list) != nil || len(list) == 0 {
		t.Errorf("GET %s/: %d %s", Path, rec.Code, rec.Body.String())
	}
}

// TestHandlerNilSet: a collector wired without dashboards answers an empty
// list rather than panicking.
func TestHandlerNilSet(t *testing.T) {
	h := NewHandler(nil)
	rec, env := serve(t, h, http.MethodGet, Path)
	if rec.Code != http.StatusOK || string(env.Data) != "[]" {
		t.Errorf("nil set listing: %d %s", rec.Code, rec.Body.String())
	}
	rec, _ = serve(t, h, http.MethodGet, Path+"/host-detail")
	if rec.Code != http.StatusNotFound {
		t.Errorf("nil set get: %d", rec.Code)
	}
}
