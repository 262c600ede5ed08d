package logstore

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// Query bounds.
const (
	DefaultLimit = 100
	MaxLimit     = 5000
	// MaxRegexpBytes caps the length of a "re" pattern. RE2 matching is
	// linear in the input, so the pattern's size is what bounds the cost of
	// compiling and running it.
	MaxRegexpBytes = 4096
)

// Directions of a log query.
const (
	Backward = "backward" // newest first, the default
	Forward  = "forward"  // oldest first
)

// stepBudget is how many records a query visits per hold of the read lock.
const stepBudget = 4096

// LogQuery selects log records. Zero fields do not filter.
type LogQuery struct {
	// Start and End bound the record time, both inclusive; a zero time
	// leaves that side open.
	Start, End time.Time
	Agent      string
	Source     string
	// Attr holds attributes a record must carry with exactly these values.
	Attr map[string]string
	// Contains is a case-sensitive substring of the message.
	Contains string
	// Regexp is an RE2 pattern the message must match (at most
	// MaxRegexpBytes long).
	Regexp string
	// Limit is the page size: 0 means DefaultLimit, more than MaxLimit is
	// cut to MaxLimit, negative is an error.
	Limit int
	// Direction is Backward (or "") or Forward.
	Direction string
	// Cursor is a LogPage.NextCursor: the page continues after the record
	// it names, in Direction. Records that arrive between pages appear on a
	// later page when their time is still ahead of the cursor.
	Cursor string
}

// LogRecordJSON is one log record as the API and the live stream show it.
type LogRecordJSON struct {
	// ID is EventID of the record: "<spool seq>-<index in batch>".
	ID        string `json:"id"`
	Time      string `json:"time"` // RFC 3339 with nanoseconds, UTC
	Agent     string `json:"agent"`
	Source    string `json:"source"`
	Message   string `json:"message"`
	Truncated bool   `json:"truncated"`
	// Attributes are never null; a later attribute of the same name wins.
	Attributes map[string]string `json:"attributes"`
}

// LogPage is one page of a log query.
type LogPage struct {
	Records []LogRecordJSON `json:"records"`
	// NextCursor continues the query; empty when no matching record was
	// left when the page was cut.
	NextCursor string `json:"next_cursor"`
}

// ParamError is a query parameter the Store cannot use. Param is the HTTP
// parameter name, so the handler's 400 says which one to fix.
type ParamError struct {
	Param string
	Msg   string
}

func (e *ParamError) Error() string { return e.Param + ": " + e.Msg }

// compiledQuery is a validated LogQuery.
type compiledQuery struct {
	lo, hi    key
	agent     string
	source    string
	attr      map[string]string
	contains  string
	re        *regexp.Regexp
	limit     int
	forward   bool
	cursor    key
	hasCursor bool
}

func (q *LogQuery) compile(cutoff int64) (*compiledQuery, error) {
	c := &compiledQuery{
		lo:       key{t: math.MinInt64},
		hi:       key{t: math.MaxInt64, seq: math.MaxUint64, idx: math.MaxUint32},
		agent:    q.Agent,
		source:   q.Source,
		attr:     q.Attr,
		contains: q.Contains,
		limit:    q.Limit,
	}
	if !q.Start.IsZero() {
		c.lo.t = q.Start.UnixNano()
	}
	if !q.End.IsZero() {
		c.hi.t = q.End.UnixNano()
	}
	if c.lo.t > c.hi.t {
		return nil, &ParamError{Param: "end", Msg: "is before start"}
	}
	// Records past retention may linger until the next Add evicts them;
	// a query does not show them.
	c.lo.t = max(c.lo.t, cutoff)
	switch q.Direction {
	case "", Backward:
	case Forward:
		c.forward = true
	default:
		return nil, &ParamError{Param: "direction", Msg: fmt.Sprintf("%q is neither %q nor %q", q.Direction, Backward, Forward)}
	}
	switch {
	case c.limit < 0:
		return nil, &ParamError{Param: "limit", Msg: fmt.Sprintf("%d is negative", q.Limit)}
	case c.limit == 0:
		c.limit = DefaultLimit
	case c.limit > MaxLimit:
		c.limit = MaxLimit
	}
	if q.Regexp != "" {
		re, err := compileRegexp(q.Regexp)
		if err != nil {
			return nil, err
		}
		c.re = re
	}
	if q.Cursor != "" {
		k, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, err
		}
		c.cursor, c.hasCursor = k, true
	}
	return c, nil
}

func compileRegexp(p string) (*regexp.Regexp, error) {
	if len(p) > MaxRegexpBytes {
		return nil, &ParamError{Param: "re", Msg: fmt.Sprintf("pattern of %d bytes is longer than %d", len(p), MaxRegexpBytes)}
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, &ParamError{Param: "re", Msg: err.Error()}
	}
	return re, nil
}

// match applies the filters the block masks cannot.
func (c *compiledQuery) match(r *logRec) bool {
	if c.agent != "" && r.agent != c.agent {
		return false
	}
	if c.source != "" && r.source != c.source {
		return false
	}
	for k, v := range c.attr {
		if !hasAttr(r.attrs, k, v) {
			return false
		}
	}
	if c.contains != "" && !strings.Contains(r.message, c.contains) {
		return false
	}
	return c.re == nil || c.re.MatchString(r.message)
}

func hasAttr(ls batch.Labels, name, value string) bool {
	for _, l := range ls {
		if l.Name == name && l.Value == value {
			return true
		}
	}
	return false
}

// Query returns one page of log records matching q, newest first unless q
// says forward. It scans in key order and stops as soon as the page is full
// (and one more match proves there is a next page), dropping the read lock
// every few thousand records and giving up when ctx ends.
func (s *Store) Query(ctx context.Context, q LogQuery) (LogPage, error) {
	c, err := q.compile(s.cutoff())
	if err != nil {
		return LogPage{}, fmt.Errorf("logstore: query: %w", err)
	}
	w := walk{forward: c.forward, inclusive: true, pos: c.hi}
	if c.forward {
		w.pos = c.lo
	}
	// A cursor outside [lo, hi] (the client narrowed the range between
	// pages) starts at the range's edge instead.
	if c.hasCursor && (c.forward && c.cursor.cmp(c.lo) >= 0 || !c.forward && c.cursor.cmp(c.hi) <= 0) {
		w.pos, w.inclusive = c.cursor, false
	}
	page := LogPage{Records: []LogRecordJSON{}}
	var lastKey key
	more := false
	fn := func(e *entry[logRec]) bool {
		if !c.match(&e.v) {
			return true
		}
		if len(page.Records) == c.limit {
			more = true
			return false
		}
		page.Records = append(page.Records, e.v.json(e.k))
		lastKey = e.k
		return true
	}
	for {
		if err := ctx.Err(); err != nil {
			return LogPage{}, fmt.Errorf("logstore: query: %w", err)
		}
		s.mu.RLock()
		need := uint64(0)
		if c.agent != "" {
			a, ok := s.agents[c.agent]
			if !ok {
				s.mu.RUnlock()
				break
			}
			need |= a.bit()
		}
		if c.source != "" {
			need |= sourceBit(c.source)
		}
		goOn := s.logs.step(&w, c.lo, c.hi, need, stepBudget, fn)
		s.mu.RUnlock()
		if !goOn {
			break
		}
	}
	if more {
		page.NextCursor = encodeCursor(lastKey)
	}
	return page, nil
}

func (r *logRec) json(k key) LogRecordJSON {
	attrs := make(map[string]string, len(r.attrs))
	for _, l := range r.attrs {
		attrs[l.Name] = l.Value
	}
	return LogRecordJSON{
		ID:         EventID(k.seq, k.idx),
		Time:       formatNs(k.t),
		Agent:      r.agent,
		Source:     r.source,
		Message:    r.message,
		Truncated:  r.truncated,
		Attributes: attrs,
	}
}

// cursorVersion leads every cursor so the format can change without an
// old cursor being misread.
const cursorVersion = 1

// encodeCursor makes the opaque cursor for the position after k.
func encodeCursor(k key) string {
	b := make([]byte, 0, 1+3*binary.MaxVarintLen64)
	b = append(b, cursorVersion)
	b = binary.AppendVarint(b, k.t)
	b = binary.AppendUvarint(b, k.seq)
	b = binary.AppendUvarint(b, uint64(k.idx))
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (key, error) {
	bad := &ParamError{Param: "cursor", Msg: "not a cursor this server handed out"}
	if len(s) > 64 {
		return key{}, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 || b[0] != cursorVersion {
		return key{}, bad
	}
	b = b[1:]
	t, n := binary.Varint(b)
	if n <= 0 {
		return key{}, bad
	}
	b = b[n:]
	seq, n := binary.Uvarint(b)
	if n <= 0 {
		return key{}, bad
	}
	b = b[n:]
	idx, n := binary.Uvarint(b)
	if n <= 0 || idx > math.MaxUint32 || n != len(b) {
		return key{}, bad
	}
	return key{t: t, seq: seq, idx: uint32(idx)}, nil
}

// AlertQuery selects alert records. Zero fields do not filter.
type AlertQuery struct {
	// Start and End bound the record time, both inclusive.
	Start, End time.Time
	Agent      string
	// Limit: 0 means DefaultLimit, more than MaxLimit is cut to MaxLimit.
	Limit int
}

// AlertJSON is one alert record as the API and the live stream show it.
type AlertJSON struct {
	ID       string            `json:"id"` // EventID, like a log record's
	Time     string            `json:"time"`
	Agent    string            `json:"agent"`
	Name     string            `json:"name"`
	Severity string            `json:"severity"` // info, warning or critical
	Message  string            `json:"message"`
	Labels   map[string]string `json:"labels"`
}

// Alerts returns the newest alert records matching q, newest first. Alerts
// are few (an agent sends at most a handful per batch), so this holds the
// read lock for the whole scan.
func (s *Store) Alerts(q AlertQuery) []AlertJSON {
	lo := key{t: s.cutoff()}
	hi := key{t: math.MaxInt64, seq: math.MaxUint64, idx: math.MaxUint32}
	if !q.Start.IsZero() {
		lo.t = max(lo.t, q.Start.UnixNano())
	}
	if !q.End.IsZero() {
		hi.t = q.End.UnixNano()
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	out := []AlertJSON{}
	if lo.t > hi.t {
		return out
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	need := uint64(0)
	if q.Agent != "" {
		a, ok := s.agents[q.Agent]
		if !ok {
			return out
		}
		need = a.bit()
	}
	w := walk{pos: hi, inclusive: true}
	s.alerts.step(&w, lo, hi, need, math.MaxInt, func(e *entry[alertRec]) bool {
		if q.Agent != "" && e.v.agent != q.Agent {
			return true
		}
		out = append(out, e.v.json(e.k))
		return len(out) < limit
	})
	return out
}

func (r *alertRec) json(k key) AlertJSON {
	labels := make(map[string]string, len(r.labels))
	for _, l := range r.labels {
		labels[l.Name] = l.Value
	}
	return AlertJSON{
		ID:       EventID(k.seq, k.idx),
		Time:     formatNs(k.t),
		Agent:    r.agent,
		Name:     r.name,
		Severity: r.severity.String(),
		Message:  r.message,
		Labels:   labels,
	}
}
