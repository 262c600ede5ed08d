package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// fixture publishes three records:
//
//	1-0 batch a1, 1-1 log s1, 1-2 log s2, 1-3 alert
//	2-0 batch a2, 2-1 log s1
//	3-0 batch a1
func fixture(h *Hub) {
	b1 := &batch.Batch{AgentID: "a1", Seq: 7, Logs: []batch.LogRecord{logRec("s1", "one"), logRec("s2", "two")},
		Alerts:    []batch.Alert{{TimeNs: t0.UnixNano(), Name: "queue_drop", Severity: batch.SeverityWarning}},
		Heartbeat: &batch.Heartbeat{Values: []batch.Scalar{{Name: "up", Value: 1}}},
		Series:    []batch.Series{{Name: "x", Samples: []batch.Sample{{}, {}}}}}
	h.Publish(1, t0.UnixNano(), b1)
	h.Publish(2, t0.UnixNano(), &batch.Batch{AgentID: "a2", Logs: []batch.LogRecord{logRec("s1", "three")}})
	h.Publish(3, t0.UnixNano(), &batch.Batch{AgentID: "a1"})
}

func TestFilters(t *testing.T) {
	tests := []struct {
		query string
		want  []string // "id event"
	}{
		{"", []string{"1-0 batch", "1-1 log", "1-2 log", "1-3 alert", "2-0 batch", "2-1 log", "3-0 batch"}},
		{"kind=log", []string{"1-1 log", "1-2 log", "2-1 log"}},
		{"kind=batch,alert", []string{"1-0 batch", "1-3 alert", "2-0 batch", "3-0 batch"}},
		{"kind=log&kind=alert", []string{"1-1 log", "1-2 log", "1-3 alert", "2-1 log"}},
		{"agent=a2", []string{"2-0 batch", "2-1 log"}},
		{"agent=a1,a2&kind=batch", []string{"1-0 batch", "2-0 batch", "3-0 batch"}},
		{"agent=a1&agent=a9&kind=alert", []string{"1-3 alert"}},
		{"source=s1", []string{"1-1 log", "2-1 log"}},
		{"source=s2&source=s1&agent=a1", []string{"1-1 log", "1-2 log"}},
		{"agent=nobody", nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			h := New(Options{})
			srv := serve(t, h)
			s := connect(t, srv, tt.query, "")
			defer s.close()
			fixture(h)
			h.Close() // the stream writes what is queued, then ends
			var got []string
			for _, m := range s.rest(t) {
				got = append(got, m.id+" "+m.event)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("events %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEventData(t *testing.T) {
	h := New(Options{})
	srv := serve(t, h)
	s := connect(t, srv, "", "")
	defer s.close()
	fixture(h)
	h.Close()
	got := map[string]string{}
	for _, m := range s.rest(t) {
		got[m.id] = m.data
	}
	want := map[string]string{
		"1-0": `{"id":"1-0","agent":"a1","seq":7,"spool_seq":1,"received":"2025-03-04T05:06:07Z","series":2,"samples":3,"logs":2,"alerts":1}`,
		"1-2": `{"id":"1-2","time":"2025-03-04T05:06:07Z","agent":"a1","source":"s2","message":"two","truncated":false,"attributes":{}}`,
		"1-3": `{"id":"1-3","time":"2025-03-04T05:06:07Z","agent":"a1","name":"queue_drop","severity":"warning","message":"","labels":{}}`,
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s data\n got %s\nwant %s", id, got[id], w)
		}
	}
}

func TestHeadersAndRefusals(t *testing.T) {
	h := New(Options{})
	srv := serve(t, h)
	s := connect(t, srv, "", "")
	for k, v := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
		if got := s.resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	s.close()
	tests := []struct {
		name   string
		method string
		query  string
		header string
		code   int
		param  string
	}{
		{"bad kind", http.MethodGet, "kind=log,metric", "", http.StatusBadRequest, "kind: "},
		{"bad Last-Event-ID", http.MethodGet, "", "12", http.StatusBadRequest, "Last-Event-ID: "},
		{"bad Last-Event-ID index", http.MethodGet, "", "1-x", http.StatusBadRequest, "Last-Event-ID: "},
		{"bad last_event_id", http.MethodGet, "last_event_id=-1-2", "", http.StatusBadRequest, "last_event_id: "},
		{"POST", http.MethodPost, "", "", http.StatusMethodNotAllowed, "method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+Path+"?"+tt.query, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.header != "" {
				req.Header.Set("Last-Event-ID", tt.header)
			}
			// The hub itself answers POST (the mux would too): call it directly.
			rr := &recorder{header: http.Header{}}
			h.ServeHTTP(rr, req)
			var body struct{ Status, ErrorType, Error string }
			if err := json.Unmarshal(rr.body, &body); err != nil {
				t.Fatalf("body %q: %v", rr.body, err)
			}
			if rr.code != tt.code || body.Status != "error" || !strings.HasPrefix(body.Error, tt.param) {
				t.Fatalf("got %d %+v, want %d naming %q", rr.code, body, tt.code, tt.param)
			}
		})
	}
}

// recorder is a minimal ResponseWriter for refusals, which never stream.
type recorder struct {
	header http.Header
	code   int
	body   []byte
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(code int)        { r.code = code }
func (r *recorder) Write(b []byte) (int, error) { r.body = append(r.body, b...); return len(b), nil }

func TestKeepAlive(t *testing.T) {
	h := New(Options{KeepAlive: 20 * time.Millisecond})
	srv := serve(t, h)
	s := connect(t, srv, "", "")
	defer s.close()
	for n := 0; n < 3; {
		m, err := s.next()
		if err != nil {
			t.Fatal(err)
		}
		if m.comment != "keep-alive" {
			t.Fatalf("unexpected %+v", m)
		}
		n++
	}
}

func TestMaxClients(t *testing.T) {
	h := New(Options{MaxClients: 2, RetryAfter: 3 * time.Second})
	srv := serve(t, h)
	a := connect(t, srv, "", "")
	b := connect(t, srv, "kind=log", "")
	defer b.close()
	resp, err := srv.Client().Get(srv.URL + Path)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "3" || !strings.Contains(string(body), `"errorType":"unavailable"`) {
		t.Fatalf("third stream: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// A slot frees when a stream ends.
	a.close()
	waitFor(t, "the closed stream's handler to end", func() bool { return h.Stats().Clients == 1 })
	c := connect(t, srv, "", "")
	c.close()
}

// TestSlowClientDropped: a client that never reads cannot hold Publish up;
// it is dropped, and what it finally reads is a gap-free run of events
// ending in the "dropped" event.
func TestSlowClientDropped(t *testing.T) {
	h := New(Options{BufferPerClient: 4, WriteTimeout: time.Minute})
	srv := serve(t, h)
	s := connect(t, srv, "kind=log", "")
	defer s.close()
	// 10,000 events of 8 KiB: far beyond what the socket buffers hold, so
	// the stream's writer blocks and its queue fills.
	msgText := strings.Repeat("x", 8<<10)
	for seq := uint64(1); seq <= 10_000; seq++ {
		h.Publish(seq, 0, &batch.Batch{AgentID: "a", Logs: []batch.LogRecord{logRec("s", msgText)}})
	}
	if st := h.Stats(); st.Dropped != 1 || st.Published != 10_000 {
		t.Fatalf("after publishing: %+v, want the stream dropped", st)
	}
	evs := s.rest(t)
	if len(evs) < 2 {
		t.Fatalf("only %d events", len(evs))
	}
	last := evs[len(evs)-1]
	if last.event != EventDropped || last.id != "" {
		t.Fatalf("final event %+v, want %q without id", last, EventDropped)
	}
	var d map[string]string
	if err := json.Unmarshal([]byte(last.data), &d); err != nil || d["last_event_id"] != evs[len(evs)-2].id {
		t.Fatalf("dropped data %s: %v", last.data, err)
	}
	for i, m := range evs[:len(evs)-1] {
		if want := fmt.Sprintf("%d-1", i+1); m.id != want {
			t.Fatalf("event %d has id %s, want %s: a gap before the drop", i, m.id, want)
		}
	}
	waitFor(t, "the dropped stream's handler to end", func() bool { return h.Stats().Clients == 0 })
}

func TestPublishIgnoresOldSeq(t *testing.T) {
	h := New(Options{})
	srv := serve(t, h)
	s := connect(t, srv, "kind=batch", "")
	defer s.close()
	for _, seq := range []uint64{5, 3, 5, 6} {
		h.Publish(seq, 0, &batch.Batch{AgentID: "a"})
	}
	h.Close()
	if got := idsOf(s.rest(t)); !slices.Equal(got, []string{"5-0", "6-0"}) {
		t.Fatalf("ids %v", got)
	}
	if st := h.Stats(); st.Ignored != 2 || st.Published != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestResumeOverlap proves the subscribe / replay / drain hand-over: while
// a stream replays, records keep being published, so the same events reach
// it both from the spool and from its live buffer; it must send each once,
// in order, with nothing missing. With a tiny buffer the live events also
// overflow during replay, which forces a second pass.
func TestResumeOverlap(t *testing.T) {
	tests := []struct {
		name      string
		snapshot  bool // Replay stops at the records present when it began
		buffer    int
		publishes int // records published during the first replay pass
		minPasses uint64
		dropped   bool
	}{
		{"replay sees the new records too", false, 1024, 20, 1, false},
		{"replay stops at its start", true, 1024, 12, 1, false},
		{"live buffer overflows during replay", true, 3, 12, 2, false},
		{"overflow on every pass", true, 3, -1, maxReplayPasses, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := &memSpool{snapshot: tt.snapshot}
			h := New(Options{Replay: sp, BufferPerClient: tt.buffer})
			sp.hub = h
			srv := serve(t, h)
			for i := 0; i < 10; i++ {
				sp.append(&batch.Batch{AgentID: "a", Logs: []batch.LogRecord{logRec("s", "old")}})
			}
			var published atomic.Int64
			sp.afterRecord = func(seq uint64) {
				// Publish from inside the replay, two records after each one
				// replayed: records made durable and published while the
				// stream is between subscribe and live.
				for range 2 {
					if tt.publishes >= 0 && published.Load() >= int64(tt.publishes) {
						return
					}
					sp.append(&batch.Batch{AgentID: "a", Logs: []batch.LogRecord{logRec("s", "new"), logRec("s", "new")}})
					published.Add(1)
				}
			}
			s := connect(t, srv, "", "4-0") // the client had everything up to 4-0
			defer s.close()
			if tt.dropped {
				evs := s.rest(t)
				if len(evs) == 0 || evs[len(evs)-1].event != EventDropped {
					t.Fatalf("stream that never caught up ended with %v", evs[len(evs)-1])
				}
				if got, want := idsOf(evs[:len(evs)-1]), sp.allIDs(4, filter{})[1:len(evs)]; !slices.Equal(got, want) {
					t.Fatalf("events before the drop are not a gap-free run after 4-0")
				}
				return
			}
			// Read until the last published event, then end the stream.
			var got []string
			for {
				m, err := s.nextEvent()
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, m.id)
				sp.mu.Lock()
				n := len(sp.rs)
				sp.mu.Unlock()
				if published.Load() >= int64(tt.publishes) && m.id == fmt.Sprintf("%d-2", n) {
					break
				}
			}
			want := sp.allIDs(4, filter{})[1:] // after 4-0
			if !slices.Equal(got, want) {
				t.Fatalf("resumed stream\n got %v\nwant %v", got, want)
			}
			if st := h.Stats(); st.ReplayPasses < tt.minPasses {
				t.Fatalf("%d replay passes, want at least %d", st.ReplayPasses, tt.minPasses)
			}
		})
	}
}

func TestResumeGaps(t *testing.T) {
	tests := []struct {
		name   string
		replay bool
		window uint64
		lastID string
		reason string
		first  string // first event id after the gap
	}{
		{"no replay source", false, 0, "2-0", "does not replay", "21-0"},
		{"outside the window", true, 5, "2-0", "more than 5", "16-0"},
		{"newer than the spool", true, 0, "99-0", "newer than anything", "21-0"},
		{"inside the window: no gap", true, 5, "16-1", "", "17-0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := &memSpool{}
			o := Options{ReplayWindow: tt.window}
			if tt.replay {
				o.Replay = sp
			}
			h := New(o)
			sp.hub = h
			srv := serve(t, h)
			for i := 0; i < 20; i++ {
				sp.append(&batch.Batch{AgentID: "a", Logs: []batch.LogRecord{logRec("s", "m")}})
			}
			s := connect(t, srv, "kind=batch", tt.lastID)
			defer s.close()
			sp.append(&batch.Batch{AgentID: "a"}) // 21: live
			var evs []msg
			for len(evs) == 0 || evs[len(evs)-1].id != "21-0" {
				m, err := s.nextEvent()
				if err != nil {
					t.Fatalf("after %v: %v", idsOf(evs), err)
				}
				evs = append(evs, m)
			}
			if tt.reason != "" {
				var d map[string]string
				if len(evs) == 0 || evs[0].event != EventGap || json.Unmarshal([]byte(evs[0].data), &d) != nil ||
					!strings.Contains(d["reason"], tt.reason) || d["requested"] != tt.lastID || evs[0].id != "" {
					t.Fatalf("first event %+v, want a gap (%q)", evs[0], tt.reason)
				}
				evs = evs[1:]
			}
			if len(evs) == 0 || evs[0].id != tt.first || evs[len(evs)-1].id != "21-0" {
				t.Fatalf("after the gap: %v, want %s .. 21-0", idsOf(evs), tt.first)
			}
		})
	}
}

// failingSpool fails every replay.
type failingSpool struct{}

func (failingSpool) Replay(context.Context, uint64, func(uint64, int64, *batch.Batch) error) error {
	return errors.New("spool: scan: disk on fire")
}

func TestReplayErrorEndsStream(t *testing.T) {
	h := New(Options{Replay: failingSpool{}})
	srv := serve(t, h)
	h.Publish(1, 0, &batch.Batch{AgentID: "a"})
	s := connect(t, srv, "", "1-0")
	defer s.close()
	evs := s.rest(t)
	if len(evs) != 1 || evs[0].event != EventError || strings.Contains(evs[0].data, "disk") {
		t.Fatalf("events %+v, want one error event that keeps internals to the log", evs)
	}
}

// TestResumeUnderLoad: a client disconnects and resumes with Last-Event-ID
// again and again while records are published concurrently; across all its
// connections it receives every event exactly once, in order. A drop for
// slowness is handled the same way, as a client should.
func TestResumeUnderLoad(t *testing.T) {
	sp := &memSpool{snapshot: true}
	h := New(Options{Replay: sp, BufferPerClient: 64})
	sp.hub = h
	srv := serve(t, h)
	const records = 3000
	f := filter{kinds: kindLog | kindBatch}

	s := connect(t, srv, "kind=log,batch", "") // subscribed before the first record
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < records; i++ {
			b := &batch.Batch{AgentID: "a", Logs: make([]batch.LogRecord, i%4)}
			for j := range b.Logs {
				b.Logs[j] = logRec("s", fmt.Sprint("line ", i, " ", j))
			}
			if i%7 == 0 {
				b.Alerts = []batch.Alert{{Name: "filtered out"}}
			}
			sp.append(b)
		}
	})
	var got []string
	reconnects, drops := 0, 0
	lastID := fmt.Sprintf("%d-%d", records, (records-1)%4) // its last log
	for done := false; !done; {
		m, err := s.nextEvent()
		switch {
		case err == nil && m.event == EventDropped:
			drops++
			continue
		case err == nil:
			got = append(got, m.id)
			done = m.id == lastID
			// Hang up every 500 events, at whatever point the stream is.
			if len(got)%500 != 0 || done {
				continue
			}
		case !errors.Is(err, io.EOF):
			t.Fatalf("reading: %v", err)
		}
		s.close()
		reconnects++
		for {
			var err error
			if s, err = dial(srv, "kind=log,batch", got[len(got)-1]); err == nil {
				break
			}
		}
	}
	s.close()
	wg.Wait()
	want := sp.allIDs(1, f)
	if !slices.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Fatalf("received %d events, want %d; first difference at %d (got %v, want %v)", len(got), len(want), i,
			got[i:min(i+3, len(got))], want[i:min(i+3, len(want))])
	}
	if reconnects < 5 {
		t.Fatalf("only %d reconnects: the test did not exercise resuming", reconnects)
	}
	t.Logf("%d events over %d reconnects (%d after a drop)", len(got), reconnects, drops)
}

// noFlush hides http.Flusher, as a careless middleware would.
type noFlush struct{ http.ResponseWriter }

// TestUnflushableWriterEndsStream: a stream that cannot flush would never
// deliver anything, so it ends at once instead of hanging silently.
func TestUnflushableWriterEndsStream(t *testing.T) {
	h := New(Options{})
	defer h.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(noFlush{w}, r)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatalf("the stream did not end by itself: %v", err)
	}
	if st := h.Stats(); st.Clients != 0 {
		t.Fatalf("stream still served: %+v", st)
	}
}
