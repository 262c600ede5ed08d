package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/landing"
	"github.com/lightmetrics/lightmetrics/pkg/objstore"
	"github.com/lightmetrics/lightmetrics/pkg/objstore/s3"
	"github.com/lightmetrics/lightmetrics/pkg/segment"
	"github.com/lightmetrics/lightmetrics/pkg/spool"
	"github.com/lightmetrics/lightmetrics/scripts/benchutil"
)

// landOptions shape the landing-throughput phase.
type landOptions struct {
	// TargetBytes of codec bodies to put in the spool before landing.
	TargetBytes                      int64
	Agents                           int
	SeriesPerBatch, SamplesPerSeries int
	// MaxSegmentBytes is passed to the lander (0: its default, 8 MiB).
	MaxSegmentBytes int
	// Timeout bounds the LandAll call.
	Timeout time.Duration
}

// landResult is what the landing phase measured.
type landResult struct {
	Records   int
	BodyBytes int64
	FillTook  time.Duration
	// Segments and SegmentBytes are what the bucket holds afterwards
	// (listed, not taken from the lander's word).
	Segments     int
	SegmentBytes int64
	Took         time.Duration
	// CPU is what this process (the lander), MinIO and the rest of the
	// machine used during LandAll.
	CPU cpuCores
}

// MBPerS is segment bytes landed per second of LandAll, in MB (10^6 bytes).
func (r *landResult) MBPerS() float64 {
	if r.Took <= 0 {
		return 0
	}
	return float64(r.SegmentBytes) / 1e6 / r.Took.Seconds()
}

// runLandPhase fills a fresh spool under dir, then times one LandAll of
// all of it to a fresh prefix of the store: the lander's throughput with
// nothing else running, as after an outage when the backlog is landed.
func runLandPhase(ctx context.Context, store s3.Config, minioPID, dir string, o landOptions) (*landResult, error) {
	sp, err := spool.Open(filepath.Join(dir, "spool"), spool.Options{})
	if err != nil {
		return nil, fmt.Errorf("landing phase: %w", err)
	}
	defer sp.Close()
	res := &landResult{}
	fillStart := time.Now()
	if res.Records, res.BodyBytes, err = fillSpool(ctx, sp, o); err != nil {
		return nil, fmt.Errorf("landing phase: fill spool: %w", err)
	}
	res.FillTook = time.Since(fillStart)

	b, err := s3.New(store)
	if err != nil {
		return nil, fmt.Errorf("landing phase: %w", err)
	}
	bucket := objstore.Prefixed(b, "bench-land-"+randomHex(4))
	l, err := landing.New(bucket, sp, sp, landing.Options{Collector: "bench", Interval: time.Hour, MaxSegmentBytes: o.MaxSegmentBytes})
	if err != nil {
		return nil, fmt.Errorf("landing phase: %w", err)
	}
	landCtx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	cpu := startCPUWindow(minioPID)
	start := time.Now()
	n, err := l.LandAll(landCtx)
	res.Took = time.Since(start)
	res.CPU = cpu.end()
	if err != nil {
		return nil, fmt.Errorf("landing phase: LandAll after %s and %d segments: %w", res.Took.Round(time.Millisecond), n, err)
	}
	if res.Segments, res.SegmentBytes, err = segmentsIn(ctx, bucket); err != nil {
		return nil, fmt.Errorf("landing phase: %w", err)
	}
	if res.Segments != n || l.Landed() != sp.LastSeq() {
		return nil, fmt.Errorf("landing phase: LandAll reported %d segments through spool seq %d; the bucket holds %d and the spool ends at %d",
			n, l.Landed(), res.Segments, sp.LastSeq())
	}
	return res, nil
}

// segmentsIn counts the landed segments in b and sums their sizes.
func segmentsIn(ctx context.Context, b objstore.Bucket) (n int, bytes int64, err error) {
	err = b.List(ctx, segment.BatchesDir, "", func(info objstore.ObjectInfo) error {
		if strings.HasSuffix(info.Key, segment.Ext) {
			n++
			bytes += info.Size
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("list landed segments: %w", err)
	}
	return n, bytes, nil
}

// fillSpool appends batches of o.Agents simulated agents at once, so the
// spool group-commits as it does under load, until the bodies add up to
// o.TargetBytes. It returns the records and body bytes appended.
func fillSpool(ctx context.Context, sp *spool.Spool, o landOptions) (int, int64, error) {
	enc, err := codec.NewEncoder()
	if err != nil {
		return 0, 0, err
	}
	defer enc.Close()
	var (
		records atomic.Int64
		bytes   atomic.Int64
		wg      sync.WaitGroup
		errMu   sync.Mutex
		errs    []error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	startMs := time.Now().Add(-24 * time.Hour).UnixMilli()
	for i := range o.Agents {
		agentID := fmt.Sprintf("land-%03d", i)
		g, err := benchutil.NewHostGen(agentID, i, benchutil.GenOptions{SeriesPerBatch: o.SeriesPerBatch, SamplesPerSeries: o.SamplesPerSeries, StepMs: 10_000, StartMs: startMs})
		if err != nil {
			return 0, 0, err
		}
		wg.Go(func() {
			for ctx.Err() == nil && bytes.Load() < o.TargetBytes {
				now := time.Now().UnixNano()
				b := g.Next(now)
				body, err := enc.Encode(b)
				if err == nil {
					_, _, err = sp.Append(ctx, spool.KindAgent, agentID, b.Seq, now, body)
				}
				if err != nil {
					errMu.Lock()
					errs = append(errs, fmt.Errorf("agent %s batch %d: %w", agentID, b.Seq, err))
					errMu.Unlock()
					cancel()
					return
				}
				records.Add(1)
				bytes.Add(int64(len(body)))
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	return int(records.Load()), bytes.Load(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}
