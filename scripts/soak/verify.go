package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/objstore"
	"github.com/lightmetrics/lightmetrics/pkg/objstore/s3"
	"github.com/lightmetrics/lightmetrics/pkg/segment"
)

// waitUntil polls cond every 500 ms until it holds or limit passes; it
// returns how long it took and the last state cond described.
func waitUntil(ctx context.Context, limit time.Duration, cond func(context.Context) (bool, string)) (time.Duration, bool, string) {
	start := time.Now()
	last := ""
	for {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		ok, state := cond(cctx)
		cancel()
		last = state
		if ok {
			return time.Since(start), true, last
		}
		if time.Since(start) > limit || ctx.Err() != nil {
			return time.Since(start), false, last
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// sabotage (--self-check) deletes the first manifest entry of the first
// simulated agent and the first landed segment, so the verification must
// report losses.
func (r *rig) sabotage(ctx context.Context, rep *report) {
	base, err := s3.New(r.minio.Config())
	if err != nil {
		rep.fail("self-check: %v", err)
		return
	}
	for _, t := range []struct{ prefix, dir string }{
		{prefixAB, segment.ManifestAgentDir('a', r.ws.simAgents[0])},
		{prefixC, segment.BatchesDir},
	} {
		b := objstore.Prefixed(base, t.prefix)
		var key string
		err := b.List(ctx, t.dir, "", func(info objstore.ObjectInfo) error {
			key = info.Key
			return errStopList
		})
		if err != nil && !errors.Is(err, errStopList) || key == "" {
			rep.fail("self-check: nothing to delete under %s/%s (%v)", t.prefix, t.dir, err)
			continue
		}
		if err := b.Delete(ctx, key); err != nil {
			rep.fail("self-check: delete %s: %v", key, err)
			continue
		}
		rep.Notes = append(rep.Notes, fmt.Sprintf("self-check: deleted %s/%s; this run must FAIL", t.prefix, key))
	}
}

var errStopList = errors.New("stop listing")

// verify checks, from outside the processes, that every acknowledged batch
// is stored exactly once and queryable, and every log line is there once.
func (r *rig) verify(ctx context.Context, rep *report) {
	vctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	apis := map[string]*api{}
	for _, c := range r.ws.collectors {
		apis[c.name] = newAPI(c.queryURL(), r.ws.queryToken)
	}

	// Landing of C's spool to the bucket.
	took, ok, state := waitUntil(vctx, 2*time.Minute, func(ctx context.Context) (bool, string) {
		v, found, err := apis["C"].metricSum(ctx, "lightmetrics_landing_lag_records")
		if err != nil {
			return false, err.Error()
		}
		return found && v == 0, fmt.Sprintf("lightmetrics_landing_lag_records %v", v)
	})
	if ok {
		rep.Waits = append(rep.Waits, fmt.Sprintf("collector C landed everything %s after the flush", took.Round(100*time.Millisecond)))
	} else {
		rep.fail("collector C did not land everything within 2 min: %s", state)
	}

	base, err := s3.New(r.minio.Config())
	if err != nil {
		rep.fail("open the bucket: %v", err)
		return
	}
	man, err := readManifest(vctx, objstore.Prefixed(base, prefixAB))
	if err != nil {
		rep.fail("read the manifest: %v", err)
		return
	}
	segs, err := readSegments(vctx, objstore.Prefixed(base, prefixC))
	if err != nil {
		rep.fail("read the landed segments: %v", err)
		return
	}
	for _, p := range man.problems {
		rep.fail("manifest: %s", p)
	}
	for _, p := range segs.problems {
		rep.fail("landed segments: %s", p)
	}
	r.progress("bucket read: %d manifest entries, %d landed segments", man.objects, segs.objects)
	inBucket := map[string]map[string]map[uint64]int{"A": man.byAgent(), "B": man.byAgent(), "C": segs.byAgent()}

	// Every collector's spool holds what its group's bucket area holds:
	// A and B through their manifest followers (peers' accepts included).
	// The three are waited for side by side.
	type spoolCheck struct {
		took time.Duration
		ok   bool
		mism []string
	}
	checks := make([]spoolCheck, len(r.ws.collectors))
	var wg sync.WaitGroup
	for i, c := range r.ws.collectors {
		var agents []string
		for _, id := range c.agents {
			if id != junkID {
				agents = append(agents, id)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch := &checks[i]
			ch.took, ch.ok, _ = waitUntil(vctx, 2*time.Minute, func(ctx context.Context) (bool, string) {
				b, err := apis[c.name].agentBatches(ctx)
				if err != nil {
					ch.mism = []string{err.Error()}
					return false, ""
				}
				ch.mism = spoolMismatches(c.name, agents, b, inBucket[c.name])
				if n := b[junkID]; n > 0 {
					ch.mism = append(ch.mism, fmt.Sprintf("%s: spool holds %d batches of the junk agent", c.name, n))
				}
				return len(ch.mism) == 0, ""
			})
		}()
	}
	wg.Wait()
	for i, c := range r.ws.collectors {
		ch := checks[i]
		if ch.ok {
			rep.Waits = append(rep.Waits, fmt.Sprintf("collector %s's spool matched the bucket %s after landing", c.name, ch.took.Round(100*time.Millisecond)))
		}
		for j, m := range ch.mism {
			if j == 5 {
				rep.fail("%s: %d more spool mismatches", c.name, len(ch.mism)-j)
				break
			}
			rep.fail("%s", m)
		}
	}

	var ab, cc []simLedger
	for _, s := range r.sims {
		if l := s.ledger(); l.Group == "AB" {
			ab = append(ab, l)
		} else {
			cc = append(cc, l)
		}
	}
	rep.Groups = append(rep.Groups,
		tallyGroup("A+B s3_manifest", ab, man.count, map[string]bool{daemonAB: true}),
		tallyGroup("C local_spool", cc, segs.count, map[string]bool{daemonC: true}))

	// Queryable: the seq stamps each collector returns, over a window that
	// covers the clock steps.
	at := time.Now().Add(time.Hour + 5*time.Minute)
	window := at.Sub(r.t0.Add(-time.Hour - 5*time.Minute))
	for _, name := range []string{"A", "B", "C"} {
		ledgers := ab
		if name == "C" {
			ledgers = cc
		}
		seen, err := apis[name].rangeSamples(vctx, seqSeries, at, window)
		if err != nil {
			rep.fail("query %s: %v", name, err)
			continue
		}
		rep.Queries = append(rep.Queries, tallyQuery(name, ledgers, seen))
	}

	// Daemon agents: their batches in the bucket and in the query API.
	for i := range rep.Daemons {
		d := &rep.Daemons[i]
		names := []string{"A", "B"}
		seqs := inBucket["A"][d.ID]
		if d.Group == "C" {
			names, seqs = []string{"C"}, inBucket["C"][d.ID]
		}
		d.Stored = len(seqs)
		for _, n := range seqs {
			if n > 1 {
				d.Dups++
			}
		}
		d.Gaps, _, _ = seqGaps(seqs)
		d.Queryable = map[string]int{}
		for _, name := range names {
			v, err := apis[name].instant(vctx, fmt.Sprintf(`count_over_time(agent_info{agent=%q}[%ds])`, d.ID, int64(window.Seconds())), at)
			if err != nil {
				rep.fail("query %s for %s: %v", name, d.ID, err)
				continue
			}
			d.Queryable[name] = int(v[d.ID])
		}
	}

	// Log lines.
	maxWindow := agentIntervalMs*time.Millisecond + copyTruncateGap + time.Second
	for _, d := range r.ws.daemons {
		written, rots, skipped, werrs := r.writers[d.id].ledger()
		for _, s := range skipped {
			rep.Rotation = append(rep.Rotation, d.id+": "+s)
		}
		for _, e := range werrs {
			rep.fail("log writer %s: %s", d.id, e)
		}
		names := []string{"A", "B"}
		if d.group == "C" {
			names = []string{"C"}
		}
		for _, name := range names {
			lines, other, err := apis[name].logLines(vctx, d.id)
			if err != nil {
				rep.fail("logs of %s on %s: %v", d.id, name, err)
				continue
			}
			if other > 0 {
				rep.Notes = append(rep.Notes, fmt.Sprintf("logs of %s on %s: %d records matched the filter but are not soak lines", d.id, name, other))
			}
			rep.Logs = append(rep.Logs, logRow{Agent: d.id, Collector: name, V: classifyLines(written, rots, lines, maxWindow)})
		}
	}
}
