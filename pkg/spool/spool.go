// Package spool is the collector's durable store of accepted batches: a
// pkg/queue file whose dedupe index is keyed by (kind, agent id, agent
// sequence), so a batch is stored once however often an agent re-sends it,
// and an acknowledgement is only ever given for a record that is on disk.
//
// The spool is the source of truth the query index, the live stream and the
// object-store lander read from; it stores encoded codec bodies and never
// decodes them itself.
package spool

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/queue"
)

// FileName is the spool's bbolt file inside the spool directory.
const FileName = "spool.db"

// Kind tells which door a record came in by; the two have separate sequence
// spaces, so they are kept apart in the dedupe index.
type Kind byte

// Record kinds.
const (
	KindAgent       Kind = 'a'
	KindRemoteWrite Kind = 'r'
)

// ErrFull means the spool reached its byte cap: the collector must refuse
// (503) rather than acknowledge.
var ErrFull = queue.ErrFull

// Options configure a Spool.
type Options struct {
	// MaxBytes caps the stored payload bytes; 0 means no cap. At the cap new
	// records are refused, never old ones dropped: they are acknowledged.
	MaxBytes int64
	// LockTimeout bounds the wait for the file lock held by another process.
	LockTimeout time.Duration
	// OnCommit is passed to the queue for group-commit metrics.
	OnCommit func(entries int, took time.Duration)
}

// Spool is safe for concurrent use.
type Spool struct {
	q *queue.Queue
}

// Open opens or creates the spool in dir.
func Open(dir string, o Options) (*Spool, error) {
	lt := o.LockTimeout
	if lt == 0 {
		lt = time.Second
	}
	q, err := queue.Open(filepath.Join(dir, FileName), queue.Options{
		LockTimeout: lt,
		MaxBytes:    o.MaxBytes,
		OnFull:      queue.RefuseNew,
		OnCommit:    o.OnCommit,
	})
	if err != nil {
		return nil, fmt.Errorf("spool: open %s: %w", dir, err)
	}
	return &Spool{q: q}, nil
}

// Key is the dedupe identity of a record.
func Key(kind Kind, agentID string, seq uint64) []byte {
	k := make([]byte, 0, 1+len(agentID)+1+8)
	k = append(k, byte(kind))
	k = append(k, agentID...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

// recordVersion is the first byte of every spool record: the envelope is
// version, kind, receive time (8 bytes, big-endian Unix ns), then the codec
// body. The receive time lives here because the body carries only the
// agent's clock, and first/last-seen must survive a rebuild after restart;
// the kind, because landed objects carry each record's full identity.
// Version 1 records (no kind byte) are still read, with kind 0.
const (
	recordVersion   = 2
	recordVersionV1 = 1
)

const envelopeBytes = 1 + 1 + 8

// ErrBadRecord means a stored record has an envelope this version cannot read.
var ErrBadRecord = errors.New("spool: unreadable record envelope")

func envelope(kind Kind, receivedNs int64, body []byte) []byte {
	out := make([]byte, envelopeBytes, envelopeBytes+len(body))
	out[0] = recordVersion
	out[1] = byte(kind)
	binary.BigEndian.PutUint64(out[2:], uint64(receivedNs))
	return append(out, body...)
}

func open(v []byte) (kind Kind, receivedNs int64, body []byte, err error) {
	switch {
	case len(v) >= envelopeBytes && v[0] == recordVersion:
		return Kind(v[1]), int64(binary.BigEndian.Uint64(v[2:])), v[envelopeBytes:], nil
	case len(v) >= 9 && v[0] == recordVersionV1:
		return 0, int64(binary.BigEndian.Uint64(v[1:])), v[9:], nil
	}
	return 0, 0, nil, ErrBadRecord
}

// ScanRecords is Scan with each record's kind (as a byte, so readers need
// not import this package's Kind).
func (s *Spool) ScanRecords(ctx context.Context, from uint64, fn func(seq uint64, kind byte, receivedNs int64, body []byte) error) error {
	return s.q.Scan(ctx, from, func(seq uint64, v []byte) error {
		kind, recv, body, err := open(v)
		if err != nil {
			return fmt.Errorf("spool record %d: %w", seq, err)
		}
		return fn(seq, byte(kind), recv, body)
	})
}

// LastSeq is the last spool sequence ever assigned.
func (s *Spool) LastSeq() uint64 { return s.q.Stats().LastSeq }

// Append stores body (an encoded batch) received at receivedNs unless
// (kind, agentID, seq) is already stored; it returns once the record is
// durable. duplicate reports the second case, with the spool sequence of
// the stored copy.
func (s *Spool) Append(ctx context.Context, kind Kind, agentID string, seq uint64, receivedNs int64, body []byte) (spoolSeq uint64, duplicate bool, err error) {
	res, err := s.q.Append(ctx, queue.Entry{Data: envelope(kind, receivedNs, body), DedupeKey: Key(kind, agentID, seq)})
	if err != nil {
		return 0, false, fmt.Errorf("spool: append %s/%d: %w", agentID, seq, err)
	}
	return res.Seq, res.Duplicate, nil
}

// Durable reports whether (kind, agentID, seq) is already stored.
func (s *Spool) Durable(kind Kind, agentID string, seq uint64) (bool, error) {
	_, ok, err := s.q.Dedupe(Key(kind, agentID, seq))
	if err != nil {
		return false, fmt.Errorf("spool: dedupe lookup %s/%d: %w", agentID, seq, err)
	}
	return ok, nil
}

// Scan calls fn for every stored record from spool sequence from on, in
// order, with its receive time and codec body. body is valid only during fn.
func (s *Spool) Scan(ctx context.Context, from uint64, fn func(seq uint64, receivedNs int64, body []byte) error) error {
	return s.ScanRecords(ctx, from, func(seq uint64, _ byte, recv int64, body []byte) error { return fn(seq, recv, body) })
}

// Get returns one stored record's receive time and body.
func (s *Spool) Get(seq uint64) (receivedNs int64, body []byte, err error) {
	v, err := s.q.Get(seq)
	if err != nil {
		return 0, nil, err
	}
	_, recv, body, err := open(v)
	return recv, body, err
}

// DeleteThrough removes every record up to and including seq (retention).
func (s *Spool) DeleteThrough(ctx context.Context, seq uint64) (queue.Dropped, error) {
	return s.q.DeleteThrough(ctx, seq)
}

// State and PutState keep small collector state (landing cursor, ...) in the
// spool file, atomically with nothing else.
func (s *Spool) State(bucket, key []byte) ([]byte, error) { return s.q.State(bucket, key) }

// PutState writes small collector state.
func (s *Spool) PutState(ctx context.Context, kvs ...queue.KV) error {
	return s.q.PutState(ctx, kvs...)
}

// collectorState is the state bucket of the collector's background parts
// (landing cursor, manifest cursors, collector id).
const collectorState = "collector"

// LoadState returns the collector state under key, nil when absent.
func (s *Spool) LoadState(key string) ([]byte, error) {
	return s.q.State([]byte(collectorState), []byte(key))
}

// SaveState durably writes collector state under key.
func (s *Spool) SaveState(ctx context.Context, key string, value []byte) error {
	return s.q.PutState(ctx, queue.KV{Bucket: []byte(collectorState), Key: []byte(key), Value: value})
}

// Stats returns the spool's counters.
func (s *Spool) Stats() queue.Stats { return s.q.Stats() }

// Close drains pending appends and closes the file.
func (s *Spool) Close() error {
	if err := s.q.Close(); err != nil && !errors.Is(err, queue.ErrClosed) {
		return fmt.Errorf("spool: close: %w", err)
	}
	return nil
}

// errStop ends a scan early.
var errStop = errors.New("stop")

// ExpireBefore deletes the oldest records received before cutoffNs, up to
// the first one received at or after it (records are stored in receive
// order, so one old record behind a newer one waits for the next pass), and
// never past spool sequence limit: records not yet landed in the object
// store stay whatever their age (pass math.MaxUint64 when nothing lands).
func (s *Spool) ExpireBefore(ctx context.Context, cutoffNs int64, limit uint64) (queue.Dropped, error) {
	var through uint64
	err := s.Scan(ctx, 0, func(seq uint64, recv int64, _ []byte) error {
		if recv >= cutoffNs || seq > limit {
			return errStop
		}
		through = seq
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return queue.Dropped{}, fmt.Errorf("spool: find expired records: %w", err)
	}
	if through == 0 {
		return queue.Dropped{}, nil
	}
	return s.DeleteThrough(ctx, through)
}
