package live

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/logstore"
)

// TestSameJSONAsLogstore holds the live stream's log and alert events equal
// to what /api/v1/logs and /api/v1/alerts return for the same records, ids
// included, so a console can merge history and the live tail. (The import
// is test-only: live does not depend on the store.)
func TestSameJSONAsLogstore(t *testing.T) {
	b := &batch.Batch{AgentID: "a1", Seq: 3,
		Logs: []batch.LogRecord{
			{TimeNs: t0.UnixNano() + 123, Source: "nginx", Message: "GET / \"quoted\"\n\ttab <html> \xff", Truncated: true,
				Attrs: batch.Labels{{Name: "path", Value: "/var/log/x"}, {Name: "level", Value: "info"}, {Name: "level", Value: "warn"}}},
			{TimeNs: t0.UnixNano() - 5, Source: "", Message: ""},
		},
		Alerts: []batch.Alert{{TimeNs: t0.UnixNano(), Name: "queue_drop", Severity: batch.SeverityCritical, Message: "dropped 3",
			Labels: batch.Labels{{Name: "reason", Value: "full"}}}},
	}
	store := logstore.New(logstore.Options{})
	store.Add(77, t0.UnixNano(), b)
	page, err := store.Query(context.Background(), logstore.LogQuery{Direction: logstore.Forward})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{}
	for _, r := range page.Records {
		want[r.ID] = r
	}
	for _, a := range store.Alerts(logstore.AlertQuery{}) {
		want[a.ID] = a
	}
	got := map[string]any{}
	for _, e := range eventsOf(77, t0.UnixNano(), b) {
		if e.kind != kindBatch {
			got[e.id.String()] = json.RawMessage(e.data)
		}
	}
	if len(got) != 3 || len(want) != 3 {
		t.Fatalf("%d live events, %d stored records; want 3 each", len(got), len(want))
	}
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Fatalf("no live event with the store's id %s", id)
		}
		if a, b := decode(t, g), decode(t, w); !reflect.DeepEqual(a, b) {
			t.Errorf("%s:\n live  %v\n store %v", id, a, b)
		}
	}
}

func decode(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
