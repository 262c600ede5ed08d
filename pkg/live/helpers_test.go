package live

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// serve runs h behind a real HTTP server on 127.0.0.1. Cleanup closes the
// hub first, so that streams end and the server's Close (which waits for
// running handlers) returns.
func serve(t *testing.T, h *Hub) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(h.Close)
	return srv
}

// sse is a client's view of one stream.
type sse struct {
	resp   *http.Response
	r      *bufio.Reader
	cancel context.CancelFunc
}

// msg is one thing read from a stream: an event, or a comment line.
type msg struct {
	id, event, data string
	comment         string
}

// testTimeout only keeps a broken test from hanging; no test measures time.
const testTimeout = 60 * time.Second

// connect opens a stream and waits for the ": connected" comment, which the
// hub writes only after the stream is subscribed.
func connect(t *testing.T, srv *httptest.Server, query, lastID string) *sse {
	t.Helper()
	s, err := dial(srv, query, lastID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func dial(srv *httptest.Server, query, lastID string) (*sse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+Path+"?"+query, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &sse{resp: resp, r: bufio.NewReader(resp.Body), cancel: cancel}
	if resp.StatusCode != http.StatusOK {
		s.close()
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	m, err := s.next()
	if err != nil || m.comment != "connected" {
		s.close()
		return nil, fmt.Errorf("first message %+v, %v", m, err)
	}
	return s, nil
}

func (s *sse) close() {
	s.cancel()
	_ = s.resp.Body.Close()
}

// next reads one event or comment; io.EOF when the stream ended.
func (s *sse) next() (msg, error) {
	var m msg
	seen := false
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && !seen {
				return m, io.EOF
			}
			return m, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if seen && (m.event != "" || m.data != "" || m.comment != "") {
				return m, nil
			}
			seen = false
		case strings.HasPrefix(line, ":"):
			m.comment = strings.TrimSpace(line[1:])
			seen = true
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				m.id = value
			case "event":
				m.event = value
			case "data":
				m.data = value
			}
			seen = true
		}
	}
}

// nextEvent skips comments.
func (s *sse) nextEvent() (msg, error) {
	for {
		m, err := s.next()
		if err != nil || m.event != "" {
			return m, err
		}
	}
}

// rest reads events until the stream ends.
func (s *sse) rest(t *testing.T) []msg {
	t.Helper()
	var out []msg
	for {
		m, err := s.nextEvent()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading stream after %d events: %v", len(out), err)
		}
		out = append(out, m)
	}
}

func logRec(source, msg string) batch.LogRecord {
	return batch.LogRecord{TimeNs: t0.UnixNano(), Source: source, Message: msg}
}

// memSpool is a ReplaySource over records kept in memory, and the
// publisher that appends and publishes them in order, as the collector does.
type memSpool struct {
	pub sync.Mutex // append + Publish, so publishes are in seq order
	mu  sync.Mutex
	hub *Hub
	rs  []memRec
	// snapshot makes Replay stop at the newest record present when it
	// started, as queue.Scan does; otherwise it also reads records
	// appended while it runs.
	snapshot bool
	// afterRecord, when set, runs in Replay after each record handed out.
	afterRecord func(seq uint64)
}

type memRec struct {
	seq uint64
	b   *batch.Batch
}

func (m *memSpool) append(b *batch.Batch) uint64 {
	m.pub.Lock()
	defer m.pub.Unlock()
	m.mu.Lock()
	seq := uint64(len(m.rs) + 1)
	m.rs = append(m.rs, memRec{seq: seq, b: b})
	m.mu.Unlock()
	m.hub.Publish(seq, t0.UnixNano()+int64(seq), b)
	return seq
}

func (m *memSpool) Replay(ctx context.Context, from uint64, fn func(uint64, int64, *batch.Batch) error) error {
	m.mu.Lock()
	upper := uint64(len(m.rs))
	m.mu.Unlock()
	for seq := max(from, 1); ; seq++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		m.mu.Lock()
		if seq > uint64(len(m.rs)) || (m.snapshot && seq > upper) {
			m.mu.Unlock()
			return nil
		}
		r := m.rs[seq-1]
		m.mu.Unlock()
		if err := fn(r.seq, t0.UnixNano()+int64(r.seq), r.b); err != nil {
			return err
		}
		if m.afterRecord != nil {
			m.afterRecord(r.seq)
		}
	}
}

// allIDs lists every event id of records from seq from on, in order.
func (m *memSpool) allIDs(from uint64, f filter) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, r := range m.rs {
		if r.seq < from {
			continue
		}
		for _, e := range eventsOf(r.seq, 0, r.b) {
			if f.match(e) {
				out = append(out, e.id.String())
			}
		}
	}
	return out
}

func idsOf(ms []msg) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.id
	}
	return out
}

// waitFor polls cond: the hub does some things (a handler returning) after
// the client can see them. Bounded only to keep a broken test from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
