package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/hostmetrics"
	"github.com/lightmetrics/lightmetrics/pkg/limits"
	"github.com/lightmetrics/lightmetrics/pkg/queue"
	"github.com/lightmetrics/lightmetrics/pkg/shipper"
	"github.com/lightmetrics/lightmetrics/pkg/tlsutil"
	"github.com/lightmetrics/lightmetrics/pkg/uplink"
)

// seqSeries is the series every simulated batch carries, whose one sample
// is the batch's own sequence number: a query then shows exactly which
// batches a collector holds.
const seqSeries = "soak_batch_seq"

// simAgent is one simulated agent built from the real agent's parts: the
// shipper's collection cycle appending to a bbolt queue (sequence numbers
// from the queue), and the uplink's Drain emptying it through failover
// endpoints. Only the host-metrics source is synthetic, and the encoder
// stamps each batch's seq into seqSeries.
type simAgent struct {
	id, group string
	endpoints []string
	q         *queue.Queue
	ship      *shipper.Shipper
	client    *uplink.Client
	enc       *codec.Encoder
	log       *slog.Logger
	// clockNs shifts the agent's clock (batch, heartbeat and sample
	// timestamps) for the clock-step fault.
	clockNs atomic.Int64

	mu      sync.Mutex
	queued  map[uint64]bool // appended to the queue: "sent" from the agent's side
	acked   map[uint64]bool // a collector answered accepted/duplicate for this seq
	aside   map[uint64]string
	dropped int
	errs    map[string]int // upload failures by class
	cycles  int
}

func newSimAgent(dir, id, group string, endpoints []string, token, caFile string, log *slog.Logger) (*simAgent, error) {
	a := &simAgent{id: id, group: group, endpoints: endpoints, log: log.With("agent", id),
		queued: map[uint64]bool{}, acked: map[uint64]bool{}, aside: map[uint64]string{}, errs: map[string]int{}}
	tlsCfg, err := tlsutil.ClientConfig(caFile)
	if err != nil {
		return nil, err
	}
	// The same uplink options and queue options roles/agent uses.
	a.client, err = uplink.New(uplink.Options{Endpoints: endpoints, Token: token, TLS: tlsCfg,
		Timeout: 10 * time.Second, Logger: a.log, UserAgent: "lightmetrics-soak"})
	if err != nil {
		return nil, err
	}
	a.q, err = queue.Open(filepath.Join(dir, id, "queue.db"), queue.Options{
		MaxRecords: 10000, MaxBytes: 256 << 20, OnFull: queue.DropOldest,
		FirstSeq: uint64(time.Now().UnixMicro()),
	})
	if err != nil {
		return nil, fmt.Errorf("%s: open queue: %w", id, err)
	}
	if a.enc, err = codec.NewEncoder(codec.LowMemory()); err != nil {
		a.q.Close()
		return nil, err
	}
	a.ship, err = shipper.New(shipper.Options{
		AgentID: id, Hostname: "soak-" + id, AgentVersion: "soak",
		Limits: limits.DefaultAgent(), Metrics: simMetrics{}, Encoder: seqStamper{a.enc}, Logger: a.log,
		Now: a.now,
	})
	if err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

func (a *simAgent) now() time.Time { return time.Now().Add(time.Duration(a.clockNs.Load())) }

func (a *simAgent) close() {
	a.client.Close()
	a.enc.Close()
	if err := a.q.Close(); err != nil {
		a.log.Error("close queue", "err", err)
	}
}

// run is roles/agent.RunDaemon's loop: a collection cycle every interval,
// and an upload loop kicked by each cycle that retries while batches wait.
// Both stop when ctx ends.
func (a *simAgent) run(ctx context.Context, interval time.Duration) {
	kick := make(chan struct{}, 1)
	upDone := make(chan struct{})
	go func() {
		defer close(upDone)
		a.uploadLoop(ctx, interval, kick)
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if _, err := a.ship.Cycle(ctx, recordingQueue{a}); err != nil {
			if ctx.Err() != nil {
				break
			}
			a.log.Error("collection cycle failed", "err", err)
		} else {
			a.mu.Lock()
			a.cycles++
			a.mu.Unlock()
			select {
			case kick <- struct{}{}:
			default:
			}
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
			continue
		}
		break
	}
	<-upDone
}

func (a *simAgent) uploadLoop(ctx context.Context, interval time.Duration, kick <-chan struct{}) {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-retry.C:
		}
		if err := a.drain(ctx); err != nil && ctx.Err() == nil {
			retry.Reset(interval)
		}
	}
}

// drain is one uplink Drain with the outcome noted as the real agent does.
func (a *simAgent) drain(ctx context.Context) error {
	rep, err := a.client.Drain(ctx, recordingQueue{a})
	a.ship.NoteUpload(time.Now(), rep.Sent+rep.Duplicates, rep.MovedAside, err)
	if err != nil && ctx.Err() == nil {
		a.mu.Lock()
		a.errs[errClass(err)]++
		a.mu.Unlock()
	}
	return err
}

func errClass(err error) string {
	switch {
	case uplink.IsSetup(err):
		return "setup"
	case uplink.IsPermanent(err):
		return "permanent"
	case uplink.IsTransient(err):
		return "transient"
	default:
		return "other"
	}
}

// flush keeps draining until the queue is empty or ctx ends.
func (a *simAgent) flush(ctx context.Context) error {
	for {
		err := a.drain(ctx)
		if a.q.Stats().Records == 0 {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %d batches still queued: %w", a.id, a.q.Stats().Records, errors.Join(err, ctx.Err()))
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// simLedger is what one simulated agent knows: the ground truth.
type simLedger struct {
	ID, Group string
	Queued    map[uint64]bool
	Acked     map[uint64]bool
	Aside     map[uint64]string
	Dropped   int
	Left      int // still in the queue at the end
	Errs      map[string]int
	Cycles    int
}

func (a *simAgent) ledger() simLedger {
	a.mu.Lock()
	defer a.mu.Unlock()
	return simLedger{ID: a.id, Group: a.group, Queued: maps.Clone(a.queued), Acked: maps.Clone(a.acked),
		Aside: maps.Clone(a.aside), Dropped: a.dropped, Left: a.q.Stats().Records, Errs: maps.Clone(a.errs), Cycles: a.cycles}
}

// recordingQueue is the agent's queue as the shipper and the uplink see it,
// noting every sequence number appended, acknowledged (Drain deletes a
// batch only on an ack naming its seq) or moved aside.
type recordingQueue struct{ a *simAgent }

func (r recordingQueue) Append(ctx context.Context, e queue.Entry) (queue.Result, error) {
	res, err := r.a.q.Append(ctx, e)
	if err == nil {
		r.a.mu.Lock()
		r.a.queued[res.Seq] = true
		r.a.dropped += res.Dropped.Records
		r.a.mu.Unlock()
	}
	return res, err
}

func (r recordingQueue) State(bucket, key []byte) ([]byte, error) { return r.a.q.State(bucket, key) }

func (r recordingQueue) PutState(ctx context.Context, kvs ...queue.KV) error {
	return r.a.q.PutState(ctx, kvs...)
}

func (r recordingQueue) Stats() queue.Stats { return r.a.q.Stats() }

func (r recordingQueue) Scan(ctx context.Context, from uint64, fn func(seq uint64, data []byte) error) error {
	return r.a.q.Scan(ctx, from, fn)
}

func (r recordingQueue) Delete(ctx context.Context, seqs ...uint64) error {
	r.a.mu.Lock()
	for _, s := range seqs {
		r.a.acked[s] = true
	}
	r.a.mu.Unlock()
	return r.a.q.Delete(ctx, seqs...)
}

func (r recordingQueue) MoveAside(ctx context.Context, seq uint64, reason string) error {
	r.a.mu.Lock()
	r.a.aside[seq] = reason
	r.a.mu.Unlock()
	return r.a.q.MoveAside(ctx, seq, reason)
}

// seqStamper encodes with the real codec after writing the batch's seq
// into seqSeries (the shipper assigns the seq inside the queue append).
type seqStamper struct{ enc *codec.Encoder }

func (s seqStamper) Encode(b *batch.Batch) ([]byte, error) {
	c := *b
	c.Series = slices.Clone(b.Series)
	for i := range c.Series {
		if c.Series[i].Name == seqSeries && len(c.Series[i].Samples) == 1 {
			c.Series[i].Samples = []batch.Sample{{TimestampMs: c.Series[i].Samples[0].TimestampMs, Value: float64(b.Seq)}}
		}
	}
	return s.enc.Encode(&c)
}

// simMetrics is the synthetic host-metrics source: a small heartbeat and
// three series, one of them seqSeries, all stamped with the cycle's time.
type simMetrics struct{}

func (simMetrics) Collect(_ context.Context, now time.Time) (hostmetrics.Snapshot, error) {
	ts := now.UnixMilli()
	g, c := batch.KindGauge, batch.KindCounter
	sec := float64(now.Unix() % 100000)
	return hostmetrics.Snapshot{
		Heartbeat: []batch.Scalar{
			{Name: "host_uptime_seconds", Kind: g, Value: sec},
			{Name: "host_load1", Kind: g, Value: 0.5},
			{Name: "host_cpu_count", Kind: g, Value: 2},
			{Name: "host_memory_total_bytes", Kind: g, Value: 8 << 30},
			{Name: "host_memory_available_bytes", Kind: g, Value: 6 << 30},
		},
		Series: []batch.Series{
			{Name: seqSeries, Kind: g, Labels: batch.Labels{{Name: "soak", Value: "1"}}, Samples: []batch.Sample{{TimestampMs: ts}}},
			{Name: "host_cpu_seconds_total", Kind: c, Labels: batch.Labels{{Name: "cpu", Value: "0"}, {Name: "mode", Value: "user"}},
				Samples: []batch.Sample{{TimestampMs: ts, Value: sec * 0.3}}},
			{Name: "host_network_receive_bytes_total", Kind: c, Labels: batch.Labels{{Name: "device", Value: "eth0"}},
				Samples: []batch.Sample{{TimestampMs: ts, Value: sec * 1000}}},
		},
	}, nil
}
