package queue

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// write runs fn in a write transaction unless the queue is closed.
func (q *Queue) write(ctx context.Context, fn func(w *writeTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := q.enter(); err != nil {
		return err
	}
	defer q.leave()
	return q.update(ctx, fn)
}

// Delete removes the given records in one transaction, typically once they
// are uploaded. Seqs that are not present are ignored, so a retried Delete
// is harmless. Dedupe keys of deleted records stay known until retention
// (DeleteThrough) or oldest-first dropping passes them.
func (q *Queue) Delete(ctx context.Context, seqs ...uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	err := q.write(ctx, func(w *writeTx) error {
		for _, seq := range seqs {
			v := w.records.Get(seqKey(seq))
			if v == nil {
				continue
			}
			if err := w.removeRecord(seq, payloadSize(v)); err != nil {
				return fmt.Errorf("record %d: %w", seq, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("queue: delete: %w", err)
	}
	return nil
}

// DeleteThrough is retention: it removes every record with seq <= seq and
// reports what went, and in the same transaction forgets the dedupe keys
// and dead records at or below seq.
func (q *Queue) DeleteThrough(ctx context.Context, seq uint64) (Dropped, error) {
	var d Dropped
	err := q.write(ctx, func(w *writeTx) error {
		var err error
		if d, err = w.deleteThrough(seq, nil); err != nil {
			return err
		}
		if err := w.pruneDedupe(seq); err != nil {
			return err
		}
		return w.pruneDead(seq)
	})
	if err != nil {
		return Dropped{}, fmt.Errorf("queue: delete through %d: %w", seq, err)
	}
	return d, nil
}

// MoveAside takes record seq out of the queue into the dead bucket with a
// reason (truncated to 1 KiB), for a record that can never be delivered or
// that fails its integrity check: its stored bytes are kept as they are so
// they can be inspected. ErrNotFound if seq is not in the queue.
func (q *Queue) MoveAside(ctx context.Context, seq uint64, reason string) error {
	now := time.Now()
	err := q.write(ctx, func(w *writeTx) error {
		v := w.records.Get(seqKey(seq))
		if v == nil {
			return ErrNotFound
		}
		// encodeDead copies v before the record's page is touched.
		dead := encodeDead(now, reason, v)
		n := payloadSize(v)
		if err := w.dead.Put(seqKey(seq), dead); err != nil {
			return err
		}
		if err := w.removeRecord(seq, n); err != nil {
			return err
		}
		w.c.dead++
		return nil
	})
	if err != nil {
		return fmt.Errorf("queue: move aside %d: %w", seq, err)
	}
	return nil
}

// PutState applies kvs in one transaction (a nil Value deletes the key).
func (q *Queue) PutState(ctx context.Context, kvs ...KV) error {
	if err := validateKVs(kvs); err != nil {
		return fmt.Errorf("queue: put state: %w", err)
	}
	if len(kvs) == 0 {
		return nil
	}
	if err := q.write(ctx, func(w *writeTx) error { return w.applyState(kvs) }); err != nil {
		return fmt.Errorf("queue: put state: %w", err)
	}
	return nil
}

// update runs fn in one write transaction, saves the counters with it and,
// once committed, publishes the new Stats. Waiting for the write slot
// honours ctx; once the transaction starts it runs to completion.
func (q *Queue) update(ctx context.Context, fn func(w *writeTx) error) error {
	select {
	case q.writeSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-q.writeSem }()

	var snap snapshot
	err := q.db.Update(func(tx *bolt.Tx) error {
		w, err := beginWrite(tx)
		if err != nil {
			return err
		}
		if err := fn(w); err != nil {
			return err
		}
		if err := w.saveCounters(); err != nil {
			return err
		}
		snap = w.snapshot()
		return nil
	})
	if err != nil {
		return err
	}
	q.statsMu.Lock()
	q.stats.Records = int(snap.c.records)
	q.stats.Bytes = snap.c.bytes
	q.stats.FirstSeq = snap.first
	q.stats.LastSeq = snap.c.seq
	q.stats.Dead = int(snap.c.dead)
	q.stats.Commits++
	if !q.opts.NoSync {
		q.stats.Fsyncs++
	}
	q.statsMu.Unlock()
	return nil
}

// validateKVs checks what bbolt would reject, before anything is written, so
// a bad KV fails its own entry and never a whole group.
func validateKVs(kvs []KV) error {
	for i, kv := range kvs {
		switch {
		case len(kv.Bucket) == 0:
			return fmt.Errorf("state %d: empty bucket name", i)
		case len(kv.Bucket) > bolt.MaxKeySize:
			return fmt.Errorf("state %d: bucket name of %d bytes", i, len(kv.Bucket))
		case len(kv.Key) == 0:
			return fmt.Errorf("state %d: empty key", i)
		case len(kv.Key) > bolt.MaxKeySize:
			return fmt.Errorf("state %d: key of %d bytes", i, len(kv.Key))
		case int64(len(kv.Value)) > bolt.MaxValueSize:
			return fmt.Errorf("state %d: value of %d bytes", i, len(kv.Value))
		}
	}
	return nil
}
