package landing

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/objstore"
	"github.com/lightmetrics/lightmetrics/pkg/objstore/memory"
	"github.com/lightmetrics/lightmetrics/pkg/segment"
	"github.com/lightmetrics/lightmetrics/pkg/spool"
)

// flaky wraps a real bucket and fails on demand, the way a store that is
// down or a response lost on the wire looks to the lander.
type flaky struct {
	objstore.Bucket
	down atomic.Bool
	// putThenFail stores the object but reports an error: the ack was lost.
	putThenFail atomic.Bool
}

var errDown = errors.New("store down")

func (f *flaky) Put(ctx context.Context, key string, data []byte) (objstore.ObjectInfo, error) {
	if f.down.Load() {
		return objstore.ObjectInfo{}, errDown
	}
	info, err := f.Bucket.Put(ctx, key, data)
	if err == nil && f.putThenFail.Load() {
		return info, errDown
	}
	return info, err
}

func (f *flaky) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	if f.down.Load() {
		return objstore.ObjectInfo{}, errDown
	}
	return f.Bucket.Stat(ctx, key)
}

func openSpool(t *testing.T) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(t.TempDir(), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return sp
}

// add appends n encoded batches of agent to the spool, seqs from first.
func add(t *testing.T, sp *spool.Spool, agent string, first uint64, n int) {
	t.Helper()
	enc, err := codec.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	for i := range n {
		seq := first + uint64(i)
		b := &batch.Batch{AgentID: agent, Seq: seq, Logs: []batch.LogRecord{{TimeNs: int64(seq), Source: "s", Message: fmt.Sprintf("line %d padding padding padding", seq)}}}
		body, err := enc.Encode(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := sp.Append(context.Background(), spool.KindAgent, agent, seq, time.Now().UnixNano(), body); err != nil {
			t.Fatal(err)
		}
	}
}

// landed decodes every segment in the bucket and returns, per spool seq,
// how many segments hold it, checking each record against its key.
func landed(t *testing.T, b objstore.Bucket) (map[uint64]int, int) {
	t.Helper()
	seen := map[uint64]int{}
	objects := 0
	err := b.List(context.Background(), segment.BatchesDir, "", func(info objstore.ObjectInfo) error {
		objects++
		data, err := b.Get(context.Background(), info.Key, 0)
		if err != nil {
			return err
		}
		seg, err := segment.Decode(data, segment.DefaultCaps())
		if err != nil {
			return fmt.Errorf("%s: %w", info.Key, err)
		}
		_, first, last, err := segment.ParseBatchKey(info.Key)
		if err != nil {
			return err
		}
		if seg.Records[0].SpoolSeq != first || seg.Records[len(seg.Records)-1].SpoolSeq != last {
			return fmt.Errorf("%s holds %d..%d", info.Key, seg.Records[0].SpoolSeq, seg.Records[len(seg.Records)-1].SpoolSeq)
		}
		for _, r := range seg.Records {
			if r.AgentID != "web-1" || r.Kind != byte(spool.KindAgent) || r.Seq == 0 {
				return fmt.Errorf("%s: record %+v lost its identity", info.Key, r)
			}
			seen[r.SpoolSeq]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return seen, objects
}

func requireExactlyOnce(t *testing.T, seen map[uint64]int, through uint64) {
	t.Helper()
	var missing, doubled []uint64
	for s := uint64(1); s <= through; s++ {
		switch seen[s] {
		case 0:
			missing = append(missing, s)
		case 1:
		default:
			doubled = append(doubled, s)
		}
	}
	if len(missing)+len(doubled) > 0 || len(seen) != int(through) {
		t.Fatalf("spool seqs 1..%d: missing %v, landed twice %v, %d distinct landed", through, missing, doubled, len(seen))
	}
}

func newLander(t *testing.T, b objstore.Bucket, sp *spool.Spool, maxSeg int) *Lander {
	t.Helper()
	l, err := New(b, sp, sp, Options{Collector: "c1", Interval: 20 * time.Millisecond, MaxSegmentBytes: maxSeg})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLandAllCutsSegmentsAndAdvancesCursor(t *testing.T) {
	sp := openSpool(t)
	b := memory.New()
	add(t, sp, "web-1", 1, 50)
	l := newLander(t, b, sp, 1000)
	n, err := l.LandAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	seen, objects := landed(t, b)
	requireExactlyOnce(t, seen, 50)
	if n != objects || objects < 2 {
		t.Fatalf("LandAll reported %d segments, bucket has %d; want several (1000-byte cap)", n, objects)
	}
	if l.Landed() != 50 {
		t.Fatalf("cursor %d, want 50", l.Landed())
	}
	// Nothing new: nothing uploaded.
	if n, err := l.LandAll(context.Background()); err != nil || n != 0 {
		t.Fatalf("second pass: %d segments, %v", n, err)
	}
	if _, err := b.Stat(context.Background(), segment.CollectorIndexKey("c1")); err != nil {
		t.Fatalf("collector index: %v", err)
	}
	// A new Lander on the same spool resumes from the saved cursor.
	add(t, sp, "web-1", 51, 3)
	if n, err := newLander(t, b, sp, 1000).LandAll(context.Background()); err != nil || n != 1 {
		t.Fatalf("after restart: %d segments, %v", n, err)
	}
	seen, _ = landed(t, b)
	requireExactlyOnce(t, seen, 53)
}

func TestStoreDownKeepsRecordsAndCatchesUp(t *testing.T) {
	sp := openSpool(t)
	b := &flaky{Bucket: memory.New()}
	b.down.Store(true)
	add(t, sp, "web-1", 1, 10)
	l := newLander(t, b, sp, 1<<20)
	if _, err := l.LandAll(context.Background()); !errors.Is(err, errDown) {
		t.Fatalf("LandAll with the store down: %v", err)
	}
	if l.Landed() != 0 {
		t.Fatalf("cursor moved to %d while the store was down", l.Landed())
	}
	add(t, sp, "web-1", 11, 10)
	b.down.Store(false)
	if _, err := l.LandAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	seen, _ := landed(t, b)
	requireExactlyOnce(t, seen, 20)
}

func TestLostAckIsNotLandedTwice(t *testing.T) {
	sp := openSpool(t)
	b := &flaky{Bucket: memory.New()}
	add(t, sp, "web-1", 1, 5)
	l := newLander(t, b, sp, 1<<20)
	b.putThenFail.Store(true) // stored, but the lander hears an error
	if _, err := l.LandAll(context.Background()); err == nil {
		t.Fatal("lost ack not reported")
	}
	b.putThenFail.Store(false)
	// More records arrive before the retry: without the pending mark the
	// retry would land 1..8 under a new key beside 1..5.
	add(t, sp, "web-1", 6, 3)
	if _, err := newLander(t, b, sp, 1<<20).LandAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	seen, objects := landed(t, b)
	requireExactlyOnce(t, seen, 8)
	if objects != 2 {
		t.Fatalf("%d segments, want 2 (1..5 and 6..8)", objects)
	}
}

func TestPendingUploadRedoneUnderSameKey(t *testing.T) {
	sp := openSpool(t)
	b := &flaky{Bucket: memory.New()}
	add(t, sp, "web-1", 1, 4)
	l := newLander(t, b, sp, 1<<20)
	b.down.Store(true) // pending saved, PUT fails: a crash at the same point looks alike
	if _, err := l.LandAll(context.Background()); err == nil {
		t.Fatal("failure not reported")
	}
	st, err := l.load()
	if err != nil || st.Pending == nil || st.Pending.First != 1 || st.Pending.Last != 4 {
		t.Fatalf("pending = %+v, %v", st.Pending, err)
	}
	add(t, sp, "web-1", 5, 4)
	b.down.Store(false)
	if _, err := newLander(t, b, sp, 1<<20).LandAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(context.Background(), st.Pending.Key); err != nil {
		t.Fatalf("pending key %s not used: %v", st.Pending.Key, err)
	}
	seen, _ := landed(t, b)
	requireExactlyOnce(t, seen, 8)
}

func TestRunLandsInBackgroundAndRetries(t *testing.T) {
	sp := openSpool(t)
	b := &flaky{Bucket: memory.New()}
	b.down.Store(true)
	l := newLander(t, b, sp, 4096)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	defer func() { cancel(); <-done }()
	add(t, sp, "web-1", 1, 30)
	time.Sleep(100 * time.Millisecond) // a few failing passes
	if l.Landed() != 0 {
		t.Fatal("landed while down")
	}
	b.down.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for l.Landed() < 30 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	seen, _ := landed(t, b)
	requireExactlyOnce(t, seen, 30)
}

func TestUnreadableCursorIsAnError(t *testing.T) {
	sp := openSpool(t)
	if err := sp.SaveState(context.Background(), StateKey, []byte("{nope")); err != nil {
		t.Fatal(err)
	}
	if _, err := New(memory.New(), sp, sp, Options{Collector: "c"}); err == nil {
		t.Fatal("corrupt cursor accepted")
	}
	if _, err := New(memory.New(), sp, sp, Options{}); err == nil {
		t.Fatal("missing collector id accepted")
	}
}

func TestBackoffStaysUnderInterval(t *testing.T) {
	for f := 1; f <= 20; f++ {
		// 0.5 s doubling per failure, ±20% jitter, never above the interval.
		want := min(500*time.Millisecond<<min(f-1, 10), 3*time.Second)
		lo, hi := time.Duration(float64(want)*0.8), time.Duration(float64(want)*1.2)
		if want == 3*time.Second {
			lo, hi = 3*time.Second*8/10, 3*time.Second
		}
		if d := backoff(f, 3*time.Second); d < lo || d > hi {
			t.Fatalf("backoff(%d) = %v, want within [%v, %v]", f, d, lo, hi)
		}
	}
}

// snapshot is a spool whose LastSeq the test sets, standing in for records
// that arrive while a pass runs.
type snapshot struct {
	*spool.Spool
	last uint64
}

func (s *snapshot) LastSeq() uint64 { return s.last }

func TestPassLandsWhatWasStoredWhenItBegan(t *testing.T) {
	sp := openSpool(t)
	b := memory.New()
	add(t, sp, "web-1", 1, 10)
	src := &snapshot{Spool: sp, last: 5}
	l, err := New(b, src, sp, Options{Collector: "c1", MaxSegmentBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := l.LandAll(context.Background()); err != nil || n != 1 || l.Landed() != 5 {
		t.Fatalf("first pass: %d segments, landed %d, %v; want one segment 1..5", n, l.Landed(), err)
	}
	src.last = 10
	if n, err := l.LandAll(context.Background()); err != nil || n != 1 || l.Landed() != 10 {
		t.Fatalf("second pass: %d segments, landed %d, %v; want one segment 6..10", n, l.Landed(), err)
	}
	seen, objects := landed(t, b)
	requireExactlyOnce(t, seen, 10)
	if objects != 2 {
		t.Fatalf("%d segments, want 2", objects)
	}
}
