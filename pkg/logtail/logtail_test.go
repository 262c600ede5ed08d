package logtail

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

func TestBasicTail(t *testing.T) {
	path := tmpFile(t, "app.log")
	writeFile(t, path, "one\ntwo\r\nWARN three\n")
	h := newHarness(t, []Input{{Source: "web", Paths: []string{path}, Attrs: map[string]string{"env": "lab"}, FromStart: true}},
		Options{Hostname: "h1"})

	recs := h.poll(100)
	want := []batch.LogRecord{
		{TimeNs: testNow.UnixNano(), Source: "web", Message: "one",
			Attrs: batch.Labels{{Name: "env", Value: "lab"}, {Name: "host", Value: "h1"}, {Name: "path", Value: path}}},
		{TimeNs: testNow.UnixNano(), Source: "web", Message: "two",
			Attrs: batch.Labels{{Name: "env", Value: "lab"}, {Name: "host", Value: "h1"}, {Name: "path", Value: path}}},
		{TimeNs: testNow.UnixNano(), Source: "web", Message: "WARN three",
			Attrs: batch.Labels{{Name: "env", Value: "lab"}, {Name: "host", Value: "h1"}, {Name: "level", Value: "warn"}, {Name: "path", Value: path}}},
	}
	if len(recs) != len(want) {
		t.Fatalf("got %d records %+v, want %d", len(recs), recs, len(want))
	}
	for i := range want {
		if !recordEqual(recs[i], want[i]) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, recs[i], want[i])
		}
	}
	equalStrings(t, "nothing new", h.msgs(100), nil)
	appendFile(t, path, "four\n")
	equalStrings(t, "appended", h.msgs(100), []string{"four"})
}

func recordEqual(a, b batch.LogRecord) bool {
	if a.TimeNs != b.TimeNs || a.Source != b.Source || a.Message != b.Message || a.Truncated != b.Truncated || len(a.Attrs) != len(b.Attrs) {
		return false
	}
	for i := range a.Attrs {
		if a.Attrs[i] != b.Attrs[i] {
			return false
		}
	}
	return true
}

func TestFromStart(t *testing.T) {
	tests := []struct {
		name      string
		existing  string
		fromStart bool
		appended  string
		want      []string
	}{
		{"beginning", "old1\nold2\n", true, "new\n", []string{"old1", "old2", "new"}},
		{"end", "old1\nold2\n", false, "new\n", []string{"new"}},
		{"end keeps a line being written", "old1\npart", false, "ial\nnew\n", []string{"partial", "new"}},
		{"end of an unfinished only line", "part", false, "ial\n", []string{"partial"}},
		{"end of empty file", "", false, "new\n", []string{"new"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tmpFile(t, "app.log")
			writeFile(t, path, tt.existing)
			h := newHarness(t, inputAt(path, tt.fromStart), Options{})
			got := h.msgs(100)
			appendFile(t, path, tt.appended)
			got = append(got, h.drain(100)...)
			equalStrings(t, "lines", got, tt.want)
		})
	}
}

// A file created after the first Poll is new and read from its beginning
// whatever FromStart says; FromStart only concerns files found at the first
// start.
func TestFileCreatedLaterReadFromBeginning(t *testing.T) {
	path := tmpFile(t, "app.log")
	h := newHarness(t, inputAt(path, false), Options{})
	equalStrings(t, "no file yet", h.msgs(10), nil)
	writeFile(t, path, "first\nsecond\n")
	equalStrings(t, "created later", h.msgs(10), []string{"first", "second"})
}

func TestPartialLines(t *testing.T) {
	for _, chunk := range []int{1, 3, 64} {
		t.Run("chunk"+itoa(chunk), func(t *testing.T) {
			path := tmpFile(t, "app.log")
			writeFile(t, path, "")
			h := newHarness(t, inputAt(path, true), Options{ReadChunkBytes: chunk})
			for _, step := range []struct{ write, want string }{
				{"abc", ""},
				{"def", ""},
				{"\r", ""},
				{"\nnext\nla", "abcdef|next"},
				{"st\n", "last"},
			} {
				appendFile(t, path, step.write)
				var want []string
				if step.want != "" {
					want = strings.Split(step.want, "|")
				}
				equalStrings(t, "after "+step.write, h.msgs(100), want)
			}
		})
	}
}

func TestTruncation(t *testing.T) {
	type rec struct {
		msg   string
		trunc bool
	}
	const max = 8
	tests := []struct {
		name    string
		content string
		want    []rec
	}{
		{"exactly max", "12345678\n", []rec{{"12345678", false}}},
		{"max plus CRLF", "12345678\r\n", []rec{{"12345678", false}}},
		{"one over", "123456789\nok\n", []rec{{"12345678", true}, {"ok", false}}},
		{"two-byte rune fits", "abcdef\u00e9\n", []rec{{"abcdef\u00e9", false}}},
		{"two-byte rune cut", "abcdefg\u00e9\n", []rec{{"abcdefg", true}}},
		{"three-byte rune cut", "abcdef\u20acx\n", []rec{{"abcdef", true}}},
		{"four-byte rune cut", "abcde\U0001F600x\n", []rec{{"abcde", true}}},
		{"very long line then next", strings.Repeat("x", 1000) + "\nnext\n", []rec{{"xxxxxxxx", true}, {"next", false}}},
		{"long line without newline yet", strings.Repeat("y", 100), []rec{{"yyyyyyyy", true}}},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 3, 5, 64} {
			t.Run(tt.name+"/chunk"+itoa(chunk), func(t *testing.T) {
				path := tmpFile(t, "app.log")
				writeFile(t, path, tt.content)
				h := newHarness(t, inputAt(path, true), Options{MaxLineBytes: max, ReadChunkBytes: chunk})
				recs := h.poll(100)
				var got []rec
				for _, r := range recs {
					got = append(got, rec{r.Message, r.Truncated})
				}
				if len(got) != len(tt.want) {
					t.Fatalf("got %+v, want %+v", got, tt.want)
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Fatalf("record %d: got %+v, want %+v", i, got[i], tt.want[i])
					}
				}
			})
		}
	}
}

// An unfinished line that outgrows MaxLineBytes is emitted truncated at
// once; when it is finished later (even after a restart) its rest is
// skipped, not emitted as a line of its own.
func TestTruncatedPartialLineRestOfLineSkipped(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(map[bool]string{false: "same tailer", true: "after restart"}[restart], func(t *testing.T) {
			path := tmpFile(t, "app.log")
			w := newWriter(t, path)
			h := newHarness(t, inputAt(path, true), Options{MaxLineBytes: 8, ReadChunkBytes: 4})
			w.write(strings.Repeat("z", 20))
			recs := h.poll(10)
			if len(recs) != 1 || recs[0].Message != "zzzzzzzz" || !recs[0].Truncated {
				t.Fatalf("got %+v, want one truncated zzzzzzzz", recs)
			}
			if restart {
				h.restart()
			}
			w.write("zzzz")
			equalStrings(t, "still in the long line", h.msgs(10), nil)
			w.write("zz\nnext\n")
			equalStrings(t, "after the long line", h.msgs(10), []string{"next"})
		})
	}
}

// Memory must not grow with line length: a 4 MiB line costs no more than a
// short one beyond the fixed buffer.
func TestLongLineMemoryBounded(t *testing.T) {
	path := tmpFile(t, "app.log")
	writeFile(t, path, strings.Repeat("x", 4<<20)+"\nend\n")
	h := newHarness(t, inputAt(path, true), Options{MaxLineBytes: 1024, ReadChunkBytes: 4096})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	recs := h.poll(10)
	runtime.ReadMemStats(&after)
	if len(recs) != 2 || !recs[0].Truncated || len(recs[0].Message) != 1024 || recs[1].Message != "end" {
		t.Fatalf("got %d records", len(recs))
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<10 {
		t.Fatalf("reading a 4 MiB line allocated %d bytes, want < 256 KiB", alloc)
	}
}

func TestMaxPerPoll(t *testing.T) {
	path := tmpFile(t, "app.log")
	writeFile(t, path, strings.Join(seq("l", 0, 10), "\n")+"\n")
	h := newHarness(t, inputAt(path, true), Options{ReadChunkBytes: 7})
	for i, want := range [][]string{seq("l", 0, 3), seq("l", 3, 6), seq("l", 6, 9), seq("l", 9, 10), nil} {
		equalStrings(t, "poll "+itoa(i), h.msgs(3), want)
	}
}

// Without Commit nothing moves: a crash between Poll and the durable write
// resends the lines instead of losing them.
func TestPollWithoutCommitRereads(t *testing.T) {
	path := tmpFile(t, "app.log")
	writeFile(t, path, strings.Join(seq("l", 0, 6), "\n")+"\n")
	h := newHarness(t, inputAt(path, true), Options{})
	first, _ := h.pollRaw(4)
	again, cp := h.pollRaw(4)
	equalStrings(t, "first", messages(first), seq("l", 0, 4))
	equalStrings(t, "reread", messages(again), seq("l", 0, 4))
	h.persist(cp)
	h.tl.Commit(cp)
	equalStrings(t, "after commit", h.msgs(4), seq("l", 4, 6))

	// A crash after Poll: the restarted tailer resends from the store.
	appendFile(t, path, "l6\nl7\n")
	lost, _ := h.pollRaw(10)
	equalStrings(t, "before crash", messages(lost), []string{"l6", "l7"})
	h.restart()
	equalStrings(t, "after crash", h.msgs(10), []string{"l6", "l7"})
}

// A checkpoint from a Poll made before the last Commit is stale: committing
// it must not move positions to where it says.
func TestStaleCheckpointIgnored(t *testing.T) {
	path := tmpFile(t, "app.log")
	writeFile(t, path, strings.Join(seq("l", 0, 6), "\n")+"\n")
	h := newHarness(t, inputAt(path, true), Options{})
	_, c1 := h.pollRaw(2)
	_, c2 := h.pollRaw(5)
	h.tl.Commit(c1)
	h.tl.Commit(c2)
	h.tl.Commit(c1) // twice: no effect either
	equalStrings(t, "after c1 only", h.msgs(10), seq("l", 2, 6))

	other := newHarness(t, inputAt(path, true), Options{})
	_, foreign := other.pollRaw(6)
	h.tl.Commit(foreign)
	h.tl.Commit(nil)
	appendFile(t, path, "l6\n")
	equalStrings(t, "foreign checkpoint ignored", h.msgs(10), []string{"l6"})
}

func TestStateKeysAndDeletes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, "a\n")
	h := newHarness(t, inputAt(path, true), Options{})
	_, cp := h.pollRaw(10)
	st := cp.State()
	if len(st) != 2 || st[stateKey("app", "")] == nil || st[stateKey("app", path)] == nil {
		t.Fatalf("first state %q, want marker and position", st)
	}
	p, err := decodePosition(st[stateKey("app", path)])
	if err != nil || p.path != path || p.off != 2 {
		t.Fatalf("position %+v, %v", p, err)
	}
	h.persist(cp)
	h.tl.Commit(cp)
	if _, cp := h.pollRaw(10); len(cp.State()) != 0 {
		t.Fatalf("idle poll state %q, want empty", cp.State())
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	_, cp = h.pollRaw(10)
	if v, ok := cp.State()[stateKey("app", path)]; !ok || v != nil {
		t.Fatalf("deleted file state %q, want its key deleted", cp.State())
	}
}

func TestRestoreBadState(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, "old\n")
	in := inputAt(path, false)

	tl, err := New(in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	good := encodePosition(savedPos{path: path, pos: pos{off: 1}})
	state := map[string][]byte{
		stateKey("app", path):              {9, 9, 9},
		stateKey("gone", "/x"):             good,
		"no-separator":                     good,
		stateKey("app", dir+"/other.log"):  encodePosition(savedPos{path: dir + "/other.log"}),
		stateKey("app", dir+"/mismatch"):   good,
		stateKey("app", ""):                markerPosition(),
		stateKey("app", path+".unmatched"): encodePosition(savedPos{path: path + ".unmatched"}),
	}
	err = tl.Restore(state)
	if err == nil || !errors.Is(err, ErrBadState) {
		t.Fatalf("Restore error %v, want ErrBadState", err)
	}
	for _, k := range []string{stateKey("app", path), "no-separator", stateKey("app", dir+"/mismatch")} {
		if !strings.Contains(err.Error(), strconvQuote(k)) {
			t.Errorf("error %q does not name key %q", err, k)
		}
	}
	if strings.Contains(err.Error(), "gone") {
		t.Errorf("error %q mentions a removed input's key, which is only dropped", err)
	}
	recs, cp, err := tl.Poll(context.Background(), 10, testNow)
	if err != nil {
		t.Fatal(err)
	}
	// The bad position fell back to the input's default start: the end.
	equalStrings(t, "lines", messages(recs), nil)
	st := cp.State()
	for k := range state {
		if k == stateKey("app", path) || k == stateKey("app", "") {
			continue
		}
		if v, ok := st[k]; !ok || v != nil {
			t.Errorf("key %q: state %q, want deleted", k, v)
		}
	}
	if st[stateKey("app", path)] == nil || st[stateKey("app", "")] == nil {
		t.Errorf("state %q: want the position and the marker rewritten", st)
	}
	if err := tl.Restore(state); err == nil {
		t.Error("Restore after Poll succeeded")
	}
	tl.Commit(cp)
	appendFile(t, path, "new\n")
	recs, _, err = tl.Poll(context.Background(), 10, testNow)
	if err != nil {
		t.Fatal(err)
	}
	equalStrings(t, "appended", messages(recs), []string{"new"})
}

func strconvQuote(s string) string {
	q := []byte{}
	q = append(q, '"')
	for _, c := range []byte(s) {
		if c == 0 {
			q = append(q, `\x00`...)
			continue
		}
		q = append(q, c)
	}
	return string(append(q, '"'))
}

func TestGlobPicksUpNewFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.log"), "a-old\n")
	writeFile(t, filepath.Join(dir, "ignored.txt"), "x\n")
	if err := os.Mkdir(filepath.Join(dir, "d.log"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, []Input{{Source: "g", Paths: []string{filepath.Join(dir, "*.log")}}}, Options{})
	equalStrings(t, "first start at end", h.msgs(10), nil)
	writeFile(t, filepath.Join(dir, "b.log"), "b1\nb2\n")
	appendFile(t, filepath.Join(dir, "a.log"), "a1\n")
	recs := h.poll(10)
	got := map[string][]string{}
	for _, r := range recs {
		p := r.Attrs.Get("path")
		got[filepath.Base(p)] = append(got[filepath.Base(p)], r.Message)
	}
	equalStrings(t, "a.log", got["a.log"], []string{"a1"})
	equalStrings(t, "b.log (new, from its beginning)", got["b.log"], []string{"b1", "b2"})
	if len(recs) != 3 {
		t.Fatalf("got %d records, want 3", len(recs))
	}
}

func TestDeletedFileReadToEndThenClosed(t *testing.T) {
	path := tmpFile(t, "app.log")
	w := newWriter(t, path)
	w.lines("a", "b")
	base := openFDs(t)
	h := newHarness(t, inputAt(path, true), Options{})
	equalStrings(t, "before", h.msgs(10), []string{"a", "b"})
	if n := h.tl.openFileCount(); n != 1 {
		t.Fatalf("%d files open, want 1", n)
	}
	w.lines("c", "d")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	w.lines("e")
	equalStrings(t, "rest of the deleted file", h.msgs(10), []string{"c", "d", "e"})
	if n := h.tl.openFileCount(); n != 0 {
		t.Fatalf("%d files open after the deleted file was read, want 0", n)
	}
	if n := openFDs(t); n != base {
		t.Fatalf("%d descriptors open, want %d", n, base)
	}
	// The same name created again is a new file.
	writeFile(t, path, "again\n")
	equalStrings(t, "recreated", h.msgs(10), []string{"again"})
}

func TestCloseLeavesNoDescriptors(t *testing.T) {
	dir := t.TempDir()
	for i := range 5 {
		writeFile(t, filepath.Join(dir, "f"+itoa(i)+".log"), "x\ny\n")
	}
	base := openFDs(t)
	tl, err := New([]Input{{Source: "s", Paths: []string{filepath.Join(dir, "*.log")}, FromStart: true}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	recs, cp, err := tl.Poll(context.Background(), 100, testNow)
	if err != nil || len(recs) != 10 {
		t.Fatalf("Poll: %d records, %v", len(recs), err)
	}
	tl.Commit(cp)
	if n := openFDs(t); n != base+5 {
		t.Fatalf("%d descriptors while tailing, want %d", n, base+5)
	}
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	if n := openFDs(t); n != base {
		t.Fatalf("%d descriptors after Close, want %d", n, base)
	}
	if _, _, err := tl.Poll(context.Background(), 1, testNow); !errors.Is(err, ErrClosed) {
		t.Fatalf("Poll after Close: %v, want ErrClosed", err)
	}
	if err := tl.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestMaxOpenFiles(t *testing.T) {
	dir := t.TempDir()
	const files, perFile = 7, 9
	var want []string
	for i := range files {
		var lines []string
		for j := range perFile {
			lines = append(lines, "f"+itoa(i)+"-"+itoa(j))
		}
		writeFile(t, filepath.Join(dir, "f"+itoa(i)+".log"), strings.Join(lines, "\n")+"\n")
		want = append(want, lines...)
	}
	base := openFDs(t)
	h := newHarness(t, []Input{{Source: "s", Paths: []string{filepath.Join(dir, "*.log")}, FromStart: true}},
		Options{MaxOpenFiles: 2})
	got := map[string]int{}
	for i := 0; i < 1000; i++ {
		recs := h.poll(4)
		if n := openFDs(t); n > base+2 {
			t.Fatalf("poll %d: %d descriptors, want <= %d", i, n, base+2)
		}
		if len(recs) == 0 {
			break
		}
		for _, m := range messages(recs) {
			got[m]++
		}
	}
	for _, m := range want {
		if got[m] != 1 {
			t.Errorf("line %q read %d times, want 1", m, got[m])
		}
	}
	if len(got) != len(want) {
		t.Errorf("read %d distinct lines, want %d", len(got), len(want))
	}
}

func TestFairness(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	writeFile(t, a, strings.Join(seq("a", 0, 20), "\n")+"\n")
	writeFile(t, b, strings.Join(seq("b", 0, 3), "\n")+"\n")
	h := newHarness(t, []Input{
		{Source: "A", Paths: []string{a}, FromStart: true},
		{Source: "B", Paths: []string{b}, FromStart: true},
	}, Options{})
	count := func(recs []batch.LogRecord) (na, nb int) {
		for _, r := range recs {
			if r.Source == "A" {
				na++
			} else {
				nb++
			}
		}
		return
	}
	if na, nb := count(h.poll(4)); na != 2 || nb != 2 {
		t.Fatalf("max 4: got %d from A and %d from B, want 2 and 2", na, nb)
	}
	// B has one line left: A gets the rest of the share.
	if na, nb := count(h.poll(6)); na != 5 || nb != 1 {
		t.Fatalf("max 6: got %d from A and %d from B, want 5 and 1", na, nb)
	}
	appendFile(t, b, "b3\nb4\n")
	// With one line per Poll the inputs take turns.
	var order []string
	for range 4 {
		recs := h.poll(1)
		if len(recs) != 1 {
			t.Fatalf("got %d records, want 1", len(recs))
		}
		order = append(order, recs[0].Source)
	}
	if strings.Join(order, "") != "ABAB" && strings.Join(order, "") != "BABA" {
		t.Fatalf("turn order %v, want alternating", order)
	}
}

func TestNewValidates(t *testing.T) {
	ok := Input{Source: "s", Paths: []string{"/var/log/x.log"}}
	tests := []struct {
		name   string
		inputs []Input
		opt    Options
		want   string
	}{
		{"empty source", []Input{{Paths: []string{"/x"}}}, Options{}, "source is empty"},
		{"duplicate source", []Input{ok, ok}, Options{}, "used twice"},
		{"no paths", []Input{{Source: "s"}}, Options{}, "no paths"},
		{"bad glob", []Input{{Source: "s", Paths: []string{"/var/log/[.log"}}}, Options{}, "syntax error"},
		{"too many attrs", []Input{{Source: "s", Paths: []string{"/x"}, Attrs: map[string]string{"a": "1", "b": "2", "c": "3"}}}, Options{}, "at most 2"},
		{"reserved attr", []Input{{Source: "s", Paths: []string{"/x"}, Attrs: map[string]string{"path": "1"}}}, Options{}, "reserved"},
		{"attr name not a label", []Input{{Source: "s", Paths: []string{"/x"}, Attrs: map[string]string{"my-env": "1"}}}, Options{}, "not a label name"},
		{"attr name too long", []Input{{Source: "s", Paths: []string{"/x"}, Attrs: map[string]string{"environment_name": "1"}}}, Options{}, "not a label name"},
		{"attr value too long", []Input{{Source: "s", Paths: []string{"/x"}, Attrs: map[string]string{"env": strings.Repeat("v", 65)}}}, Options{}, "at most 64 bytes"},
		{"attr value not UTF-8", []Input{{Source: "s", Paths: []string{"/x"}, Attrs: map[string]string{"env": "\xff"}}}, Options{}, "not UTF-8"},
		{"negative option", []Input{ok}, Options{MaxLineBytes: -1}, "MaxLineBytes"},
		{"huge chunk", []Input{ok}, Options{ReadChunkBytes: 1 << 30}, "ReadChunkBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.inputs, tt.opt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := New([]Input{ok}, Options{}); err != nil {
		t.Fatalf("valid input: %v", err)
	}
}

func TestPollErrors(t *testing.T) {
	path := tmpFile(t, "app.log")
	writeFile(t, path, "a\n")
	h := newHarness(t, inputAt(path, true), Options{})
	if _, _, err := h.tl.Poll(context.Background(), 0, testNow); err == nil {
		t.Error("Poll with max 0 succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := h.tl.Poll(ctx, 10, testNow); !errors.Is(err, context.Canceled) {
		t.Errorf("Poll with a cancelled context: %v", err)
	}
	equalStrings(t, "after errors", h.msgs(10), []string{"a"})
}

func TestUnreadableFileReported(t *testing.T) {
	if os.Geteuid() == 0 {
		// Root reads files whatever their mode, and CI runs as root: run
		// this test again in a child without root's privileges.
		runUnprivileged(t, "TestUnreadableFileReported")
		return
	}
	dir := t.TempDir()
	secret, open := filepath.Join(dir, "secret.log"), filepath.Join(dir, "open.log")
	writeFile(t, secret, "s\n")
	writeFile(t, open, "o\n")
	if err := os.Chmod(secret, 0); err != nil {
		t.Fatal(err)
	}
	var reported []error
	h := newHarness(t, []Input{{Source: "s", Paths: []string{filepath.Join(dir, "*.log")}, FromStart: true}},
		Options{OnError: func(err error) { reported = append(reported, err) }})
	equalStrings(t, "readable file still read", h.msgs(10), []string{"o"})
	h.msgs(10)
	if len(reported) != 1 || !strings.Contains(reported[0].Error(), secret) || !errors.Is(reported[0], os.ErrPermission) {
		t.Fatalf("reported %v, want one permission error naming %s", reported, secret)
	}
	if err := os.Chmod(secret, 0o644); err != nil {
		t.Fatal(err)
	}
	equalStrings(t, "readable again", h.msgs(10), []string{"s"})
}

// runUnprivileged re-runs the named test of this binary as uid/gid 65534
// (nobody) and fails unless it passed there. The binary is copied to a
// directory nobody can reach, since go test builds into a private one.
func runUnprivileged(t *testing.T, name string) {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/" && d != "."; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exe, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "logtail.test")
	if err := os.WriteFile(bin, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^"+name+"$", "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TMPDIR=/tmp")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+name) {
		t.Fatalf("%s as uid 65534: %v\n%s", name, err, out)
	}
}
