// Package live serves /api/v1/live: a Server-Sent Events stream of the
// batches the collector accepts, their log records and their alerts.
//
// Every event id is "<spool seq>-<index>", so ids are totally ordered and
// name a place in the spool. A client reconnecting with Last-Event-ID is
// replayed from the spool (through a ReplaySource) and then joins the live
// feed with nothing lost or repeated. Ingest never waits for a stream: each
// stream has a bounded buffer, and one that falls behind is ended with a
// final "dropped" event, after which its client may resume like any other.
package live

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// ReplaySource reads back what the spool holds. Replay calls fn for every
// record from spool sequence fromSpoolSeq (inclusive) on, in order, and
// returns fn's first error. It must see at least every record made durable
// before it was called, and should not hold a storage transaction open
// while fn runs (fn writes to a network client).
type ReplaySource interface {
	Replay(ctx context.Context, fromSpoolSeq uint64, fn func(spoolSeq uint64, receivedNs int64, b *batch.Batch) error) error
}

// Defaults for the zero values of Options.
const (
	DefaultBufferPerClient = 1024
	DefaultMaxClients      = 64
	DefaultKeepAlive       = 15 * time.Second
	DefaultReplayWindow    = 10_000
	DefaultWriteTimeout    = 10 * time.Second
	DefaultRetryAfter      = 5 * time.Second
)

// maxReplayPasses bounds how often a resuming stream replays again because
// live events outran its buffer while it replayed; a client that still
// cannot catch up is dropped like any slow one.
const maxReplayPasses = 4

// Options configure a Hub. Zero values take the defaults above.
type Options struct {
	// BufferPerClient is how many events may wait for one stream.
	BufferPerClient int
	// MaxClients caps concurrent streams; the next gets 503.
	MaxClients int
	// KeepAlive is the interval of ": keep-alive" comments, which keep
	// proxies and load balancers from closing an idle stream.
	KeepAlive time.Duration
	// ReplayWindow is how many spool records back from the newest one a
	// Last-Event-ID may resume. An older id resumes at the window's start
	// after a "gap" event.
	ReplayWindow uint64
	// Replay reads the spool for resumption; nil disables resuming (a
	// Last-Event-ID then gets a "gap" event and the live feed).
	Replay ReplaySource
	// WriteTimeout bounds each write to a client, so a stream whose client
	// stopped reading cannot hang on the socket forever. It is set per write
	// and so also lifts the server's WriteTimeout for the stream.
	WriteTimeout time.Duration
	// RetryAfter is the Retry-After of a 503.
	RetryAfter time.Duration
	// Logger receives one line per dropped stream or failed replay; nil
	// discards.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.BufferPerClient <= 0 {
		o.BufferPerClient = DefaultBufferPerClient
	}
	if o.MaxClients <= 0 {
		o.MaxClients = DefaultMaxClients
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = DefaultKeepAlive
	}
	if o.ReplayWindow == 0 {
		o.ReplayWindow = DefaultReplayWindow
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = DefaultRetryAfter
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Hub fans published records out to the streams. It is safe for
// concurrent use.
type Hub struct {
	o      Options
	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	// listening mirrors len(clients) so Publish encodes events only when
	// someone is listening, without taking the lock first.
	listening atomic.Int64

	mu      sync.Mutex
	clients map[*client]struct{} // streams taking live events
	active  int                  // streams being served, for MaxClients
	lastSeq uint64               // newest spool seq published
	closed  bool

	published, dropped, ignored, passes atomic.Uint64
}

// client is one stream's side of the hub.
type client struct {
	f  filter
	ch chan *event
	// dropped is closed by Publish when ch was full: the stream writes
	// what it has, then a "dropped" event, and ends.
	dropped chan struct{}
	// replaying and overflow are guarded by Hub.mu. While a stream
	// replays, a full buffer is not fatal: the events are in the spool, so
	// the stream stops taking live ones (overflow) and replays again.
	replaying, overflow bool
}

// New returns a Hub.
func New(o Options) *Hub {
	ctx, cancel := context.WithCancel(context.Background())
	return &Hub{o: o.withDefaults(), ctx: ctx, cancel: cancel, clients: map[*client]struct{}{}}
}

// Publish hands the hub one record the spool holds at spoolSeq. Call it
// after the record is durable and in increasing spoolSeq order (at startup
// too, so the hub knows the newest seq); a seq at or below the last one
// published is ignored, because a stream's ids must only grow. It never
// blocks on a stream: a stream whose buffer is full is dropped.
func (h *Hub) Publish(spoolSeq uint64, receivedNs int64, b *batch.Batch) {
	if b == nil {
		return
	}
	var evs []*event
	if h.listening.Load() > 0 {
		// Encoded outside the lock: JSON is the costly part.
		evs = eventsOf(spoolSeq, receivedNs, b)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	if spoolSeq <= h.lastSeq {
		h.ignored.Add(1)
		return
	}
	h.lastSeq = spoolSeq
	h.published.Add(1)
	if len(h.clients) == 0 {
		return
	}
	if evs == nil { // a stream arrived since the check
		evs = eventsOf(spoolSeq, receivedNs, b)
	}
	for c := range h.clients {
		h.deliverLocked(c, evs)
	}
}

func (h *Hub) deliverLocked(c *client, evs []*event) {
	if c.overflow {
		return
	}
	for _, e := range evs {
		if !c.f.match(e) {
			continue
		}
		select {
		case c.ch <- e:
		default:
			if c.replaying {
				c.overflow = true
				return
			}
			h.removeLocked(c)
			close(c.dropped)
			h.dropped.Add(1)
			return
		}
	}
}

var (
	errClosed = errors.New("live: hub closed")
	errFull   = errors.New("live: too many streams")
)

// subscribe registers a stream before anything is written or replayed,
// so no event published from here on can slip past it. It returns the
// newest spool seq published so far: events after it reach ch.
func (h *Hub) subscribe(f filter, replaying bool) (*client, uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, 0, errClosed
	}
	if h.active >= h.o.MaxClients {
		return nil, 0, errFull
	}
	h.active++
	c := &client{f: f, ch: make(chan *event, h.o.BufferPerClient), dropped: make(chan struct{}), replaying: replaying}
	h.clients[c] = struct{}{}
	h.listening.Add(1)
	return c, h.lastSeq, nil
}

func (h *Hub) unsubscribe(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(c)
	h.active--
}

func (h *Hub) removeLocked(c *client) {
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		h.listening.Add(-1)
	}
}

// endReplay is called after a replay pass. It reports true when the stream
// may switch to its buffered live events; false when they overflowed
// during the pass, in which case the buffer is emptied (everything in it
// is in the spool) and the stream must replay again from where it is.
func (h *Hub) endReplay(c *client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !c.overflow {
		c.replaying = false
		return true
	}
	c.overflow = false
	for {
		select {
		case <-c.ch:
		default:
			return false
		}
	}
}

// Close ends every stream (each writes what is already queued for it
// first) and refuses new ones. It does not wait for the streams' handlers;
// http.Server.Shutdown does. Publish is a no-op afterwards.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.cancel()
}

// Stats are the hub's figures for the collector's metrics.
type Stats struct {
	Clients   int    // streams being served
	Published uint64 // records published
	Dropped   uint64 // streams ended because their buffer was full
	Ignored   uint64 // publishes at or below the newest seq, not streamed
	// ReplayPasses counts spool replays run for resuming streams (more
	// than one per resume when live events outran the buffer meanwhile).
	ReplayPasses uint64
}

// Stats returns the current figures.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	active := h.active
	h.mu.Unlock()
	return Stats{Clients: active, Published: h.published.Load(), Dropped: h.dropped.Load(),
		Ignored: h.ignored.Load(), ReplayPasses: h.passes.Load()}
}
