package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lightmetrics/lightmetrics/scripts/benchutil"
)

// soak runs the whole suite and returns its report. An error means the
// rig could not be built or torn down: no verdict on the product.
func (r *rig) soak(ctx context.Context) (rep *report, err error) {
	rep = &report{Seed: r.o.seed, Load: r.o.duration, RSSBound: r.o.rssBound, Kept: r.o.keep}
	defer func() {
		r.cleanup()
		rep.Total = time.Since(r.started)
		if r.ws != nil {
			rep.Dir = r.ws.dir
		}
	}()
	if err := r.setup(ctx); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	rep.Bad = r.bad

	runCtx, stopSampling := context.WithCancel(context.Background())
	defer stopSampling()
	var minioPeak int64
	var sampWG sync.WaitGroup
	sampWG.Add(1)
	go func() {
		defer sampWG.Done()
		sampleRSSLoop(runCtx, func() {
			r.sampleRSS()
			if pid := r.minio.Pid(); pid != 0 {
				if v, err := statusRSS(pid); err == nil {
					minioPeak = max(minioPeak, v)
				}
			}
		})
	}()

	// Load and faults.
	r.t0 = time.Now()
	stopSims, stopWriters, err := r.startLoad(ctx)
	if err != nil {
		return nil, fmt.Errorf("start load: %w", err)
	}
	plan := planFaults(r.o.seed, r.o.duration, r.ws.simAgents, []string{daemonAB, daemonC})
	r.progress("load started: %d simulated agents, 2 daemon agents, %d faults planned over %s", len(r.sims), len(plan), r.o.duration)
	for _, f := range plan {
		r.log.Info("planned fault", "fault", f.String())
	}
	loadCtx, endLoad := context.WithTimeout(ctx, r.o.duration)
	defer endLoad()
	inj := newInjector(r)
	injDone := make(chan struct{})
	go func() { defer close(injDone); inj.run(loadCtx, plan) }()
	r.watchLoad(loadCtx)
	<-loadCtx.Done()
	r.progress("load phase over; waiting for faults in progress to finish")
	<-injDone
	rep.Faults = inj.results
	if ctx.Err() != nil {
		rep.Interrupted = true
		stopWriters()
		stopSims()
		stopSampling()
		sampWG.Wait()
		rep.judge()
		return rep, nil
	}

	// Quiesce: writers stop first so the daemons can read the last lines.
	stopWriters()
	for _, name := range []string{"A", "B", "C"} {
		if up, _ := r.collectors[name].Running(); !up {
			rep.Notes = append(rep.Notes, fmt.Sprintf("collector %s was down at the end of the load: %v", name, r.restartCollector(name, 90*time.Second)))
		}
	}
	if r.minio.Pid() == 0 {
		sctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		if err := r.minio.Start(sctx); err != nil {
			rep.fail("MinIO would not start again for the verification: %v", err)
		}
		cancel()
	}
	for id, d := range r.daemons {
		if up, _ := d.Running(); !up {
			if err := r.startDaemon(id); err != nil {
				rep.fail("daemon agent %s would not start again: %v", id, err)
			}
		}
	}
	stopSims()
	r.progress("load stopped; flushing")
	r.flush(ctx, rep)
	if r.o.selfCheck {
		r.sabotage(ctx, rep)
	}
	r.verify(ctx, rep)

	for _, name := range []string{"A", "B", "C"} {
		r.collectors[name].Stop(40 * time.Second)
	}
	stopSampling()
	sampWG.Wait()
	for _, name := range []string{"A", "B", "C"} {
		rep.Procs = append(rep.Procs, r.procStats(r.collectors[name], true))
	}
	for _, id := range []string{daemonAB, daemonC} {
		rep.Procs = append(rep.Procs, r.procStats(r.daemons[id], false))
	}
	rep.Procs = append(rep.Procs, procStats{Name: "minio", PeakRSS: minioPeak})
	if ctx.Err() != nil {
		rep.Interrupted = true
	}
	rep.judge()
	r.log.Info("report", "failures", len(rep.Failures), "notes", strings.Join(rep.Notes, " | "))
	return rep, nil
}

func statusRSS(pid int) (int64, error) {
	return benchutil.StatusBytes(strconv.Itoa(pid), "VmRSS")
}

func (r *rig) procStats(c *child, bounded bool) procStats {
	st := c.stats(bounded)
	p, err := scanPanics(c.logPath)
	if err != nil {
		st.Panics = append(st.Panics, "log unreadable: "+err.Error())
	}
	st.Panics = append(st.Panics, p...)
	return st
}

// watchLoad prints a progress line every 30 s until ctx ends.
func (r *rig) watchLoad(ctx context.Context) {
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				queued, acked, waiting := 0, 0, 0
				for _, s := range r.sims {
					l := s.ledger()
					queued += len(l.Queued)
					acked += len(l.Acked)
					waiting += l.Left
				}
				r.progress("simulated agents: %d batches queued, %d acknowledged, %d waiting", queued, acked, waiting)
			}
		}
	}()
}

// flush empties every queue: the simulated agents' (Drain until empty),
// then the daemon agents' (SIGTERM, then `lightmetrics agent flush`).
func (r *rig) flush(ctx context.Context, rep *report) {
	// The daemons read the writers' last lines within an interval or two.
	time.Sleep(5 * agentIntervalMs * time.Millisecond)
	for _, id := range []string{daemonAB, daemonC} {
		r.daemons[id].Stop(20 * time.Second)
	}

	fctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(r.sims))
	for _, s := range r.sims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.flush(fctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		rep.Notes = append(rep.Notes, "flush: "+err.Error())
	}
	r.progress("simulated agents flushed")

	for _, d := range r.ws.daemons {
		res := daemonResult{ID: d.id, Group: d.group, Left: -1}
		for attempt := 1; attempt <= 3; attempt++ {
			actx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			out, err := exec.CommandContext(actx, r.ws.bin, "agent", "flush", d.agentToml).CombinedOutput()
			cancel()
			res.Flush = flushSummary(string(out))
			if left, ok := flushLeft(res.Flush); ok {
				res.Left = left
			}
			r.log.Info("agent flush", "agent", d.id, "attempt", attempt, "err", err, "output", string(out))
			if p, _ := findPanics(bufio.NewReader(bytes.NewReader(out))); len(p) > 0 {
				rep.fail("%s: agent flush panicked: %v", d.id, p)
			}
			if err == nil && res.Left == 0 {
				break
			}
		}
		r.progress("%s: agent flush: %s", d.id, res.Flush)
		rep.Daemons = append(rep.Daemons, res)
	}
}

// flushSummary picks agent flush's summary line out of its output (logs
// and errors go to the same stream).
func flushSummary(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "flushed ") {
			return l
		}
	}
	return strings.TrimSpace(s)
}

// flushLeft reads "…; N left" from agent flush's summary.
func flushLeft(line string) (int, bool) {
	i := strings.LastIndex(line, "; ")
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(line[i+2:])
	if len(f) != 2 || f[1] != "left" {
		return 0, false
	}
	n, err := strconv.Atoi(f[0])
	return n, err == nil
}
