package logstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

func heartbeat(agent string, seq uint64, tsMs int64, host string, values ...any) *batch.Batch {
	hb := &batch.Heartbeat{TimestampMs: tsMs, Hostname: host, AgentVersion: "1.2.3", OS: "linux"}
	for i := 0; i+1 < len(values); i += 2 {
		hb.Values = append(hb.Values, batch.Scalar{Name: values[i].(string), Value: values[i+1].(float64)})
	}
	return &batch.Batch{AgentID: agent, Seq: seq, Heartbeat: hb,
		Series: []batch.Series{{Name: "x", Samples: []batch.Sample{{}, {}}}}}
}

func TestAgentStates(t *testing.T) {
	now := t0.Add(time.Hour)
	s := New(Options{StaleAfter: time.Minute, DownAfter: 5 * time.Minute})
	tests := []struct {
		agent string
		since time.Duration
		want  string
	}{
		{"fresh", 10 * time.Second, StateUp},
		{"just-under-stale", time.Minute - time.Nanosecond, StateUp},
		{"at-stale", time.Minute, StateStale},
		{"stale", 2 * time.Minute, StateStale},
		{"at-down", 5 * time.Minute, StateDown},
		{"down", time.Hour, StateDown},
		{"clock-ahead", -time.Minute, StateUp},
	}
	for i, tt := range tests {
		s.Add(uint64(i+1), now.Add(-tt.since).UnixNano(), heartbeat(tt.agent, 1, 0, "h"))
	}
	got := map[string]AgentJSON{}
	for _, a := range s.Agents(now) {
		got[a.ID] = a
	}
	for _, tt := range tests {
		t.Run(tt.agent, func(t *testing.T) {
			if got[tt.agent].State != tt.want {
				t.Fatalf("state %q, want %q", got[tt.agent].State, tt.want)
			}
		})
	}
	list := s.Agents(now)
	if !slices.IsSortedFunc(list, func(a, b AgentJSON) int { return strings.Compare(a.ID, b.ID) }) || len(list) != len(tests) {
		t.Fatalf("agents not sorted by id or missing: %d", len(list))
	}
}

func TestAgentRoster(t *testing.T) {
	s := New(Options{HeartbeatValues: []string{"host_load1", "host_cpu_count", "host_memory_total_bytes", "agent_queue_batches"}})
	recv := func(d time.Duration) int64 { return at(d).UnixNano() }
	s.Add(5, recv(10*time.Second), heartbeat("a1", 2, at(9*time.Second).UnixMilli(), "new-host",
		"host_load1", 0.5, "host_cpu_count", 4.0, "host_memory_total_bytes", math.NaN(), "other", 7.0))
	// An older heartbeat received later (backlog flush) updates last seen
	// and the counts but not the identity or values.
	b := heartbeat("a1", 1, at(1*time.Second).UnixMilli(), "old-host", "host_load1", 9.0)
	b.Logs = []batch.LogRecord{rec(at(0), "s", "m")}
	s.Add(6, recv(20*time.Second), b)
	// A batch without a heartbeat (remote write) only counts.
	s.Add(4, recv(5*time.Second), &batch.Batch{AgentID: "a1", Series: []batch.Series{{Samples: make([]batch.Sample, 3)}}})
	s.Add(7, recv(30*time.Second), &batch.Batch{AgentID: "rw"})

	h := NewHandler(s, HandlerOptions{Now: func() time.Time { return at(40 * time.Second) }})
	code, a := get(t, h, PathAgents)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, a.Error)
	}
	var d AgentsData
	if err := json.Unmarshal(a.Data, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Agents) != 2 || d.Agents[0].ID != "a1" || d.Agents[1].ID != "rw" {
		t.Fatalf("agents %+v", d.Agents)
	}
	got := d.Agents[0]
	want := AgentJSON{
		ID: "a1", Hostname: "new-host", AgentVersion: "1.2.3", OS: "linux", State: StateUp,
		FirstSeen: at(5 * time.Second).Format(time.RFC3339Nano), LastSeen: at(20 * time.Second).Format(time.RFC3339Nano),
		SecondsSinceSeen: 20, LastHeartbeat: at(9 * time.Second).Format(time.RFC3339Nano),
		Values:  map[string]Value{"host_load1": 0.5, "host_cpu_count": 4},
		Batches: 3, Samples: (4 + 2) + (1 + 2) + 3, Logs: 1,
	}
	nan := got.Values["host_memory_total_bytes"]
	delete(got.Values, "host_memory_total_bytes")
	if !math.IsNaN(float64(nan)) {
		t.Errorf("NaN heartbeat value came back as %v", nan)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("agent\n got %+v\nwant %+v", got, want)
	}
	if rw := d.Agents[1]; rw.LastHeartbeat != "" || rw.Hostname != "" || len(rw.Values) != 0 {
		t.Fatalf("remote-write agent invented a heartbeat: %+v", rw)
	}
}

func TestEviction(t *testing.T) {
	clock := &fixedClock{now: at(time.Hour)}
	msg := strings.Repeat("x", 1000)
	tests := []struct {
		name string
		o    Options
		// Records at minute i for i in times, added in that order.
		times []int
		want  []int // minutes left, oldest first
	}{
		{"max records keeps the newest by time", Options{MaxRecords: 4}, []int{5, 1, 9, 3, 7, 2, 8}, []int{5, 7, 8, 9}},
		{"max bytes", Options{MaxBytes: 3 * (1000 + recordOverhead)}, []int{1, 2, 3, 4, 5}, []int{3, 4, 5}},
		{"retention", Options{Retention: 30 * time.Minute}, []int{10, 40, 20, 50, 30}, []int{30, 40, 50}},
		{"nothing over", Options{MaxRecords: 10}, []int{3, 1, 2}, []int{1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Now = clock.Now
			s := New(tt.o)
			for i, m := range tt.times {
				s.Add(uint64(i+1), 0, logBatch("a", uint64(i), rec(at(time.Duration(m)*time.Minute), "s", msg)))
			}
			p, err := s.Query(context.Background(), LogQuery{Direction: Forward})
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, r := range p.Records {
				ts, _ := time.Parse(time.RFC3339Nano, r.Time)
				got = append(got, int(ts.Sub(t0)/time.Minute))
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("left %v, want %v", got, tt.want)
			}
			st := s.Stats()
			if st.Records != len(tt.want) || st.Bytes != int64(len(tt.want)*(1000+recordOverhead)) || st.Evicted != uint64(len(tt.times)-len(tt.want)) {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestRetentionWithoutAdds: records that age out while nothing arrives are
// hidden from queries and agents leave the roster.
func TestRetentionWithoutAdds(t *testing.T) {
	clock := &fixedClock{now: at(0)}
	s := New(Options{Retention: time.Hour, Now: clock.Now})
	b := logBatch("a", 1, rec(at(0), "s", "m"))
	b.Alerts = []batch.Alert{{TimeNs: at(0).UnixNano(), Name: "drop"}}
	s.Add(1, at(0).UnixNano(), b)
	count := func() (int, int, int) {
		p, err := s.Query(context.Background(), LogQuery{})
		if err != nil {
			t.Fatal(err)
		}
		return len(p.Records), len(s.Alerts(AlertQuery{})), len(s.Agents(clock.now))
	}
	if l, a, g := count(); l != 1 || a != 1 || g != 1 {
		t.Fatalf("before: %d logs %d alerts %d agents", l, a, g)
	}
	clock.now = at(2 * time.Hour)
	if l, a, g := count(); l != 0 || a != 0 || g != 0 {
		t.Fatalf("after retention: %d logs %d alerts %d agents", l, a, g)
	}
}

func TestDuplicateAddStoresOnce(t *testing.T) {
	s := New(Options{})
	b := logBatch("a", 1, rec(at(0), "s", "m1"), rec(at(time.Second), "s", "m2"))
	s.Add(7, 0, b)
	s.Add(7, 0, b)
	if st := s.Stats(); st.Records != 2 || st.Bytes != int64(2*(recordOverhead+2)) {
		t.Fatalf("stats after a repeated Add: %+v", st)
	}
}

func TestAlerts(t *testing.T) {
	s := New(Options{MaxAlerts: 4})
	alert := func(d time.Duration, name string) batch.Alert {
		return batch.Alert{TimeNs: at(d).UnixNano(), Name: name, Severity: batch.SeverityWarning, Message: "m",
			Labels: batch.Labels{{Name: "queue", Value: "main"}}}
	}
	b1 := logBatch("a1", 1, rec(at(0), "s", "log"))
	b1.Alerts = []batch.Alert{alert(1*time.Second, "one"), alert(3*time.Second, "three")}
	s.Add(1, 0, b1)
	b2 := &batch.Batch{AgentID: "a2", Alerts: []batch.Alert{alert(2*time.Second, "two"), alert(4*time.Second, "four")}}
	s.Add(2, 0, b2)
	s.Add(3, 0, &batch.Batch{AgentID: "a2", Alerts: []batch.Alert{alert(0, "zero")}}) // evicted: oldest of five
	h := NewHandler(s, HandlerOptions{})
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"2-2 four a2", "1-3 three a1", "2-1 two a2", "1-2 one a1"}},
		{"agent=a1", []string{"1-3 three a1", "1-2 one a1"}},
		{"agent=nobody", []string{}},
		{"limit=1", []string{"2-2 four a2"}},
		{"start=" + at(2*time.Second).Format(time.RFC3339) + "&end=" + at(3*time.Second).Format(time.RFC3339), []string{"1-3 three a1", "2-1 two a2"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			code, a := get(t, h, PathAlerts+"?"+tt.query)
			if code != http.StatusOK {
				t.Fatalf("status %d: %s", code, a.Error)
			}
			var d AlertsData
			if err := json.Unmarshal(a.Data, &d); err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, al := range d.Alerts {
				if al.Severity != "warning" || al.Labels["queue"] != "main" {
					t.Fatalf("alert %+v", al)
				}
				got = append(got, al.ID+" "+al.Name+" "+al.Agent)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("alerts %v, want %v", got, tt.want)
			}
		})
	}
	if code, a := get(t, h, PathAlerts+"?limit=x"); code != http.StatusBadRequest || !strings.HasPrefix(a.Error, "limit: ") {
		t.Fatalf("bad limit: %d %q", code, a.Error)
	}
}

// TestAlertIDsFollowLogs: alert ids continue after the batch's log ids, so
// the two never collide (the live stream relies on it).
func TestAlertIDsFollowLogs(t *testing.T) {
	s := New(Options{})
	b := logBatch("a", 1, rec(at(0), "s", "l1"), rec(at(0), "s", "l2"))
	b.Alerts = []batch.Alert{{TimeNs: at(0).UnixNano(), Name: "x"}}
	s.Add(9, 0, b)
	if got := s.Alerts(AlertQuery{})[0].ID; got != "9-3" {
		t.Fatalf("alert id %s, want 9-3", got)
	}
}

// TestConcurrentAddQuery runs writers and paging readers together; run it
// with -race. Readers check each page is in order and never repeats a
// record across pages.
func TestConcurrentAddQuery(t *testing.T) {
	s := New(Options{MaxRecords: 20_000})
	ctx := context.Background()
	const writers, readers, batches = 4, 4, 150
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range batches {
				recs := make([]batch.LogRecord, 50)
				for j := range recs {
					recs[j] = rec(at(time.Duration((i*50+j)*writers+w)*time.Millisecond), fmt.Sprint("src", j%3), fmt.Sprint("msg ", i, j), "k", fmt.Sprint(j%2))
				}
				s.Add(uint64(i*writers+w+1), at(0).UnixNano(), logBatch(fmt.Sprint("agent", w), uint64(i), recs...))
			}
		})
	}
	errs := make(chan error, readers)
	for r := range readers {
		wg.Go(func() {
			q := LogQuery{Limit: 37, Agent: fmt.Sprint("agent", r%writers), Direction: []string{Forward, Backward}[r%2]}
			if r >= 2 {
				q.Agent, q.Regexp, q.Attr = "", "msg 1", map[string]string{"k": "1"}
			}
			for range 40 {
				seen := map[string]bool{}
				q.Cursor = ""
				for {
					p, err := s.Query(ctx, q)
					if err != nil {
						errs <- err
						return
					}
					for i, rec := range p.Records {
						if seen[rec.ID] {
							errs <- fmt.Errorf("reader %d: %s twice", r, rec.ID)
							return
						}
						seen[rec.ID] = true
						if i > 0 {
							prev, cur := rfcTime(p.Records[i-1].Time), rfcTime(rec.Time)
							if q.Direction == Forward && cur.Before(prev) || q.Direction == Backward && cur.After(prev) {
								errs <- fmt.Errorf("reader %d: page out of order at %d", r, i)
								return
							}
						}
					}
					_ = s.Agents(time.Now())
					_ = s.Alerts(AlertQuery{})
					if p.NextCursor == "" {
						break
					}
					q.Cursor = p.NextCursor
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// 30,000 added against a cap of 20,000: eviction ran under the readers.
	if st := s.Stats(); st.Records != 20_000 || st.Evicted != writers*batches*50-20_000 {
		t.Fatalf("stats %+v, want 20000 held and the rest evicted", st)
	}
}

func rfcTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

func TestQueryCanceled(t *testing.T) {
	s := fixtureStore()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Query(ctx, LogQuery{}); err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("err = %v, want canceled", err)
	}
}
