package hostmetrics

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// The filesystem source starts a goroutine per statfs; none may outlive the
// tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// catalogue lists every metric any source can emit.
func catalogue() []*desc {
	var all []*desc
	for _, s := range (&Collector{}).all() {
		all = append(all, s.describe()...)
	}
	return all
}

func catalogueByName(t *testing.T) map[string]*desc {
	t.Helper()
	m := map[string]*desc{}
	for _, d := range catalogue() {
		if _, dup := m[d.name]; dup {
			t.Fatalf("metric %s described twice", d.name)
		}
		m[d.name] = d
	}
	return m
}

func newCollector(t *testing.T, o Options) *Collector {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatalf("New(%+v): %v", o, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func collect(t *testing.T, c *Collector, now time.Time) Snapshot {
	t.Helper()
	snap, err := c.Collect(context.Background(), now)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	return snap
}

// checkSnapshot asserts the invariants every Snapshot must hold, whatever the
// host: heartbeat budget, unique valid names, label limits and order, kinds
// and labels as catalogued, one sample stamped now per series, no duplicate
// series identity.
func checkSnapshot(t *testing.T, snap Snapshot, now time.Time) {
	t.Helper()
	cat := catalogueByName(t)
	if n := len(snap.Heartbeat); n == 0 || n > MaxHeartbeatScalars {
		t.Errorf("heartbeat has %d values, want 1..%d", n, MaxHeartbeatScalars)
	}
	seen := map[string]bool{}
	for _, sc := range snap.Heartbeat {
		if !metricNameRE.MatchString(sc.Name) {
			t.Errorf("heartbeat name %q invalid", sc.Name)
		}
		if seen[sc.Name] {
			t.Errorf("heartbeat name %q repeated", sc.Name)
		}
		seen[sc.Name] = true
		d := cat[sc.Name]
		if d == nil || len(d.labels) != 0 {
			t.Errorf("heartbeat %q is not a catalogued scalar", sc.Name)
		} else if sc.Kind != d.kind {
			t.Errorf("heartbeat %q kind %v, catalogue says %v", sc.Name, sc.Kind, d.kind)
		}
	}
	ids := map[string]bool{}
	for _, s := range snap.Series {
		d := cat[s.Name]
		if d == nil || len(d.labels) == 0 {
			t.Errorf("series %q is not a catalogued labelled metric", s.Name)
			continue
		}
		if s.Kind != d.kind || s.Kind == batch.KindUnknown {
			t.Errorf("series %q kind %v, catalogue says %v", s.Name, s.Kind, d.kind)
		}
		limit := 2
		if strings.HasPrefix(s.Name, "host_process_") {
			limit = 3
		}
		if len(s.Labels) == 0 || len(s.Labels) > limit {
			t.Errorf("series %q has %d labels, want 1..%d", s.Name, len(s.Labels), limit)
		}
		for i, l := range s.Labels {
			if !labelNameRE.MatchString(l.Name) || strings.HasPrefix(l.Name, "__") {
				t.Errorf("series %q label name %q invalid", s.Name, l.Name)
			}
			if i < len(d.labels) && l.Name != d.labels[i] {
				t.Errorf("series %q label %d is %q, catalogue says %q", s.Name, i, l.Name, d.labels[i])
			}
			if i > 0 && s.Labels[i-1].Name >= l.Name {
				t.Errorf("series %q labels not sorted: %v", s.Name, s.Labels)
			}
			if l.Value == "" || len(l.Value) > MaxLabelValueBytes {
				t.Errorf("series %q label %s=%q: want 1..%d bytes", s.Name, l.Name, l.Value, MaxLabelValueBytes)
			}
		}
		if len(s.Samples) != 1 || s.Samples[0].TimestampMs != now.UnixMilli() {
			t.Errorf("series %q samples %v, want one at %d", s.Name, s.Samples, now.UnixMilli())
		}
		id := seriesID(s)
		if ids[id] {
			t.Errorf("duplicate series %s", id)
		}
		ids[id] = true
	}
}

func seriesID(s batch.Series) string {
	var b strings.Builder
	b.WriteString(s.Name)
	for _, l := range s.Labels {
		b.WriteString("|" + l.Name + "=" + l.Value)
	}
	return b.String()
}

func heartbeatMap(snap Snapshot) map[string]float64 {
	m := map[string]float64{}
	for _, s := range snap.Heartbeat {
		m[s.Name] = s.Value
	}
	return m
}

// seriesMap indexes series values by "name{l1=v1,l2=v2}".
func seriesMap(snap Snapshot) map[string]float64 {
	m := map[string]float64{}
	for _, s := range snap.Series {
		m[seriesKey(s.Name, s.Labels)] = s.Samples[0].Value
	}
	return m
}

func seriesKey(name string, ls batch.Labels) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = l.Name + "=" + l.Value
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

// processPids returns the distinct pid label values of process series.
func processPids(snap Snapshot) map[string]bool {
	pids := map[string]bool{}
	for _, s := range snap.Series {
		if strings.HasPrefix(s.Name, "host_process_") {
			pids[s.Labels.Get("pid")] = true
		}
	}
	return pids
}
