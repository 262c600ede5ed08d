package queue

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// A scan reads at most this many records (or bytes, past the first record)
// per read transaction. Short read transactions keep a long scan from pinning
// old pages, which would make the file grow while appends and deletes go on.
const (
	scanChunkRecords = 256
	scanChunkBytes   = 4 << 20
)

type span struct {
	seq      uint64
	off, end int
}

// Scan calls fn for every record with seq >= from, in seq order, up to the
// last record present when Scan started (records appended meanwhile are left
// for the next scan, so an uploader's pass always ends).
//
// data is only valid until fn returns: Scan reuses the buffer. Copy it to keep
// it. fn runs outside any transaction, so it may call Delete, MoveAside or
// Append. An error from fn stops the scan and is returned as is. A record
// that fails its integrity check stops the scan with a *CorruptError (which
// matches ErrCorrupt) naming its seq, after fn has seen the records before it.
func (q *Queue) Scan(ctx context.Context, from uint64, fn func(seq uint64, data []byte) error) error {
	var (
		buf   []byte
		spans []span
		upper uint64
		first = true
	)
	next := from
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("queue: scan: %w", err)
		}
		var (
			more     bool
			chunkErr error
		)
		buf, spans = buf[:0], spans[:0]
		err := q.view(func(tx *bolt.Tx) error {
			c := tx.Bucket([]byte(bucketRecords)).Cursor()
			if first {
				k, _ := c.Last()
				if k == nil {
					return nil
				}
				upper, _ = keySeq(k)
			}
			for k, v := c.Seek(seqKey(next)); k != nil; k, v = c.Next() {
				seq, ok := keySeq(k)
				if !ok {
					chunkErr = fmt.Errorf("queue: scan: %w: record key of %d bytes", ErrCorrupt, len(k))
					return nil
				}
				if seq > upper {
					return nil
				}
				if len(spans) == scanChunkRecords || (len(spans) > 0 && len(buf)+len(v) > scanChunkBytes) {
					more = true
					return nil
				}
				data, err := decodeRecord(seq, v)
				if err != nil {
					chunkErr = err
					return nil
				}
				off := len(buf)
				buf = append(buf, data...)
				spans = append(spans, span{seq: seq, off: off, end: len(buf)})
			}
			return nil
		})
		first = false
		if err != nil {
			return fmt.Errorf("queue: scan: %w", err)
		}
		for _, s := range spans {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("queue: scan: %w", err)
			}
			if err := fn(s.seq, buf[s.off:s.end:s.end]); err != nil {
				return err
			}
		}
		if chunkErr != nil {
			return chunkErr
		}
		if !more || len(spans) == 0 {
			return nil
		}
		last := spans[len(spans)-1].seq
		if last >= upper {
			return nil
		}
		next = last + 1
	}
}

// Get returns a copy of record seq: ErrNotFound if absent, a *CorruptError
// if it fails its integrity check.
func (q *Queue) Get(seq uint64) ([]byte, error) {
	var out []byte
	err := q.view(func(tx *bolt.Tx) error {
		v := tx.Bucket([]byte(bucketRecords)).Get(seqKey(seq))
		if v == nil {
			return ErrNotFound
		}
		data, err := decodeRecord(seq, v)
		if err != nil {
			return err
		}
		out = append(make([]byte, 0, len(data)), data...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("queue: get %d: %w", seq, err)
	}
	return out, nil
}

// Dedupe reports the seq stored under a dedupe key, if it is still known.
func (q *Queue) Dedupe(key []byte) (seq uint64, ok bool, err error) {
	if len(key) == 0 {
		return 0, false, nil
	}
	err = q.view(func(tx *bolt.Tx) error {
		v := tx.Bucket([]byte(bucketDedupe)).Get(key)
		if v == nil {
			return nil
		}
		s, good := keySeq(v)
		if !good {
			return fmt.Errorf("%w: dedupe value of %d bytes", ErrCorrupt, len(v))
		}
		seq, ok = s, true
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("queue: dedupe: %w", err)
	}
	return seq, ok, nil
}

// State returns a copy of the value under key in a state bucket, or nil, nil
// when the bucket or key is absent.
func (q *Queue) State(bucket, key []byte) ([]byte, error) {
	var out []byte
	err := q.view(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketState)).Bucket(bucket)
		if b == nil || len(key) == 0 {
			return nil
		}
		if v := b.Get(key); v != nil {
			out = append(make([]byte, 0, len(v)), v...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("queue: state %q: %w", bucket, err)
	}
	return out, nil
}

// ScanState calls fn for every key of a state bucket in key order (nothing if
// the bucket does not exist). Like Scan it reads in chunks and calls fn
// outside any transaction; k and v are only valid until fn returns.
func (q *Queue) ScanState(bucket []byte, fn func(k, v []byte) error) error {
	var (
		buf   []byte
		pairs [][4]int
		after []byte // last key handed out
	)
	for {
		buf, pairs = buf[:0], pairs[:0]
		more := false
		err := q.view(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte(bucketState)).Bucket(bucket)
			if b == nil {
				return nil
			}
			c := b.Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil; k, v = c.Next() {
				if len(pairs) == scanChunkRecords || (len(pairs) > 0 && len(buf)+len(k)+len(v) > scanChunkBytes) {
					more = true
					return nil
				}
				ko := len(buf)
				buf = append(buf, k...)
				vo := len(buf)
				buf = append(buf, v...)
				pairs = append(pairs, [4]int{ko, vo, vo, len(buf)})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("queue: scan state %q: %w", bucket, err)
		}
		for _, p := range pairs {
			if err := fn(buf[p[0]:p[1]:p[1]], buf[p[2]:p[3]:p[3]]); err != nil {
				return err
			}
		}
		if !more || len(pairs) == 0 {
			return nil
		}
		p := pairs[len(pairs)-1]
		after = append(after[:0], buf[p[0]:p[1]]...)
	}
}

// view runs fn in a read transaction unless the queue is closed.
func (q *Queue) view(fn func(tx *bolt.Tx) error) error {
	if err := q.enter(); err != nil {
		return err
	}
	defer q.leave()
	return q.db.View(fn)
}
