package follow

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/spool"
)

type seen struct {
	mu   sync.Mutex
	seqs []uint64
	recv []int64
	ids  []uint64
}

func (s *seen) Add(seq uint64, recv int64, b *batch.Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seqs = append(s.seqs, seq)
	s.recv = append(s.recv, recv)
	s.ids = append(s.ids, b.Seq)
}

func (s *seen) snapshot() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint64(nil), s.seqs...)
}

func TestFollowInSpoolOrderAndRebuild(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sp, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := codec.NewEncoder()
	defer enc.Close()
	dec, _ := codec.NewDecoder(codec.DefaultCaps())
	defer dec.Close()
	put := func(seq uint64, recv int64) {
		body, err := enc.Encode(&batch.Batch{AgentID: "a", Seq: seq})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := sp.Append(ctx, spool.KindAgent, "a", seq, recv, body); err != nil {
			t.Fatal(err)
		}
	}
	put(1, 100)
	put(2, 200)
	// A record that does not decode is skipped, not fatal.
	if _, _, err := sp.Append(ctx, spool.KindAgent, "a", 99, 300, []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	put(3, 400)

	var c seen
	f := New(sp, dec, nil, &c)
	n, err := f.CatchUp(ctx)
	if err != nil || n != 3 {
		t.Fatalf("catch up: %d, %v; want 3 batches", n, err)
	}
	if f.Undecodable() != 1 || f.Last() != 4 {
		t.Fatalf("undecodable %d last %d", f.Undecodable(), f.Last())
	}
	if got := c.snapshot(); len(got) != 3 || got[0] != 1 || got[2] != 4 || c.recv[2] != 400 || c.ids[2] != 3 {
		t.Fatalf("seen %v recv %v ids %v", got, c.recv, c.ids)
	}

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { f.Run(runCtx); close(done) }()
	put(4, 500)
	f.Nudge()
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	if err := f.Wait(wctx, 5); err != nil {
		t.Fatalf("wait for spool seq 5: %v", err)
	}
	wcancel()
	cancel()
	<-done
	if got := c.snapshot(); got[len(got)-1] != 5 {
		t.Fatalf("seen %v, want 5 last", got)
	}
	sp.Close()

	// Rebuild after restart: a new follower over the reopened spool sees
	// the same records.
	sp, err = spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	var c2 seen
	if n, err := New(sp, dec, nil, &c2).CatchUp(ctx); err != nil || n != 4 {
		t.Fatalf("rebuild: %d, %v", n, err)
	}
}

func TestWaitHonoursContext(t *testing.T) {
	f := New(nil, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Wait(ctx, 1); err == nil {
		t.Fatal("Wait on a cancelled context returned nil")
	}
}

// countingDecoder counts how often the follower decodes.
type countingDecoder struct {
	Decoder
	n int
}

func (c *countingDecoder) Decode(data []byte) (*batch.Batch, error) {
	c.n++
	return c.Decoder.Decode(data)
}

func TestOfferedBatchesAreNotDecodedAgain(t *testing.T) {
	ctx := context.Background()
	sp, err := spool.Open(t.TempDir(), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	enc, _ := codec.NewEncoder()
	defer enc.Close()
	dec, _ := codec.NewDecoder(codec.DefaultCaps())
	defer dec.Close()
	cd := &countingDecoder{Decoder: dec}
	var c seen
	f := New(sp, cd, nil, &c)
	for seq := uint64(1); seq <= 3; seq++ {
		b := &batch.Batch{AgentID: "a", Seq: seq}
		body, _ := enc.Encode(b)
		spoolSeq, _, err := sp.Append(ctx, spool.KindAgent, "a", seq, 1, body)
		if err != nil {
			t.Fatal(err)
		}
		if seq != 2 { // batch 2 is not offered: it must be decoded
			f.Offer(spoolSeq, b)
		}
	}
	if n, err := f.CatchUp(ctx); err != nil || n != 3 {
		t.Fatalf("catch up: %d %v", n, err)
	}
	if cd.n != 1 {
		t.Fatalf("decoded %d times, want 1 (only the batch not offered)", cd.n)
	}
	if got := c.snapshot(); len(got) != 3 || c.ids[1] != 2 {
		t.Fatalf("seen %v ids %v", got, c.ids)
	}
	f.offerMu.Lock()
	left := len(f.offered)
	f.offerMu.Unlock()
	if left != 0 {
		t.Fatalf("%d offered batches left behind", left)
	}
}
