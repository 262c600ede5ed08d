package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestCaps(t *testing.T) {
	type step struct {
		size    int
		seq     uint64  // 0: must fail with ErrFull
		dropped Dropped // expected Result.Dropped
	}
	cases := []struct {
		name        string
		opts        Options
		steps       []step
		wantRecords int
		wantBytes   int64
		wantFirst   uint64
	}{
		{
			name: "drop oldest by records",
			opts: Options{MaxRecords: 3},
			steps: []step{{10, 1, Dropped{}}, {10, 2, Dropped{}}, {10, 3, Dropped{}},
				{10, 4, Dropped{1, 10, 1, 1}}, {20, 5, Dropped{1, 10, 2, 2}}},
			wantRecords: 3, wantBytes: 40, wantFirst: 3,
		},
		{
			name: "drop oldest by bytes",
			opts: Options{MaxBytes: 25},
			steps: []step{{10, 1, Dropped{}}, {10, 2, Dropped{}}, {5, 3, Dropped{}},
				{20, 4, Dropped{2, 20, 1, 2}}, {5, 5, Dropped{1, 5, 3, 3}}, {1, 6, Dropped{1, 20, 4, 4}}},
			wantRecords: 2, wantBytes: 6, wantFirst: 5,
		},
		{
			name:        "record larger than the byte cap is refused, nothing dropped",
			opts:        Options{MaxBytes: 25},
			steps:       []step{{10, 1, Dropped{}}, {26, 0, Dropped{}}, {10, 2, Dropped{}}},
			wantRecords: 2, wantBytes: 20, wantFirst: 1,
		},
		{
			name:        "refuse new by records",
			opts:        Options{MaxRecords: 2, OnFull: RefuseNew},
			steps:       []step{{10, 1, Dropped{}}, {10, 2, Dropped{}}, {10, 0, Dropped{}}, {0, 0, Dropped{}}},
			wantRecords: 2, wantBytes: 20, wantFirst: 1,
		},
		{
			name:        "refuse new by bytes",
			opts:        Options{MaxBytes: 15, OnFull: RefuseNew},
			steps:       []step{{10, 1, Dropped{}}, {6, 0, Dropped{}}, {5, 2, Dropped{}}},
			wantRecords: 2, wantBytes: 15, wantFirst: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.NoSync = true
			q, _ := openTest(t, tc.opts)
			for i, s := range tc.steps {
				r, err := q.Append(context.Background(), Entry{Data: make([]byte, s.size)})
				if s.seq == 0 {
					if !errors.Is(err, ErrFull) {
						t.Fatalf("step %d: %+v, %v; want ErrFull", i, r, err)
					}
					continue
				}
				if err != nil || r.Seq != s.seq || r.Dropped != s.dropped {
					t.Fatalf("step %d: %+v, %v; want seq %d dropped %+v", i, r, err, s.seq, s.dropped)
				}
			}
			st := q.Stats()
			if st.Records != tc.wantRecords || st.Bytes != tc.wantBytes || st.FirstSeq != tc.wantFirst {
				t.Errorf("Stats = %+v, want %d records, %d bytes, first %d", st, tc.wantRecords, tc.wantBytes, tc.wantFirst)
			}
			order, got := scanAll(t, q, 0)
			var stored int64
			for _, d := range got {
				stored += int64(len(d))
			}
			if len(order) != st.Records || stored != st.Bytes || (len(order) > 0 && order[0] != st.FirstSeq) {
				t.Errorf("stored %v (%d bytes) disagrees with Stats %+v", order, stored, st)
			}
		})
	}
}

func TestDropOldestForgetsDedupe(t *testing.T) {
	q, _ := openTest(t, Options{NoSync: true, MaxRecords: 2})
	mustAppend(t, q, Entry{Data: []byte("a"), DedupeKey: []byte("a")})
	mustAppend(t, q, Entry{Data: []byte("b"), DedupeKey: []byte("b")})
	mustAppend(t, q, Entry{Data: []byte("c"), DedupeKey: []byte("c")}) // drops seq 1
	if _, ok, _ := q.Dedupe([]byte("a")); ok {
		t.Error("dedupe key of a dropped record is still known")
	}
	if seq, ok, _ := q.Dedupe([]byte("b")); !ok || seq != 2 {
		t.Errorf("Dedupe(b) = %d, %v; want 2", seq, ok)
	}
}

func TestMoveAside(t *testing.T) {
	ctx := context.Background()
	q, path := openTest(t, Options{NoSync: true})
	for _, s := range []string{"one", "two", "three"} {
		mustAppend(t, q, Entry{Data: []byte(s)})
	}
	if err := q.MoveAside(ctx, 2, "rejected: max_series_per_batch"); err != nil {
		t.Fatal(err)
	}
	if err := q.MoveAside(ctx, 2, "again"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second MoveAside = %v, want ErrNotFound", err)
	}
	if _, err := q.Get(2); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get moved record = %v, want ErrNotFound", err)
	}
	if order, _ := scanAll(t, q, 0); !slices.Equal(order, []uint64{1, 3}) {
		t.Errorf("Scan = %v", order)
	}
	want := Stats{Records: 2, Bytes: 8, FirstSeq: 1, LastSeq: 3, Dead: 1}
	if st := q.Stats(); st.Records != want.Records || st.Bytes != want.Bytes || st.Dead != want.Dead {
		t.Errorf("Stats = %+v, want %+v", st, want)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q = openAt(t, path, Options{NoSync: true})
	if st := q.Stats(); st.Records != want.Records || st.Bytes != want.Bytes || st.Dead != want.Dead || st.FirstSeq != 1 || st.LastSeq != 3 {
		t.Errorf("Stats after reopen = %+v, want %+v", st, want)
	}
	// Retention prunes dead records too.
	if _, err := q.DeleteThrough(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if st := q.Stats(); st.Dead != 0 || st.Records != 1 || st.FirstSeq != 3 {
		t.Errorf("Stats after DeleteThrough(2) = %+v", st)
	}
}

func TestDeleteThrough(t *testing.T) {
	ctx := context.Background()
	q, path := openTest(t, Options{NoSync: true})
	for i := 1; i <= 10; i++ {
		mustAppend(t, q, Entry{Data: make([]byte, i), DedupeKey: fmt.Appendf(nil, "k%d", i)})
	}
	if err := q.Delete(ctx, 3); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		through   uint64
		want      Dropped
		wantFirst uint64
	}{
		{0, Dropped{}, 1},
		{5, Dropped{Records: 4, Bytes: 1 + 2 + 4 + 5, FirstSeq: 1, LastSeq: 5}, 6},
		{5, Dropped{}, 6},
		{7, Dropped{Records: 2, Bytes: 6 + 7, FirstSeq: 6, LastSeq: 7}, 8},
	}
	for _, tc := range cases {
		d, err := q.DeleteThrough(ctx, tc.through)
		if err != nil || d != tc.want {
			t.Errorf("DeleteThrough(%d) = %+v, %v; want %+v", tc.through, d, err, tc.want)
		}
		if st := q.Stats(); st.FirstSeq != tc.wantFirst {
			t.Errorf("after DeleteThrough(%d): FirstSeq %d, want %d", tc.through, st.FirstSeq, tc.wantFirst)
		}
	}
	for i, want := range map[int]bool{3: false, 7: false, 8: true, 10: true} {
		if _, ok, _ := q.Dedupe(fmt.Appendf(nil, "k%d", i)); ok != want {
			t.Errorf("dedupe key k%d known = %v, want %v", i, ok, want)
		}
	}
	if d, err := q.DeleteThrough(ctx, 100); err != nil || d.Records != 3 {
		t.Errorf("DeleteThrough(100) = %+v, %v", d, err)
	}
	// Sequence numbers are never reused, not even once the queue is empty
	// and reopened.
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q = openAt(t, path, Options{NoSync: true})
	if st := q.Stats(); st.Records != 0 || st.Bytes != 0 || st.FirstSeq != 0 || st.LastSeq != 10 {
		t.Errorf("Stats of emptied queue = %+v", st)
	}
	if r := mustAppend(t, q, Entry{Data: []byte("x"), DedupeKey: []byte("k2")}); r.Seq != 11 || r.Duplicate {
		t.Errorf("Append after retention = %+v, want new seq 11", r)
	}
}
