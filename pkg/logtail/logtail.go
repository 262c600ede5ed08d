// Package logtail follows the agent's configured log files: it reads
// complete lines in bounded chunks, survives rename rotation and
// copytruncate, and describes how far it has read as opaque per-file
// positions that the caller persists together with the lines.
//
// The package never writes its own state. Poll returns lines and a
// Checkpoint; the caller stores the lines and Checkpoint.State in one durable
// transaction and only then calls Commit. Until Commit the tailer's positions
// do not move, so a crash between Poll and the durable write resends lines
// rather than losing them. After a restart, Restore hands the stored state
// back.
//
// Files are identified by device and inode, not by name, which is what lets
// the tailer tell a rotated file from a new one. There is no goroutine per
// file: all work happens inside Poll, on the caller's goroutine.
//
// # Rotation
//
// When a path names a different file than the one being read (rename
// rotation), the old file is read to its end through the descriptor still
// open, or found again by device and inode in the same directory, and then
// the new file is read from its beginning. The same happens after a restart
// from a stored position. A file shorter than the position, or whose byte
// before the position is no longer the newline that ended the last line
// read, was truncated in place (copytruncate) and is read from its
// beginning. A deleted file is read to its end, then closed.
//
// A glob may also match rotated names (app.log*): a rotated file then keeps
// being followed under its new name from where the old name left it, never
// reread. Files are never compared by content, though, so a glob must not
// match the copies copytruncate makes, which are new files.
//
// # Known limits
//
//   - copytruncate loses what is written between the last Poll before the
//     copy and the truncation; that is inherent to copytruncate.
//   - A writer that keeps writing to a renamed file after the tailer has
//     read it to its end and moved to the new file loses those lines, unless
//     a glob also matches the rotated name.
//   - A path rotated twice between two committed Polls (or while the agent
//     is down) loses the middle file, unless a glob also matches rotated
//     names: a position names one file per path.
//   - When more than MaxOpenFiles files are followed, idle ones are closed;
//     one that is then deleted before it is read again loses its unread end.
package logtail

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/limits"
)

// Defaults applied by New to zero Options fields.
const (
	// DefaultMaxLineBytes matches the agent's default max_log_message_bytes.
	DefaultMaxLineBytes = 16384
	// DefaultReadChunkBytes is the size of one read from a file.
	DefaultReadChunkBytes = 64 << 10
	// DefaultMaxOpenFiles bounds the file descriptors the tailer holds.
	DefaultMaxOpenFiles = 64

	// maxBufferBytes keeps a misconfiguration from allocating absurd buffers.
	maxBufferBytes = 64 << 20
)

// Bounds on record attributes.
const (
	// MaxStaticAttrs is how many attributes an input may add to its records:
	// with path, host and a detected level a record then never carries more
	// than MaxRecordAttrs.
	MaxStaticAttrs = 2
	// MaxRecordAttrs is the most attributes any record carries: the
	// collector's floor for labels per record, so every valid collector
	// accepts them.
	MaxRecordAttrs = limits.FloorLabelsPerSeries
	// MaxAttrValueBytes bounds attribute values (a longer path keeps its
	// end) to the collector's floor for label values, for the same reason.
	MaxAttrValueBytes = limits.FloorLabelValueBytes
)

// Attribute names the tailer sets itself.
const (
	AttrPath  = "path"
	AttrHost  = "host"
	AttrLevel = "level"
)

// ErrClosed is returned by Poll after Close.
var ErrClosed = errors.New("logtail: tailer closed")

// ErrBadState marks a stored position Restore could not use. The input it
// belonged to falls back to its default start.
var ErrBadState = errors.New("logtail: bad stored position")

// Input is one configured log input: a set of files read under one source
// name.
type Input struct {
	// Source names the input; it must be unique and is every record's Source.
	Source string
	// Paths are files or filepath.Match globs. Globs are expanded again on
	// every Poll, so files created later are picked up.
	Paths []string
	// Attrs are static attributes added to every record, at most
	// MaxStaticAttrs. A static "host" or "level" overrides the tailer's own.
	Attrs map[string]string
	// FromStart reads the files found when the input first starts (its
	// first Poll with no stored state) from their beginning instead of just
	// after their last complete line. Files found later, including on a
	// restart that restored the input's state, are new and always read
	// from their beginning; files with a stored position resume from it.
	FromStart bool
}

// Options tune a Tailer. Zero fields take the Default* values.
type Options struct {
	// MaxLineBytes is the longest message a record carries; longer lines
	// are cut (on a UTF-8 boundary) and marked Truncated.
	MaxLineBytes int
	// ReadChunkBytes is the size of one read. The tailer's buffer is
	// MaxLineBytes+ReadChunkBytes, whatever the length of the lines.
	ReadChunkBytes int
	// Hostname, when set, is added to every record as the "host" attribute.
	Hostname string
	// MaxOpenFiles bounds the descriptors held open. Idle files whose name
	// still leads to them are closed first when the bound is reached.
	MaxOpenFiles int
	// OnError, when set, receives problems with single files (unreadable,
	// permission denied). They never fail a Poll: other files go on being
	// read and the file is retried on the next Poll. The same error for
	// the same file is reported once until it clears. It is called from
	// inside Poll and must not call the Tailer.
	OnError func(error)
}

// Tailer reads the inputs it was built with. Its methods are safe for
// concurrent use, but the intended use is one goroutine calling Poll, storing
// the result and calling Commit.
type Tailer struct {
	mu     sync.Mutex
	inputs []*input
	opt    Options
	// cur is where reading resumes: positions as of the last Commit, plus
	// the start of files first found by a Poll not committed yet (pinned,
	// so that a file renamed before the first Commit is still found).
	cur *snapshot
	// unsaved are the keys of pinned starts, which every Checkpoint
	// carries until one is committed.
	unsaved map[string]bool
	gen     uint64 // bumped by every change of cur; checkpoints name the one they build on
	polled  bool
	closed  bool
	tick    uint64 // Poll counter, the clock of handle LRU
	handles map[fileID]*handle
	buf     []byte
	spans   []span

	reported map[string]string // path -> last reported error, to report each once
}

// input is an Input with its patterns cleaned and its record attributes
// precomputed.
type input struct {
	Input
	patterns []string
	static   batch.Labels
	attrs    map[string]*attrSet // per path, built lazily
}

// New checks the inputs and options and returns a Tailer that has opened
// nothing yet: files are found and opened by Poll.
func New(inputs []Input, o Options) (*Tailer, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	t := &Tailer{
		opt:      o,
		handles:  map[fileID]*handle{},
		reported: map[string]string{},
		unsaved:  map[string]bool{},
	}
	seen := map[string]bool{}
	for i, in := range inputs {
		ci, err := compileInput(in)
		if err != nil {
			return nil, fmt.Errorf("logtail: input %d: %w", i, err)
		}
		if seen[in.Source] {
			return nil, fmt.Errorf("logtail: input %d: source %q is used twice", i, in.Source)
		}
		seen[in.Source] = true
		t.inputs = append(t.inputs, ci)
	}
	t.cur = newSnapshot(len(t.inputs))
	return t, nil
}

func (o *Options) fill() error {
	for _, f := range []struct {
		name string
		v    *int
		def  int
		max  int
	}{
		{"MaxLineBytes", &o.MaxLineBytes, DefaultMaxLineBytes, maxBufferBytes},
		{"ReadChunkBytes", &o.ReadChunkBytes, DefaultReadChunkBytes, maxBufferBytes},
		{"MaxOpenFiles", &o.MaxOpenFiles, DefaultMaxOpenFiles, 1 << 20},
	} {
		switch {
		case *f.v == 0:
			*f.v = f.def
		case *f.v < 0 || *f.v > f.max:
			return fmt.Errorf("logtail: options: %s is %d, want 1..%d", f.name, *f.v, f.max)
		}
	}
	return nil
}

func compileInput(in Input) (*input, error) {
	if in.Source == "" {
		return nil, errors.New("source is empty")
	}
	if strings.IndexByte(in.Source, 0) >= 0 {
		// The source prefixes state keys, separated from the path by NUL.
		return nil, fmt.Errorf("source %q contains a NUL byte", in.Source)
	}
	if len(in.Paths) == 0 {
		return nil, fmt.Errorf("source %q: no paths", in.Source)
	}
	ci := &input{Input: in, attrs: map[string]*attrSet{}}
	for _, p := range in.Paths {
		if p == "" || strings.IndexByte(p, 0) >= 0 {
			return nil, fmt.Errorf("source %q: path %q is empty or contains NUL", in.Source, p)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("source %q: path %q: %w", in.Source, p, err)
		}
		if _, err := filepath.Match(abs, ""); err != nil {
			return nil, fmt.Errorf("source %q: path %q: %w", in.Source, p, err)
		}
		if !slices.Contains(ci.patterns, abs) {
			ci.patterns = append(ci.patterns, abs)
		}
	}
	if len(in.Attrs) > MaxStaticAttrs {
		return nil, fmt.Errorf("source %q: %d attributes, at most %d", in.Source, len(in.Attrs), MaxStaticAttrs)
	}
	for name, value := range in.Attrs {
		switch {
		case name == AttrPath:
			return nil, fmt.Errorf("source %q: attribute name %q is reserved", in.Source, name)
		case !validAttrName(name):
			return nil, fmt.Errorf("source %q: attribute name %q is not a label name of at most %d bytes", in.Source, name, limits.FloorLabelKeyBytes)
		case len(value) > MaxAttrValueBytes || !utf8.ValidString(value):
			return nil, fmt.Errorf("source %q: attribute %q: value is not UTF-8 of at most %d bytes", in.Source, name, MaxAttrValueBytes)
		}
		ci.static = append(ci.static, batch.Label{Name: name, Value: value})
	}
	ci.static.Sort()
	return ci, nil
}

// matches reports whether path is one of the input's files, so that a
// restored position for a file the configuration no longer names is dropped.
func (in *input) matches(path string) bool {
	for _, p := range in.patterns {
		if p == path {
			return true
		}
		if ok, _ := filepath.Match(p, path); ok && hasMeta(p) {
			return true
		}
	}
	return false
}

// validAttrName accepts the label names every valid collector accepts.
func validAttrName(s string) bool {
	if s == "" || len(s) > limits.FloorLabelKeyBytes || strings.HasPrefix(s, "__") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && c != '_' && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// Close closes every file the tailer holds. Poll fails afterwards.
func (t *Tailer) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	var errs []error
	for id, h := range t.handles {
		if err := h.f.Close(); err != nil {
			errs = append(errs, err)
		}
		delete(t.handles, id)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("logtail: close: %w", err)
	}
	return nil
}

// report passes a per-file problem to Options.OnError once per distinct
// message per path.
func (t *Tailer) report(seen map[string]string, in *input, path string, err error) {
	msg := err.Error()
	seen[path] = msg
	if t.opt.OnError == nil || t.reported[path] == msg {
		return
	}
	t.opt.OnError(fmt.Errorf("logtail: source %q: %s: %w", in.Source, path, err))
}

// stateKey is the persisted key of one file's position. The source comes
// first so a key can be attributed to its input even when its value is bad.
func stateKey(source, path string) string { return source + "\x00" + path }

func splitKey(k string) (source, path string, ok bool) {
	source, path, ok = strings.Cut(k, "\x00")
	return source, path, ok && source != ""
}

// openFileCount is for tests and metrics: how many descriptors are held.
func (t *Tailer) openFileCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.handles)
}
