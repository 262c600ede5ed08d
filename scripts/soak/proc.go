package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lightmetrics/lightmetrics/scripts/benchutil"
)

// child is one lightmetrics process the soak runs, restarts and kills. Its
// stdout and stderr of every incarnation are appended to one log file.
type child struct {
	name    string
	bin     string
	args    []string
	dir     string
	logPath string

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	expected bool // the next exit was asked for (SIGKILL or SIGTERM)
	healthy  bool // this incarnation was seen serving
	started  time.Time
	starts   int
	kills    int
	// unexpected lists exits nobody asked for, and non-zero exits after a
	// SIGTERM (the product promises a clean drain and exit 0).
	unexpected []string
	// startFailures are incarnations that exited before they were seen
	// serving (for example a restart into a full filesystem); the fault
	// that restarted them retries and reports them.
	startFailures []string
	peakRSS       int64
}

func newChild(name, bin, dir, logPath string, args ...string) *child {
	return &child{name: name, bin: bin, args: args, dir: dir, logPath: logPath}
}

// Start runs a new incarnation; the process dies with the soak (Pdeathsig).
func (c *child) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		return fmt.Errorf("%s: already running", c.name)
	}
	logf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "==== soak: start #%d at %s\n", c.starts+1, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(c.bin, c.args...)
	cmd.Dir = c.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("%s: start: %w", c.name, err)
	}
	done := make(chan struct{})
	c.cmd, c.done, c.expected, c.healthy, c.started = cmd, done, false, false, time.Now()
	c.starts++
	go func() {
		err := cmd.Wait()
		logf.Close()
		c.mu.Lock()
		defer c.mu.Unlock()
		switch {
		case c.expected:
		case !c.healthy:
			c.startFailures = append(c.startFailures, fmt.Sprintf("%s exited during start-up: %v", c.name, exitText(err)))
		default:
			c.unexpected = append(c.unexpected, fmt.Sprintf("%s exited on its own: %v", c.name, exitText(err)))
		}
		c.cmd = nil
		close(done)
	}()
	return nil
}

func exitText(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

// Running reports whether an incarnation is alive, and for how long.
func (c *child) Running() (bool, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return false, 0
	}
	return true, time.Since(c.started)
}

// markHealthy records that the running incarnation was seen serving.
func (c *child) markHealthy() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		c.healthy = true
	}
}

// Pid is the running incarnation's process id, 0 when none.
func (c *child) Pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// Kill sends SIGKILL and waits (bounded) for the exit.
func (c *child) Kill() error {
	c.mu.Lock()
	if c.cmd == nil {
		c.mu.Unlock()
		return fmt.Errorf("%s: not running", c.name)
	}
	c.expected = true
	c.kills++
	p, done := c.cmd.Process, c.done
	c.mu.Unlock()
	_ = p.Signal(syscall.SIGKILL)
	select {
	case <-done:
		return nil
	case <-time.After(15 * time.Second):
		return fmt.Errorf("%s: still running 15s after SIGKILL", c.name)
	}
}

// Stop sends SIGTERM, waits up to grace for a clean exit, then SIGKILLs.
// A non-zero exit after SIGTERM, or needing SIGKILL, is recorded.
func (c *child) Stop(grace time.Duration) {
	c.mu.Lock()
	if c.cmd == nil {
		c.mu.Unlock()
		return
	}
	c.expected = true
	cmd, done := c.cmd, c.done
	c.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		if st := cmd.ProcessState; st != nil && !st.Success() {
			c.note(fmt.Sprintf("%s exited with %s after SIGTERM (expected a clean exit 0)", c.name, st))
		}
		return
	case <-time.After(grace):
	}
	c.note(fmt.Sprintf("%s did not exit within %s of SIGTERM; SIGKILLed", c.name, grace))
	_ = cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
	}
}

func (c *child) note(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unexpected = append(c.unexpected, s)
}

func (c *child) sampleRSS() {
	pid := c.Pid()
	if pid == 0 {
		return
	}
	rss, err := benchutil.StatusBytes(strconv.Itoa(pid), "VmRSS")
	if err != nil {
		return
	}
	c.mu.Lock()
	c.peakRSS = max(c.peakRSS, rss)
	c.mu.Unlock()
}

// procStats is what the report shows of one process.
type procStats struct {
	Name          string
	PeakRSS       int64
	Bounded       bool // the RSS bound applies
	Starts        int
	Kills         int
	Panics        []string
	Unexpected    []string
	StartFailures []string
}

func (c *child) stats(bounded bool) procStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return procStats{Name: c.name, PeakRSS: c.peakRSS, Bounded: bounded, Starts: c.starts, Kills: c.kills,
		Unexpected: append([]string(nil), c.unexpected...), StartFailures: append([]string(nil), c.startFailures...)}
}

// sampleRSSLoop samples every process' VmRSS once a second until ctx ends.
func sampleRSSLoop(ctx context.Context, sample func()) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		sample()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// panicMarkers are what the Go runtime prints when a process dies of a
// panic or a fatal runtime error.
var panicMarkers = []string{"panic:", "fatal error:"}

// scanPanics returns the lines of the log at path that carry a panic
// marker (at most 5, with the total count).
func scanPanics(path string) ([]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return findPanics(bufio.NewReader(f))
}

func findPanics(r *bufio.Reader) ([]string, error) {
	var out []string
	n := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, m := range panicMarkers {
			if strings.Contains(line, m) {
				n++
				if len(out) < 5 {
					out = append(out, strings.TrimSpace(line))
				}
				break
			}
		}
	}
	if n > len(out) {
		out = append(out, fmt.Sprintf("… %d more", n-len(out)))
	}
	return out, sc.Err()
}
