package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/objstore/miniotest"
	"github.com/lightmetrics/lightmetrics/pkg/tlsutil"
)

// rig is the running system under test.
type rig struct {
	o   options
	out io.Writer // progress lines
	log *slog.Logger

	mu         sync.Mutex // progress output
	ws         *workspace
	minio      *miniotest.Server
	minioLog   *os.File
	soakLog    *os.File
	collectors map[string]*child
	daemons    map[string]*child
	guards     map[string]*agentGuard
	sims       []*simAgent
	simByID    map[string]*simAgent
	writers    map[string]*logWriter
	tlsCfg     *tls.Config
	enc        *codec.Encoder
	bad        *badStats
	tmpfsErr   string // why collector C's spool is not on a tmpfs
	mounted    bool
	started    time.Time
	t0         time.Time // start of the load
}

func (r *rig) progress(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	defer r.mu.Unlock()
	at := time.Duration(0)
	if !r.t0.IsZero() {
		at = time.Since(r.t0)
	}
	fmt.Fprintf(r.out, "soak %6s  %s\n", at.Round(time.Second), msg)
	if r.log != nil {
		r.log.Info(msg)
	}
}

// setup starts MinIO, builds the binary, writes the configs, mounts C's
// tmpfs and starts the collectors.
func (r *rig) setup(ctx context.Context) error {
	r.started = time.Now()
	dir, err := os.MkdirTemp(r.o.tmpDir, "lightmetrics-soak.")
	if err != nil {
		return err
	}
	r.ws = &workspace{dir: dir} // so cleanup knows the directory even if setup fails
	if r.soakLog, err = os.Create(filepath.Join(dir, "soak.log")); err != nil {
		return err
	}
	r.log = slog.New(slog.NewTextHandler(r.soakLog, &slog.HandlerOptions{Level: slog.LevelInfo}))
	r.progress("run directory %s, seed %d", dir, r.o.seed)

	if err := os.MkdirAll(filepath.Join(dir, "minio"), 0o700); err != nil {
		return err
	}
	if r.minioLog, err = os.Create(filepath.Join(dir, "minio", "minio.log")); err != nil {
		return err
	}
	mctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	r.minio, err = miniotest.Launch(mctx, filepath.Join(dir, "minio"), r.minioLog)
	cancel()
	if err != nil {
		return fmt.Errorf("start MinIO: %w", err)
	}
	r.progress("MinIO on %s", r.minio.Endpoint())

	bin := r.o.bin
	if bin == "" {
		r.progress("building lightmetrics")
		if bin, err = buildBinary(ctx, r.o.repo, dir); err != nil {
			return err
		}
	}
	ws, err := newWorkspace(dir, r.o.sims, r.minio)
	if err != nil {
		return fmt.Errorf("write configs: %w", err)
	}
	ws.bin = bin
	r.ws = ws
	if r.tlsCfg, err = tlsutil.ClientConfig(ws.caFile); err != nil {
		return err
	}
	if r.enc, err = codec.NewEncoder(codec.LowMemory()); err != nil {
		return err
	}
	r.bad = newBadStats()

	c := ws.collector("C")
	if out, err := exec.CommandContext(ctx, "mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", c.tmpfs).CombinedOutput(); err != nil {
		r.tmpfsErr = fmt.Sprintf("mount tmpfs on %s: %v: %s", c.tmpfs, err, strings.TrimSpace(string(out)))
		r.progress("%s; collector C's spool stays on the run directory's filesystem", r.tmpfsErr)
	} else {
		r.mounted = true
	}
	if err := os.MkdirAll(c.spoolDir, 0o700); err != nil {
		return err
	}
	for _, d := range ws.daemons {
		if err := os.WriteFile(d.logFile, nil, 0o644); err != nil {
			return err
		}
	}
	if err := ws.checkConfigs(ctx); err != nil {
		return err
	}

	r.collectors = map[string]*child{}
	for _, c := range ws.collectors {
		r.collectors[c.name] = newChild("collector-"+c.name, bin, c.dir, filepath.Join(c.dir, "collector.log"), "collector", "run", c.serverToml)
		if notes := r.restartCollector(c.name, 60*time.Second); !r.healthy(c.name) {
			return fmt.Errorf("collector %s did not start: %v (see %s)", c.name, notes, r.collectors[c.name].logPath)
		}
	}
	r.daemons, r.guards = map[string]*child{}, map[string]*agentGuard{}
	for _, d := range ws.daemons {
		r.daemons[d.id] = newChild(d.id, bin, d.dir, filepath.Join(d.dir, "agent.log"), "agent", "daemon", d.agentToml)
		r.guards[d.id] = &agentGuard{proc: r.daemons[d.id]}
	}
	return nil
}

// healthy reports whether collector name answers on both listeners.
func (r *rig) healthy(name string) bool {
	c := r.ws.collector(name)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: r.tlsCfg, DisableKeepAlives: true}}
	for _, u := range []string{c.ingestURL() + "/healthz", c.queryURL() + "/healthz"} {
		resp, err := client.Get(u)
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false
		}
	}
	return true
}

// restartCollector starts collector name (when it is not running) until it
// answers on both listeners, retrying failed starts, for at most limit.
func (r *rig) restartCollector(name string, limit time.Duration) []string {
	ch := r.collectors[name]
	var notes []string
	deadline := time.Now().Add(limit)
	for attempt := 1; time.Now().Before(deadline); attempt++ {
		if up, _ := ch.Running(); !up {
			if err := ch.Start(); err != nil {
				notes = append(notes, err.Error())
				time.Sleep(2 * time.Second)
				continue
			}
		}
		start := time.Now()
		for time.Since(start) < 30*time.Second {
			if up, _ := ch.Running(); !up {
				break
			}
			if r.healthy(name) {
				ch.markHealthy()
				if attempt > 1 {
					notes = append(notes, fmt.Sprintf("serving after %d start attempts", attempt))
				}
				return notes
			}
			time.Sleep(100 * time.Millisecond)
		}
		if up, _ := ch.Running(); up {
			notes = append(notes, fmt.Sprintf("attempt %d: not serving within 30s; killed", attempt))
			_ = ch.Kill()
		} else {
			notes = append(notes, fmt.Sprintf("attempt %d: exited during start-up", attempt))
		}
		time.Sleep(2 * time.Second)
	}
	notes = append(notes, fmt.Sprintf("NOT serving after %s", limit))
	return notes
}

// startDaemon starts a daemon agent and checks it is still up 2 s later.
func (r *rig) startDaemon(id string) error {
	d := r.daemons[id]
	if err := d.Start(); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	if up, _ := d.Running(); !up {
		return fmt.Errorf("%s exited within 2s of starting (see %s)", id, d.logPath)
	}
	d.markHealthy()
	return nil
}

// startLoad starts the simulated agents, the daemon agents and the log
// writers. The returned functions stop the simulated agents' cycles and
// the writers, each waiting for them to end.
func (r *rig) startLoad(ctx context.Context) (stopSims, stopWriters func(), err error) {
	a, b, c := r.ws.collector("A"), r.ws.collector("B"), r.ws.collector("C")
	simDir := filepath.Join(r.ws.dir, "sim-agents")
	r.simByID = map[string]*simAgent{}
	for i, id := range r.ws.simAgents {
		eps := []string{c.ingestURL()}
		if simGroup(i) == "AB" {
			eps = []string{a.ingestURL(), b.ingestURL()}
			if i%2 == 1 {
				eps = []string{b.ingestURL(), a.ingestURL()}
			}
		}
		s, err := newSimAgent(simDir, id, simGroup(i), eps, r.ws.tokens[id], r.ws.caFile, r.log)
		if err != nil {
			return nil, nil, err
		}
		r.sims = append(r.sims, s)
		r.simByID[id] = s
	}
	simCtx, cancelSims := context.WithCancel(ctx)
	var simWG sync.WaitGroup
	for i, s := range r.sims {
		simWG.Add(1)
		go func() {
			defer simWG.Done()
			// Spread the agents over the interval.
			select {
			case <-time.After(time.Duration(i) * time.Second / time.Duration(len(r.sims))):
			case <-simCtx.Done():
				return
			}
			s.run(simCtx, time.Second)
		}()
	}
	stopSims = func() { cancelSims(); simWG.Wait() }

	for _, d := range r.ws.daemons {
		if err := r.startDaemon(d.id); err != nil {
			stopSims()
			return nil, nil, err
		}
	}
	wCtx, cancelWriters := context.WithCancel(ctx)
	var wWG sync.WaitGroup
	r.writers = map[string]*logWriter{}
	for i, d := range r.ws.daemons {
		w, err := newLogWriter(d.id, d.logFile, 50*time.Millisecond, r.guards[d.id])
		if err != nil {
			cancelWriters()
			stopSims()
			return nil, nil, err
		}
		r.writers[d.id] = w
		rng := rand.New(rand.NewPCG(uint64(r.o.seed), uint64(i+1)))
		wWG.Add(1)
		go func() { defer wWG.Done(); w.run(wCtx, rng) }()
	}
	stopWriters = func() { cancelWriters(); wWG.Wait() }
	return stopSims, stopWriters, nil
}

// sampleRSS samples every child process, MinIO included.
func (r *rig) sampleRSS() {
	for _, c := range r.collectors {
		c.sampleRSS()
	}
	for _, d := range r.daemons {
		d.sampleRSS()
	}
}

// cleanup stops everything still running, unmounts the tmpfs and removes
// the run directory unless --keep.
func (r *rig) cleanup() {
	for _, s := range r.sims {
		s.close()
	}
	var wg sync.WaitGroup
	for _, c := range r.daemons {
		wg.Add(1)
		go func() { defer wg.Done(); c.Stop(20 * time.Second) }()
	}
	wg.Wait()
	for _, c := range r.collectors {
		wg.Add(1)
		go func() { defer wg.Done(); c.Stop(40 * time.Second) }()
	}
	wg.Wait()
	if r.minio != nil {
		_ = r.minio.Close()
	}
	if r.enc != nil {
		r.enc.Close()
	}
	if r.mounted {
		c := r.ws.collector("C")
		if r.o.keep {
			// The tmpfs goes with the unmount; keep a copy of the spool.
			_ = exec.Command("cp", "-a", c.spoolDir, filepath.Join(c.dir, "spool-copy")).Run()
		}
		if out, err := exec.Command("umount", c.tmpfs).CombinedOutput(); err != nil {
			fmt.Fprintf(r.out, "soak: umount %s: %v: %s\n", c.tmpfs, err, out)
		}
	}
	if r.minioLog != nil {
		r.minioLog.Close()
	}
	if r.soakLog != nil {
		r.soakLog.Close()
	}
	if r.ws != nil && !r.o.keep {
		if err := os.RemoveAll(r.ws.dir); err != nil {
			fmt.Fprintf(r.out, "soak: remove %s: %v\n", r.ws.dir, err)
		}
	}
}
