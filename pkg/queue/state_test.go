package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestDedupe(t *testing.T) {
	ctx := context.Background()
	key := []byte("agent-1/42")

	t.Run("across groups and reopen", func(t *testing.T) {
		q, path := openTest(t, Options{NoSync: true})
		first := mustAppend(t, q, Entry{Data: []byte("x"), DedupeKey: key, State: []KV{{[]byte("s"), []byte("k"), []byte("1")}}})
		again := mustAppend(t, q, Entry{Data: []byte("y"), DedupeKey: key, State: []KV{{[]byte("s"), []byte("k"), []byte("2")}}})
		if first.Duplicate || !again.Duplicate || again.Seq != first.Seq {
			t.Fatalf("first %+v, again %+v", first, again)
		}
		if v, _ := q.State([]byte("s"), []byte("k")); string(v) != "1" {
			t.Errorf("a duplicate applied its state: %q", v)
		}
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
		q = openAt(t, path, Options{NoSync: true})
		r := mustAppend(t, q, Entry{Data: []byte("z"), DedupeKey: key})
		if !r.Duplicate || r.Seq != first.Seq {
			t.Errorf("after reopen: %+v, want duplicate of %d", r, first.Seq)
		}
		if seq, ok, err := q.Dedupe(key); err != nil || !ok || seq != first.Seq {
			t.Errorf("Dedupe = %d, %v, %v", seq, ok, err)
		}
		if _, ok, _ := q.Dedupe([]byte("unknown")); ok {
			t.Error("Dedupe found an unknown key")
		}
		// The key outlives Delete: a retry after upload is still a duplicate.
		if err := q.Delete(ctx, first.Seq); err != nil {
			t.Fatal(err)
		}
		if r := mustAppend(t, q, Entry{Data: []byte("w"), DedupeKey: key}); !r.Duplicate {
			t.Errorf("after Delete: %+v, want duplicate", r)
		}
		if st := q.Stats(); st.Records != 0 || st.LastSeq != 1 {
			t.Errorf("Stats = %+v, want nothing stored beyond seq 1", st)
		}
	})

	t.Run("within one group", func(t *testing.T) {
		groups := &groupLog{}
		q, _ := openTest(t, Options{NoSync: true, OnCommit: groups.hook})
		release := stall(t, q)
		results := make(chan Result, 2)
		for i := range 2 {
			go func() {
				r, err := q.Append(ctx, Entry{Data: []byte{byte(i)}, DedupeKey: key})
				if err != nil {
					t.Error(err)
				}
				results <- r
			}()
		}
		waitQueued(t, q, 2)
		release()
		a, b := <-results, <-results
		if a.Duplicate == b.Duplicate || a.Seq != b.Seq || a.Seq != 2 {
			t.Errorf("results %+v and %+v: want one stored as seq 2 and one duplicate of it", a, b)
		}
		if g := groups.snapshot(); !slices.Equal(g, []int{1, 2}) {
			t.Errorf("groups = %v, want [1 2]", g)
		}
		if st := q.Stats(); st.Records != 2 {
			t.Errorf("Records = %d, want 2 (stall + one)", st.Records)
		}
	})
}

func TestStateAtomicWithRecord(t *testing.T) {
	ctx := context.Background()
	bucket, key := []byte("offsets"), []byte("/var/log/syslog")

	t.Run("both", func(t *testing.T) {
		q, path := openTest(t, Options{})
		r := mustAppend(t, q, Entry{Data: []byte("batch"), State: []KV{{bucket, key, []byte("4096")}}})
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
		q = openAt(t, path, Options{})
		if data, err := q.Get(r.Seq); err != nil || string(data) != "batch" {
			t.Errorf("record after reopen: %q, %v", data, err)
		}
		if v, err := q.State(bucket, key); err != nil || string(v) != "4096" {
			t.Errorf("state after reopen: %q, %v", v, err)
		}
	})

	t.Run("neither when the commit fails", func(t *testing.T) {
		q, path := openTest(t, Options{})
		errInjected := errors.New("injected I/O error")
		// Commits: 1 "kept", 2 the stalled append, 3 the group under test.
		// Only the committer goroutine touches commits.
		commits := 0
		q.beforeCommit = func() error {
			if commits++; commits == 3 {
				return errInjected
			}
			return nil
		}
		mustAppend(t, q, Entry{Data: []byte("kept")})
		release := stall(t, q)
		const n = 5
		errs := make(chan error, n)
		for i := range n {
			go func() {
				_, err := q.Append(ctx, Entry{Data: []byte("lost"), DedupeKey: []byte{byte(i)},
					State: []KV{{bucket, []byte{byte(i)}, []byte("v")}}})
				errs <- err
			}()
		}
		waitQueued(t, q, n)
		release()
		for range n {
			if err := <-errs; !errors.Is(err, errInjected) {
				t.Errorf("Append = %v, want the commit error", err)
			}
		}
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
		q = openAt(t, path, Options{})
		if st := q.Stats(); st.Records != 2 || st.LastSeq != 2 {
			t.Errorf("Stats after failed commit = %+v, want only seqs 1 (kept) and 2 (stalled)", st)
		}
		for i := range n {
			if v, _ := q.State(bucket, []byte{byte(i)}); v != nil {
				t.Errorf("state %d of a failed commit is visible", i)
			}
			if _, ok, _ := q.Dedupe([]byte{byte(i)}); ok {
				t.Errorf("dedupe key %d of a failed commit is visible", i)
			}
		}
		if r := mustAppend(t, q, Entry{Data: []byte("next")}); r.Seq != 3 {
			t.Errorf("next seq = %d, want 3: a failed commit consumes no seq", r.Seq)
		}
	})

	t.Run("PutState, ScanState and delete", func(t *testing.T) {
		q, _ := openTest(t, Options{NoSync: true})
		var kvs []KV
		for i := range 2*scanChunkRecords + 3 {
			kvs = append(kvs, KV{bucket, fmt.Appendf(nil, "k%04d", i), fmt.Appendf(nil, "v%d", i)})
		}
		if err := q.PutState(ctx, kvs...); err != nil {
			t.Fatal(err)
		}
		if err := q.PutState(ctx, KV{bucket, []byte("k0001"), nil}, KV{[]byte("absent"), []byte("x"), nil}); err != nil {
			t.Fatal(err)
		}
		var seen []string
		err := q.ScanState(bucket, func(k, v []byte) error {
			seen = append(seen, string(k)+"="+string(v))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) != len(kvs)-1 || seen[0] != "k0000=v0" || seen[1] != "k0002=v2" || !slices.IsSorted(seen) {
			t.Errorf("ScanState saw %d pairs starting %v", len(seen), seen[:min(3, len(seen))])
		}
		if v, err := q.State([]byte("absent"), []byte("x")); v != nil || err != nil {
			t.Errorf("State of absent bucket = %q, %v; want nil, nil", v, err)
		}
		if err := q.ScanState([]byte("absent"), func(k, v []byte) error { return errors.New("called") }); err != nil {
			t.Errorf("ScanState of absent bucket: %v", err)
		}
	})
}
