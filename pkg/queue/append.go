package queue

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// KV is one piece of caller state in a named bucket. A nil Value deletes the
// key; an empty non-nil Value stores an empty value.
type KV struct {
	Bucket, Key, Value []byte
}

// Entry is one append. Exactly one of Data and Build must be set.
type Entry struct {
	// Data is the record.
	Data []byte
	// Build makes the record once its sequence number is known, so the
	// number can be inside the record (the agent's batch header carries it).
	// It is called on the commit goroutine inside the write transaction, at
	// most once per Append: keep it quick and never call the Queue from it.
	// An error (or panic) fails only this entry.
	Build func(seq uint64) ([]byte, error)
	// DedupeKey, when non-empty and already known, makes the append a
	// no-op that reports the stored record's seq with Result.Duplicate.
	// A key stays known after its record is deleted or moved aside, until
	// DeleteThrough or oldest-first dropping passes its seq.
	DedupeKey []byte
	// State is applied in the same transaction as the record, so after a
	// crash either both are there or neither. It is not applied for a
	// duplicate. It is applied after Build returns, so Build may fill a
	// Value it shares with State (e.g. "last queued seq").
	State []KV
}

// Dropped describes records removed to make room or by retention.
type Dropped struct {
	Records           int
	Bytes             int64
	FirstSeq, LastSeq uint64
}

// Result is the outcome of one append.
type Result struct {
	Seq       uint64
	Duplicate bool
	// Dropped is what oldest-first dropping removed to make room for this
	// record (DropOldest only).
	Dropped Dropped
}

// A group holds at most this many appends and, past its first entry, this
// many bytes of Data, so one slow commit cannot grow without bound.
const (
	maxGroupEntries = 1024
	maxGroupBytes   = 16 << 20
)

const (
	reqPending int32 = iota
	reqCommitting
	reqCancelled
)

type request struct {
	entry Entry
	state atomic.Int32
	done  chan outcome // buffered: the committer never blocks answering
}

type outcome struct {
	res Result
	err error
}

func (e *Entry) validate() error {
	switch {
	case e.Data == nil && e.Build == nil:
		return errors.New("invalid entry: neither Data nor Build")
	case e.Data != nil && e.Build != nil:
		return errors.New("invalid entry: both Data and Build")
	case len(e.Data) > maxData:
		return fmt.Errorf("invalid entry: record of %d bytes", len(e.Data))
	case len(e.DedupeKey) > bolt.MaxKeySize:
		return fmt.Errorf("invalid entry: dedupe key of %d bytes", len(e.DedupeKey))
	}
	if err := validateKVs(e.State); err != nil {
		return fmt.Errorf("invalid entry: %w", err)
	}
	return nil
}

// Append adds one record and returns once it is committed — and, unless
// Options.NoSync, fsynced — together with every other append that was
// waiting. Cancelling ctx withdraws the entry only if its commit has not
// started; after that Append waits for and returns the real outcome.
func (q *Queue) Append(ctx context.Context, e Entry) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("queue: append: %w", err)
	}
	if err := e.validate(); err != nil {
		return Result{}, fmt.Errorf("queue: append: %w", err)
	}
	r := &request{entry: e, done: make(chan outcome, 1)}

	if err := q.enter(); err != nil {
		return Result{}, fmt.Errorf("queue: append: %w", err)
	}
	select {
	case q.reqs <- r:
		q.leave()
	case <-ctx.Done():
		q.leave()
		return Result{}, fmt.Errorf("queue: append: %w", ctx.Err())
	}

	select {
	case o := <-r.done:
		return o.res, o.err
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqPending, reqCancelled) {
			return Result{}, fmt.Errorf("queue: append: %w", ctx.Err())
		}
		o := <-r.done
		return o.res, o.err
	}
}

// commitLoop is the single committer. It takes the first waiting append plus
// every other one already waiting — no timer, so a lone append pays no added
// latency — and commits them together. It exits when reqs is closed and
// drained.
func (q *Queue) commitLoop() {
	defer close(q.committerDone)
	group := make([]*request, 0, maxGroupEntries)
	var carry *request
	for {
		first := carry
		carry = nil
		if first == nil {
			r, ok := <-q.reqs
			if !ok {
				return
			}
			first = r
		}
		group = append(group[:0], first)
		size := len(first.entry.Data)
	gather:
		for len(group) < maxGroupEntries {
			select {
			case r, ok := <-q.reqs:
				if !ok {
					break gather
				}
				if size+len(r.entry.Data) > maxGroupBytes {
					carry = r
					break gather
				}
				group = append(group, r)
				size += len(r.entry.Data)
			default:
				break gather
			}
		}
		q.commitGroup(group)
		clear(group) // let answered requests be collected
	}
}

func (q *Queue) commitGroup(group []*request) {
	live := make([]*request, 0, len(group))
	for _, r := range group {
		if r.state.CompareAndSwap(reqPending, reqCommitting) {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return
	}
	results := make([]outcome, len(live))
	start := time.Now()
	err := q.update(context.Background(), func(w *writeTx) error {
		for i, r := range live {
			res, entryErr, err := q.applyEntry(w, &r.entry)
			if err != nil {
				return err
			}
			results[i] = outcome{res: res, err: entryErr}
		}
		if q.beforeCommit != nil {
			return q.beforeCommit()
		}
		return nil
	})
	took := time.Since(start)
	if err != nil {
		// bbolt rolled the transaction back: none of the group is stored.
		err = fmt.Errorf("queue: append: commit: %w", err)
		for _, r := range live {
			r.done <- outcome{err: err}
		}
		return
	}
	// Before answering, so a caller that sees its Append return also sees
	// the hook's effect.
	if q.opts.OnCommit != nil {
		q.opts.OnCommit(len(live), took)
	}
	for i, r := range live {
		r.done <- results[i]
	}
}

// applyEntry writes one entry inside the group transaction. entryErr fails
// only this entry and leaves the transaction untouched; fatal aborts the
// whole group. Everything that can fail an entry (Build, size, caps) is
// decided before the first write, which is what makes per-entry failure safe
// without bbolt savepoints.
func (q *Queue) applyEntry(w *writeTx, e *Entry) (res Result, entryErr, fatal error) {
	if len(e.DedupeKey) > 0 {
		if v := w.dedupe.Get(e.DedupeKey); v != nil {
			seq, ok := keySeq(v)
			if !ok {
				return Result{}, nil, fmt.Errorf("%w: dedupe value of %d bytes", ErrCorrupt, len(v))
			}
			return Result{Seq: seq, Duplicate: true}, nil, nil
		}
	}
	if w.c.seq == math.MaxUint64 {
		return Result{}, errors.New("queue: append: sequence numbers exhausted"), nil
	}
	seq := w.c.seq + 1

	data := e.Data
	if e.Build != nil {
		var err error
		if data, err = build(e.Build, seq); err != nil {
			return Result{}, fmt.Errorf("queue: append: build record %d: %w", seq, err), nil
		}
		if len(data) > maxData {
			return Result{}, fmt.Errorf("queue: append: build record %d: record of %d bytes", seq, len(data)), nil
		}
	}

	n := int64(len(data))
	o := q.opts
	full := func() bool {
		return (o.MaxRecords > 0 && w.c.records+1 > int64(o.MaxRecords)) ||
			(o.MaxBytes > 0 && w.c.bytes+n > o.MaxBytes)
	}
	if full() {
		errFull := fmt.Errorf("queue: append: %w: %d records and %d bytes stored, record of %d bytes, caps %d records and %d bytes",
			ErrFull, w.c.records, w.c.bytes, n, o.MaxRecords, o.MaxBytes)
		if o.OnFull == RefuseNew || (o.MaxBytes > 0 && n > o.MaxBytes) {
			return Result{}, errFull, nil
		}
		d, err := w.deleteThrough(math.MaxUint64, full)
		if err != nil {
			return Result{}, nil, err
		}
		if d.Records > 0 {
			if err := w.pruneDedupe(d.LastSeq); err != nil {
				return Result{}, nil, err
			}
		}
		res.Dropped = d
		if full() {
			// Only if the counters disagree with the records bucket; refuse
			// rather than exceed the cap. Any drops above still commit,
			// which is what DropOldest asked for.
			return Result{}, errFull, nil
		}
	}

	if err := w.records.Put(seqKey(seq), encodeRecord(seq, data)); err != nil {
		return Result{}, nil, fmt.Errorf("put record %d: %w", seq, err)
	}
	w.c.seq = seq
	w.c.records++
	w.c.bytes += n
	if len(e.DedupeKey) > 0 {
		key := append([]byte(nil), e.DedupeKey...)
		if err := w.dedupe.Put(key, seqKey(seq)); err != nil {
			return Result{}, nil, fmt.Errorf("put dedupe key of record %d: %w", seq, err)
		}
		if err := w.dedupeSeq.Put(seqKey(seq), key); err != nil {
			return Result{}, nil, fmt.Errorf("put dedupe index of record %d: %w", seq, err)
		}
	}
	if err := w.applyState(e.State); err != nil {
		return Result{}, nil, fmt.Errorf("record %d: %w", seq, err)
	}
	res.Seq = seq
	return res, nil, nil
}

// build calls fn, turning a panic into this entry's error so one bad caller
// cannot take the committer (and everyone else's appends) down.
func build(fn func(seq uint64) ([]byte, error), seq uint64) (data []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("build panicked: %v", p)
		}
	}()
	return fn(seq)
}
