// Package queue is a durable, ordered log of opaque records kept in one bbolt
// file. The agent uses it as its upload queue and the collector as its spool:
// both need "acknowledged means on disk", monotonically increasing sequence
// numbers, idempotent appends, and small pieces of state (log offsets, upload
// cursors) written in the same transaction as the record they describe.
//
// Appends are group-committed: one goroutine gathers every append that is
// waiting, writes them in a single bbolt transaction and fsyncs once, so many
// concurrent writers share the cost of a disk flush.
//
// The package stores bytes only; it never interprets a record.
package queue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Errors callers can test for with errors.Is.
var (
	// ErrLocked means another Queue (in this or another process) holds the
	// file. Open reports it after Options.LockTimeout instead of hanging, so
	// "agent flush" beside a running daemon gets an answer.
	ErrLocked = errors.New("queue in use by another process")
	// ErrNotFound means the record asked for is not in the queue.
	ErrNotFound = errors.New("queue: not found")
	// ErrClosed means the Queue was closed.
	ErrClosed = errors.New("queue: closed")
	// ErrFull means the append would exceed MaxRecords or MaxBytes and the
	// policy is RefuseNew (or the record alone is larger than MaxBytes).
	ErrFull = errors.New("queue: full")
	// ErrCorrupt means a stored value failed its checksum or framing check.
	// Its bytes are never handed out as data.
	ErrCorrupt = errors.New("queue: corrupt record")
)

// CorruptError names the record that failed its integrity check, so a caller
// can move it aside and carry on. errors.Is(err, ErrCorrupt) is true for it.
type CorruptError struct {
	Seq    uint64
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("queue: corrupt record %d: %s", e.Seq, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) hold.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// FullPolicy says what an append does when the queue is at its cap.
type FullPolicy int

const (
	// DropOldest deletes the oldest records, in the same transaction as the
	// append, until the new record fits; Result.Dropped reports what went.
	DropOldest FullPolicy = iota
	// RefuseNew fails the append with ErrFull and keeps what is stored.
	RefuseNew
)

const defaultLockTimeout = 100 * time.Millisecond

// Options configures a Queue. The zero value is usable: no caps, 100 ms lock
// timeout, fsync on every commit.
type Options struct {
	// LockTimeout bounds the wait for the file lock; 0 means 100 ms.
	LockTimeout time.Duration
	// MaxRecords caps the number of live records; 0 means no cap.
	MaxRecords int
	// MaxBytes caps the sum of live record payload sizes (headers not
	// counted); 0 means no cap.
	MaxBytes int64
	// OnFull chooses between dropping the oldest records and refusing.
	OnFull FullPolicy
	// NoSync skips fsync on commit. Only for tests and benchmarks: a crash of
	// the machine can then lose acknowledged records.
	NoSync bool
	// FirstSeq, when the file is created, makes sequence numbers start
	// after it; an existing file keeps its own. The agent sets it from the
	// clock so a queue file lost or restored from an old backup never
	// reuses sequence numbers the collector already stored.
	FirstSeq uint64
	// OnCommit, when set, is called by the committer after every successful
	// group commit with the number of appends in the group and how long the
	// transaction (including fsync) took, e.g. to feed histograms. It runs on
	// the commit path: keep it short and never call the Queue from it.
	OnCommit func(entries int, took time.Duration)
}

// Stats is a snapshot of the queue's counters. Reading it is O(1): the record
// and byte totals are kept in the same transactions that change them.
type Stats struct {
	Records int   // live records
	Bytes   int64 // sum of live record payload sizes
	// FirstSeq is the oldest live record (0 when empty); LastSeq is the last
	// sequence number ever assigned, which survives deletion so a sequence
	// number is never reused.
	FirstSeq, LastSeq uint64
	Dead              int // records moved aside
	// Commits counts write transactions since Open; Fsyncs counts those that
	// were flushed to disk (each is one bbolt commit with its fdatasyncs).
	// Appends divided by Fsyncs is the group-commit factor.
	Commits, Fsyncs uint64
}

// Queue is a durable ordered log in one bbolt file. It is safe for concurrent
// use by many goroutines; only one Queue may have a file open at a time.
type Queue struct {
	path string
	opts Options
	db   *bolt.DB

	// mu is held shared by every operation while it touches db or sends to
	// reqs, and exclusively by Close, so nothing runs against a closed db and
	// nothing is sent on a closed channel.
	mu     sync.RWMutex
	closed bool

	reqs          chan *request
	committerDone chan struct{}
	// writeSem serialises write transactions with the publication of their
	// Stats, so the published counters always follow commit order. A channel
	// rather than a mutex so waiting honours ctx.
	writeSem chan struct{}

	statsMu sync.Mutex
	stats   Stats

	// beforeCommit, when set by tests, runs at the end of a group transaction;
	// an error aborts the whole group as a failed commit would.
	beforeCommit func() error
}

// Open opens (creating if needed) the queue file at path. The parent
// directory is created with mode 0700 and the file with 0600. If another
// Queue holds the file, Open fails with ErrLocked after o.LockTimeout.
func Open(path string, o Options) (*Queue, error) {
	if o.LockTimeout <= 0 {
		o.LockTimeout = defaultLockTimeout
	}
	if o.MaxRecords < 0 || o.MaxBytes < 0 {
		return nil, fmt.Errorf("queue: open %s: negative cap (max records %d, max bytes %d)", path, o.MaxRecords, o.MaxBytes)
	}
	if o.OnFull != DropOldest && o.OnFull != RefuseNew {
		return nil, fmt.Errorf("queue: open %s: unknown full policy %d", path, o.OnFull)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("queue: open: create directory: %w", err)
	}
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, os.ErrNotExist)

	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: o.LockTimeout,
		NoSync:  o.NoSync,
		// A queue churns: every record is written once and deleted soon
		// after. Not persisting the freelist keeps commits small (it is
		// rebuilt by scanning on open), and the hashmap freelist stays fast
		// when it fragments. etcd runs bbolt the same way.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s", ErrLocked, path)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: open %s: %w", path, err)
	}
	if created && !o.NoSync {
		// The file's own fsyncs do not make its directory entry durable.
		if err := syncDir(dir); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("queue: open %s: %w", path, err)
		}
	}

	q := &Queue{
		path:          path,
		opts:          o,
		db:            db,
		reqs:          make(chan *request, maxGroupEntries),
		committerDone: make(chan struct{}),
		writeSem:      make(chan struct{}, 1),
	}
	var snap snapshot
	err = db.Update(func(tx *bolt.Tx) error {
		if err := initLayout(tx, o.FirstSeq); err != nil {
			return err
		}
		w, err := beginWrite(tx)
		if err != nil {
			return err
		}
		snap = w.snapshot()
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("queue: open %s: %w", path, err)
	}
	q.stats = Stats{
		Records:  int(snap.c.records),
		Bytes:    snap.c.bytes,
		FirstSeq: snap.first,
		LastSeq:  snap.c.seq,
		Dead:     int(snap.c.dead),
	}
	go q.commitLoop()
	return q, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

// Close lets every append already handed to the committer finish, stops the
// committer and closes the file. Every later call returns ErrClosed.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return fmt.Errorf("queue: close: %w", ErrClosed)
	}
	q.closed = true
	// Senders hold mu shared while sending, so none is mid-send here.
	close(q.reqs)
	q.mu.Unlock()

	<-q.committerDone
	if err := q.db.Close(); err != nil {
		return fmt.Errorf("queue: close %s: %w", q.path, err)
	}
	return nil
}

// Stats returns the current counters.
func (q *Queue) Stats() Stats {
	q.statsMu.Lock()
	defer q.statsMu.Unlock()
	return q.stats
}

// enter admits one operation against the db, or reports ErrClosed. Every
// successful enter must be paired with leave.
func (q *Queue) enter() error {
	q.mu.RLock()
	if q.closed {
		q.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (q *Queue) leave() { q.mu.RUnlock() }
