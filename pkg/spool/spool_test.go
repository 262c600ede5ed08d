package spool

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
)

func TestAppendDedupeAcrossReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		kind    Kind
		agent   string
		seq     uint64
		wantDup bool
	}{
		{KindAgent, "a", 1, false},
		{KindAgent, "a", 1, true},
		{KindAgent, "b", 1, false},       // other agent, same seq
		{KindRemoteWrite, "a", 1, false}, // other door, same seq
		{KindAgent, "a", 2, false},
		{KindAgent, "a\x00", 1, false}, // agent ids cannot collide through the separator
	}
	for i, st := range steps {
		_, dup, err := s.Append(ctx, st.kind, st.agent, st.seq, int64(1000+i), []byte(fmt.Sprintf("body-%d", i)))
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if dup != st.wantDup {
			t.Fatalf("step %d: duplicate=%v, want %v", i, dup, st.wantDup)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, dup, err := s.Append(ctx, KindAgent, "a", 2, 1, []byte("again")); err != nil || !dup {
		t.Fatalf("after reopen: dup=%v err=%v, want a duplicate", dup, err)
	}
	ok, err := s.Durable(KindAgent, "b", 1)
	if err != nil || !ok {
		t.Fatalf("Durable(b,1) = %v, %v", ok, err)
	}
	ok, err = s.Durable(KindAgent, "b", 2)
	if err != nil || ok {
		t.Fatalf("Durable(b,2) = %v, %v, want false", ok, err)
	}
	var bodies []string
	if err := s.Scan(ctx, 0, func(_ uint64, recv int64, data []byte) error {
		bodies = append(bodies, fmt.Sprintf("%s@%d", data, recv))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"body-0@1000", "body-2@1002", "body-3@1003", "body-4@1004", "body-5@1005"}
	if fmt.Sprint(bodies) != fmt.Sprint(want) {
		t.Fatalf("stored %v, want %v", bodies, want)
	}
}

func TestFullRefusesAndKeepsOld(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{MaxBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.Append(ctx, KindAgent, "a", 1, 0, make([]byte, 70)); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Append(ctx, KindAgent, "a", 2, 0, make([]byte, 70))
	if !errors.Is(err, ErrFull) {
		t.Fatalf("append over the cap: %v, want ErrFull", err)
	}
	if st := s.Stats(); st.Records != 1 {
		t.Fatalf("records after refusal = %d, want the 1 acknowledged", st.Records)
	}
}

func TestConcurrentAppendsStoredOnce(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const agents, seqs = 16, 20
	var wg sync.WaitGroup
	for a := 0; a < agents; a++ {
		for try := 0; try < 2; try++ { // every batch sent twice, concurrently
			wg.Add(1)
			go func(a int) {
				defer wg.Done()
				for q := 1; q <= seqs; q++ {
					if _, _, err := s.Append(ctx, KindAgent, fmt.Sprint("agent-", a), uint64(q), 0, []byte("x")); err != nil {
						t.Error(err)
						return
					}
				}
			}(a)
		}
	}
	wg.Wait()
	if got := s.Stats().Records; got != agents*seqs {
		t.Fatalf("stored %d records, want %d", got, agents*seqs)
	}
}

func TestUnreadableEnvelopeIsAnError(t *testing.T) {
	if _, _, _, err := open([]byte{9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'x'}); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("unknown version: %v", err)
	}
	if _, _, _, err := open([]byte{recordVersion, 1, 2}); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("short envelope: %v", err)
	}
	kind, recv, body, err := open(envelope(KindRemoteWrite, -5, []byte("b")))
	if err != nil || kind != KindRemoteWrite || recv != -5 || string(body) != "b" {
		t.Fatalf("round trip: %c %d %q %v", kind, recv, body, err)
	}
	// Records written by the first envelope version still read, kind 0.
	kind, recv, body, err = open([]byte{recordVersionV1, 0, 0, 0, 0, 0, 0, 0, 7, 'v'})
	if err != nil || kind != 0 || recv != 7 || string(body) != "v" {
		t.Fatalf("version 1 record: %c %d %q %v", kind, recv, body, err)
	}
}

func TestExpireBefore(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, recv := range []int64{10, 20, 30, 40} {
		if _, _, err := s.Append(ctx, KindAgent, "a", uint64(i+1), recv, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// Not landed past seq 1: only that one may go.
	d, err := s.ExpireBefore(ctx, 30, 1)
	if err != nil || d.Records != 1 {
		t.Fatalf("expire with a landing limit: %+v %v, want 1 record", d, err)
	}
	d, err = s.ExpireBefore(ctx, 30, math.MaxUint64)
	if err != nil || d.Records != 1 {
		t.Fatalf("expire: %+v %v, want 2 records", d, err)
	}
	if st := s.Stats(); st.Records != 2 || st.FirstSeq != 3 {
		t.Fatalf("after expiry: %+v", st)
	}
	if d, err := s.ExpireBefore(ctx, 5, math.MaxUint64); err != nil || d.Records != 0 {
		t.Fatalf("nothing to expire: %+v %v", d, err)
	}
}
