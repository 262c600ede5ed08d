// Package ingest is the collector's ingest HTTP surface: agents POST encoded
// batches to /v1/batches, Prometheus-compatible senders POST remote-write
// requests to /api/v1/write, and load balancers probe /healthz.
//
// The handler authenticates every write with the per-agent token table,
// bounds what it reads and decodes, checks the configured limits, and only
// then hands one Record to an Appender, which must make it durable before it
// returns. Nothing is acknowledged that the Appender has not accepted, so the
// storage behind the interface decides what "durable" means (the local bbolt
// spool, or the spool plus an object-store manifest).
//
// The package reaches storage and the token table only through the small
// interfaces defined here, so it imports neither the spool nor the token
// loader.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/limits"
)

// Routes served by the Handler.
const (
	RouteBatches     = "/v1/batches"
	RouteRemoteWrite = "/api/v1/write"
	RouteHealthz     = "/healthz"
)

// ErrUnavailable is what an Appender wraps when it cannot make a record
// durable right now (spool full, disk error, object store down in
// s3_manifest mode). The client is told to retry later with 503 and
// Retry-After; the batch is not acknowledged.
var ErrUnavailable = errors.New("ingest: storage unavailable")

// ErrNotSupported is what an Appender wraps when it cannot store this kind of
// record at all under its configuration (remote write with s3_manifest
// acceptance). The client gets 501 with the Appender's message: retrying
// the same request elsewhere in the same setup will not help, and a
// Prometheus sender keeps the data in its WAL rather than dropping it.
var ErrNotSupported = errors.New("ingest: not supported by this collector's acceptance mode")

// RecordKind says which route a record arrived on.
type RecordKind uint8

const (
	// KindBatch is a batch an agent encoded and uploaded to /v1/batches.
	KindBatch RecordKind = iota + 1
	// KindRemoteWrite is a Prometheus remote-write request converted to a
	// batch and re-encoded with the codec, so the spool only holds codec
	// bodies whatever the route.
	KindRemoteWrite
)

// String names the kind for logs.
func (k RecordKind) String() string {
	switch k {
	case KindBatch:
		return "batch"
	case KindRemoteWrite:
		return "remote_write"
	default:
		return "unknown"
	}
}

// Record is one accepted, validated upload handed to the Appender.
type Record struct {
	// AgentID and Seq identify the record: the Appender stores each pair once.
	AgentID string
	Seq     uint64
	Kind    RecordKind
	// Data is the exact codec-encoded body to store.
	Data []byte
	// Batch is Data decoded, for consumers (live stream, index) that would
	// otherwise decode it again. The Appender must not modify it.
	Batch *batch.Batch
	// ReceivedNs is when the collector received the request, nanoseconds
	// since the Unix epoch.
	ReceivedNs int64
}

// Result is the Appender's answer for a record it has made durable (or had
// already).
type Result struct {
	// Duplicate is set when (AgentID, Seq) was already durable; nothing new
	// was written.
	Duplicate bool
	// SpoolSeq is the storage's own sequence number for the record.
	SpoolSeq uint64
}

// Appender makes records durable. Append returns only once the record is
// durable (or known to be a duplicate); an error means it is not, and should
// wrap ErrUnavailable when retrying later may succeed.
type Appender interface {
	Append(ctx context.Context, rec Record) (Result, error)
}

// DuplicateChecker is optionally implemented by an Appender that can tell
// cheaply whether (agentID, seq) is already durable. When it is, the handler
// answers "duplicate" without decoding the body, so an agent re-sending its
// queue after a lost ack costs the collector almost nothing. An error is
// treated as "don't know" and the request proceeds to Append.
type DuplicateChecker interface {
	Durable(ctx context.Context, agentID string, seq uint64) (bool, error)
}

// Authenticator maps a bearer token to the agent it belongs to.
// pkg/tokens.Table satisfies it.
type Authenticator interface {
	Lookup(token string) (agentID string, ok bool)
}

// TokenSource gives the token table in force for one request. The collector
// swaps the table on SIGHUP; a request uses whichever table it saw first.
type TokenSource interface {
	Current() Authenticator
}

// TokenHolder is a TokenSource whose table can be replaced while requests
// are being served, without locks on the request path.
type TokenHolder struct {
	p atomic.Pointer[authBox]
}

// authBox exists because atomic.Pointer needs a concrete type, and the
// table is an interface.
type authBox struct{ a Authenticator }

// NewTokenHolder returns a holder serving a.
func NewTokenHolder(a Authenticator) *TokenHolder {
	h := &TokenHolder{}
	h.Store(a)
	return h
}

// Store replaces the table; requests that start afterwards use a.
func (h *TokenHolder) Store(a Authenticator) { h.p.Store(&authBox{a: a}) }

// Current returns the table in force, or nil when none was stored.
func (h *TokenHolder) Current() Authenticator {
	b := h.p.Load()
	if b == nil {
		return nil
	}
	return b.a
}

// Options tune a Handler. Zero values take the defaults of the [ingest]
// section of server.toml.
type Options struct {
	// Limits are the collector's per-batch limits (max_series_per_batch and
	// friends); the zero value means limits.Default().
	Limits limits.Limits
	// MaxBodyBytes caps the request body as sent (max_body_bytes, 16 MiB).
	MaxBodyBytes int64
	// MaxDecodedBytes caps a body after decompression (max_decoded_bytes,
	// 64 MiB); it also bounds the samples a request may carry.
	MaxDecodedBytes int64
	// MaxConcurrent caps write requests in flight
	// (max_concurrent_requests, 256); more are refused with 503.
	MaxConcurrent int
	// RetryAfter is what 503 answers tell clients to wait (1 s); sent in
	// whole seconds, at least 1.
	RetryAfter time.Duration
	// Logger receives one line per refused request; nil discards.
	Logger *slog.Logger
	// Registerer receives the handler's metrics. nil means a private
	// registry, so metrics are counted but not exposed; never the global one.
	Registerer prometheus.Registerer
	// Now is the clock, for tests; nil means time.Now.
	Now func() time.Time
}

// Defaults for zero Options fields, matching the config defaults.
const (
	DefaultMaxBodyBytes    = 16 << 20
	DefaultMaxDecodedBytes = 64 << 20
	DefaultMaxConcurrent   = 256
	DefaultRetryAfter      = time.Second
)

// Handler serves the ingest routes. It is safe for concurrent use.
type Handler struct {
	app  Appender
	dup  DuplicateChecker // nil when app does not implement it
	auth TokenSource

	lim             limits.Limits
	maxBody         int64
	maxDecoded      int64
	maxSamples      int
	retryAfter      string
	stringLimitKey  string // config key whose value became Caps.MaxStringBytes
	stringLimitSize int

	sem chan struct{}
	dec *codec.Decoder
	enc *codec.Encoder
	log *slog.Logger
	now func() time.Time
	m   *metrics
}

// New builds a Handler storing through app and authenticating with auth.
// It registers the handler's metrics on o.Registerer and fails when they
// are already registered there.
func New(app Appender, auth TokenSource, o Options) (*Handler, error) {
	if app == nil {
		return nil, errors.New("ingest: new: nil Appender")
	}
	if auth == nil {
		return nil, errors.New("ingest: new: nil TokenSource")
	}
	if o.Limits == (limits.Limits{}) {
		o.Limits = limits.Default()
	}
	if err := o.Limits.CheckFloors(); err != nil {
		return nil, fmt.Errorf("ingest: new: limits: %w", err)
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxDecodedBytes == 0 {
		o.MaxDecodedBytes = DefaultMaxDecodedBytes
	}
	if o.MaxConcurrent == 0 {
		o.MaxConcurrent = DefaultMaxConcurrent
	}
	if o.RetryAfter == 0 {
		o.RetryAfter = DefaultRetryAfter
	}
	switch {
	case o.MaxBodyBytes < 0 || o.MaxBodyBytes > math.MaxInt32:
		return nil, fmt.Errorf("ingest: new: max_body_bytes %d out of range", o.MaxBodyBytes)
	case o.MaxDecodedBytes < 0 || o.MaxDecodedBytes > math.MaxInt32:
		return nil, fmt.Errorf("ingest: new: max_decoded_bytes %d out of range", o.MaxDecodedBytes)
	case o.MaxConcurrent < 0:
		return nil, fmt.Errorf("ingest: new: max_concurrent_requests %d out of range", o.MaxConcurrent)
	case o.RetryAfter < 0:
		return nil, fmt.Errorf("ingest: new: negative retry-after %s", o.RetryAfter)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Now == nil {
		o.Now = time.Now
	}

	h := &Handler{
		app:        app,
		auth:       auth,
		lim:        o.Limits,
		maxBody:    o.MaxBodyBytes,
		maxDecoded: o.MaxDecodedBytes,
		retryAfter: fmt.Sprint(int64(math.Max(1, math.Ceil(o.RetryAfter.Seconds())))),
		sem:        make(chan struct{}, o.MaxConcurrent),
		log:        o.Logger,
		now:        o.Now,
	}
	h.dup, _ = app.(DuplicateChecker)
	caps := h.codecCaps()
	dec, err := codec.NewDecoder(caps)
	if err != nil {
		return nil, fmt.Errorf("ingest: new: decoder: %w", err)
	}
	enc, err := codec.NewEncoder()
	if err != nil {
		dec.Close()
		return nil, fmt.Errorf("ingest: new: encoder: %w", err)
	}
	h.dec, h.enc = dec, enc
	m, err := newMetrics(o.Registerer)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("ingest: new: %w", err)
	}
	h.m = m
	return h, nil
}

// Close releases the shared decoder and encoder. Call it after the server
// using the Handler has shut down.
func (h *Handler) Close() {
	if h.dec != nil {
		h.dec.Close()
	}
	if h.enc != nil {
		h.enc.Close()
	}
}

// sampleBytes is what one decoded sample costs in memory (timestamp and
// value). Capping samples at max_decoded_bytes/sampleBytes keeps a request's
// decoded samples inside the same budget as its decoded body.
const sampleBytes = 16

// codecCaps derives the decoder's caps from the limits, so that a body
// breaking a limit is refused while decoding, before anything is allocated
// for it, and limits.Validate only has the fine-grained checks left.
func (h *Handler) codecCaps() codec.Caps {
	// One cap bounds every string the codec reads, so it has to be the
	// largest string limit; the exact per-kind checks are limits.Validate's.
	h.stringLimitKey, h.stringLimitSize = "max_log_message_bytes", h.lim.MaxLogMessageBytes
	for _, c := range []struct {
		key string
		n   int
	}{
		{"max_label_value_bytes", h.lim.MaxLabelValueBytes},
		{"max_label_key_bytes", h.lim.MaxLabelKeyBytes},
	} {
		if c.n > h.stringLimitSize {
			h.stringLimitKey, h.stringLimitSize = c.key, c.n
		}
	}
	h.maxSamples = int(h.maxDecoded / sampleBytes)
	return codec.Caps{
		MaxEncodedBytes: int(h.maxBody),
		MaxDecodedBytes: int(h.maxDecoded),
		MaxSeries:       h.lim.MaxSeriesPerBatch,
		MaxSamples:      h.maxSamples,
		MaxLabels:       h.lim.MaxLabelsPerSeries,
		MaxStringBytes:  h.stringLimitSize,
		MaxLogs:         h.lim.MaxLogsPerBatch,
		// Caps must be positive; max_alerts_per_batch = 0 (no alerts) is
		// enforced by limits.Validate instead.
		MaxAlerts: max(1, h.lim.MaxAlertsPerBatch),
	}
}

// ServeHTTP routes a request to /v1/batches, /api/v1/write or /healthz.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	h.m.inFlight.Inc()
	route, code := "other", 0
	// Deferred so that the gauge and counters stay right even when an
	// Appender panics (net/http recovers the panic per request).
	defer func() {
		h.m.inFlight.Dec()
		h.m.requests.WithLabelValues(route, fmt.Sprint(code)).Inc()
		h.m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	}()

	var rf *refusal
	switch r.URL.Path {
	case RouteBatches, RouteRemoteWrite:
		route = r.URL.Path
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			rf = &refusal{status: http.StatusMethodNotAllowed, reason: reasonMalformed, msg: "method " + r.Method + " not allowed, use POST"}
			break
		}
		code, rf = h.serveWrite(w, r, route)
	case RouteHealthz:
		route = RouteHealthz
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			rf = &refusal{status: http.StatusMethodNotAllowed, reason: reasonMalformed, msg: "method " + r.Method + " not allowed, use GET"}
			break
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = io.WriteString(w, "ok\n")
		}
		code = http.StatusOK
	default:
		rf = &refusal{status: http.StatusNotFound, reason: reasonNotFound, msg: "no such route: " + r.URL.Path}
	}
	if rf != nil {
		code = rf.status
		h.refuse(w, r, route, rf)
	}
}

// serveWrite runs the steps both write routes share (concurrency cap,
// authentication) and then the route's own handling. It returns the status
// written on success, or the refusal to write.
func (h *Handler) serveWrite(w http.ResponseWriter, r *http.Request, route string) (int, *refusal) {
	select {
	case h.sem <- struct{}{}:
		defer func() { <-h.sem }()
	default:
		return 0, &refusal{status: http.StatusServiceUnavailable, reason: "max_concurrent_requests", limit: "max_concurrent_requests",
			msg: fmt.Sprintf("too many requests in flight (max_concurrent_requests %d), retry later", cap(h.sem)), retry: true}
	}
	agentID, ok := h.authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="lightmetrics ingest"`)
		return 0, &refusal{status: http.StatusUnauthorized, reason: reasonUnauthorized, msg: "missing or unknown bearer token"}
	}
	if route == RouteRemoteWrite {
		return h.serveRemoteWrite(w, r, agentID)
	}
	return h.serveBatch(w, r, agentID)
}

// authenticate returns the agent owning the request's bearer token. The
// token itself goes nowhere else: not into errors, logs or metrics.
func (h *Handler) authenticate(r *http.Request) (string, bool) {
	const prefix = "bearer "
	v := r.Header.Get("Authorization")
	if len(v) <= len(prefix) || !equalFoldASCII(v[:len(prefix)], prefix) {
		return "", false
	}
	tok := v[len(prefix):]
	for len(tok) > 0 && tok[0] == ' ' {
		tok = tok[1:]
	}
	if tok == "" {
		return "", false
	}
	a := h.auth.Current()
	if a == nil {
		return "", false
	}
	return a.Lookup(tok)
}

// equalFoldASCII compares ASCII strings ignoring case, because the auth
// scheme name is case-insensitive (RFC 9110) and strings.EqualFold would
// also fold Unicode we never want to accept.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
