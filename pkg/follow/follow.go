// Package follow feeds the collector's readers (query store, logs store,
// live stream) from the spool, in spool order, from one goroutine.
//
// Ingest appends to the spool from many request goroutines at once and group
// commit may finish them in any order, so consumers are not fed from the
// request path: a follower scans the spool after each nudge from where it
// left off. The same scan from the start is the rebuild after a restart, so
// the readers hold exactly what the spool holds.
package follow

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// Source is the spool as the follower reads it.
type Source interface {
	Scan(ctx context.Context, from uint64, fn func(seq uint64, receivedNs int64, body []byte) error) error
}

// Decoder turns a spool body into a batch.
type Decoder interface {
	Decode(data []byte) (*batch.Batch, error)
}

// Consumer receives every stored batch once, in spool order. It must not
// modify b, and must not block for long: it runs on the follower goroutine.
type Consumer interface {
	Add(spoolSeq uint64, receivedNs int64, b *batch.Batch)
}

// ConsumerFunc adapts a function to Consumer.
type ConsumerFunc func(spoolSeq uint64, receivedNs int64, b *batch.Batch)

// Add calls f.
func (f ConsumerFunc) Add(spoolSeq uint64, receivedNs int64, b *batch.Batch) {
	f(spoolSeq, receivedNs, b)
}

// Follower tails a Source.
type Follower struct {
	src       Source
	dec       Decoder
	consumers []Consumer
	log       *slog.Logger

	nudge chan struct{}
	last  atomic.Uint64 // the last spool seq handed to consumers
	bad   atomic.Uint64 // records that failed to decode

	mu      sync.Mutex
	waiters []waiter

	// offered holds batches ingest already decoded, by spool seq, so the
	// follower does not decode them a second time (it was ~10% of ingest
	// CPU). Bounded: past maxOffered the follower simply decodes.
	offerMu sync.Mutex
	offered map[uint64]*batch.Batch
}

// maxOffered bounds the batches waiting for the follower to reach them.
const maxOffered = 4096

type waiter struct {
	seq uint64
	ch  chan struct{}
}

// New returns a follower that starts at the beginning of src.
func New(src Source, dec Decoder, log *slog.Logger, consumers ...Consumer) *Follower {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Follower{src: src, dec: dec, consumers: consumers, log: log, nudge: make(chan struct{}, 1),
		offered: map[uint64]*batch.Batch{}}
}

// Offer hands over the decoded form of the record stored at spoolSeq, so
// CatchUp need not decode it again, and nudges the follower. b must be
// exactly what the stored body decodes to and must not change afterwards.
func (f *Follower) Offer(spoolSeq uint64, b *batch.Batch) {
	if b != nil && spoolSeq > f.last.Load() {
		f.offerMu.Lock()
		if len(f.offered) < maxOffered {
			f.offered[spoolSeq] = b
		}
		f.offerMu.Unlock()
	}
	f.Nudge()
}

func (f *Follower) take(seq uint64) *batch.Batch {
	f.offerMu.Lock()
	defer f.offerMu.Unlock()
	b, ok := f.offered[seq]
	if ok {
		delete(f.offered, seq)
	}
	return b
}

// CatchUp feeds everything stored now, synchronously: the startup rebuild.
func (f *Follower) CatchUp(ctx context.Context) (int, error) {
	n := 0
	err := f.src.Scan(ctx, f.last.Load()+1, func(seq uint64, recv int64, body []byte) error {
		b, err := f.take(seq), error(nil)
		if b == nil {
			b, err = f.dec.Decode(body)
		}
		if err != nil {
			// Every stored body was decoded once before it was acknowledged;
			// a failure here is corruption or a format this build cannot
			// read. Skip it rather than blind the readers to the rest.
			f.bad.Add(1)
			f.log.Error("spool record does not decode; skipped for queries", "spool_seq", seq, "err", err)
		} else {
			for _, c := range f.consumers {
				c.Add(seq, recv, b)
			}
			n++
		}
		f.last.Store(seq)
		f.release(seq)
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("follow spool from %d: %w", f.last.Load()+1, err)
	}
	return n, nil
}

// Nudge says the spool has grown. It never blocks.
func (f *Follower) Nudge() {
	select {
	case f.nudge <- struct{}{}:
	default:
	}
}

// Run follows the spool until ctx ends, scanning after every nudge.
func (f *Follower) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.nudge:
		}
		if _, err := f.CatchUp(ctx); err != nil && ctx.Err() == nil {
			f.log.Error("follow spool", "err", err)
		}
	}
}

// Last is the last spool seq handed to consumers.
func (f *Follower) Last() uint64 { return f.last.Load() }

// Undecodable counts records skipped because they did not decode.
func (f *Follower) Undecodable() uint64 { return f.bad.Load() }

// Wait blocks until the consumers have seen spool seq, or ctx ends. Tests
// and the live stream's "within one second of the ack" use it.
func (f *Follower) Wait(ctx context.Context, seq uint64) error {
	f.mu.Lock()
	if f.last.Load() >= seq {
		f.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	f.waiters = append(f.waiters, waiter{seq, ch})
	f.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *Follower) release(seq uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if w.seq <= seq {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	f.waiters = kept
}
