package manifest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lightmetrics/lightmetrics/pkg/objstore"
	"github.com/lightmetrics/lightmetrics/pkg/objstore/memory"
	"github.com/lightmetrics/lightmetrics/pkg/segment"
	"github.com/lightmetrics/lightmetrics/pkg/spool"
)

func rec(agent string, seq uint64) segment.Record {
	return segment.Record{Kind: KindAgent, AgentID: agent, Seq: seq, ReceivedNs: int64(seq), Body: []byte(fmt.Sprintf("body %s %d", agent, seq))}
}

// TestOneWinnerPerBatch races two collectors' acceptors on the same batches,
// as when an agent's retry reaches the second collector while the first is
// still answering.
func TestOneWinnerPerBatch(t *testing.T) {
	b := memory.New()
	a1, a2 := NewAcceptor(b, "c1", nil), NewAcceptor(b, "c2", nil)
	const seqs = 200
	var accepted, duplicates atomic.Int64
	var wg sync.WaitGroup
	for _, a := range []*Acceptor{a1, a2, a1, a2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := uint64(1); s <= seqs; s++ {
				dup, err := a.Accept(context.Background(), rec("web-1", s))
				if err != nil {
					t.Error(err)
					return
				}
				if dup {
					duplicates.Add(1)
				} else {
					accepted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if accepted.Load() != seqs || duplicates.Load() != 3*seqs {
		t.Fatalf("accepted %d, duplicate %d; want %d and %d", accepted.Load(), duplicates.Load(), seqs, 3*seqs)
	}
	entries := 0
	if err := b.List(context.Background(), segment.ManifestDir, "", func(objstore.ObjectInfo) error { entries++; return nil }); err != nil {
		t.Fatal(err)
	}
	if entries != seqs {
		t.Fatalf("%d manifest entries, want %d", entries, seqs)
	}
}

func TestAcceptFailsWhenStoreFails(t *testing.T) {
	b := memory.New()
	a := NewAcceptor(b, "c1", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.Accept(ctx, rec("x", 1)); err == nil {
		t.Fatal("accepted with a cancelled context: an ack without a manifest entry")
	}
}

type local struct {
	sp     *spool.Spool
	stored atomic.Int64
}

func newLocal(t *testing.T, dir string) *local {
	sp, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &local{sp: sp}
}

func (l *local) options() FollowerOptions {
	return FollowerOptions{
		Known: func(kind byte, agent string, seq uint64) (bool, error) {
			return l.sp.Durable(spool.Kind(kind), agent, seq)
		},
		Store: func(ctx context.Context, r segment.Record) error {
			_, dup, err := l.sp.Append(ctx, spool.Kind(r.Kind), r.AgentID, r.Seq, r.ReceivedNs, r.Body)
			if err == nil && !dup {
				l.stored.Add(1)
			}
			return err
		},
	}
}

func TestFollowerImportsPeersEntriesOnce(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	peer := NewAcceptor(b, "peer", nil)
	for _, agent := range []string{"a", "b", "c"} {
		for s := uint64(100); s < 120; s++ {
			if _, err := peer.Accept(ctx, rec(agent, s)); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir := t.TempDir()
	l := newLocal(t, dir)
	f, err := NewFollower(b, l.sp, l.options())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := f.Poll(ctx); err != nil || n != 60 {
		t.Fatalf("first poll imported %d, %v; want 60", n, err)
	}
	if n, err := f.Poll(ctx); err != nil || n != 0 {
		t.Fatalf("second poll imported %d, %v; want 0", n, err)
	}
	// The spool holds what the peer accepted, byte for byte.
	_, body, err := l.sp.Get(1)
	if err != nil || string(body) != "body a 100" {
		t.Fatalf("first imported record %q, %v", body, err)
	}
	// New entries, a new agent, and an entry the local spool already has
	// (accepted here, then seen in the listing).
	for s := uint64(120); s < 125; s++ {
		if _, err := peer.Accept(ctx, rec("a", s)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := peer.Accept(ctx, rec("d", 1)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.sp.Append(ctx, spool.KindAgent, "a", 124, 1, []byte("body a 124")); err != nil {
		t.Fatal(err)
	}
	if n, err := f.Poll(ctx); err != nil || n != 5 {
		t.Fatalf("third poll imported %d, %v; want 5 (4 of a, 1 of d)", n, err)
	}
	l.sp.Close()

	// A restart resumes from the saved cursors: nothing is fetched again.
	l2 := newLocal(t, dir)
	defer l2.sp.Close()
	f2, err := NewFollower(b, l2.sp, l2.options())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := f2.Poll(ctx); err != nil || n != 0 {
		t.Fatalf("poll after restart imported %d, %v", n, err)
	}
	if got := l2.sp.Stats().Records; got != 66 {
		t.Fatalf("spool holds %d records, want 66", got)
	}
}

func TestFollowerSkipsCorruptEntry(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	if _, err := b.Put(ctx, segment.ManifestKey(KindAgent, "x", 1), []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	if _, err := NewAcceptor(b, "p", nil).Accept(ctx, rec("x", 2)); err != nil {
		t.Fatal(err)
	}
	l := newLocal(t, t.TempDir())
	defer l.sp.Close()
	f, err := NewFollower(b, l.sp, l.options())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := f.Poll(ctx); err != nil || n != 1 {
		t.Fatalf("imported %d, %v; want the good entry only", n, err)
	}
}
