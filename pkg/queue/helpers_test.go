package queue

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// openTest opens a queue in a fresh temp dir and closes it at cleanup.
func openTest(tb testing.TB, o Options) (*Queue, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "queue.db")
	return openAt(tb, path, o), path
}

func openAt(tb testing.TB, path string, o Options) *Queue {
	tb.Helper()
	q, err := Open(path, o)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := q.Close(); err != nil && !errors.Is(err, ErrClosed) {
			tb.Errorf("Close: %v", err)
		}
	})
	return q
}

func mustAppend(tb testing.TB, q *Queue, e Entry) Result {
	tb.Helper()
	r, err := q.Append(context.Background(), e)
	if err != nil {
		tb.Fatalf("Append: %v", err)
	}
	return r
}

// scanAll returns every record as seq -> copy of data, plus the order seen.
func scanAll(tb testing.TB, q *Queue, from uint64) ([]uint64, map[uint64][]byte) {
	tb.Helper()
	var order []uint64
	got := map[uint64][]byte{}
	err := q.Scan(context.Background(), from, func(seq uint64, data []byte) error {
		order = append(order, seq)
		got[seq] = append([]byte(nil), data...)
		return nil
	})
	if err != nil {
		tb.Fatalf("Scan: %v", err)
	}
	return order, got
}

// stall blocks the committer inside the Build of one append, so that
// appends issued meanwhile pile up and form the next group deterministically.
// release lets the stalled append finish and checks it succeeded.
func stall(t *testing.T, q *Queue) (release func()) {
	t.Helper()
	entered := make(chan struct{})
	gate := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := q.Append(context.Background(), Entry{Build: func(uint64) ([]byte, error) {
			close(entered)
			<-gate
			return []byte("stall"), nil
		}})
		done <- err
	}()
	<-entered
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(gate)
			if err := <-done; err != nil {
				t.Errorf("stalled append: %v", err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

// waitQueued waits until n appends are waiting for the committer.
func waitQueued(t *testing.T, q *Queue, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(q.reqs) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d appends queued", len(q.reqs), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// groupLog records the OnCommit calls.
type groupLog struct {
	mu    sync.Mutex
	sizes []int
}

func (g *groupLog) hook(entries int, _ time.Duration) {
	g.mu.Lock()
	g.sizes = append(g.sizes, entries)
	g.mu.Unlock()
}

func (g *groupLog) snapshot() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.sizes...)
}
