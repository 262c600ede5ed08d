package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	q, _ := openTest(t, Options{NoSync: true})
	payloads := []struct {
		name string
		data []byte
	}{
		{"empty", []byte{}},
		{"one byte", []byte{0}},
		{"text", []byte("cpu_seconds_total 12.5")},
		{"binary", []byte{0xff, 0, 0x80, 1, 2, 3}},
		{"overflow page", bytes.Repeat([]byte("0123456789abcdef"), 8192)},
	}
	var total int64
	for i, p := range payloads {
		r := mustAppend(t, q, Entry{Data: p.data})
		if want := uint64(i + 1); r.Seq != want || r.Duplicate {
			t.Fatalf("%s: Append = %+v, want seq %d", p.name, r, want)
		}
		total += int64(len(p.data))
	}
	for i, p := range payloads {
		got, err := q.Get(uint64(i + 1))
		if err != nil || !bytes.Equal(got, p.data) {
			t.Errorf("%s: Get = %d bytes, %v; want %d bytes", p.name, len(got), err, len(p.data))
		}
	}
	order, got := scanAll(t, q, 0)
	if !slices.Equal(order, []uint64{1, 2, 3, 4, 5}) {
		t.Errorf("Scan order %v", order)
	}
	for i, p := range payloads {
		if !bytes.Equal(got[uint64(i+1)], p.data) {
			t.Errorf("%s: Scan data differs", p.name)
		}
	}
	if order, _ := scanAll(t, q, 4); !slices.Equal(order, []uint64{4, 5}) {
		t.Errorf("Scan from 4: %v", order)
	}
	if st := q.Stats(); st.Records != 5 || st.Bytes != total || st.FirstSeq != 1 || st.LastSeq != 5 {
		t.Errorf("Stats = %+v, want 5 records, %d bytes, seqs 1..5", st, total)
	}

	if err := q.Delete(context.Background(), 2, 4, 99); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := q.Delete(context.Background(), 2); err != nil {
		t.Errorf("repeated Delete: %v", err)
	}
	for _, seq := range []uint64{2, 4, 99} {
		if _, err := q.Get(seq); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%d) after Delete: %v, want ErrNotFound", seq, err)
		}
	}
	if order, _ := scanAll(t, q, 0); !slices.Equal(order, []uint64{1, 3, 5}) {
		t.Errorf("Scan after Delete: %v", order)
	}
	want := total - int64(len(payloads[1].data)+len(payloads[3].data))
	if st := q.Stats(); st.Records != 3 || st.Bytes != want || st.FirstSeq != 1 || st.LastSeq != 5 {
		t.Errorf("Stats after Delete = %+v, want 3 records, %d bytes", st, want)
	}
}

func TestScan(t *testing.T) {
	ctx := context.Background()
	const n = 3*scanChunkRecords + 7
	q, _ := openTest(t, Options{NoSync: true})
	for i := 1; i <= n; i++ {
		mustAppend(t, q, Entry{Data: []byte(fmt.Sprint(i))})
	}

	t.Run("order across chunks", func(t *testing.T) {
		order, got := scanAll(t, q, 0)
		if len(order) != n {
			t.Fatalf("saw %d records, want %d", len(order), n)
		}
		for i, seq := range order {
			if seq != uint64(i+1) || string(got[seq]) != fmt.Sprint(i+1) {
				t.Fatalf("record %d: seq %d data %q", i, seq, got[seq])
			}
		}
	})
	t.Run("fn error stops and is returned", func(t *testing.T) {
		stop := errors.New("stop")
		seen := 0
		err := q.Scan(ctx, 0, func(uint64, []byte) error {
			seen++
			if seen == 300 {
				return stop
			}
			return nil
		})
		if err != stop || seen != 300 {
			t.Errorf("Scan = %v after %d records, want stop after 300", err, seen)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		seen := 0
		err := q.Scan(cctx, 0, func(uint64, []byte) error {
			seen++
			if seen == 10 {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) || seen != 10 {
			t.Errorf("Scan = %v after %d records, want Canceled after 10", err, seen)
		}
	})
	t.Run("ends at the last record present at start", func(t *testing.T) {
		last := q.Stats().LastSeq
		seen := 0
		err := q.Scan(ctx, last-5, func(uint64, []byte) error {
			seen++
			_, err := q.Append(ctx, Entry{Data: []byte("later")})
			return err
		})
		if err != nil || seen != 6 {
			t.Errorf("Scan = %v after %d records, want 6", err, seen)
		}
	})
	t.Run("fn may delete", func(t *testing.T) {
		err := q.Scan(ctx, 0, func(seq uint64, _ []byte) error { return q.Delete(ctx, seq) })
		if err != nil {
			t.Fatalf("Scan: %v", err)
		}
		if st := q.Stats(); st.Records != 0 || st.Bytes != 0 || st.FirstSeq != 0 {
			t.Errorf("Stats after deleting every record = %+v", st)
		}
	})
	t.Run("chunks by bytes", func(t *testing.T) {
		big := bytes.Repeat([]byte{7}, scanChunkBytes/2+1)
		var want []uint64
		for range 3 {
			want = append(want, mustAppend(t, q, Entry{Data: big}).Seq)
		}
		order, got := scanAll(t, q, want[0])
		if !slices.Equal(order, want) {
			t.Fatalf("Scan = %v, want %v", order, want)
		}
		for _, s := range want {
			if !bytes.Equal(got[s], big) {
				t.Errorf("record %d differs", s)
			}
		}
	})
}

func TestBuildGetsAssignedSeq(t *testing.T) {
	q, _ := openTest(t, Options{NoSync: true})
	for i := range 5 {
		var built uint64
		r := mustAppend(t, q, Entry{Build: func(seq uint64) ([]byte, error) {
			built = seq
			return binary.BigEndian.AppendUint64(nil, seq), nil
		}})
		if built != r.Seq || r.Seq != uint64(i+1) {
			t.Fatalf("Build got seq %d, Append returned %d, want %d", built, r.Seq, i+1)
		}
		data, err := q.Get(r.Seq)
		if err != nil || binary.BigEndian.Uint64(data) != r.Seq {
			t.Fatalf("Get(%d) = %x, %v", r.Seq, data, err)
		}
	}
}

func TestFailingBuildFailsOnlyItsEntry(t *testing.T) {
	ctx := context.Background()
	groups := &groupLog{}
	q, _ := openTest(t, Options{NoSync: true, OnCommit: groups.hook})
	release := stall(t, q)

	errBuild := errors.New("cannot encode")
	entries := []struct {
		name    string
		entry   Entry
		wantErr error // nil: must succeed
	}{
		{"data", Entry{Data: []byte("a")}, nil},
		{"build error", Entry{Build: func(uint64) ([]byte, error) { return nil, errBuild }, State: []KV{{[]byte("s"), []byte("bad"), []byte("x")}}}, errBuild},
		{"build", Entry{Build: func(uint64) ([]byte, error) { return []byte("b"), nil }}, nil},
		{"build panic", Entry{Build: func(uint64) ([]byte, error) { panic("boom") }}, errAny},
		{"state", Entry{Data: []byte("c"), State: []KV{{[]byte("s"), []byte("good"), []byte("y")}}}, nil},
	}
	type out struct {
		r   Result
		err error
	}
	outs := make([]chan out, len(entries))
	for i, e := range entries {
		outs[i] = make(chan out, 1)
		go func() {
			r, err := q.Append(ctx, e.entry)
			outs[i] <- out{r, err}
		}()
		waitQueued(t, q, i+1) // keep the queue order equal to the table order
	}
	release()

	var seqs []uint64
	for i, e := range entries {
		o := <-outs[i]
		switch {
		case e.wantErr == nil && o.err != nil:
			t.Errorf("%s: %v", e.name, o.err)
		case e.wantErr == nil:
			seqs = append(seqs, o.r.Seq)
		case o.err == nil:
			t.Errorf("%s: succeeded, want an error", e.name)
		case e.wantErr != errAny && !errors.Is(o.err, e.wantErr):
			t.Errorf("%s: %v, want %v", e.name, o.err, e.wantErr)
		}
	}
	// Failed builds take no sequence number: the good ones follow the
	// stalled record (seq 1) without gaps.
	if !slices.Equal(seqs, []uint64{2, 3, 4}) {
		t.Errorf("seqs of good entries = %v, want [2 3 4]", seqs)
	}
	if g := groups.snapshot(); !slices.Equal(g, []int{1, len(entries)}) {
		t.Errorf("groups = %v, want [1 %d]: the failures must not split or fail the group", g, len(entries))
	}
	if v, _ := q.State([]byte("s"), []byte("bad")); v != nil {
		t.Errorf("state of failed entry was written: %q", v)
	}
	if v, _ := q.State([]byte("s"), []byte("good")); string(v) != "y" {
		t.Errorf("state of good entry = %q, want y", v)
	}
}

// errAny marks a table row that must fail with any error.
var errAny = errors.New("any error")

func TestInvalidEntries(t *testing.T) {
	q, _ := openTest(t, Options{NoSync: true})
	build := func(uint64) ([]byte, error) { return nil, nil }
	cases := []struct {
		name string
		e    Entry
	}{
		{"neither data nor build", Entry{}},
		{"both data and build", Entry{Data: []byte("x"), Build: build}},
		{"empty state bucket", Entry{Data: []byte("x"), State: []KV{{nil, []byte("k"), []byte("v")}}}},
		{"empty state key", Entry{Data: []byte("x"), State: []KV{{[]byte("b"), nil, []byte("v")}}}},
		{"oversized dedupe key", Entry{Data: []byte("x"), DedupeKey: make([]byte, 40000)}},
	}
	for _, tc := range cases {
		if _, err := q.Append(context.Background(), tc.e); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if err := q.PutState(context.Background(), KV{nil, []byte("k"), []byte("v")}); err == nil {
		t.Error("PutState with empty bucket accepted")
	}
	if st := q.Stats(); st.Records != 0 || st.LastSeq != 0 {
		t.Errorf("invalid entries changed the queue: %+v", st)
	}
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	q, _ := openTest(t, Options{NoSync: true})
	mustAppend(t, q, Entry{Data: []byte("x")})
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Append":        func() error { _, err := q.Append(ctx, Entry{Data: []byte("y")}); return err },
		"Scan":          func() error { return q.Scan(ctx, 0, func(uint64, []byte) error { return nil }) },
		"Get":           func() error { _, err := q.Get(1); return err },
		"Delete":        func() error { return q.Delete(ctx, 1) },
		"DeleteThrough": func() error { _, err := q.DeleteThrough(ctx, 1); return err },
		"MoveAside":     func() error { return q.MoveAside(ctx, 1, "x") },
		"Dedupe":        func() error { _, _, err := q.Dedupe([]byte("k")); return err },
		"State":         func() error { _, err := q.State([]byte("b"), []byte("k")); return err },
		"ScanState":     func() error { return q.ScanState([]byte("b"), func(k, v []byte) error { return nil }) },
		"PutState":      func() error { return q.PutState(ctx, KV{[]byte("b"), []byte("k"), []byte("v")}) },
		"Close":         q.Close,
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

func TestCloseDrainsPendingAppends(t *testing.T) {
	q, path := openTest(t, Options{NoSync: true})
	release := stall(t, q)
	const n = 20
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := q.Append(context.Background(), Entry{Data: []byte("p")})
			errs <- err
		}()
	}
	waitQueued(t, q, n)
	closed := make(chan error, 1)
	go func() { closed <- q.Close() }()
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("pending Append during Close: %v", err)
		}
	}
	q = openAt(t, path, Options{NoSync: true})
	if st := q.Stats(); st.Records != n+1 {
		t.Errorf("Records after Close drained = %d, want %d", st.Records, n+1)
	}
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "lib", "lightmetrics")
	path := filepath.Join(dir, "queue.db")
	openAt(t, path, Options{})
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got&^want != 0 {
			t.Errorf("%s mode %v, want at most %v", p, got, want)
		}
	}
	if _, err := Open(path, Options{MaxRecords: -1}); err == nil {
		t.Error("negative cap accepted")
	}
}

func TestFirstSeqAppliesToNewFilesOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "q.db")
	q, err := Open(path, Options{FirstSeq: 1000})
	if err != nil {
		t.Fatal(err)
	}
	res, err := q.Append(ctx, Entry{Data: []byte("a")})
	if err != nil || res.Seq != 1001 {
		t.Fatalf("first append: seq %d, %v; want 1001", res.Seq, err)
	}
	q.Close()
	q, err = Open(path, Options{FirstSeq: 5000})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	res, err = q.Append(ctx, Entry{Data: []byte("b")})
	if err != nil || res.Seq != 1002 {
		t.Fatalf("append after reopen: seq %d, %v; want 1002 (an existing file keeps its sequence)", res.Seq, err)
	}
}
