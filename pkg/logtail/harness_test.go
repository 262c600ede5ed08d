package logtail

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// testNow is the time every test Poll passes; records must carry it.
var testNow = time.Unix(1700000000, 123)

// harness drives a Tailer the way the agent does: Poll, persist State into a
// store (the stand-in for the bbolt transaction), Commit; and it can restart
// the tailer from that store.
type harness struct {
	t      testing.TB
	inputs []Input
	opt    Options
	tl     *Tailer
	store  map[string][]byte
}

func newHarness(t testing.TB, inputs []Input, opt Options) *harness {
	t.Helper()
	h := &harness{t: t, inputs: inputs, opt: opt, store: map[string][]byte{}}
	tl, err := New(inputs, opt)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.tl = tl
	t.Cleanup(func() { _ = h.tl.Close() })
	return h
}

// pollRaw polls without committing.
func (h *harness) pollRaw(max int) ([]batch.LogRecord, *Checkpoint) {
	h.t.Helper()
	recs, cp, err := h.tl.Poll(context.Background(), max, testNow)
	if err != nil {
		h.t.Fatalf("Poll: %v", err)
	}
	if cp == nil {
		h.t.Fatal("Poll returned no checkpoint")
	}
	return recs, cp
}

// poll polls, persists the checkpoint's state and commits.
func (h *harness) poll(max int) []batch.LogRecord {
	h.t.Helper()
	recs, cp := h.pollRaw(max)
	h.persist(cp)
	h.tl.Commit(cp)
	return recs
}

func (h *harness) persist(cp *Checkpoint) {
	for k, v := range cp.State() {
		if v == nil {
			delete(h.store, k)
		} else {
			h.store[k] = v
		}
	}
}

// msgs polls once and returns the messages.
func (h *harness) msgs(max int) []string { return messages(h.poll(max)) }

// drain polls with batches of max until two Polls in a row return nothing:
// under descriptor pressure, moving on to a rotated file's successor may
// take one extra Poll (the old file stays open until Commit).
func (h *harness) drain(max int) []string {
	h.t.Helper()
	var out []string
	for i, empty := 0, 0; empty < 2; i++ {
		m := h.msgs(max)
		if len(m) == 0 {
			empty++
		} else {
			empty = 0
		}
		out = append(out, m...)
		if i > 100000 {
			h.t.Fatal("drain does not end")
		}
	}
	return out
}

// restart closes the tailer and starts a new one from the store, as the
// agent does after a restart.
func (h *harness) restart() {
	h.t.Helper()
	h.stop()
	h.start()
}

// stop closes the tailer: the agent is down.
func (h *harness) stop() {
	h.t.Helper()
	if err := h.tl.Close(); err != nil {
		h.t.Fatalf("Close: %v", err)
	}
}

// start builds a new tailer and restores the store into it.
func (h *harness) start() {
	h.t.Helper()
	tl, err := New(h.inputs, h.opt)
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	if err := tl.Restore(h.store); err != nil {
		h.t.Fatalf("Restore: %v", err)
	}
	h.tl = tl
}

func messages(recs []batch.LogRecord) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.Message)
	}
	return out
}

func equalStrings(t testing.TB, what string, got, want []string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got %d %q\nwant %d %q", what, len(got), clip(got), len(want), clip(want))
	}
}

func clip(s []string) []string {
	if len(s) > 40 {
		return append(slices.Clone(s[:40]), "...")
	}
	return s
}

// writer appends to a log file through one descriptor, as a logging process
// does: after a rename it keeps writing to the renamed file until reopen.
type writer struct {
	t    testing.TB
	path string
	f    *os.File
}

func newWriter(t testing.TB, path string) *writer {
	t.Helper()
	w := &writer{t: t, path: path}
	w.reopen()
	t.Cleanup(func() { _ = w.f.Close() })
	return w
}

func (w *writer) reopen() {
	w.t.Helper()
	if w.f != nil {
		_ = w.f.Close()
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		w.t.Fatal(err)
	}
	w.f = f
}

func (w *writer) write(s string) {
	w.t.Helper()
	if _, err := w.f.WriteString(s); err != nil {
		w.t.Fatal(err)
	}
}

func (w *writer) lines(lines ...string) {
	w.t.Helper()
	w.write(strings.Join(lines, "\n") + "\n")
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t testing.TB, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

func mustRename(t testing.TB, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// copyTruncate does what logrotate's copytruncate does.
func copyTruncate(t testing.TB, path, copyTo string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, copyTo, string(data))
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
}

// openFDs counts this process's open descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("counts descriptors in /proc/self/fd")
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func seq(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, prefix+itoa(i))
	}
	return out
}

func itoa(i int) string { return fmt.Sprintf("%05d", i) }

func inputAt(path string, fromStart bool) []Input {
	return []Input{{Source: "app", Paths: []string{path}, FromStart: fromStart}}
}

func tmpFile(t testing.TB, name string) string {
	return filepath.Join(t.TempDir(), name)
}

func mkdirAll(dir string) error { return os.MkdirAll(dir, 0o755) }
