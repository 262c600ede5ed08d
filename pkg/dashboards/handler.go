package dashboards

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Path is where NewHandler serves the listing; one dashboard is at
// Path + "/<id>".
const Path = "/api/v1/dashboards"

// NewHandler serves a Set over HTTP in the Prometheus API's envelope:
//
//	GET Path        {"status":"success","data":[Summary, ...]}
//	GET Path/<id>   {"status":"success","data":Dashboard}
//
// An unknown id is a 404 and any other method a 405, both as
// {"status":"error","errorType":...,"error":...}. Mount it at Path and
// Path+"/" behind the query-token check. The answers are encoded once here:
// a Set never changes after Load.
func NewHandler(s *Set) http.Handler {
	h := &handler{byID: map[string][]byte{}}
	if s == nil {
		s = &Set{byID: map[string]int{}}
	}
	h.list = mustEncode(success{Status: "success", Data: s.List()})
	for i := range s.list {
		d := s.list[i].clone()
		h.byID[d.ID] = mustEncode(success{Status: "success", Data: d})
	}
	return h
}

type handler struct {
	list []byte
	byID map[string][]byte
}

type success struct {
	Status string `json:"status"`
	Data   any    `json:"data"`
}

type failure struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
}

// mustEncode encodes our own value types, which always encode (no
// channels, funcs or non-finite floats a definition could hold: Parse
// rejects the latter).
func mustEncode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(failure{Status: "error", ErrorType: "internal", Error: "dashboards: encode: " + err.Error()})
	}
	return append(b, '\n')
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, Path)
	if !ok || (rest != "" && rest[0] != '/') {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "bad_data", fmt.Sprintf("method %s not allowed", r.Method))
		return
	}
	id := strings.TrimPrefix(rest, "/")
	if id == "" {
		writeBody(w, http.StatusOK, h.list)
		return
	}
	body, ok := h.byID[id]
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no dashboard with id %q", clip(id, 64)))
		return
	}
	writeBody(w, http.StatusOK, body)
}

func writeError(w http.ResponseWriter, code int, typ, msg string) {
	writeBody(w, code, mustEncode(failure{Status: "error", ErrorType: typ, Error: msg}))
}

func writeBody(w http.ResponseWriter, code int, body []byte) {
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("X-Content-Type-Options", "nosniff")
	// Answers need the query token: no shared cache may keep them.
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	// A client gone mid-write has nobody left to tell.
	_, _ = w.Write(body)
}

// clip bounds how much of a request path an error message echoes.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
