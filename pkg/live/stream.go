package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// Path is the route the hub serves.
const Path = "/api/v1/live"

// filter is what a stream asked for; zero fields do not filter.
type filter struct {
	kinds   kindSet
	agents  []string
	sources []string // a source filter keeps log events only
}

func (f *filter) match(e *event) bool {
	if f.kinds != 0 && f.kinds&e.kind == 0 {
		return false
	}
	if len(f.agents) > 0 && !slices.Contains(f.agents, e.agent) {
		return false
	}
	return len(f.sources) == 0 || (e.kind == kindLog && slices.Contains(f.sources, e.source))
}

// paramError is a request the stream cannot serve, naming the parameter.
type paramError struct{ param, msg string }

func (e *paramError) Error() string { return e.param + ": " + e.msg }

// parseFilter reads agent (repeated or comma-separated), kind (the same)
// and source (repeated: a source name may hold a comma).
func parseFilter(v url.Values) (filter, error) {
	var f filter
	for _, s := range v["kind"] {
		for _, k := range strings.Split(s, ",") {
			switch strings.TrimSpace(k) {
			case EventBatch:
				f.kinds |= kindBatch
			case EventLog:
				f.kinds |= kindLog
			case EventAlert:
				f.kinds |= kindAlert
			default:
				return filter{}, &paramError{"kind", fmt.Sprintf("%q is not %s, %s or %s", k, EventBatch, EventLog, EventAlert)}
			}
		}
	}
	for _, s := range v["agent"] {
		for _, a := range strings.Split(s, ",") {
			if a = strings.TrimSpace(a); a != "" {
				f.agents = append(f.agents, a)
			}
		}
	}
	f.sources = slices.DeleteFunc(slices.Clone(v["source"]), func(s string) bool { return s == "" })
	return f, nil
}

// lastEventID reads the Last-Event-ID header, or the last_event_id
// parameter for clients that cannot set headers on their first request.
func lastEventID(r *http.Request) (eventID, bool, error) {
	name, s := "Last-Event-ID", r.Header.Get("Last-Event-ID")
	if s == "" {
		name, s = "last_event_id", r.URL.Query().Get("last_event_id")
	}
	if s == "" {
		return eventID{}, false, nil
	}
	id, err := parseEventID(s)
	if err != nil {
		return eventID{}, false, &paramError{name, fmt.Sprintf("%q: %v", s, err)}
	}
	return id, true, nil
}

// ServeHTTP streams events to one client until its request ends or the
// hub closes.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeJSONError(w, http.StatusMethodNotAllowed, "bad_data", "method "+r.Method+" not allowed")
		return
	}
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	from, resume, err := lastEventID(r)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	replay := resume && h.o.Replay != nil
	c, head, err := h.subscribe(f, replay)
	if err != nil {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(h.o.RetryAfter.Seconds()))))
		msg := "the collector is shutting down"
		if errors.Is(err, errFull) {
			msg = fmt.Sprintf("already serving the maximum of %d live streams", h.o.MaxClients)
		}
		writeJSONError(w, http.StatusServiceUnavailable, "unavailable", msg)
		return
	}
	defer h.unsubscribe(c)

	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	s := &stream{h: h, w: w, rc: http.NewResponseController(w), c: c, pos: eventID{seq: head, idx: math.MaxUint32}}
	// The per-write deadlines must not outlive the stream on a kept-alive
	// connection.
	defer func() { _ = s.rc.SetWriteDeadline(time.Time{}) }()
	// The first bytes tell the client it is subscribed (tests and
	// consoles wait for them) and how soon to reconnect after a drop.
	if err := s.writeRaw([]byte(": connected\nretry: 1000\n\n")); err != nil {
		return
	}
	if err := s.flush(); err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			// A wrapper around the ResponseWriter hides http.Flusher (and
			// has no Unwrap): no event would ever reach the client.
			h.o.Logger.Error("live stream cannot flush: a handler wrapper hides http.Flusher", "error", err)
		}
		return
	}
	if resume {
		// Replay stops with the request or the hub.
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(h.ctx, cancel)
		defer stop()
		if !s.resume(ctx, from, head, replay) {
			return
		}
	}
	s.live(r.Context())
}

// stream writes one client's events. pos is the id of the last event the
// stream has passed (written, or filtered out): it only ever sends events
// after pos, which is what makes replay plus live free of repeats.
type stream struct {
	h   *Hub
	w   http.ResponseWriter
	rc  *http.ResponseController
	c   *client
	pos eventID
	buf []byte
}

// resume brings the stream from the client's last id up to the live feed.
// It returns false when the stream has ended.
func (s *stream) resume(ctx context.Context, from eventID, head uint64, replay bool) bool {
	h := s.h
	s.pos = from
	// The newest id the stream could have seen: with nothing past it to
	// replay, the live feed starts right after it.
	current := eventID{seq: head, idx: math.MaxUint32}
	switch {
	case !replay:
		s.pos = current
		return s.gap(from, "this collector does not replay past events") == nil
	case from.seq > head:
		// Not an id of this spool (newer than anything published): only the
		// live feed can be offered.
		s.pos = current
		if s.gap(from, "the id is newer than anything this collector holds") != nil {
			return false
		}
	case head-from.seq > h.o.ReplayWindow:
		s.pos = eventID{seq: head - h.o.ReplayWindow, idx: math.MaxUint32}
		if s.gap(from, fmt.Sprintf("the id is more than %d spool records old", h.o.ReplayWindow)) != nil {
			return false
		}
	}
	for pass := 0; pass < maxReplayPasses; pass++ {
		h.passes.Add(1)
		if err := s.replay(ctx); err != nil {
			var we *writeError
			if ctx.Err() == nil && !errors.As(err, &we) {
				h.o.Logger.Warn("live stream replay failed", "from", s.pos.String(), "error", err)
				_ = s.writeEvent(EventError, "", mustJSON(map[string]string{"error": "replay failed; reconnect to try again"}))
				_ = s.flush()
			}
			return false
		}
		if h.endReplay(s.c) {
			return true
		}
	}
	// What is queued now may start after a gap (the last pass's overflow
	// was thrown away), so only the final event is written.
	s.dropped()
	return false
}

// replay sends what the spool holds after pos.
func (s *stream) replay(ctx context.Context) error {
	from := s.pos.seq
	if s.pos.idx == math.MaxUint32 {
		from++
	}
	return s.h.o.Replay.Replay(ctx, from, func(seq uint64, receivedNs int64, b *batch.Batch) error {
		for _, e := range eventsOf(seq, receivedNs, b) {
			if err := s.send(e); err != nil {
				return err
			}
		}
		return s.flush()
	})
}

// live forwards the buffered and then the live events until the request
// ends, the hub closes or the stream is dropped.
func (s *stream) live(ctx context.Context) {
	tick := time.NewTicker(s.h.o.KeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.h.ctx.Done():
			s.drain()
			return
		case <-s.c.dropped:
			// The queue holds every event up to the one that did not fit,
			// so writing it first loses nothing.
			s.drain()
			s.dropped()
			return
		case e := <-s.c.ch:
			if s.send(e) != nil {
				return
			}
			// Flushing when nothing more is queued gets every event to the
			// client at once without a syscall per event under load.
			if len(s.c.ch) == 0 && s.flush() != nil {
				return
			}
		case <-tick.C:
			if s.writeRaw([]byte(": keep-alive\n\n")) != nil || s.flush() != nil {
				return
			}
		}
	}
}

// drain writes what is queued, for a stream that ends anyway.
func (s *stream) drain() {
	for {
		select {
		case e := <-s.c.ch:
			if s.send(e) != nil {
				return
			}
		default:
			_ = s.flush()
			return
		}
	}
}

// dropped writes the final event of a stream that fell behind. It carries
// no id, so the client's Last-Event-ID stays on the last real event and a
// reconnect resumes right after it.
func (s *stream) dropped() {
	s.h.o.Logger.Info("live stream dropped: client too slow", "last_event_id", s.pos.String(), "buffer", s.h.o.BufferPerClient)
	_ = s.writeEvent(EventDropped, "", mustJSON(map[string]string{
		"reason":        fmt.Sprintf("the stream fell more than %d events behind", s.h.o.BufferPerClient),
		"last_event_id": s.pos.String(),
	}))
	_ = s.flush()
}

func (s *stream) gap(requested eventID, reason string) error {
	if err := s.writeEvent(EventGap, "", mustJSON(map[string]string{
		"requested":     requested.String(),
		"resumes_after": s.pos.String(),
		"reason":        reason,
	})); err != nil {
		return err
	}
	return s.flush()
}

// send writes e if it is after pos and passes the filter; either way pos
// moves past it.
func (s *stream) send(e *event) error {
	if !e.id.after(s.pos) {
		return nil
	}
	s.pos = e.id
	if !s.c.f.match(e) {
		return nil
	}
	return s.writeEvent(e.kind.name(), e.id.String(), e.data)
}

func (s *stream) writeEvent(name, id string, data []byte) error {
	b := s.buf[:0]
	if id != "" {
		b = append(b, "id: "...)
		b = append(b, id...)
		b = append(b, '\n')
	}
	b = append(b, "event: "...)
	b = append(b, name...)
	b = append(b, "\ndata: "...)
	b = append(b, data...) // one line: JSON escapes newlines in strings
	b = append(b, "\n\n"...)
	s.buf = b
	return s.writeRaw(b)
}

// writeError is a failed write to the client: the client went away or
// stopped reading, which is not worth a log line.
type writeError struct{ err error }

func (e *writeError) Error() string { return "live: write to client: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

func (s *stream) writeRaw(b []byte) error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.h.o.WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return &writeError{err}
	}
	if _, err := s.w.Write(b); err != nil {
		return &writeError{err}
	}
	return nil
}

func (s *stream) flush() error {
	if err := s.rc.Flush(); err != nil {
		return &writeError{err}
	}
	return nil
}

// writeJSONError answers in the Prometheus API's error shape, like the other
// private endpoints.
func writeJSONError(w http.ResponseWriter, status int, errorType, msg string) {
	b, _ := json.Marshal(map[string]string{"status": "error", "errorType": errorType, "error": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
