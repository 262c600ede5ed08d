package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
)

// Refusal reasons that are not config keys, as counted in
// lightmetrics_ingest_refusals_total{reason}.
const (
	reasonMalformed    = "malformed"
	reasonUnauthorized = "unauthorized"
	reasonForbidden    = "forbidden"
	reasonUnavailable  = "unavailable"
	reasonNotFound     = "not_found"
)

// refusal is a request the handler will not store, and how to say so.
type refusal struct {
	status int
	// reason labels the refusals metric: a config key or one of the
	// reason* constants.
	reason string
	// limit is the config key the request broke, "" when none.
	limit string
	msg   string
	// value and max are set for limit violations with a measured value.
	value, max *int
	// retry adds Retry-After: the client should send the same body later.
	retry bool
	// agentID is the authenticated agent, for the log line.
	agentID string
}

// errorBody is the JSON body of every refusal.
type errorBody struct {
	Error string `json:"error"`
	Limit string `json:"limit,omitempty"`
	Value *int   `json:"value,omitempty"`
	Max   *int   `json:"max,omitempty"`
}

// ackBody is the JSON body of an accepted or duplicate batch.
type ackBody struct {
	AgentID string `json:"agent_id"`
	Seq     uint64 `json:"seq"`
	Status  string `json:"status"`
}

func intp(v int) *int { return &v }

// limitRefusal builds the 422 (or other status) for a broken limit.
func limitRefusal(status int, key string, value, max int, msg string) *refusal {
	return &refusal{status: status, reason: key, limit: key, msg: msg, value: intp(value), max: intp(max)}
}

// refuse writes rf as JSON, counts it and logs one line about it.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, route string, rf *refusal) {
	if rf.retry {
		w.Header().Set("Retry-After", h.retryAfter)
	}
	writeJSON(w, rf.status, errorBody{Error: rf.msg, Limit: rf.limit, Value: rf.value, Max: rf.max})
	h.m.refusals.WithLabelValues(rf.reason).Inc()
	level := slog.LevelInfo
	if rf.status >= 500 {
		level = slog.LevelWarn
	}
	h.log.Log(r.Context(), level, "ingest request refused",
		"route", route, "status", rf.status, "reason", rf.reason,
		"agent_id", rf.agentID, "remote", r.RemoteAddr, "error", rf.msg)
}

// writeJSON writes v with status. Encoding our own small structs cannot
// fail, and a client gone mid-write has nobody left to tell.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"error":"internal error encoding the response"}`)
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// readBody reads the whole request body, refusing (413) a declared length
// over the cap before reading a byte of it, and a chunked body as soon as
// it passes the cap. It never holds more than the cap in memory.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *refusal) {
	if r.ContentLength > h.maxBody {
		return nil, h.bodyTooLarge(r.ContentLength)
	}
	body := http.MaxBytesReader(w, r.Body, h.maxBody)
	var (
		buf []byte
		err error
	)
	if r.ContentLength >= 0 {
		// The declared length is within the cap: allocate it once. A body
		// shorter than declared is an error, a longer one is cut by the
		// server itself.
		buf = make([]byte, r.ContentLength)
		_, err = io.ReadFull(body, buf)
	} else {
		buf, err = io.ReadAll(body)
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, h.bodyTooLarge(-1)
		}
		return nil, &refusal{status: http.StatusBadRequest, reason: reasonMalformed,
			msg: fmt.Sprintf("reading request body: %v", err)}
	}
	return buf, nil
}

func (h *Handler) bodyTooLarge(declared int64) *refusal {
	msg := fmt.Sprintf("request body exceeds max_body_bytes (%d)", h.maxBody)
	rf := &refusal{status: http.StatusRequestEntityTooLarge, reason: "max_body_bytes", limit: "max_body_bytes", msg: msg, max: intp(int(h.maxBody))}
	if declared > 0 && declared <= int64(^uint(0)>>1) {
		rf.msg = fmt.Sprintf("declared body of %d bytes exceeds max_body_bytes (%d)", declared, h.maxBody)
		rf.value = intp(int(declared))
	}
	return rf
}
