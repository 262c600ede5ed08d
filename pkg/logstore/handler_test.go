package logstore

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fixtureStore holds seven records from two agents, one of them added out
// of time order, so that every filter has something to keep and to drop.
func fixtureStore() *Store {
	s := New(Options{})
	s.Add(1, t0.UnixNano(), logBatch("a1", 10,
		rec(at(1*time.Second), "nginx", "GET /index 200", "path", "/var/log/nginx.log", "level", "info"), // 1-1
		rec(at(2*time.Second), "nginx", "GET /admin 403", "path", "/var/log/nginx.log", "level", "warn"), // 1-2
		rec(at(3*time.Second), "syslog", "kernel: oom killer"),                                           // 1-3
	))
	s.Add(2, t0.UnixNano(), logBatch("a2", 20,
		rec(at(1500*time.Millisecond), "nginx", "GET /index 200", "path", "/srv/nginx.log"), // 2-1
		rec(at(4*time.Second), "syslog", "Error: disk full", "level", "error"),              // 2-2
		rec(at(500*time.Millisecond), "syslog", "early line"),                               // 2-3
	))
	s.Add(3, t0.UnixNano(), logBatch("a1", 11,
		rec(at(5*time.Second), "app", "ERROR retry\nsecond line", "level", "error"), // 3-1
	))
	return s
}

func TestLogsFilters(t *testing.T) {
	h := NewHandler(fixtureStore(), HandlerOptions{})
	unix := func(d time.Duration) string {
		return strconv.FormatFloat(float64(at(d).UnixNano())/1e9, 'f', 3, 64)
	}
	rfc := func(d time.Duration) string { return at(d).Format(time.RFC3339Nano) }
	tests := []struct {
		name   string
		query  string
		want   []string
		cursor bool
	}{
		{"all newest first", "", []string{"3-1", "2-2", "1-3", "1-2", "2-1", "1-1", "2-3"}, false},
		{"forward", "direction=forward", []string{"2-3", "1-1", "2-1", "1-2", "1-3", "2-2", "3-1"}, false},
		{"backward spelled out", "direction=backward", []string{"3-1", "2-2", "1-3", "1-2", "2-1", "1-1", "2-3"}, false},
		{"agent", "agent=a2", []string{"2-2", "2-1", "2-3"}, false},
		{"unknown agent", "agent=a9", []string{}, false},
		{"source", "source=nginx", []string{"1-2", "2-1", "1-1"}, false},
		{"agent and source", "agent=a1&source=syslog", []string{"1-3"}, false},
		{"substring", "q=GET", []string{"1-2", "2-1", "1-1"}, false},
		{"substring is case-sensitive", "q=get", []string{}, false},
		{"substring across a newline", "q=" + url.QueryEscape("retry\nsecond"), []string{"3-1"}, false},
		{"regexp", "re=" + url.QueryEscape("(?i)^error"), []string{"3-1", "2-2"}, false},
		{"regexp anchored", "re=" + url.QueryEscape(`^GET /(index|admin) 40\d$`), []string{"1-2"}, false},
		{"regexp and substring", "re=200&q=" + url.QueryEscape("/index"), []string{"2-1", "1-1"}, false},
		{"attr", "attr=level%3Derror", []string{"3-1", "2-2"}, false},
		{"two attrs", "attr=level%3Dinfo&attr=path%3D%2Fvar%2Flog%2Fnginx.log", []string{"1-1"}, false},
		{"attr value with =", "attr=path%3D%2Fsrv%2Fnginx.log", []string{"2-1"}, false},
		{"attr absent", "attr=level%3Ddebug", []string{}, false},
		{"range rfc3339 inclusive", "start=" + rfc(1*time.Second) + "&end=" + rfc(3*time.Second), []string{"1-3", "1-2", "2-1", "1-1"}, false},
		{"range unix seconds", "start=" + unix(1500*time.Millisecond) + "&end=" + unix(2*time.Second), []string{"1-2", "2-1"}, false},
		{"start only", "start=" + rfc(4*time.Second), []string{"3-1", "2-2"}, false},
		{"end only forward", "end=" + rfc(time.Second) + "&direction=forward", []string{"2-3", "1-1"}, false},
		{"limit cuts and offers a cursor", "limit=2", []string{"3-1", "2-2"}, true},
		{"limit exact has no cursor", "limit=7", []string{"3-1", "2-2", "1-3", "1-2", "2-1", "1-1", "2-3"}, false},
		{"limit with filter", "agent=a1&limit=2&direction=forward", []string{"1-1", "1-2"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := getLogs(t, h, PathLogs+"?"+tt.query)
			if got := ids(p.Records); !slices.Equal(got, tt.want) {
				t.Fatalf("ids = %v, want %v", got, tt.want)
			}
			if (p.NextCursor != "") != tt.cursor {
				t.Fatalf("next_cursor = %q, want one: %v", p.NextCursor, tt.cursor)
			}
		})
	}
}

// TestLogRecordJSON pins the record shape the console and live stream use.
func TestLogRecordJSON(t *testing.T) {
	s := New(Options{})
	r := rec(at(1234567*time.Nanosecond), "nginx", "cut", "path", "/p", "level", "x")
	r.Truncated = true
	s.Add(42, t0.UnixNano(), logBatch("a1", 1, rec(at(0), "nginx", "first"), r))
	rr := getLogs(t, NewHandler(s, HandlerOptions{}), PathLogs+"?limit=1")
	b, err := json.Marshal(rr.Records[0])
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"42-2","time":"2025-03-04T05:06:07.001234567Z","agent":"a1","source":"nginx","message":"cut","truncated":true,"attributes":{"level":"x","path":"/p"}}`
	if string(b) != want {
		t.Fatalf("record JSON\n got %s\nwant %s", b, want)
	}
	first := getLogs(t, NewHandler(s, HandlerOptions{}), PathLogs+"?direction=forward&limit=1").Records[0]
	if first.Attributes == nil {
		t.Fatal("attributes of a record without any must be {} not null")
	}
}

func TestLogsBadParams(t *testing.T) {
	h := NewHandler(fixtureStore(), HandlerOptions{})
	tests := []struct {
		query string
		param string
	}{
		{"start=yesterday", "start"},
		{"start=NaN", "start"},
		{"start=1e300", "start"},
		{"end=2025-13-01T00:00:00Z", "end"},
		{"start=2000&end=1000", "end"},
		{"limit=ten", "limit"},
		{"limit=-1", "limit"},
		{"limit=1.5", "limit"},
		{"direction=sideways", "direction"},
		{"re=" + url.QueryEscape("(unclosed"), "re"},
		{"re=" + url.QueryEscape(`\p{NoSuchClass}`), "re"},
		{"re=" + strings.Repeat("a", MaxRegexpBytes+1), "re"},
		{"attr=level", "attr"},
		{"attr=%3Dvalue", "attr"},
		{"attr=k%3D1&attr=k%3D2", "attr"},
		{"cursor=!!!", "cursor"},
		{"cursor=AQ", "cursor"},
		{"cursor=" + strings.Repeat("A", 100), "cursor"},
		{"cursor=" + encodeCursor(key{t: 1, seq: 2, idx: 3}) + "AA", "cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.query[:min(len(tt.query), 40)], func(t *testing.T) {
			code, a := get(t, h, PathLogs+"?"+tt.query)
			if code != http.StatusBadRequest || a.Status != "error" || a.ErrorType != "bad_data" {
				t.Fatalf("got %d %q %q, want 400 error bad_data", code, a.Status, a.ErrorType)
			}
			if !strings.HasPrefix(a.Error, tt.param+": ") {
				t.Fatalf("error %q does not start with the parameter %q", a.Error, tt.param)
			}
		})
	}
}

func TestLogsLimitCaps(t *testing.T) {
	s := New(Options{})
	for i := 0; i < MaxLimit+10; i++ {
		s.Add(uint64(i+1), 0, logBatch("a", uint64(i), rec(at(time.Duration(i)), "s", "m")))
	}
	h := NewHandler(s, HandlerOptions{})
	tests := []struct {
		query string
		want  int
	}{
		{"", DefaultLimit},
		{"limit=0", DefaultLimit},
		{"limit=1", 1},
		{"limit=5000", MaxLimit},
		{"limit=999999", MaxLimit},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			p := getLogs(t, h, PathLogs+"?"+tt.query)
			if len(p.Records) != tt.want || p.NextCursor == "" {
				t.Fatalf("%d records (cursor %q), want %d and a cursor", len(p.Records), p.NextCursor, tt.want)
			}
		})
	}
}

// TestCursorPaging pages through a store while records keep arriving: every
// record present at the start is returned exactly once, no record twice,
// and late records whose time is still ahead of the cursor are found too.
func TestCursorPaging(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		agents []string
		match  func(agent string, i int) bool
	}{
		{"backward", "direction=backward", []string{"a", "b", "c"}, func(string, int) bool { return true }},
		{"forward", "direction=forward", []string{"a", "b", "c"}, func(string, int) bool { return true }},
		{"backward agent and regexp", "agent=b&re=" + url.QueryEscape(`[02468]$`), []string{"a", "b", "c"},
			func(a string, i int) bool { return a == "b" && i%2 == 0 }},
		{"forward in a range", "direction=forward&start=" + at(100*time.Second).Format(time.RFC3339) + "&end=" + at(400*time.Second).Format(time.RFC3339),
			[]string{"a", "b"}, func(string, int) bool { return true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{})
			h := NewHandler(s, HandlerOptions{})
			q, err := ParseLogQuery(mustQuery(t, tt.query))
			if err != nil {
				t.Fatal(err)
			}
			inRange := func(ts time.Time) bool {
				return (q.Start.IsZero() || !ts.Before(q.Start)) && (q.End.IsZero() || !ts.After(q.End))
			}
			seq := uint64(0)
			n := 0
			want := map[string]bool{} // ids that must be seen
			add := func(agent string, ts time.Time) string {
				seq++
				n++
				s.Add(seq, 0, logBatch(agent, seq, rec(ts, "s", fmt.Sprintf("line %d", n))))
				id := EventID(seq, 1)
				return id
			}
			// 500 records over 500 s, in a shuffled order of arrival.
			for i := 0; i < 500; i++ {
				j := (i * 7919) % 500
				agent := tt.agents[j%len(tt.agents)]
				id := add(agent, at(time.Duration(j)*time.Second))
				if tt.match(agent, n) && inRange(at(time.Duration(j)*time.Second)) {
					want[id] = true
				}
			}
			seen := map[string]int{}
			cursor := ""
			for page := 0; ; page++ {
				p := getLogs(t, h, PathLogs+"?limit=7&"+tt.query+"&cursor="+cursor)
				var last LogRecordJSON
				for _, r := range p.Records {
					seen[r.ID]++
					if seen[r.ID] > 1 {
						t.Fatalf("page %d: %s returned twice", page, r.ID)
					}
					last = r
				}
				if p.NextCursor == "" {
					break
				}
				cursor = p.NextCursor
				// Between pages: one record ahead of the cursor (must be
				// found) and one behind it (already passed: may not be).
				lt, err := time.Parse(time.RFC3339Nano, last.Time)
				if err != nil {
					t.Fatal(err)
				}
				ahead, behind := lt.Add(-time.Millisecond), lt.Add(time.Millisecond)
				if q.Direction == Forward {
					ahead, behind = behind, ahead
				}
				for _, agent := range tt.agents {
					id := add(agent, ahead)
					if tt.match(agent, n) && inRange(ahead) {
						want[id] = true
					}
					add(agent, behind)
				}
			}
			for id := range want {
				if seen[id] != 1 {
					t.Errorf("%s seen %d times, want once", id, seen[id])
				}
			}
			if len(want) < 20 {
				t.Fatalf("only %d records expected: the case tests nothing", len(want))
			}
		})
	}
}

func mustQuery(t *testing.T, s string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestCursorOutsideRange: a client narrowing the range between pages
// still gets only records inside it.
func TestCursorOutsideRange(t *testing.T) {
	h := NewHandler(fixtureStore(), HandlerOptions{})
	p := getLogs(t, h, PathLogs+"?limit=1") // cursor after 3-1 (t0+5s)
	end := at(2 * time.Second).Format(time.RFC3339Nano)
	got := getLogs(t, h, PathLogs+"?cursor="+p.NextCursor+"&end="+end)
	if want := []string{"1-2", "2-1", "1-1", "2-3"}; !slices.Equal(ids(got.Records), want) {
		t.Fatalf("ids = %v, want %v", ids(got.Records), want)
	}
	p = getLogs(t, h, PathLogs+"?limit=1&direction=forward") // after 2-3 (t0+0.5s)
	start := at(3 * time.Second).Format(time.RFC3339Nano)
	got = getLogs(t, h, PathLogs+"?direction=forward&cursor="+p.NextCursor+"&start="+start)
	if want := []string{"1-3", "2-2", "3-1"}; !slices.Equal(ids(got.Records), want) {
		t.Fatalf("ids = %v, want %v", ids(got.Records), want)
	}
}

func TestRoutes(t *testing.T) {
	h := NewHandler(fixtureStore(), HandlerOptions{})
	tests := []struct {
		method, path string
		code         int
	}{
		{http.MethodGet, PathAgents, http.StatusOK},
		{http.MethodGet, PathLogs, http.StatusOK},
		{http.MethodGet, PathAlerts, http.StatusOK},
		{http.MethodPost, PathLogs, http.StatusMethodNotAllowed},
		{http.MethodGet, "/api/v1/nothing", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rr := newRecorder(h, tt.method, tt.path)
			if rr.Code != tt.code {
				t.Fatalf("status %d, want %d", rr.Code, tt.code)
			}
		})
	}
}
