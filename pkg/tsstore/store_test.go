package tsstore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// fixture fills a store with two agents' heartbeats and series.
func fixture(t *testing.T) *Store {
	t.Helper()
	s := New(Options{})
	mustAdd(t, s, &batch.Batch{
		AgentID: "a1", Seq: 1,
		Heartbeat: &batch.Heartbeat{TimestampMs: 1000, Values: []batch.Scalar{
			{Name: "up", Value: 1}, {Name: "load1", Value: 0.5},
		}},
		Series: []batch.Series{
			series("cpu_seconds_total", []string{"cpu", "0", "mode", "user"}, 1000, 10, 2000, 11),
			series("cpu_seconds_total", []string{"cpu", "1", "mode", "user"}, 1000, 20),
			series("cpu_seconds_total", []string{"mode", "idle", "cpu", "0"}, 1000, 30),
			series("mem_bytes", nil, 1000, 4096),
		},
	})
	mustAdd(t, s, &batch.Batch{
		AgentID: "a2", Seq: 1,
		Series: []batch.Series{
			series("cpu_seconds_total", []string{"cpu", "0", "mode", "user"}, 1500, 5),
			series("disk_bytes", []string{"device", "sda"}, 1500, 7),
		},
	})
	return s
}

func ls(kv ...string) string { return labels.FromStrings(kv...).String() }

func TestSelectMatchers(t *testing.T) {
	s := fixture(t)
	var (
		a1cpu0user = ls("__name__", "cpu_seconds_total", "agent", "a1", "cpu", "0", "mode", "user")
		a1cpu1user = ls("__name__", "cpu_seconds_total", "agent", "a1", "cpu", "1", "mode", "user")
		a1cpu0idle = ls("__name__", "cpu_seconds_total", "agent", "a1", "cpu", "0", "mode", "idle")
		a2cpu0user = ls("__name__", "cpu_seconds_total", "agent", "a2", "cpu", "0", "mode", "user")
		a1mem      = ls("__name__", "mem_bytes", "agent", "a1")
		a1up       = ls("__name__", "up", "agent", "a1")
		a1load     = ls("__name__", "load1", "agent", "a1")
		a2disk     = ls("__name__", "disk_bytes", "agent", "a2", "device", "sda")
	)
	tests := []struct {
		name string
		ms   []*labels.Matcher
		want []string
	}{
		{"equal", []*labels.Matcher{m(labels.MatchEqual, "__name__", "cpu_seconds_total")},
			[]string{a1cpu0user, a1cpu1user, a1cpu0idle, a2cpu0user}},
		{"equal and not equal", []*labels.Matcher{m(labels.MatchEqual, "__name__", "cpu_seconds_total"), m(labels.MatchNotEqual, "agent", "a1")},
			[]string{a2cpu0user}},
		{"regexp", []*labels.Matcher{m(labels.MatchRegexp, "__name__", "cpu.*|disk_bytes")},
			[]string{a1cpu0user, a1cpu1user, a1cpu0idle, a2cpu0user, a2disk}},
		{"regexp set of literals", []*labels.Matcher{m(labels.MatchRegexp, "__name__", "up|load1|nothing")},
			[]string{a1up, a1load}},
		{"not regexp", []*labels.Matcher{m(labels.MatchEqual, "__name__", "cpu_seconds_total"), m(labels.MatchNotRegexp, "mode", "id.*")},
			[]string{a1cpu0user, a1cpu1user, a2cpu0user}},
		{"equal empty selects series without the label", []*labels.Matcher{m(labels.MatchEqual, "agent", "a1"), m(labels.MatchEqual, "cpu", "")},
			[]string{a1mem, a1up, a1load}},
		{"not equal empty selects series with the label", []*labels.Matcher{m(labels.MatchNotEqual, "cpu", "")},
			[]string{a1cpu0user, a1cpu1user, a1cpu0idle, a2cpu0user}},
		{"not regexp keeps series without the label", []*labels.Matcher{m(labels.MatchRegexp, "agent", "a.*"), m(labels.MatchNotRegexp, "cpu", "0")},
			[]string{a1cpu1user, a1mem, a1up, a1load, a2disk}},
		{"regexp matching empty", []*labels.Matcher{m(labels.MatchRegexp, "mode", "user|"), m(labels.MatchEqual, "agent", "a1")},
			[]string{a1cpu0user, a1cpu1user, a1mem, a1up, a1load}},
		{"unknown label", []*labels.Matcher{m(labels.MatchEqual, "nope", "x")}, nil},
		{"unknown value", []*labels.Matcher{m(labels.MatchEqual, "__name__", "cpu_seconds_total"), m(labels.MatchEqual, "cpu", "9")}, nil},
		{"not regexp on name excludes all", []*labels.Matcher{m(labels.MatchNotRegexp, "__name__", ".+")}, nil},
	}
	q, _ := s.Querier(minT, maxT)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := selectLabels(t, q, true, nil, tt.ms...)
			want := slices.Clone(tt.want)
			slices.SortFunc(want, func(a, b string) int { return strings.Compare(a, b) })
			sortedGot := slices.Clone(got)
			slices.Sort(sortedGot)
			if !slices.Equal(sortedGot, want) {
				t.Fatalf("got %v\nwant %v", got, want)
			}
		})
	}
}

func TestSelectSortedAndLimited(t *testing.T) {
	s := fixture(t)
	q, _ := s.Querier(minT, maxT)
	got := selectLabels(t, q, true, nil, m(labels.MatchRegexp, "__name__", ".+"))
	if !slices.IsSortedFunc(got, func(a, b string) int {
		return labels.Compare(mustParse(t, a), mustParse(t, b))
	}) || len(got) != 8 {
		t.Fatalf("not 8 sorted series: %v", got)
	}
	lim := selectLabels(t, q, true, &storage.SelectHints{Start: minT, End: maxT, Limit: 3}, m(labels.MatchRegexp, "__name__", ".+"))
	if !slices.Equal(lim, got[:3]) {
		t.Fatalf("limit 3: got %v want %v", lim, got[:3])
	}
	// The series lookup (Func "series") honours the time range too.
	in := selectLabels(t, q, false, &storage.SelectHints{Start: 1900, End: 2100, Func: "series"}, m(labels.MatchRegexp, "__name__", ".+"))
	if !slices.Equal(in, []string{ls("__name__", "cpu_seconds_total", "agent", "a1", "cpu", "0", "mode", "user")}) {
		t.Fatalf("series in [1900,2100]: %v, want the one with a sample at 2000", in)
	}
}

func mustParse(t *testing.T, s string) labels.Labels {
	t.Helper()
	// Labels.String renders {k="v", ...}; rebuild for comparison.
	b := labels.NewScratchBuilder(8)
	for _, kv := range strings.Split(strings.Trim(s, "{}"), ", ") {
		k, v, _ := strings.Cut(kv, "=")
		b.Add(k, strings.Trim(v, `"`))
	}
	b.Sort()
	return b.Labels()
}

func TestSamplesAndTimeRange(t *testing.T) {
	s := fixture(t)
	got := query(t, s, minT, maxT, m(labels.MatchEqual, "__name__", "cpu_seconds_total"), m(labels.MatchEqual, "agent", "a1"), m(labels.MatchEqual, "cpu", "0"), m(labels.MatchEqual, "mode", "user"))
	want := []point{{1000, 10}, {2000, 11}}
	for _, pts := range got {
		if !slices.Equal(pts, want) {
			t.Fatalf("got %v want %v", pts, want)
		}
	}
	if len(got) != 1 {
		t.Fatalf("got %d series", len(got))
	}
	// A range that holds only the second sample yields only it; a range
	// without samples yields no series at all.
	got = query(t, s, 1500, 2500, m(labels.MatchEqual, "__name__", "cpu_seconds_total"), m(labels.MatchEqual, "agent", "a1"))
	if len(got) != 1 {
		t.Fatalf("[1500,2500]: %v", got)
	}
	for _, pts := range got {
		if !slices.Equal(pts, []point{{2000, 11}}) {
			t.Fatalf("[1500,2500]: %v", pts)
		}
	}
	if got := query(t, s, 3000, 4000, m(labels.MatchRegexp, "__name__", ".+")); len(got) != 0 {
		t.Fatalf("[3000,4000]: %v", got)
	}
}

func TestHeartbeatSeriesCarryAgent(t *testing.T) {
	s := New(Options{})
	mustAdd(t, s, &batch.Batch{AgentID: "host-7", Seq: 3, Heartbeat: &batch.Heartbeat{
		TimestampMs: 5000, Hostname: "h", Values: []batch.Scalar{{Name: "up", Value: 1}, {Name: "uptime_seconds", Value: 99}},
	}})
	got := query(t, s, minT, maxT, m(labels.MatchEqual, "__name__", "up"))
	want := map[string][]point{ls("__name__", "up", "agent", "host-7"): {{5000, 1}}}
	if len(got) != 1 || !slices.Equal(got[ls("__name__", "up", "agent", "host-7")], want[ls("__name__", "up", "agent", "host-7")]) {
		t.Fatalf("got %v want %v", got, want)
	}
	got = query(t, s, minT, maxT, m(labels.MatchEqual, "agent", "host-7"))
	if len(got) != 2 {
		t.Fatalf("series of agent host-7: %v", got)
	}
}

func TestSeriesAgentLabel(t *testing.T) {
	s := New(Options{})
	mustAdd(t, s, &batch.Batch{AgentID: "rw", Series: []batch.Series{
		// Remote write sets agent itself; it is kept, not doubled.
		series("http_requests_total", []string{"agent", "rw", "code", "200"}, 1, 1),
		// A series with an agent label of its own keeps it.
		series("relayed", []string{"agent", "other"}, 1, 2),
		// Empty values mean "no label"; the Name field wins over __name__.
		series("named", []string{"__name__", "ignored", "empty", ""}, 1, 3),
	}})
	q, _ := s.Querier(minT, maxT)
	got := selectLabels(t, q, true, nil, m(labels.MatchRegexp, "__name__", ".+"))
	want := []string{
		ls("__name__", "http_requests_total", "agent", "rw", "code", "200"),
		ls("__name__", "named", "agent", "rw"),
		ls("__name__", "relayed", "agent", "other"),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

func TestNoMetricName(t *testing.T) {
	s := New(Options{})
	n, err := s.Add(&batch.Batch{AgentID: "a", Seq: 9, Series: []batch.Series{
		series("", []string{"x", "y"}, 1, 1),
		series("ok", nil, 1, 1),
	}, Heartbeat: &batch.Heartbeat{TimestampMs: 1, Values: []batch.Scalar{{Name: "", Value: 1}}}})
	if !errors.Is(err, ErrNoMetricName) {
		t.Fatalf("err = %v, want ErrNoMetricName", err)
	}
	if n != 1 || s.Stats().Series != 1 || s.Stats().IgnoredNoName != 2 {
		t.Fatalf("stored %d samples, stats %+v; want the named series only", n, s.Stats())
	}
}

func TestOutOfOrderAndDuplicates(t *testing.T) {
	tests := []struct {
		name string
		// batches of (ts, value) pairs, added in order
		adds [][]float64
		want []point
		// samples Add reports stored, summed
		stored int
	}{
		{"in order", [][]float64{{1, 1, 2, 2, 3, 3}}, []point{{1, 1}, {2, 2}, {3, 3}}, 3},
		{"older sample kept in place", [][]float64{{10, 1, 30, 3}, {20, 2}}, []point{{10, 1}, {20, 2}, {30, 3}}, 3},
		{"older than everything", [][]float64{{10, 1, 30, 3}, {5, 0.5}}, []point{{5, 0.5}, {10, 1}, {30, 3}}, 3},
		{"duplicate of newest ignored", [][]float64{{10, 1, 20, 2}, {20, 99}}, []point{{10, 1}, {20, 2}}, 2},
		{"duplicate in a chunk ignored", [][]float64{{10, 1, 20, 2, 30, 3}, {20, 99}}, []point{{10, 1}, {20, 2}, {30, 3}}, 3},
		{"duplicate in the buffer ignored", [][]float64{{10, 1, 30, 3}, {20, 2}, {20, 99}}, []point{{10, 1}, {20, 2}, {30, 3}}, 3},
		{"replayed batch changes nothing", [][]float64{{10, 1, 20, 2}, {10, 1, 20, 2}}, []point{{10, 1}, {20, 2}}, 2},
		{"unsorted within a batch", [][]float64{{30, 3, 10, 1, 20, 2}}, []point{{10, 1}, {20, 2}, {30, 3}}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{ChunkSamples: 4})
			stored := 0
			for i, a := range tt.adds {
				stored += mustAdd(t, s, &batch.Batch{AgentID: "a", Seq: uint64(i), Series: []batch.Series{series("x", nil, a...)}})
			}
			got := query(t, s, minT, maxT, m(labels.MatchEqual, "__name__", "x"))
			if pts := got[ls("__name__", "x", "agent", "a")]; !slices.Equal(pts, tt.want) {
				t.Fatalf("got %v want %v", pts, tt.want)
			}
			if stored != tt.stored || s.Stats().Samples != int64(tt.stored) {
				t.Fatalf("Add reported %d, Stats.Samples %d; want %d", stored, s.Stats().Samples, tt.stored)
			}
		})
	}
}

// TestOutOfOrderMerge crosses the buffer's merge threshold several times,
// with old samples landing before, between and inside chunks.
func TestOutOfOrderMerge(t *testing.T) {
	s := New(Options{ChunkSamples: 4})
	add := func(ts ...int64) {
		var pairs []float64
		for _, x := range ts {
			pairs = append(pairs, float64(x), float64(x)/10)
		}
		mustAdd(t, s, &batch.Batch{AgentID: "a", Series: []batch.Series{series("x", nil, pairs...)}})
	}
	add(100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200, 500, 510) // 4 chunks, gaps
	add(105, 155, 300, 1)                                                // inside, inside, gap, before all
	add(115, 400, 2)                                                     // merge on the 4th buffered sample
	add(505, 3, 4, 125, 600)
	add(301, 302, 303, 304, 305)

	want := []int64{1, 2, 3, 4, 100, 105, 110, 115, 120, 125, 130, 140, 150, 155, 160, 170, 180, 190, 200, 300, 301, 302, 303, 304, 305, 400, 500, 505, 510, 600}
	check := func(mint, maxt int64) {
		t.Helper()
		got := query(t, s, mint, maxt, m(labels.MatchEqual, "__name__", "x"))[ls("__name__", "x", "agent", "a")]
		var exp []point
		for _, x := range want {
			if x >= mint && x <= maxt {
				exp = append(exp, point{x, float64(x) / 10})
			}
		}
		if !slices.Equal(got, exp) {
			t.Fatalf("[%d,%d]: got %v\nwant %v", mint, maxt, got, exp)
		}
	}
	check(minT, maxT)
	check(104, 302)
	check(506, 700)
	checkCounters(t, s)
	st := s.Stats()
	if st.Samples != int64(len(want)) {
		t.Fatalf("Stats.Samples = %d, want %d", st.Samples, len(want))
	}
	// Chunks must stay sorted and disjoint, with the head last.
	sr := s.snapshotAll()[0]
	sr.mu.Lock()
	defer sr.mu.Unlock()
	prev := int64(minT)
	for _, c := range append(slices.Clone(sr.chunks), chunkMeta{minT: sr.headMin, maxT: sr.headMax, c: sr.head}) {
		if c.minT <= prev || c.maxT < c.minT || c.c.NumSamples() == 0 {
			t.Fatalf("chunk [%d,%d] after %d with %d samples", c.minT, c.maxT, prev, c.c.NumSamples())
		}
		prev = c.maxT
	}
}

func TestIteratorSeek(t *testing.T) {
	s := New(Options{ChunkSamples: 3})
	var pairs []float64
	for x := 10; x <= 200; x += 10 {
		pairs = append(pairs, float64(x), float64(x))
	}
	mustAdd(t, s, &batch.Batch{AgentID: "a", Series: []batch.Series{series("x", nil, pairs...)}})
	q, _ := s.Querier(35, 165)
	set := q.Select(context.Background(), false, nil, m(labels.MatchEqual, "__name__", "x"))
	if !set.Next() {
		t.Fatal("no series")
	}
	it := set.At().Iterator(nil)
	steps := []struct {
		seek int64
		want int64 // 0: exhausted
	}{
		{0, 40},    // before mint: the first sample in range
		{40, 40},   // no-op at the current sample
		{30, 40},   // never backwards
		{41, 50},   // within a chunk
		{95, 100},  // across chunks
		{160, 160}, // last in range
		{161, 0},   // past maxt, though the store has more
		{1000, 0},  // stays exhausted
		{10, 0},    // stays exhausted
	}
	for _, st := range steps {
		vt := it.Seek(st.seek)
		switch {
		case st.want == 0 && vt != 0:
			t.Fatalf("Seek(%d) = sample %d, want exhausted", st.seek, it.AtT())
		case st.want != 0 && (vt == 0 || it.AtT() != st.want):
			t.Fatalf("Seek(%d) = %v at %d, want %d", st.seek, vt, it.AtT(), st.want)
		}
	}
	// Next after Seek continues in order; reuse of the iterator restarts.
	it = set.At().Iterator(it)
	if it.Seek(120) == 0 || it.AtT() != 120 || it.Next() == 0 || it.AtT() != 130 {
		t.Fatalf("Seek(120) then Next: at %d", it.AtT())
	}
}

func TestLabelNamesAndValues(t *testing.T) {
	s := fixture(t)
	tests := []struct {
		name       string
		mint, maxt int64
		label      string
		ms         []*labels.Matcher
		wantNames  []string
		wantValues []string
	}{
		{"all", minT, maxT, "agent", nil,
			[]string{"__name__", "agent", "cpu", "device", "mode"}, []string{"a1", "a2"}},
		{"matcher", minT, maxT, "cpu", []*labels.Matcher{m(labels.MatchEqual, "agent", "a2")},
			[]string{"__name__", "agent", "cpu", "device", "mode"}, []string{"0"}},
		{"matcher narrowing names", minT, maxT, "__name__", []*labels.Matcher{m(labels.MatchEqual, "__name__", "disk_bytes")},
			[]string{"__name__", "agent", "device"}, []string{"disk_bytes"}},
		{"time range without matchers", 1400, 1600, "__name__", nil,
			[]string{"__name__", "agent", "cpu", "device", "mode"}, []string{"cpu_seconds_total", "disk_bytes"}},
		{"time range with matchers", 1900, 2100, "mode", []*labels.Matcher{m(labels.MatchEqual, "__name__", "cpu_seconds_total")},
			[]string{"__name__", "agent", "cpu", "mode"}, []string{"user"}},
		{"nothing in range", 5000, 6000, "agent", nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := s.Querier(tt.mint, tt.maxt)
			names, _, err := q.LabelNames(context.Background(), nil, tt.ms...)
			if err != nil || !slices.Equal(names, tt.wantNames) {
				t.Fatalf("LabelNames = %v, %v; want %v", names, err, tt.wantNames)
			}
			vals, _, err := q.LabelValues(context.Background(), tt.label, nil, tt.ms...)
			if err != nil || !slices.Equal(vals, tt.wantValues) {
				t.Fatalf("LabelValues(%s) = %v, %v; want %v", tt.label, vals, err, tt.wantValues)
			}
		})
	}
	q, _ := s.Querier(minT, maxT)
	vals, _, _ := q.LabelValues(context.Background(), "__name__", &storage.LabelHints{Limit: 2})
	if !slices.Equal(vals, []string{"cpu_seconds_total", "disk_bytes"}) {
		t.Fatalf("limit 2: %v", vals)
	}
}

func TestRetention(t *testing.T) {
	now := time.UnixMilli(10_000_000)
	s := New(Options{Retention: time.Hour, ChunkSamples: 10, Now: func() time.Time { return now }})
	hour := time.Hour.Milliseconds()
	start := now.UnixMilli() - 2*hour
	var old, recent []float64
	for x := start; x < now.UnixMilli()-hour/2; x += 60_000 { // 90 min of samples, 1/min
		old = append(old, float64(x), 1)
	}
	for x := now.UnixMilli() - 10*60_000; x <= now.UnixMilli(); x += 60_000 {
		recent = append(recent, float64(x), 2)
	}
	// Samples already past the retention are ignored by Add: the 60 from
	// -120 to -61 min; the 30 from -60 to -31 min are stored.
	n := mustAdd(t, s, &batch.Batch{AgentID: "gone", Series: []batch.Series{series("x", nil, old...)}})
	if n != 30 || s.Stats().IgnoredTooOld != 60 {
		t.Fatalf("stored %d, ignored %d as too old; want 30, 60", n, s.Stats().IgnoredTooOld)
	}
	mustAdd(t, s, &batch.Batch{AgentID: "stays", Series: []batch.Series{series("x", nil, recent...)}})
	// A series whose samples are all too old is not even created.
	mustAdd(t, s, &batch.Batch{AgentID: "never", Series: []batch.Series{series("x", nil, float64(start), 1)}})
	if s.Stats().Series != 2 {
		t.Fatalf("series = %d, want 2", s.Stats().Series)
	}

	// Half an hour later every sample of "gone" is past the retention.
	s.Prune(now.Add(30 * time.Minute))
	checkCounters(t, s)
	st := s.Stats()
	if st.Series != 1 || st.Samples != 11 || st.DroppedRetention != 30 || st.Chunks != 2 {
		t.Fatalf("after prune: %+v; want 1 series, 11 samples in 2 chunks, 30 dropped", st)
	}
	q, _ := s.Querier(minT, maxT)
	vals, _, _ := q.LabelValues(context.Background(), "agent", nil)
	if !slices.Equal(vals, []string{"stays"}) {
		t.Fatalf("agents after prune: %v", vals)
	}
	if got := selectLabels(t, q, false, nil, m(labels.MatchEqual, "agent", "gone")); len(got) != 0 {
		t.Fatalf("pruned series still selected: %v", got)
	}

	// Retention drops whole chunks. "gone" holds three chunks of ten
	// minutes, ending at -51, -41 and -31 min; a cutoff at -45 min drops
	// the first only, so samples from -50 min on remain.
	s2 := New(Options{Retention: time.Hour, ChunkSamples: 10, Now: func() time.Time { return now }})
	mustAdd(t, s2, &batch.Batch{AgentID: "gone", Series: []batch.Series{series("x", nil, old...)}})
	s2.Prune(now.Add(15 * time.Minute))
	got := query(t, s2, minT, maxT, m(labels.MatchEqual, "agent", "gone"))[ls("__name__", "x", "agent", "gone")]
	if len(got) != 20 || got[0].T != now.Add(-50*time.Minute).UnixMilli() {
		t.Fatalf("partial prune kept %d samples from %v", len(got), got)
	}
}

func TestMaxBytesEvictsOldestFirst(t *testing.T) {
	s := New(Options{ChunkSamples: 10})
	// Ten series, each with 100 samples over the same times, so the chunk
	// ages interleave across series.
	add := func(s *Store) {
		b := &batch.Batch{AgentID: "a"}
		for i := range 10 {
			var pairs []float64
			for x := range 100 {
				pairs = append(pairs, float64(x*1000), float64(i*x))
			}
			b.Series = append(b.Series, series("x", []string{"i", string(rune('0' + i))}, pairs...))
		}
		mustAdd(t, s, b)
	}
	add(s)
	full := s.Stats().Bytes

	limit := full / 2
	s = New(Options{ChunkSamples: 10, MaxBytes: limit})
	add(s)
	checkCounters(t, s)
	st := s.Stats()
	if st.Bytes > limit || st.DroppedMaxBytes == 0 {
		t.Fatalf("bytes %d over cap %d (dropped %d)", st.Bytes, limit, st.DroppedMaxBytes)
	}
	if st.Series != 10 {
		t.Fatalf("series = %d: eviction should take old chunks, not whole live series", st.Series)
	}
	// Oldest first: every series lost its oldest chunks, and what is left
	// of all series starts at about the same time.
	got := query(t, s, minT, maxT, m(labels.MatchEqual, "__name__", "x"))
	var firsts []int64
	for _, pts := range got {
		if len(pts) == 0 || pts[len(pts)-1].T != 99_000 {
			t.Fatalf("newest samples evicted: %v", pts)
		}
		firsts = append(firsts, pts[0].T)
	}
	slices.Sort(firsts)
	if firsts[0] == 0 || firsts[len(firsts)-1]-firsts[0] > 10_000 {
		t.Fatalf("first kept samples %v: not oldest-first across series", firsts)
	}
}
