package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"
)

// Rotation kinds of the log writers.
const (
	rotRename       = "rename"
	rotCopyTruncate = "copytruncate"
)

// copyTruncateGap is how long the writer keeps appending between the copy
// and the truncation of a copytruncate rotation, as a copy of a large file
// would take: lines written in it exist only in the live file until the
// truncation removes them.
const copyTruncateGap = 300 * time.Millisecond

// rotation is one rotation of a log file; it ends the generation of lines
// FirstLine..LastLine.
type rotation struct {
	Kind      string
	FirstLine int
	LastLine  int   // last line written before the rename or the truncation
	CopyLast  int   // copytruncate: last line written before the copy began
	CopyNs    int64 // copytruncate: when the copy began
	AtNs      int64 // when the rename or the truncation happened
}

// logWriter appends numbered lines ("soak <agent> line <n>") to one file a
// daemon agent tails, and rotates it on a schedule, alternating rename
// rotation and copytruncate. It remembers when each line was written and
// every rotation, which the log check needs to tell a loss from
// copytruncate's own window.
type logWriter struct {
	agent string
	path  string
	every time.Duration // between lines
	guard *agentGuard

	mu        sync.Mutex
	f         *os.File
	writtenNs []int64 // line n was written at writtenNs[n-1]
	genFirst  int
	rotations []rotation
	skipped   []string
	errs      []string
}

func newLogWriter(agent, path string, every time.Duration, guard *agentGuard) (*logWriter, error) {
	w := &logWriter{agent: agent, path: path, every: every, guard: guard, genFirst: 1}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	w.f = f
	return w, nil
}

func lineText(agent string, n int) string { return fmt.Sprintf("soak %s line %d", agent, n) }

func (w *logWriter) writeLine() {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(w.writtenNs) + 1
	now := time.Now().UnixNano()
	// O_APPEND and one write per line: after a truncation the next line
	// lands at offset 0, as with a real program's log.
	if _, err := w.f.Write([]byte(lineText(w.agent, n) + "\n")); err != nil {
		w.noteErr(fmt.Sprintf("write line %d: %v", n, err))
		return
	}
	w.writtenNs = append(w.writtenNs, now)
}

func (w *logWriter) noteErr(s string) {
	if len(w.errs) < 10 {
		w.errs = append(w.errs, s)
	}
}

// run writes lines until ctx ends and, beside it, rotates every 15–30 s.
func (w *logWriter) run(ctx context.Context, rng *rand.Rand) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(w.every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				w.writeLine()
			}
		}
	}()
	kind := rotRename
	if rng.IntN(2) == 0 {
		kind = rotCopyTruncate
	}
	for {
		select {
		case <-ctx.Done():
		case <-time.After(15*time.Second + time.Duration(rng.Int64N(int64(15*time.Second)))):
			if kind == rotRename {
				w.rotateRename()
				kind = rotCopyTruncate
			} else if w.rotateCopyTruncate(ctx) {
				kind = rotRename
			}
			continue
		}
		break
	}
	wg.Wait()
	w.mu.Lock()
	w.f.Close()
	w.mu.Unlock()
}

// rotateRename is logrotate's default: the file is renamed to .1 and the
// program reopens its log under the original name.
func (w *logWriter) rotateRename() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.f.Close()
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		w.noteErr("rename rotation: " + err.Error())
	}
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		w.noteErr("reopen after rename: " + err.Error())
		// Keep writing somewhere so the ledger stays consistent; these
		// lines will be missing and reported.
		f, _ = os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	}
	w.f = f
	last := len(w.writtenNs)
	w.rotations = append(w.rotations, rotation{Kind: rotRename, FirstLine: w.genFirst, LastLine: last, AtNs: time.Now().UnixNano()})
	w.genFirst = last + 1
}

// rotateCopyTruncate copies the file to .1, lets the writer go on for
// copyTruncateGap, then truncates the file in place. It runs only while
// the daemon agent has been up a few seconds, and keeps the agent from
// being killed meanwhile: copytruncate's window is about the tailer's poll
// interval, and an agent that is down widens it to its whole outage, which
// the promise does not cover. It reports false when it had to skip.
func (w *logWriter) rotateCopyTruncate(ctx context.Context) bool {
	if !w.guard.acquireSettled(ctx, 3*time.Second, 20*time.Second) {
		w.mu.Lock()
		w.skipped = append(w.skipped, "copytruncate skipped: agent not up for 3 s within 20 s")
		w.mu.Unlock()
		return false
	}
	defer w.guard.release()

	w.mu.Lock()
	r := rotation{Kind: rotCopyTruncate, FirstLine: w.genFirst, CopyLast: len(w.writtenNs), CopyNs: time.Now().UnixNano()}
	data, err := os.ReadFile(w.path)
	if err == nil {
		tmp := w.path + ".1.tmp"
		if err = os.WriteFile(tmp, data, 0o644); err == nil {
			err = os.Rename(tmp, w.path+".1")
		}
	}
	if err != nil {
		w.noteErr("copytruncate copy: " + err.Error())
	}
	w.mu.Unlock()

	// The writer goes on while the "copy" finishes.
	time.Sleep(copyTruncateGap)

	w.mu.Lock()
	defer w.mu.Unlock()
	if err := os.Truncate(w.path, 0); err != nil {
		w.noteErr("copytruncate truncate: " + err.Error())
	}
	r.AtNs = time.Now().UnixNano()
	r.LastLine = len(w.writtenNs)
	w.rotations = append(w.rotations, r)
	w.genFirst = r.LastLine + 1
	return true
}

// ledger returns the write times and rotations so far.
func (w *logWriter) ledger() ([]int64, []rotation, []string, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int64(nil), w.writtenNs...), append([]rotation(nil), w.rotations...),
		append([]string(nil), w.skipped...), append([]string(nil), w.errs...)
}

// agentGuard keeps copytruncate rotations and kills of one daemon agent
// apart.
type agentGuard struct {
	mu   sync.Mutex
	proc *child
}

// acquireSettled takes the guard once the agent has been running for
// settle, waiting at most limit.
func (g *agentGuard) acquireSettled(ctx context.Context, settle, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		g.mu.Lock()
		if up, d := g.proc.Running(); up && d >= settle {
			return true
		}
		g.mu.Unlock()
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (g *agentGuard) release() { g.mu.Unlock() }
