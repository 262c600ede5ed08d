package console

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/dashboards"
)

// fakeAPI stands in for the collector's private listener in the browser
// test: the console's files plus canned answers in the shapes of the real
// endpoints, all behind a bearer token. It tests the console, not the API.
type fakeAPI struct {
	done chan struct{} // closed when the test ends: ends open streams

	mu           sync.Mutex
	token        string
	urls         []string // every request's URL, to prove the token is never in one
	lastEventIDs []string // Last-Event-ID of each /api/v1/live log stream
}

// Canned content the test looks for.
const (
	hostileHostname = `<img src=x onerror=alert(1)>`
	hostileLabel    = `<img src=y onerror=alert(2)>`
	hostileLog      = `<script>alert(3)</script> accepted login for root`
	olderLog        = "an older line from the second page"
	liveLine1       = "live line one <b>not bold</b>"
	liveLine2       = "live line two after the resume"
	liveFirstID     = "9-1"
)

func newFakeAPI(token string) *fakeAPI {
	return &fakeAPI{token: token, done: make(chan struct{})}
}

func (f *fakeAPI) setToken(tok string) {
	f.mu.Lock()
	f.token = tok
	f.mu.Unlock()
}

func (f *fakeAPI) seen() (urls, lastIDs []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.urls...), append([]string(nil), f.lastEventIDs...)
}

// handler is the fake listener: /api/ behind the token, the console at /.
func (f *fakeAPI) handler(set *dashboards.Set) http.Handler {
	api := http.NewServeMux()
	dh := dashboards.NewHandler(set)
	api.Handle(dashboards.Path, dh)
	api.Handle(dashboards.Path+"/", dh)
	api.HandleFunc("/api/v1/agents", f.agents)
	api.HandleFunc("/api/v1/query_range", f.queryRange)
	api.HandleFunc("/api/v1/query", f.query)
	api.HandleFunc("/api/v1/labels", func(w http.ResponseWriter, _ *http.Request) {
		writeData(w, []string{"__name__", "agent", "device", "mode"})
	})
	api.HandleFunc("/api/v1/label/{name}/values", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("name") == "__name__" {
			writeData(w, []string{"host_cpu_count", "host_cpu_idle_seconds_total", "host_load1", "host_uptime_seconds"})
			return
		}
		writeData(w, []string{"/", "/var"})
	})
	api.HandleFunc("/api/v1/logs", f.logs)
	api.HandleFunc("/api/v1/alerts", f.alerts)
	api.HandleFunc("/api/v1/live", f.live)

	site := Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.urls = append(f.urls, r.URL.String())
		tok := f.token
		f.mu.Unlock()
		if !strings.HasPrefix(r.URL.Path, "/api/") {
			site.ServeHTTP(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+tok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintln(w, `{"status":"error","errorType":"unauthorized","error":"a valid query bearer token is required"}`)
			return
		}
		api.ServeHTTP(w, r)
	})
}

func writeData(w http.ResponseWriter, data any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": data})
}

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (f *fakeAPI) agents(w http.ResponseWriter, _ *http.Request) {
	now := time.Now()
	agent := func(id, host, state string, ago time.Duration) map[string]any {
		return map[string]any{
			"id": id, "hostname": host, "agent_version": "0.1.0", "os": "linux", "state": state,
			"first_seen": rfc(now.Add(-48 * time.Hour)), "last_seen": rfc(now.Add(-ago)),
			"seconds_since_seen": ago.Seconds(), "values": map[string]any{"host_load1": 0.42, "host_uptime_seconds": 86400},
		}
	}
	writeData(w, map[string]any{"agents": []any{
		agent("web-1", "web-1.lab", "up", 4*time.Second),
		agent("db-1", hostileHostname, "stale", 90*time.Second),
		agent("old-box", "old-box", "down", 2*time.Hour),
	}})
}

var (
	agentMatcher = regexp.MustCompile(`agent="([^"]*)"`)
	// perObject matches the labelled (per CPU, device, filesystem,
	// process) metrics of docs/metrics.md.
	perObject = regexp.MustCompile(`host_cpu_seconds_total|host_blockdev_|host_netdev_|host_filesystem_|host_process_`)
)

// seriesFor picks the label sets an expression answers with: one per
// agent, or two for per-object metrics (one with a hostile label value, to
// be shown as text in legends and tables).
func seriesFor(query string) []map[string]string {
	agents := []string{"web-1", "db-1"}
	if m := agentMatcher.FindStringSubmatch(query); m != nil {
		agents = []string{m[1]}
	}
	var out []map[string]string
	for _, a := range agents {
		if !perObject.MatchString(query) {
			out = append(out, map[string]string{"agent": a})
			continue
		}
		out = append(out,
			map[string]string{"agent": a, "mode": "user", "device": "eth0", "direction": "receive", "mountpoint": "/", "name": "nginx", "pid": "101", "user": "www"},
			map[string]string{"agent": a, "mode": "system", "device": "sda", "direction": "transmit", "mountpoint": hostileLabel, "name": "postgres", "pid": "202", "user": "pg"},
		)
	}
	return out
}

func sample(t float64, i int) float64 { return 40 + 25*math.Sin(t/600+float64(i)) }

func fmtSample(t float64, v float64) []any {
	return []any{t, strconv.FormatFloat(v, 'f', -1, 64)}
}

func badData(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": "bad_data", "error": msg})
}

func (f *fakeAPI) queryRange(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	start, err1 := strconv.ParseFloat(q.Get("start"), 64)
	end, err2 := strconv.ParseFloat(q.Get("end"), 64)
	step, err3 := strconv.ParseFloat(q.Get("step"), 64)
	if err1 != nil || err2 != nil || err3 != nil || step <= 0 || end < start || (end-start)/step > 11000 {
		badData(w, "bad start, end or step")
		return
	}
	if strings.Contains(q.Get("query"), "$") {
		badData(w, "unsubstituted variable in "+q.Get("query"))
		return
	}
	var result []any
	for i, m := range seriesFor(q.Get("query")) {
		var values []any
		for t := start; t <= end; t += step {
			values = append(values, fmtSample(t, sample(t, i)))
		}
		result = append(result, map[string]any{"metric": m, "values": values})
	}
	writeData(w, map[string]any{"resultType": "matrix", "result": result})
}

func (f *fakeAPI) query(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	t, err := strconv.ParseFloat(q.Get("time"), 64)
	if err != nil {
		t = float64(time.Now().Unix())
	}
	if strings.Contains(q.Get("query"), "$") {
		badData(w, "unsubstituted variable in "+q.Get("query"))
		return
	}
	var result []any
	for i, m := range seriesFor(q.Get("query")) {
		result = append(result, map[string]any{"metric": m, "value": fmtSample(t, sample(t, i))})
	}
	writeData(w, map[string]any{"resultType": "vector", "result": result})
}

func logRecord(id string, at time.Time, agent, source, msg string, attrs map[string]string) map[string]any {
	return map[string]any{"id": id, "time": rfc(at), "agent": agent, "source": source, "message": msg, "truncated": false, "attributes": attrs}
}

func (f *fakeAPI) logs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	now := time.Now()
	var recs []map[string]any
	next := ""
	if q.Get("cursor") == "" {
		recs = []map[string]any{
			logRecord("5-2", now.Add(-10*time.Second), "web-1", "auth", hostileLog, map[string]string{"level": "info", "path": "/var/log/auth.log"}),
			logRecord("5-1", now.Add(-20*time.Second), "db-1", "syslog", "disk almost full on /var", map[string]string{"level": "warning"}),
		}
		next = "page-2"
	} else if q.Get("cursor") == "page-2" {
		recs = []map[string]any{logRecord("3-1", now.Add(-time.Hour), "web-1", "syslog", olderLog, nil)}
	} else {
		badData(w, "cursor: not one of ours")
		return
	}
	if a := q.Get("agent"); a != "" {
		kept := recs[:0]
		for _, rec := range recs {
			if rec["agent"] == a {
				kept = append(kept, rec)
			}
		}
		recs = kept
	}
	writeData(w, map[string]any{"records": recs, "next_cursor": next})
}

func (f *fakeAPI) alerts(w http.ResponseWriter, _ *http.Request) {
	writeData(w, map[string]any{"alerts": []any{map[string]any{
		"id": "7-3", "time": rfc(time.Now().Add(-5 * time.Minute)), "agent": "web-1", "name": "queue_dropped",
		"severity": "warning", "message": "dropped 3 batches: queue full", "labels": map[string]string{"reason": "queue_full"},
	}}})
}

// live serves the SSE stream the way the collector does: a comment first,
// then events with ids. The first log stream sends one line and ends, so
// the console must reconnect with Last-Event-ID to get the second.
func (f *fakeAPI) live(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "no flusher", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fmt.Fprint(w, ": connected\nretry: 200\n\n")
	fl.Flush()
	wait := func(d time.Duration) bool {
		select {
		case <-time.After(d):
			return true
		case <-r.Context().Done():
		case <-f.done:
		}
		return false
	}
	if r.URL.Query().Get("kind") == "log" {
		last := r.Header.Get("Last-Event-ID")
		f.mu.Lock()
		f.lastEventIDs = append(f.lastEventIDs, last)
		f.mu.Unlock()
		send := func(id, msg string) {
			data, _ := json.Marshal(logRecord(id, time.Now(), "web-1", "app", msg, map[string]string{"level": "info"}))
			fmt.Fprintf(w, "id: %s\nevent: log\ndata: %s\n\n", id, data)
			fl.Flush()
		}
		switch last {
		case "":
			if !wait(300 * time.Millisecond) {
				return
			}
			send(liveFirstID, liveLine1)
			return // a dropped connection: the console must resume
		case liveFirstID:
			send("9-2", liveLine2)
		}
	}
	for wait(time.Second) {
		fmt.Fprint(w, ": keep-alive\n\n")
		fl.Flush()
	}
}
