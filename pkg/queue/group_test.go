package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
)

func TestConcurrentAppends(t *testing.T) {
	const writers, each = 64, 200
	groups := &groupLog{}
	q, _ := openTest(t, Options{OnCommit: groups.hook}) // real fsyncs
	before := q.Stats()

	var (
		mu   sync.Mutex
		seqs = map[uint64]string{}
		wg   sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("w%02d-i%03d", w, i)
				r, err := q.Append(context.Background(), Entry{Build: func(seq uint64) ([]byte, error) {
					return fmt.Appendf(nil, "%s seq=%d", id, seq), nil
				}})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if prev, dup := seqs[r.Seq]; dup {
					t.Errorf("seq %d returned to %s and %s", r.Seq, prev, id)
				}
				seqs[r.Seq] = id
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	const appends = writers * each
	order, got := scanAll(t, q, 0)
	if len(order) != appends || len(seqs) != appends {
		t.Fatalf("stored %d records, %d distinct seqs returned; want %d", len(order), len(seqs), appends)
	}
	seen := map[string]bool{}
	for i, seq := range order {
		if seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d: seqs must be dense and ordered", i, seq)
		}
		want := fmt.Sprintf("%s seq=%d", seqs[seq], seq)
		if string(got[seq]) != want {
			t.Fatalf("record %d = %q, want %q", seq, got[seq], want)
		}
		if seen[seqs[seq]] {
			t.Fatalf("%s stored twice", seqs[seq])
		}
		seen[seqs[seq]] = true
	}

	st := q.Stats()
	fsyncs := st.Fsyncs - before.Fsyncs
	sizes := groups.snapshot()
	total, largest := 0, 0
	for _, n := range sizes {
		total += n
		largest = max(largest, n)
	}
	t.Logf("%d appends in %d fsyncs (%.1f per fsync), largest group %d", appends, fsyncs, float64(appends)/float64(fsyncs), largest)
	if total != appends || uint64(len(sizes)) != fsyncs {
		t.Errorf("OnCommit saw %d entries in %d groups; want %d entries in %d groups", total, len(sizes), appends, fsyncs)
	}
	if largest < 2 || fsyncs >= appends {
		t.Errorf("no group commit: largest group %d, %d fsyncs for %d appends", largest, fsyncs, appends)
	}
}

// TestGroupCommitTakesEveryWaitingAppend makes the group boundary
// deterministic: while the committer is parked, appends queue up, and the
// next commit must take all of them in one transaction and one fsync.
func TestGroupCommitTakesEveryWaitingAppend(t *testing.T) {
	groups := &groupLog{}
	q, _ := openTest(t, Options{OnCommit: groups.hook})
	release := stall(t, q)
	const n = 10
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := q.Append(context.Background(), Entry{Data: []byte("x")}); err != nil {
				t.Error(err)
			}
		})
	}
	waitQueued(t, q, n)
	release()
	wg.Wait()
	if g := groups.snapshot(); !slices.Equal(g, []int{1, n}) {
		t.Errorf("groups = %v, want [1 %d]", g, n)
	}
	if st := q.Stats(); st.Fsyncs != 2 || st.Commits != 2 {
		t.Errorf("Stats = %+v, want 2 commits and 2 fsyncs", st)
	}
}

func TestGroupSizeIsCapped(t *testing.T) {
	groups := &groupLog{}
	q, _ := openTest(t, Options{NoSync: true, OnCommit: groups.hook})
	release := stall(t, q)
	n := maxGroupEntries + 5 // more than the channel holds: some wait to send
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := q.Append(context.Background(), Entry{Data: []byte("x")}); err != nil {
				t.Error(err)
			}
		})
	}
	waitQueued(t, q, maxGroupEntries)
	release()
	wg.Wait()
	total := 0
	for _, s := range groups.snapshot() {
		if s > maxGroupEntries {
			t.Errorf("group of %d entries exceeds the cap %d", s, maxGroupEntries)
		}
		total += s
	}
	if total != n+1 {
		t.Errorf("committed %d entries, want %d", total, n+1)
	}
}

func TestAppendCancelledBeforeCommit(t *testing.T) {
	q, _ := openTest(t, Options{NoSync: true})
	release := stall(t, q)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := q.Append(ctx, Entry{Data: []byte("withdrawn"), State: []KV{{[]byte("s"), []byte("k"), []byte("v")}}})
		errc <- err
	}()
	waitQueued(t, q, 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Append = %v, want context.Canceled", err)
	}
	release()
	// One more append flushes the committer past the withdrawn request.
	if r := mustAppend(t, q, Entry{Data: []byte("after")}); r.Seq != 2 {
		t.Errorf("next seq = %d, want 2: the withdrawn entry must take none", r.Seq)
	}
	if order, _ := scanAll(t, q, 0); !slices.Equal(order, []uint64{1, 2}) {
		t.Errorf("stored %v, want [1 2]", order)
	}
	if v, _ := q.State([]byte("s"), []byte("k")); v != nil {
		t.Errorf("state of withdrawn entry written: %q", v)
	}
	if _, err := q.Append(ctx, Entry{Data: []byte("x")}); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with done ctx = %v, want context.Canceled", err)
	}
}

// Once its commit has started, a caller gets the real outcome even if it
// gives up waiting: otherwise it would believe a stored record was lost.
func TestAppendCancelledDuringCommitGetsResult(t *testing.T) {
	q, _ := openTest(t, Options{NoSync: true})
	ctx, cancel := context.WithCancel(context.Background())
	r, err := q.Append(ctx, Entry{Build: func(seq uint64) ([]byte, error) {
		cancel() // the commit is under way
		return []byte("kept"), nil
	}})
	if err != nil || r.Seq != 1 {
		t.Fatalf("Append = %+v, %v; want seq 1", r, err)
	}
	if data, err := q.Get(1); err != nil || string(data) != "kept" {
		t.Errorf("Get = %q, %v", data, err)
	}
}
