package shipper

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/hostmetrics"
	"github.com/lightmetrics/lightmetrics/pkg/limits"
	"github.com/lightmetrics/lightmetrics/pkg/queue"
)

func newShipper(t *testing.T, lim limits.AgentLimits, mode string) *Shipper {
	t.Helper()
	hm, err := hostmetrics.New(hostmetrics.Options{Processes: hostmetrics.ProcessOptions{Mode: mode, TopN: 10, SortBy: "cpu"}})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := codec.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(enc.Close)
	s, err := New(Options{AgentID: "a1", Hostname: "h1", AgentVersion: "test", Limits: lim, Metrics: hm, Encoder: enc})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func decodeAll(t *testing.T, q *queue.Queue) []*batch.Batch {
	t.Helper()
	dec, err := codec.NewDecoder(codec.DefaultCaps())
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var out []*batch.Batch
	err = q.Scan(context.Background(), 0, func(seq uint64, data []byte) error {
		b, err := dec.Decode(data)
		if err != nil {
			return err
		}
		if b.Seq != seq {
			return fmt.Errorf("batch at queue seq %d carries seq %d", seq, b.Seq)
		}
		out = append(out, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestHeartbeatFitsTheFloor(t *testing.T) {
	if hostmetrics.MaxHeartbeatScalars+MaxSelfScalars > limits.FloorSeriesPerBatch {
		t.Fatalf("host %d + self %d heartbeat values exceed the floor of %d",
			hostmetrics.MaxHeartbeatScalars, MaxSelfScalars, limits.FloorSeriesPerBatch)
	}
	s := newShipper(t, limits.DefaultAgent(), "off")
	s.NoteUpload(time.Now(), 1, 0, nil) // makes the optional last-upload value appear
	built, err := s.Build(context.Background(), queue.Stats{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hb := built.Batches[0].Heartbeat
	if len(hb.Values) > limits.FloorSeriesPerBatch {
		t.Fatalf("heartbeat has %d values", len(hb.Values))
	}
	self := 0
	for _, v := range hb.Values {
		if strings.HasPrefix(v.Name, "agent_") {
			self++
		}
	}
	if self > MaxSelfScalars || self < 10 {
		t.Fatalf("%d agent_ self values, want 10..%d", self, MaxSelfScalars)
	}
}

// TestSplitsAtTheSeriesLimit: with the smallest allowed series limit every
// batch of a cycle stays within it, and the heartbeat rides in the first.
func TestSplitsAtTheSeriesLimit(t *testing.T) {
	lim := limits.DefaultAgent()
	lim.MaxSeriesPerBatch = limits.FloorSeriesPerBatch
	s := newShipper(t, lim, "all")
	built, err := s.Build(context.Background(), queue.Stats{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(built.Batches) < 2 {
		t.Fatalf("%d series in one batch of at most %d: expected a split", built.Batches[0].SeriesCount(), lim.MaxSeriesPerBatch)
	}
	total := 0
	for i, b := range built.Batches {
		if n := b.SeriesCount(); n > lim.MaxSeriesPerBatch {
			t.Errorf("batch %d has %d series", i, n)
		}
		if (b.Heartbeat != nil) != (i == 0) {
			t.Errorf("batch %d heartbeat presence wrong", i)
		}
		total += len(b.Series)
	}
	if total != len(built.Snapshot.Series) {
		t.Fatalf("split kept %d of %d series", total, len(built.Snapshot.Series))
	}
}

// TestQueueCapDropsOldestAndReportsIt fills a queue capped at 3 batches
// without uploading: the oldest go first, and the next batch carries one
// alert record saying how many were dropped.
func TestQueueCapDropsOldestAndReportsIt(t *testing.T) {
	ctx := context.Background()
	q, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{MaxRecords: 3, OnFull: queue.DropOldest})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	s := newShipper(t, limits.DefaultAgent(), "off")
	var all []uint64
	for i := 0; i < 6; i++ {
		seqs, err := s.Cycle(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, seqs...)
	}
	if len(all) != 6 {
		t.Fatalf("queued %v, want 6 single-batch cycles", all)
	}
	batches := decodeAll(t, q)
	if got := fmt.Sprint(seqsOf(batches)); got != "[4 5 6]" {
		t.Fatalf("kept seqs %s, want the newest three [4 5 6]", got)
	}
	if h := s.Health(); h.DroppedBatches != 3 {
		t.Fatalf("dropped counter %d, want 3", h.DroppedBatches)
	}
	// Appending 4 dropped 1, 5 dropped 2, 6 dropped 3. Each drop is reported
	// once, by the next batch: 5 reports seq 1, 6 reports seq 2; the drop of
	// 3 waits in the queue state for the next cycle.
	want := map[uint64]string{4: "", 5: "1", 6: "2"}
	for _, b := range batches {
		w := want[b.Seq]
		if w == "" {
			if len(b.Alerts) != 0 {
				t.Errorf("batch %d: unexpected alerts %+v", b.Seq, b.Alerts)
			}
			continue
		}
		if len(b.Alerts) != 1 {
			t.Fatalf("batch %d: %d alerts, want 1", b.Seq, len(b.Alerts))
		}
		a := b.Alerts[0]
		if a.Name != "agent_queue_dropped" || a.Labels.Get("batches") != "1" || a.Labels.Get("first_seq") != w || !strings.Contains(a.Message, "dropped") {
			t.Errorf("batch %d alert: %+v", b.Seq, a)
		}
	}
	pending, err := pendingDrop(q)
	if err != nil || pending.Records != 1 || pending.FirstSeq != 3 {
		t.Fatalf("pending drop %+v, %v; want seq 3 waiting", pending, err)
	}
	var dropped float64 = -1
	for _, v := range batches[2].Heartbeat.Values {
		if v.Name == "agent_dropped_batches_total" {
			dropped = v.Value
		}
	}
	if dropped != 2 { // built before the append that dropped seq 3
		t.Errorf("agent_dropped_batches_total in batch 6 = %v, want 2", dropped)
	}
}

func TestNoAlertsWhenMaxAlertsZero(t *testing.T) {
	ctx := context.Background()
	q, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{MaxRecords: 1, OnFull: queue.DropOldest})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	lim := limits.DefaultAgent()
	lim.MaxAlertsPerBatch = 0
	s := newShipper(t, lim, "off")
	for i := 0; i < 3; i++ {
		if _, err := s.Cycle(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range decodeAll(t, q) {
		if len(b.Alerts) != 0 {
			t.Fatalf("alerts sent with max_alerts_per_batch = 0: %+v", b.Alerts)
		}
	}
	if h := s.Health(); h.DroppedBatches != 2 {
		t.Fatalf("dropped counter %d, want 2 (counted even without alerts)", h.DroppedBatches)
	}
}

func seqsOf(bs []*batch.Batch) []uint64 {
	var out []uint64
	for _, b := range bs {
		out = append(out, b.Seq)
	}
	return out
}

// TestSelfScalarsDocumented keeps docs/metrics.md honest about the values
// the agent adds to every heartbeat.
func TestSelfScalarsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	s := newShipper(t, limits.DefaultAgent(), "off")
	s.NoteUpload(time.Now(), 1, 0, nil)
	for _, v := range s.selfScalars(time.Now(), queue.Stats{}, s.Health()) {
		if !strings.Contains(string(doc), "`"+v.Name+"`") {
			t.Errorf("%s is sent in the heartbeat but not documented in docs/metrics.md", v.Name)
		}
	}
}
