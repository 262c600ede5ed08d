// Package logstore keeps the log records, alert records and agent roster of
// the batches the collector's spool holds, indexed in memory for the
// /api/v1/logs, /api/v1/alerts and /api/v1/agents endpoints.
//
// The spool is the durable copy: the collector rebuilds a Store at startup
// by handing it every spooled batch, then hands it each newly accepted one.
// Memory is bounded by record and byte caps and by retention, oldest records
// (by record time) going first.
package logstore

import (
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// Defaults for the zero values of Options.
const (
	DefaultMaxRecords = 1_000_000
	DefaultMaxBytes   = 256 << 20
	DefaultMaxAlerts  = 10_000
	DefaultStaleAfter = time.Minute
	DefaultDownAfter  = 5 * time.Minute
)

// DefaultHeartbeatValues are the heartbeat values /api/v1/agents shows when
// Options.HeartbeatValues is empty: the ones an operator glances at to see
// whether a host and its agent are healthy (names from docs/metrics.md).
func DefaultHeartbeatValues() []string {
	return []string{
		"host_uptime_seconds",
		"host_load1",
		"host_cpu_count",
		"host_memory_total_bytes",
		"host_memory_available_bytes",
		"agent_queue_batches",
		"agent_dropped_batches_total",
		"agent_upload_errors_total",
	}
}

// Options configure a Store. Zero values take the defaults above.
type Options struct {
	// MaxRecords caps the log records held.
	MaxRecords int
	// MaxBytes caps the estimated memory of the log records held: message
	// and attribute bytes plus a fixed per-record overhead (recordOverhead).
	MaxBytes int64
	// Retention drops log and alert records older than this (by record
	// time) and agents not seen for this long; 0 keeps them until a cap.
	// Set it to the spool's retention so the index holds what the spool does.
	Retention time.Duration
	// MaxAlerts caps the alert records held.
	MaxAlerts int
	// StaleAfter and DownAfter turn the time since an agent's last batch
	// into its state: up below StaleAfter, stale below DownAfter, else down.
	StaleAfter, DownAfter time.Duration
	// HeartbeatValues names the heartbeat values each agent shows.
	HeartbeatValues []string
	// Now is the clock retention is measured against; nil means time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.MaxRecords <= 0 {
		o.MaxRecords = DefaultMaxRecords
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxAlerts <= 0 {
		o.MaxAlerts = DefaultMaxAlerts
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = DefaultStaleAfter
	}
	if o.DownAfter <= 0 {
		o.DownAfter = DefaultDownAfter
	}
	if o.DownAfter < o.StaleAfter {
		o.DownAfter = o.StaleAfter
	}
	if len(o.HeartbeatValues) == 0 {
		o.HeartbeatValues = DefaultHeartbeatValues()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// recordOverhead is what one held log record costs besides its strings:
// the entry in its block (key, mask, string and slice headers), rounded up.
const recordOverhead = 128

// Interning caps: repeated strings (sources, attribute sets such as a
// file's path) are shared between records, but never more than this many
// distinct ones, so an agent sending unique values cannot grow the pools.
const (
	maxInternedStrings = 4096
	maxInternedSets    = 1024
	maxInternedSetSize = 512 // bytes of names and values in one set
)

type logRec struct {
	agent   string
	source  string
	message string
	attrs   batch.Labels // shared with other records when interned: read only
	// cost is what this record adds to Stats.Bytes.
	cost      uint32
	truncated bool
}

type alertRec struct {
	agent    string
	name     string
	message  string
	labels   batch.Labels
	severity batch.Severity
}

// Store is the in-memory index. It is safe for concurrent use: Add takes
// the write lock; queries take the read lock in short steps, so a long scan
// never holds ingest up for more than one step.
type Store struct {
	o    Options
	want map[string]bool // HeartbeatValues as a set

	mu        sync.RWMutex
	logs      timeline[logRec]
	alerts    timeline[alertRec]
	bytes     int64
	agents    map[string]*agentState
	strs      map[string]string
	sets      map[string]batch.Labels
	setKey    []byte
	evicted   uint64
	lastSweep int64
	ordinals  uint32
}

// New returns an empty Store.
func New(o Options) *Store {
	o = o.withDefaults()
	want := make(map[string]bool, len(o.HeartbeatValues))
	for _, n := range o.HeartbeatValues {
		want[n] = true
	}
	return &Store{
		o:      o,
		want:   want,
		agents: map[string]*agentState{},
		strs:   map[string]string{},
		sets:   map[string]batch.Labels{},
	}
}

// Stats are the Store's current figures, for the collector's own metrics.
type Stats struct {
	Records int   // log records held
	Bytes   int64 // their estimated memory
	Alerts  int   // alert records held
	Agents  int   // agents known
	Evicted uint64
}

// Stats returns the current figures.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return Stats{Records: s.logs.len(), Bytes: s.bytes, Alerts: s.alerts.len(), Agents: len(s.agents), Evicted: s.evicted}
}

// EventID is the id of the index-th event of the batch stored at spoolSeq.
// Index 0 is the batch itself, 1..len(Logs) its log records, and the alerts
// follow, so ids are unique and totally ordered; the live stream uses the
// same numbering, which is why a log record's id here is its live event id.
func EventID(spoolSeq uint64, index uint32) string {
	b := make([]byte, 0, 24)
	b = strconv.AppendUint(b, spoolSeq, 10)
	b = append(b, '-')
	b = strconv.AppendUint(b, uint64(index), 10)
	return string(b)
}

// Add indexes one batch the spool holds at spoolSeq, received at
// receivedNs. Batches may come in any order; a record already held (the
// same spoolSeq handed over twice) is not stored again, though the agent's
// counts would count it twice. The store keeps b's strings and label
// slices, so b must not be modified afterwards.
func (s *Store) Add(spoolSeq uint64, receivedNs int64, b *batch.Batch) {
	if b == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.agent(b.AgentID)
	a.observe(spoolSeq, receivedNs, b, s.want)
	abit := a.bit()
	for i := range b.Logs {
		lr := &b.Logs[i]
		src := s.intern(lr.Source)
		attrs, shared := s.internSet(lr.Attrs)
		cost := recordOverhead + len(lr.Message)
		if !shared {
			for _, l := range attrs {
				cost += len(l.Name) + len(l.Value) + 32
			}
		}
		cost = min(cost, math.MaxUint32)
		e := entry[logRec]{
			k:    key{t: lr.TimeNs, seq: spoolSeq, idx: uint32(1 + i)},
			mask: abit | sourceBit(src),
			v:    logRec{agent: a.id, source: src, message: lr.Message, attrs: attrs, cost: uint32(cost), truncated: lr.Truncated},
		}
		if s.logs.insert(e) {
			s.bytes += int64(cost)
		}
	}
	for i := range b.Alerts {
		al := &b.Alerts[i]
		s.alerts.insert(entry[alertRec]{
			k:    key{t: al.TimeNs, seq: spoolSeq, idx: uint32(1 + len(b.Logs) + i)},
			mask: abit,
			v:    alertRec{agent: a.id, name: al.Name, message: al.Message, labels: al.Labels, severity: al.Severity},
		})
	}
	s.evict()
}

// evict drops the oldest records while a cap or the retention is exceeded.
func (s *Store) evict() {
	cutoff := int64(math.MinInt64)
	now := s.o.Now().UnixNano()
	if s.o.Retention > 0 {
		cutoff = now - int64(s.o.Retention)
	}
	for {
		e, ok := s.logs.first()
		if !ok || (s.logs.len() <= s.o.MaxRecords && s.bytes <= s.o.MaxBytes && e.k.t >= cutoff) {
			break
		}
		s.bytes -= int64(e.v.cost)
		s.logs.removeFirst()
		s.evicted++
	}
	for {
		e, ok := s.alerts.first()
		if !ok || (s.alerts.len() <= s.o.MaxAlerts && e.k.t >= cutoff) {
			break
		}
		s.alerts.removeFirst()
	}
	// Agents gone longer than the retention leave the roster; a sweep a
	// second is plenty for a list of hosts.
	if s.o.Retention > 0 && now-s.lastSweep >= int64(time.Second) {
		s.lastSweep = now
		for id, a := range s.agents {
			if a.lastSeenNs < cutoff {
				delete(s.agents, id)
			}
		}
	}
}

// cutoff is the oldest record time retention still keeps.
func (s *Store) cutoff() int64 {
	if s.o.Retention <= 0 {
		return math.MinInt64
	}
	return s.o.Now().UnixNano() - int64(s.o.Retention)
}

func (s *Store) agent(id string) *agentState {
	if a, ok := s.agents[id]; ok {
		return a
	}
	a := &agentState{id: id, ordinal: s.ordinals}
	s.ordinals++
	s.agents[id] = a
	return a
}

// intern returns a shared copy of v, so a million lines from one source
// hold its name once.
func (s *Store) intern(v string) string {
	if x, ok := s.strs[v]; ok {
		return x
	}
	if len(s.strs) < maxInternedStrings && len(v) <= 256 {
		s.strs[v] = v
	}
	return v
}

// internSet returns a shared copy of attrs when an equal set is pooled (or
// can be) and reports whether the copy is shared. Lines of one file carry
// the same path and source attributes, so most records share one set.
func (s *Store) internSet(attrs batch.Labels) (batch.Labels, bool) {
	if len(attrs) == 0 {
		return nil, true
	}
	k := s.setKey[:0]
	for _, l := range attrs {
		k = append(k, l.Name...)
		k = append(k, 0)
		k = append(k, l.Value...)
		k = append(k, 0)
	}
	s.setKey = k
	if x, ok := s.sets[string(k)]; ok {
		return x, true
	}
	if len(s.sets) >= maxInternedSets || len(k) > maxInternedSetSize {
		return attrs, false
	}
	c := make(batch.Labels, len(attrs))
	for i, l := range attrs {
		c[i] = batch.Label{Name: s.intern(l.Name), Value: s.intern(l.Value)}
	}
	s.sets[string(k)] = c
	return c, true
}

// sourceBit is a source's bit in the high half of a block mask.
func sourceBit(source string) uint64 {
	// FNV-1a, inline so that indexing a record allocates nothing for it.
	h := uint32(2166136261)
	for i := 0; i < len(source); i++ {
		h ^= uint32(source[i])
		h *= 16777619
	}
	return uint64(1) << (32 + h%32)
}

// agentBit is the agent's bit in the low half of a block mask. Agents get
// bits in the order they are first seen, so a fleet of up to 32 agents has
// one bit each and a query for one agent skips every block without it.
func (a *agentState) bit() uint64 { return uint64(1) << (a.ordinal % 32) }
