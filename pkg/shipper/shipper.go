// Package shipper is the agent's collection cycle: it samples host metrics,
// reads new log lines, builds batches that fit the agent's limits, appends
// them to the durable queue together with the log offsets they carry, and
// hands the queue to an uploader. A batch is in the queue before any upload
// is tried, so a crash at any point loses nothing and sends nothing twice.
package shipper

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/hostmetrics"
	"github.com/lightmetrics/lightmetrics/pkg/limits"
	"github.com/lightmetrics/lightmetrics/pkg/logtail"
	"github.com/lightmetrics/lightmetrics/pkg/queue"
)

// State buckets the shipper keeps in the queue file.
var (
	bucketLogtail  = []byte("logtail")
	bucketAgent    = []byte("agent")
	keyPendingDrop = []byte("pending_drop")
)

// Metrics is the host-metrics source.
type Metrics interface {
	Collect(ctx context.Context, now time.Time) (hostmetrics.Snapshot, error)
}

// Tailer is the log source. Poll does not advance positions; Commit does,
// once the batch carrying the lines is durable.
type Tailer interface {
	Poll(ctx context.Context, max int, now time.Time) ([]batch.LogRecord, *logtail.Checkpoint, error)
	Commit(cp *logtail.Checkpoint)
}

// Queue is what the shipper needs of the durable queue.
type Queue interface {
	Append(ctx context.Context, e queue.Entry) (queue.Result, error)
	State(bucket, key []byte) ([]byte, error)
	PutState(ctx context.Context, kvs ...queue.KV) error
	Stats() queue.Stats
}

// Encoder turns a batch into its wire bytes.
type Encoder interface {
	Encode(b *batch.Batch) ([]byte, error)
}

// Options configure a Shipper.
type Options struct {
	AgentID      string
	Hostname     string
	AgentVersion string
	Limits       limits.AgentLimits
	Metrics      Metrics
	// Tailer may be nil when no log inputs are configured.
	Tailer  Tailer
	Encoder Encoder
	Logger  *slog.Logger
	Now     func() time.Time
}

// Shipper runs collection cycles. Its methods are safe for one caller at a
// time plus concurrent Health reads.
type Shipper struct {
	o       Options
	started time.Time

	mu     sync.Mutex
	health Health
}

// Health is the agent's view of itself, sent in every heartbeat.
type Health struct {
	DroppedBatches   uint64
	DroppedBytes     uint64
	UploadErrors     uint64
	MovedAside       uint64
	LastUpload       time.Time
	LastCollection   time.Duration
	LogLines         uint64
	LogTruncated     uint64
	CollectionErrors uint64
	BatchesQueued    uint64
}

// New checks the options and returns a Shipper.
func New(o Options) (*Shipper, error) {
	if o.AgentID == "" {
		return nil, errors.New("shipper: agent id is required")
	}
	if o.Metrics == nil || o.Encoder == nil {
		return nil, errors.New("shipper: metrics source and encoder are required")
	}
	if o.Limits.MaxSeriesPerBatch < limits.FloorSeriesPerBatch {
		return nil, fmt.Errorf("shipper: max_series_per_batch %d is below the floor of %d", o.Limits.MaxSeriesPerBatch, limits.FloorSeriesPerBatch)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Shipper{o: o, started: o.Now()}, nil
}

// NoteUpload records the outcome of an upload round for the next heartbeat.
func (s *Shipper) NoteUpload(at time.Time, sent, movedAside int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sent > 0 {
		s.health.LastUpload = at
	}
	s.health.MovedAside += uint64(movedAside)
	if err != nil {
		s.health.UploadErrors++
	}
}

// Health returns a copy of the agent's health counters.
func (s *Shipper) Health() Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.health
}

// Built is the outcome of one Build: the batches of a cycle (seq unset) and
// the log checkpoint the first one carries.
type Built struct {
	Batches    []*batch.Batch
	Checkpoint *logtail.Checkpoint
	Snapshot   hostmetrics.Snapshot
	Logs       int
	Truncated  int
}

// Build collects once and splits the result into batches that respect the
// agent's limits: the first carries the heartbeat, the log records and any
// alerts; the rest carry the remaining series. It reads no queue state but
// the alerts passed in.
func (s *Shipper) Build(ctx context.Context, qs queue.Stats, alerts []batch.Alert) (Built, error) {
	now := s.o.Now()
	snap, err := s.o.Metrics.Collect(ctx, now)
	if err != nil {
		return Built{}, fmt.Errorf("collect host metrics: %w", err)
	}
	if len(snap.Errors) > 0 {
		s.mu.Lock()
		s.health.CollectionErrors += uint64(len(snap.Errors))
		s.mu.Unlock()
		for _, e := range snap.Errors {
			s.o.Logger.Debug("host metrics source failed", "err", e)
		}
	}
	var logs []batch.LogRecord
	var cp *logtail.Checkpoint
	if s.o.Tailer != nil && s.o.Limits.MaxLogsPerBatch > 0 {
		logs, cp, err = s.o.Tailer.Poll(ctx, s.o.Limits.MaxLogsPerBatch, now)
		if err != nil {
			return Built{}, fmt.Errorf("read log inputs: %w", err)
		}
	}
	truncated := 0
	for i := range logs {
		if logs[i].Truncated {
			truncated++
		}
	}
	if s.o.Limits.MaxAlertsPerBatch >= 0 && len(alerts) > s.o.Limits.MaxAlertsPerBatch {
		alerts = alerts[:s.o.Limits.MaxAlertsPerBatch]
	}

	s.mu.Lock()
	s.health.LastCollection = snap.Took
	s.health.LogLines += uint64(len(logs))
	s.health.LogTruncated += uint64(truncated)
	h := s.health
	s.mu.Unlock()

	hb := &batch.Heartbeat{
		TimestampMs:  now.UnixMilli(),
		Hostname:     s.o.Hostname,
		AgentVersion: s.o.AgentVersion,
		OS:           runtime.GOOS,
		Values:       append(append([]batch.Scalar(nil), snap.Heartbeat...), s.selfScalars(now, qs, h)...),
	}
	first := &batch.Batch{AgentID: s.o.AgentID, CreatedNs: now.UnixNano(), Heartbeat: hb, Logs: logs, Alerts: alerts}
	out := []*batch.Batch{first}
	room := s.o.Limits.MaxSeriesPerBatch - len(hb.Values)
	if room < 0 {
		return Built{}, fmt.Errorf("heartbeat has %d values, more than max_series_per_batch %d", len(hb.Values), s.o.Limits.MaxSeriesPerBatch)
	}
	series := snap.Series
	cur := first
	for len(series) > 0 {
		if room == 0 {
			cur = &batch.Batch{AgentID: s.o.AgentID, CreatedNs: now.UnixNano()}
			out = append(out, cur)
			room = s.o.Limits.MaxSeriesPerBatch
		}
		n := min(room, len(series))
		cur.Series = append(cur.Series, series[:n]...)
		series = series[n:]
		room -= n
	}
	return Built{Batches: out, Checkpoint: cp, Snapshot: snap, Logs: len(logs), Truncated: truncated}, nil
}

// Cycle is one collection: Build, then append every batch to the queue
// (the first together with the log offsets and the clearing of reported
// drops), then commit the tailer. It returns the sequence numbers queued.
func (s *Shipper) Cycle(ctx context.Context, q Queue) ([]uint64, error) {
	pending, err := pendingDrop(q)
	if err != nil {
		return nil, err
	}
	var alerts []batch.Alert
	if pending.Records > 0 && s.o.Limits.MaxAlertsPerBatch > 0 {
		alerts = append(alerts, dropAlert(s.o.Now(), pending))
	}
	built, err := s.Build(ctx, q.Stats(), alerts)
	if err != nil {
		return nil, err
	}
	var seqs []uint64
	for i, b := range built.Batches {
		e := queue.Entry{Build: s.encodeWithSeq(b)}
		if i == 0 {
			e.State = s.firstState(built.Checkpoint, pending.Records > 0)
		}
		// Appending must not be cut short by a stop signal: the batch in
		// hand is finished, and the append itself is quick and bounded.
		res, err := q.Append(context.WithoutCancel(ctx), e)
		if err != nil {
			return seqs, fmt.Errorf("queue batch %d of %d: %w", i+1, len(built.Batches), err)
		}
		seqs = append(seqs, res.Seq)
		if i == 0 && built.Checkpoint != nil && s.o.Tailer != nil {
			s.o.Tailer.Commit(built.Checkpoint)
		}
		if res.Dropped.Records > 0 {
			s.noteDropped(ctx, q, res.Dropped)
		}
	}
	s.mu.Lock()
	s.health.BatchesQueued += uint64(len(seqs))
	s.mu.Unlock()
	return seqs, nil
}

func (s *Shipper) encodeWithSeq(b *batch.Batch) func(seq uint64) ([]byte, error) {
	return func(seq uint64) ([]byte, error) {
		c := *b
		c.Seq = seq
		data, err := s.o.Encoder.Encode(&c)
		if err != nil {
			return nil, fmt.Errorf("encode batch %d: %w", seq, err)
		}
		return data, nil
	}
}

// firstState is what the first batch of a cycle commits with it: the log
// offsets it carries and, when it carries the drop alert, the clearing of
// the pending drop counts (a nil value deletes the key).
func (s *Shipper) firstState(cp *logtail.Checkpoint, clearDrop bool) []queue.KV {
	var kvs []queue.KV
	if cp != nil {
		for k, v := range cp.State() {
			kvs = append(kvs, queue.KV{Bucket: bucketLogtail, Key: []byte(k), Value: v})
		}
	}
	if clearDrop {
		kvs = append(kvs, queue.KV{Bucket: bucketAgent, Key: keyPendingDrop})
	}
	return kvs
}

// noteDropped adds a drop to the counts the next batch will report. The
// counts live in the queue file so a restart does not forget them.
func (s *Shipper) noteDropped(ctx context.Context, q Queue, d queue.Dropped) {
	s.mu.Lock()
	s.health.DroppedBatches += uint64(d.Records)
	s.health.DroppedBytes += uint64(d.Bytes)
	s.mu.Unlock()
	s.o.Logger.Warn("queue full: dropped oldest batches", "batches", d.Records, "bytes", d.Bytes, "first_seq", d.FirstSeq, "last_seq", d.LastSeq)
	p, err := pendingDrop(q)
	if err != nil {
		s.o.Logger.Error("read pending drop counts", "err", err)
		return
	}
	p.Records += uint64(d.Records)
	p.Bytes += uint64(d.Bytes)
	if p.FirstSeq == 0 || d.FirstSeq < p.FirstSeq {
		p.FirstSeq = d.FirstSeq
	}
	if d.LastSeq > p.LastSeq {
		p.LastSeq = d.LastSeq
	}
	// The drop happened inside the append's transaction and this count is
	// saved right after it: a crash in between forgets the count (never
	// data), and the heartbeat's dropped-batches counter still shows it.
	if err := q.PutState(context.WithoutCancel(ctx), queue.KV{Bucket: bucketAgent, Key: keyPendingDrop, Value: p.marshal()}); err != nil {
		s.o.Logger.Error("save pending drop counts", "err", err)
	}
}

// drop is the running count of batches dropped under queue pressure and not
// yet reported in an alert record.
type drop struct {
	Records, Bytes    uint64
	FirstSeq, LastSeq uint64
}

func (d drop) marshal() []byte {
	b := make([]byte, 32)
	binary.BigEndian.PutUint64(b[0:], d.Records)
	binary.BigEndian.PutUint64(b[8:], d.Bytes)
	binary.BigEndian.PutUint64(b[16:], d.FirstSeq)
	binary.BigEndian.PutUint64(b[24:], d.LastSeq)
	return b
}

func pendingDrop(q Queue) (drop, error) {
	v, err := q.State(bucketAgent, keyPendingDrop)
	if err != nil {
		return drop{}, fmt.Errorf("read pending drop counts: %w", err)
	}
	if len(v) != 32 {
		return drop{}, nil
	}
	return drop{
		Records:  binary.BigEndian.Uint64(v[0:]),
		Bytes:    binary.BigEndian.Uint64(v[8:]),
		FirstSeq: binary.BigEndian.Uint64(v[16:]),
		LastSeq:  binary.BigEndian.Uint64(v[24:]),
	}, nil
}

func dropAlert(now time.Time, d drop) batch.Alert {
	return batch.Alert{
		TimeNs:   now.UnixNano(),
		Name:     "agent_queue_dropped",
		Severity: batch.SeverityWarning,
		Message: fmt.Sprintf("upload queue full: dropped the %d oldest batches (%d bytes, seq %d..%d) before they could be uploaded",
			d.Records, d.Bytes, d.FirstSeq, d.LastSeq),
		Labels: batch.Labels{
			{Name: "batches", Value: fmt.Sprint(d.Records)},
			{Name: "bytes", Value: fmt.Sprint(d.Bytes)},
			{Name: "first_seq", Value: fmt.Sprint(d.FirstSeq)},
			{Name: "last_seq", Value: fmt.Sprint(d.LastSeq)},
		},
	}
}

// selfScalars are the agent's own health values in the heartbeat. Together
// with hostmetrics.MaxHeartbeatScalars they stay within the floor of 107.
func (s *Shipper) selfScalars(now time.Time, qs queue.Stats, h Health) []batch.Scalar {
	g, c := batch.KindGauge, batch.KindCounter
	out := []batch.Scalar{
		{Name: "agent_info", Kind: g, Value: 1},
		{Name: "agent_uptime_seconds", Kind: g, Value: now.Sub(s.started).Seconds()},
		{Name: "agent_queue_batches", Kind: g, Value: float64(qs.Records)},
		{Name: "agent_queue_bytes", Kind: g, Value: float64(qs.Bytes)},
		{Name: "agent_dropped_batches_total", Kind: c, Value: float64(h.DroppedBatches)},
		{Name: "agent_dropped_bytes_total", Kind: c, Value: float64(h.DroppedBytes)},
		{Name: "agent_upload_errors_total", Kind: c, Value: float64(h.UploadErrors)},
		{Name: "agent_moved_aside_batches_total", Kind: c, Value: float64(h.MovedAside)},
		{Name: "agent_collection_duration_seconds", Kind: g, Value: h.LastCollection.Seconds()},
		{Name: "agent_collection_errors_total", Kind: c, Value: float64(h.CollectionErrors)},
		{Name: "agent_log_lines_total", Kind: c, Value: float64(h.LogLines)},
		{Name: "agent_log_truncated_total", Kind: c, Value: float64(h.LogTruncated)},
		{Name: "agent_batches_queued_total", Kind: c, Value: float64(h.BatchesQueued)},
	}
	if !h.LastUpload.IsZero() {
		out = append(out, batch.Scalar{Name: "agent_last_upload_timestamp_seconds", Kind: g, Value: float64(h.LastUpload.UnixMilli()) / 1000})
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		out = append(out, batch.Scalar{Name: "agent_cpu_seconds_total", Kind: c, Value: cpu.Seconds()})
	}
	if rss, ok := residentBytes(); ok {
		out = append(out, batch.Scalar{Name: "agent_resident_memory_bytes", Kind: g, Value: float64(rss)})
	}
	return out
}
