package logtail

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// patterns are the two ways an input names a rotating file: the file
// itself, or a glob that also matches its rotated names (which must then
// not be read a second time).
var rotationPatterns = []struct {
	name string
	glob func(path string) string
}{
	{"literal", func(p string) string { return p }},
	{"glob matching rotated names", func(p string) string { return p + "*" }},
}

func TestRenameRotation(t *testing.T) {
	for _, pat := range rotationPatterns {
		for _, chunk := range []int{5, 0} {
			t.Run(fmt.Sprintf("%s/chunk%d", pat.name, chunk), func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, "app.log")
				w := newWriter(t, path)
				h := newHarness(t, []Input{{Source: "app", Paths: []string{pat.glob(path)}, FromStart: true}},
					Options{ReadChunkBytes: chunk})
				w.lines("a1", "a2", "a3")
				equalStrings(t, "before rotation", h.msgs(100), []string{"a1", "a2", "a3"})

				// Renamed; the writer goes on writing to the old file for a
				// while before it reopens, and the new file gets lines too,
				// all before the tailer looks again.
				mustRename(t, path, path+".1")
				w.lines("a4", "a5")
				w2 := newWriter(t, path)
				w2.lines("b1", "b2")
				equalStrings(t, "across rotation", h.msgs(100), []string{"a4", "a5", "b1", "b2"})
				w2.lines("b3")
				equalStrings(t, "new file", h.msgs(100), []string{"b3"})

				// Again, logrotate style, with the tailer noticing while
				// the name is missing.
				mustRename(t, path+".1", path+".2")
				mustRename(t, path, path+".1")
				w2.lines("b4")
				equalStrings(t, "name missing", h.msgs(100), []string{"b4"})
				w3 := newWriter(t, path)
				w3.lines("c1")
				w2.lines("b5") // too late: the tailer has moved on
				got := h.msgs(100)
				if pat.name == "literal" {
					equalStrings(t, "second rotation", got, []string{"c1"})
				} else {
					// The glob still follows app.log.1, so the late line is
					// read there, once.
					if len(got) != 2 || !contains(got, "c1") || !contains(got, "b5") {
						t.Fatalf("second rotation: got %q, want c1 and b5", got)
					}
				}
				equalStrings(t, "nothing left", h.drain(100), nil)
			})
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// When the tailer must stop mid-file, it resumes in the rotated file and
// only then moves to the new one.
func TestRenameRotationSmallPolls(t *testing.T) {
	path := tmpFile(t, "app.log")
	w := newWriter(t, path)
	h := newHarness(t, inputAt(path, true), Options{})
	w.lines(seq("a", 0, 3)...)
	equalStrings(t, "first", h.msgs(2), seq("a", 0, 2))
	mustRename(t, path, path+".1")
	w.lines(seq("a", 3, 6)...)
	w2 := newWriter(t, path)
	w2.lines(seq("b", 0, 3)...)
	var got []string
	for _, m := range []int{1, 2, 1, 3, 5} {
		got = append(got, h.msgs(m)...)
	}
	equalStrings(t, "all", got, append(seq("a", 2, 6), seq("b", 0, 3)...))
}

func TestCopyTruncate(t *testing.T) {
	tests := []struct {
		name   string
		before []string
		after  string
		want   []string
	}{
		{"new content shorter", []string{"line one", "line two", "line three"}, "n1\nn2\n", []string{"n1", "n2"}},
		// Grown past the old position before the tailer looked: the byte
		// before the old position is no longer a newline.
		{"new content longer", []string{"a", "b", "c"}, "one long line written after truncation\nn2\n",
			[]string{"one long line written after truncation", "n2"}},
		{"nothing written yet", []string{"x", "y"}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "app.log")
			w := newWriter(t, path)
			h := newHarness(t, inputAt(path, true), Options{})
			w.lines(tt.before...)
			equalStrings(t, "before", h.msgs(100), tt.before)
			copyTruncate(t, path, filepath.Join(dir, "app.log.1"))
			w.write(tt.after)
			equalStrings(t, "after truncation", h.msgs(100), tt.want)
			w.lines("later")
			equalStrings(t, "later", h.msgs(100), []string{"later"})
		})
	}
}

// Rotation while the agent is down: Commit, stop, rotate and write to both
// files, start and restore: every line exactly once.
func TestRotationWhileDown(t *testing.T) {
	tests := []struct {
		name   string
		glob   bool
		rotate func(t *testing.T, dir, path string, w *writer)
		want   []string
	}{
		{"unchanged", false, func(t *testing.T, dir, path string, w *writer) {
			w.lines("a2")
		}, []string{"a2"}},
		{"renamed with new file", false, func(t *testing.T, dir, path string, w *writer) {
			mustRename(t, path, path+".1")
			w.lines("a2")
			w.reopen()
			w.lines("b1")
		}, []string{"a2", "b1"}},
		{"renamed with new file, glob", true, func(t *testing.T, dir, path string, w *writer) {
			mustRename(t, path, path+".1")
			w.lines("a2")
			w.reopen()
			w.lines("b1")
		}, []string{"a2", "b1"}},
		{"renamed twice", false, func(t *testing.T, dir, path string, w *writer) {
			mustRename(t, path, path+".1")
			w.lines("a2")
			w.reopen()
			w.lines("b1")
			mustRename(t, path+".1", path+".2")
			mustRename(t, path, path+".1")
			w.reopen()
			w.lines("c1")
		}, []string{"a2", "c1"}}, // b1 was in a file the tailer never knew
		{"renamed, no new file yet", false, func(t *testing.T, dir, path string, w *writer) {
			mustRename(t, path, path+".1")
			w.lines("a2")
		}, []string{"a2"}},
		{"rotated file deleted", false, func(t *testing.T, dir, path string, w *writer) {
			mustRename(t, path, path+".1")
			w.lines("lost")
			if err := os.Remove(path + ".1"); err != nil {
				t.Fatal(err)
			}
			w.reopen()
			w.lines("b1", "b2")
		}, []string{"b1", "b2"}},
		{"copytruncated", false, func(t *testing.T, dir, path string, w *writer) {
			copyTruncate(t, path, path+".1")
			w.lines("n1")
		}, []string{"n1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "app.log")
			pattern := path
			if tt.glob {
				pattern = path + "*"
			}
			w := newWriter(t, path)
			w.lines("old0", "old1")
			h := newHarness(t, inputAt(pattern, false), Options{})
			equalStrings(t, "first start at end", h.msgs(10), nil)
			w.lines("a1")
			equalStrings(t, "before stop", h.msgs(10), []string{"a1"})
			h.stop()
			tt.rotate(t, dir, path, w)
			h.start()
			equalStrings(t, "after restart", h.drain(1), tt.want)
			w.reopen() // a writer that has not reopened after a rename writes into the rotated file
			w.lines("z")
			equalStrings(t, "then", h.msgs(10), []string{"z"})
		})
	}
}

// A stress run: a writer and a rotator alternate rename rotation and
// copytruncate twenty times, while the tailer polls with random batch sizes
// in between, sometimes "crashing" before Commit and sometimes restarting.
// Every committed line must arrive exactly once, in order.
func TestRotationStress(t *testing.T) {
	for vi, v := range stressVariants {
		t.Run(v.name, func(t *testing.T) { runStress(t, v, uint64(vi)) })
	}
}

type stressVariant struct {
	name     string
	glob     bool
	maxOpen  int
	chunk    int
	restarts bool
}

var stressVariants = []stressVariant{
	{"literal", false, 0, 0, false},
	{"literal with restarts", false, 0, 0, true},
	{"glob with restarts", true, 0, 0, true},
	{"glob, two descriptors, small chunks", true, 2, 7, true},
	{"literal, one descriptor, small chunks", false, 1, 5, true},
}

func runStress(t *testing.T, v stressVariant, seed uint64) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	pattern := path
	if v.glob {
		pattern = path + "*"
	}
	rng := rand.New(rand.NewPCG(seed, 42))
	w := newWriter(t, path)
	h := newHarness(t, inputAt(pattern, true), Options{MaxOpenFiles: v.maxOpen, ReadChunkBytes: v.chunk})
	// The first committed Poll is the tailer's start: a file rotated away
	// before any position of it was ever stored is out of reach.
	equalStrings(t, "start", h.msgs(1), nil)
	var written, got, trace []string
	defer func() {
		if t.Failed() {
			t.Logf("seed %d trace:\n%s", seed, strings.Join(trace, "\n"))
		}
	}()
	writeN := func(n int) {
		for range n {
			line := fmt.Sprintf("line-%05d %s", len(written), strings.Repeat("x", rng.IntN(40)))
			w.lines(line)
			written = append(written, line)
		}
	}
	step := func() {
		max := 1 + rng.IntN(8)
		switch rng.IntN(10) {
		case 0:
			r, _ := h.pollRaw(max) // crash before the batch was durable
			trace = append(trace, fmt.Sprintf("uncommitted %q", messages(r)))
		case 1:
			if v.restarts {
				h.restart()
				trace = append(trace, "restart")
			}
		default:
			m := h.msgs(max)
			trace = append(trace, fmt.Sprintf("committed %q", m))
			got = append(got, m...)
		}
	}
	for rot := range 20 {
		writeN(rng.IntN(12))
		step()
		writeN(rng.IntN(12))
		step()
		if rot%2 == 0 {
			mustRename(t, path, fmt.Sprintf("%s.%d", path, rot))
			trace = append(trace, "renamed")
			writeN(rng.IntN(6)) // late lines into the renamed file
			if rng.IntN(2) == 0 {
				step() // the tailer may look while the name is missing
			}
			w.reopen()
			writeN(rng.IntN(12))
			step()
			if old := fmt.Sprintf("%s.%d", path, rot-6); rot >= 6 {
				// Long read rotated files are deleted, as logrotate's
				// "rotate N" does.
				if err := os.Remove(old); err != nil {
					t.Fatal(err)
				}
			}
		} else {
			// copytruncate loses lines written between the copy and the
			// truncation; the deterministic case is the tailer being at
			// the copy point and looking before the file grows back.
			d := h.drain(5)
			trace = append(trace, fmt.Sprintf("drained %q", d))
			got = append(got, d...)
			copyTruncate(t, path, filepath.Join(dir, fmt.Sprintf("copy-%d", rot)))
			trace = append(trace, "copytruncated")
			m := h.msgs(5)
			trace = append(trace, fmt.Sprintf("committed %q", m))
			got = append(got, m...)
			writeN(rng.IntN(12))
			step()
		}
	}
	got = append(got, h.drain(7)...)
	if !slices.Equal(got, written) {
		seen := map[string]int{}
		for _, g := range got {
			seen[g]++
		}
		for _, l := range written {
			if seen[l] != 1 {
				t.Errorf("%q read %d times", l, seen[l])
			}
		}
	}
	equalStrings(t, "exactly once, in order", got, written)
	if len(written) < 200 {
		t.Fatalf("only %d lines written; the test is too weak", len(written))
	}
}

// Where a file starts is fixed when it is first seen, before any Commit: a
// rename before the first Commit, or lines written between an uncommitted
// first Poll and the next, lose nothing.
func TestStartFixedBeforeFirstCommit(t *testing.T) {
	t.Run("renamed", func(t *testing.T) {
		path := tmpFile(t, "app.log")
		w := newWriter(t, path)
		h := newHarness(t, inputAt(path, true), Options{})
		w.lines("a1")
		first, _ := h.pollRaw(10)
		equalStrings(t, "uncommitted", messages(first), []string{"a1"})
		mustRename(t, path, path+".1")
		w.lines("a2")
		w.reopen()
		w.lines("b1")
		equalStrings(t, "after rename", h.drain(10), []string{"a1", "a2", "b1"})
	})
	t.Run("end of existing file", func(t *testing.T) {
		path := tmpFile(t, "app.log")
		writeFile(t, path, "old\n")
		h := newHarness(t, inputAt(path, false), Options{})
		first, _ := h.pollRaw(10)
		equalStrings(t, "uncommitted", messages(first), nil)
		appendFile(t, path, "new\n")
		equalStrings(t, "after", h.drain(10), []string{"new"})
	})
	t.Run("state carries the start", func(t *testing.T) {
		path := tmpFile(t, "app.log")
		writeFile(t, path, "old\n")
		h := newHarness(t, inputAt(path, false), Options{})
		h.pollRaw(10)
		_, cp := h.pollRaw(10)
		if st := cp.State(); st[stateKey("app", path)] == nil || st[stateKey("app", "")] == nil {
			t.Fatalf("second uncommitted Poll's state %q lacks the start position or marker", st)
		}
	})
}
