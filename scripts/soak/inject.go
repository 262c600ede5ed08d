package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// faultResult is one fault as it happened.
type faultResult struct {
	plannedFault
	Injected bool
	Reason   string // why it was not injected
	Notes    []string
	Took     time.Duration
}

// injector runs the plan against the rig. Faults on one target are
// serialized; every wait inside a fault is bounded, and a fault always
// restores what it broke (restart, restart MinIO, delete the filler, reset
// the clock) even when the run is being stopped.
type injector struct {
	r       *rig
	mu      sync.Mutex
	results []faultResult
	locks   map[string]*sync.Mutex
	wg      sync.WaitGroup
}

func newInjector(r *rig) *injector { return &injector{r: r, locks: map[string]*sync.Mutex{}} }

func (in *injector) lock(key string) *sync.Mutex {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.locks[key] == nil {
		in.locks[key] = &sync.Mutex{}
	}
	return in.locks[key]
}

// run starts each fault at its time until ctx ends, then waits for every
// fault started to finish.
func (in *injector) run(ctx context.Context, plan []plannedFault) {
	for _, f := range plan {
		select {
		case <-ctx.Done():
			in.add(faultResult{plannedFault: f, Reason: "the load ended before its time (run interrupted)"})
			continue
		case <-time.After(time.Until(in.r.t0.Add(f.At))):
		}
		in.wg.Add(1)
		go func() {
			defer in.wg.Done()
			start := time.Now()
			in.r.progress("fault start: %s", f)
			res := in.exec(ctx, f)
			res.Took = time.Since(start)
			in.add(res)
			status := "done"
			if !res.Injected {
				status = "NOT INJECTED: " + res.Reason
			}
			in.r.progress("fault %s: %s %s (%s) %v", status, f.Kind, f.Target, res.Took.Round(100*time.Millisecond), res.Notes)
		}()
	}
	in.wg.Wait()
}

func (in *injector) add(r faultResult) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.results = append(in.results, r)
}

func (in *injector) exec(ctx context.Context, f plannedFault) faultResult {
	switch f.Kind {
	case kindKillCollector:
		return in.killCollector(f)
	case kindKillAgent:
		return in.killAgent(f)
	case kindMinio:
		return in.minioOutage(f)
	case kindSpoolFull:
		return in.spoolFull(ctx, f)
	case kindClockStep:
		return in.clockStep(f)
	case kindSlowClients:
		return in.slowClients(ctx, f)
	case kindGarbage:
		return in.garbage(ctx, f)
	}
	return faultResult{plannedFault: f, Reason: "unknown kind"}
}

func (in *injector) killCollector(f plannedFault) faultResult {
	l := in.lock("collector " + f.Target)
	l.Lock()
	defer l.Unlock()
	res := faultResult{plannedFault: f}
	c := in.r.collectors[f.Target]
	if up, _ := c.Running(); !up {
		res.Reason = "collector was not running"
		res.Notes = append(res.Notes, in.r.restartCollector(f.Target, 90*time.Second)...)
		return res
	}
	if err := c.Kill(); err != nil {
		res.Reason = err.Error()
		return res
	}
	res.Injected = true
	time.Sleep(f.Delay)
	res.Notes = in.r.restartCollector(f.Target, 90*time.Second)
	return res
}

func (in *injector) killAgent(f plannedFault) faultResult {
	g := in.r.guards[f.Target]
	g.mu.Lock()
	defer g.mu.Unlock()
	res := faultResult{plannedFault: f}
	d := in.r.daemons[f.Target]
	if up, _ := d.Running(); !up {
		res.Reason = "agent was not running"
		return res
	}
	if err := d.Kill(); err != nil {
		res.Reason = err.Error()
		return res
	}
	res.Injected = true
	time.Sleep(f.Delay)
	if err := in.r.startDaemon(f.Target); err != nil {
		res.Notes = append(res.Notes, "restart: "+err.Error())
	}
	return res
}

func (in *injector) minioOutage(f plannedFault) faultResult {
	l := in.lock("minio")
	l.Lock()
	defer l.Unlock()
	res := faultResult{plannedFault: f}
	if err := in.r.minio.Stop(); err != nil {
		res.Reason = "stop: " + err.Error()
		return res
	}
	res.Injected = true
	time.Sleep(minioOutage)
	for try := 1; try <= 3; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		err := in.r.minio.Start(ctx)
		cancel()
		if err == nil {
			if try > 1 {
				res.Notes = append(res.Notes, fmt.Sprintf("started on attempt %d", try))
			}
			return res
		}
		res.Notes = append(res.Notes, fmt.Sprintf("start attempt %d: %v", try, err))
	}
	return res
}

// spoolFull fills collector C's spool filesystem (a 64 MiB tmpfs) with a
// filler file until a write fails, holds it full, then deletes the filler.
// C's refusals as unavailable (503) over that time show whether the spool
// writes really failed.
func (in *injector) spoolFull(ctx context.Context, f plannedFault) faultResult {
	res := faultResult{plannedFault: f}
	if in.r.tmpfsErr != "" {
		res.Reason = in.r.tmpfsErr
		return res
	}
	l := in.lock("spool C")
	l.Lock()
	defer l.Unlock()
	c := in.r.ws.collector("C")
	capi := newAPI(c.queryURL(), in.r.ws.queryToken)
	refusals := func() float64 {
		qctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		v, _, err := capi.metricSum(qctx, "lightmetrics_ingest_refusals_total", `reason="unavailable"`)
		if err != nil {
			return -1
		}
		return v
	}
	before := refusals()
	filler := filepath.Join(c.tmpfs, "filler")
	fh, err := os.OpenFile(filler, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		res.Reason = "create filler: " + err.Error()
		return res
	}
	chunk := make([]byte, 1<<20)
	written := 0
	var werr error
	for written < 1<<30 {
		n, err := fh.Write(chunk)
		written += n
		if err != nil {
			werr = err
			break
		}
	}
	fh.Close()
	defer os.Remove(filler)
	if werr == nil {
		res.Reason = fmt.Sprintf("wrote %d MiB without the filesystem filling up", written>>20)
		return res
	}
	res.Injected = true
	res.Notes = append(res.Notes, fmt.Sprintf("filler %d MiB, then: %v", written>>20, errors.Unwrap(werr)))
	select {
	case <-time.After(spoolFullHold):
	case <-ctx.Done():
		// still hold a few seconds: the fault was started
		time.Sleep(3 * time.Second)
	}
	after := refusals()
	switch {
	case before < 0 || after < 0:
		res.Notes = append(res.Notes, "C's /metrics unreadable before or after (restarted?)")
	case after < before:
		res.Notes = append(res.Notes, fmt.Sprintf("C restarted meanwhile; %v unavailable refusals since", after))
	default:
		res.Notes = append(res.Notes, fmt.Sprintf("C refused %v uploads as unavailable (503) while full", after-before))
	}
	return res
}

func (in *injector) clockStep(f plannedFault) faultResult {
	l := in.lock("clock")
	l.Lock()
	defer l.Unlock()
	off := time.Hour
	if f.Target == "-1h" {
		off = -time.Hour
	}
	for _, id := range f.Agents {
		in.r.simByID[id].clockNs.Store(int64(off))
	}
	time.Sleep(clockStepFor)
	for _, id := range f.Agents {
		in.r.simByID[id].clockNs.Store(0)
	}
	return faultResult{plannedFault: f, Injected: true}
}

func (in *injector) slowClients(ctx context.Context, f plannedFault) faultResult {
	var wg sync.WaitGroup
	for _, c := range in.r.ws.collectors {
		for _, mode := range []string{"silent", "header", "body"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				in.r.bad.slowClient(ctx, c.ingestAddr, in.r.ws.tokens[junkID], mode, in.r.tlsCfg)
			}()
		}
	}
	wg.Wait()
	return faultResult{plannedFault: f, Injected: true, Notes: []string{"3 slow connections per collector"}}
}

func (in *injector) garbage(ctx context.Context, f plannedFault) faultResult {
	for _, c := range in.r.ws.collectors {
		peer := c.agents[0]
		in.r.bad.garbageRound(ctx, &garbageTarget{name: c.name, addr: c.ingestAddr, tlsCfg: in.r.tlsCfg,
			junkToken: in.r.ws.tokens[junkID], peer: peer, enc: in.r.enc, b: in.r.bad})
	}
	return faultResult{plannedFault: f, Injected: true, Notes: []string{fmt.Sprintf("%d cases per collector", len(garbageCases))}}
}
