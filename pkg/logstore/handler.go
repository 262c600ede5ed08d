package logstore

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// HandlerOptions configure NewHandler.
type HandlerOptions struct {
	// Timeout bounds one log query; 0 means no bound beyond the request's.
	Timeout time.Duration
	// Now is the clock agent states are judged against; nil means time.Now.
	Now func() time.Time
}

// Routes served by NewHandler.
const (
	PathAgents = "/api/v1/agents"
	PathLogs   = "/api/v1/logs"
	PathAlerts = "/api/v1/alerts"
)

// NewHandler serves GET PathAgents, PathLogs and PathAlerts from s in the
// Prometheus API's JSON envelope. It does no authentication: the caller
// wraps it with the query token check.
func NewHandler(s *Store, o HandlerOptions) http.Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	h := &handler{s: s, o: o}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathAgents, h.agents)
	mux.HandleFunc("GET "+PathLogs, h.logs)
	mux.HandleFunc("GET "+PathAlerts, h.alerts)
	return mux
}

type handler struct {
	s *Store
	o HandlerOptions
}

// AgentsData is the "data" member of /api/v1/agents; /api/v1/logs answers
// with a LogPage.
type AgentsData struct {
	Agents []AgentJSON `json:"agents"`
}

// AlertsData is the "data" member of /api/v1/alerts.
type AlertsData struct {
	Alerts []AlertJSON `json:"alerts"`
}

func (h *handler) agents(w http.ResponseWriter, _ *http.Request) {
	writeSuccess(w, AgentsData{Agents: h.s.Agents(h.o.Now())})
}

func (h *handler) logs(w http.ResponseWriter, r *http.Request) {
	q, err := ParseLogQuery(r.URL.Query())
	if err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	if h.o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.o.Timeout)
		defer cancel()
	}
	page, err := h.s.Query(ctx, q)
	if err != nil {
		writeError(w, err)
		return
	}
	writeSuccess(w, page)
}

func (h *handler) alerts(w http.ResponseWriter, r *http.Request) {
	q, err := ParseAlertQuery(r.URL.Query())
	if err != nil {
		writeError(w, err)
		return
	}
	writeSuccess(w, AlertsData{Alerts: h.s.Alerts(q)})
}

type envelope struct {
	Status    string `json:"status"`
	Data      any    `json:"data,omitempty"`
	ErrorType string `json:"errorType,omitempty"`
	Error     string `json:"error,omitempty"`
}

func writeSuccess(w http.ResponseWriter, data any) {
	writeJSON(w, http.StatusOK, envelope{Status: "success", Data: data})
}

// writeError answers as the Prometheus API does: bad_data (400) for a
// parameter, timeout or canceled (503) when the query ran out of time.
func writeError(w http.ResponseWriter, err error) {
	var pe *ParamError
	switch {
	case errors.As(err, &pe):
		writeJSON(w, http.StatusBadRequest, envelope{Status: "error", ErrorType: "bad_data", Error: pe.Error()})
	case errors.Is(err, context.DeadlineExceeded):
		writeJSON(w, http.StatusServiceUnavailable, envelope{Status: "error", ErrorType: "timeout", Error: "query timed out"})
	case errors.Is(err, context.Canceled):
		writeJSON(w, http.StatusServiceUnavailable, envelope{Status: "error", ErrorType: "canceled", Error: "query canceled"})
	default:
		writeJSON(w, http.StatusInternalServerError, envelope{Status: "error", ErrorType: "internal", Error: err.Error()})
	}
}

// writeJSON writes v with status. Our own structs always encode (Value
// handles the floats JSON cannot spell); a client gone mid-write has nobody
// left to tell.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"status":"error","errorType":"internal","error":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
