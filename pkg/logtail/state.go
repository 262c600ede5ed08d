package logtail

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// snapshot is the tailer's logical state: which file each path is being read
// from and where. Poll works on a copy and hands it out in a Checkpoint;
// Commit installs it. Nothing here holds a file descriptor.
type snapshot struct {
	inputs []inputState
	rr     int                 // which input reads first in the next Poll
	stale  map[string]struct{} // restored keys to delete with the next Commit
}

type inputState struct {
	// started is false until the input's first Commit (or a restored
	// marker): only then do files without a position follow FromStart.
	started bool
	// streams maps each path being followed to its position.
	streams map[string]pos
	// released remembers where files that a path stopped following ended,
	// so that another matching path (a glob that also matches rotated
	// names) continues from there instead of rereading. In memory only.
	released map[fileID]pos
	rr       int // which path of the input reads first
}

func newSnapshot(n int) *snapshot {
	s := &snapshot{inputs: make([]inputState, n), stale: map[string]struct{}{}}
	for i := range s.inputs {
		s.inputs[i].streams = map[string]pos{}
		s.inputs[i].released = map[fileID]pos{}
	}
	return s
}

func (s *snapshot) clone() *snapshot {
	c := &snapshot{inputs: make([]inputState, len(s.inputs)), rr: s.rr, stale: maps.Clone(s.stale)}
	for i, in := range s.inputs {
		c.inputs[i] = inputState{
			started:  in.started,
			streams:  maps.Clone(in.streams),
			released: maps.Clone(in.released),
			rr:       in.rr,
		}
	}
	return c
}

// referenced is the set of files some path is positioned in: the files
// whose descriptors must stay open.
func (s *snapshot) referenced() map[fileID]bool {
	ids := map[fileID]bool{}
	for _, in := range s.inputs {
		for _, p := range in.streams {
			ids[p.id] = true
		}
	}
	return ids
}

// Checkpoint describes the positions after the lines of one Poll. It is
// immutable; State may be called any number of times.
type Checkpoint struct {
	t     *Tailer
	base  uint64 // the Commit generation the Poll started from
	next  *snapshot
	state map[string][]byte
}

// State returns the keys to persist with the Poll's lines: an encoded
// position per file whose position changed, and a nil value for every key to
// delete. The map is the caller's to keep. Store it in the same transaction
// as the lines, even when the Poll returned no lines, in a bucket of its own:
// keys are "<source>\x00<path>", and "<source>\x00" marks a started input.
// Values are a versioned binary form of about 15-60 bytes.
func (c *Checkpoint) State() map[string][]byte {
	if c == nil {
		return nil
	}
	out := make(map[string][]byte, len(c.state))
	for k, v := range c.state {
		out[k] = slices.Clone(v)
	}
	return out
}

// Commit makes the checkpoint's positions the tailer's own; call it once the
// lines and State are durable. Commit the checkpoint of the latest Poll: an
// older one is stale when a Commit, or a Poll that found a new file, came
// after it, and is ignored, so the next Poll rereads from the committed
// positions (lines may repeat; none is lost). Files that no position refers
// to any more, such as a rotated file read to its end, are closed.
func (t *Tailer) Commit(c *Checkpoint) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c == nil || c.t != t || t.closed || c.base != t.gen {
		return
	}
	t.cur = c.next
	t.gen++
	clear(t.unsaved) // c was made after the last pin, so its State carried them all
	t.pruneHandles()
}

// diff lists the keys whose stored value must change to go from old to new,
// writing the unsaved keys even when they did not change.
func diff(inputs []*input, old, new *snapshot, unsaved map[string]bool) map[string][]byte {
	out := map[string][]byte{}
	for k := range old.stale {
		out[k] = nil
	}
	for i, in := range inputs {
		o, n := &old.inputs[i], &new.inputs[i]
		if mk := stateKey(in.Source, ""); n.started && (!o.started || unsaved[mk]) {
			out[mk] = markerPosition()
		}
		for path := range o.streams {
			if _, ok := n.streams[path]; !ok {
				out[stateKey(in.Source, path)] = nil
			}
		}
		for path, p := range n.streams {
			if op, ok := o.streams[path]; !ok || op != p || unsaved[stateKey(in.Source, path)] {
				out[stateKey(in.Source, path)] = encodePosition(savedPos{path: path, pos: p})
			}
		}
	}
	return out
}

// Restore installs positions stored by a previous run (every key and value
// that Checkpoint.State produced and the caller kept). It must be called
// before the first Poll. Each file then resumes where it stopped; files
// rotated or truncated meanwhile are found and handled by Poll.
//
// A value that cannot be decoded is reported in the returned error, naming
// its key; the other keys are still restored, and that key's input falls back
// to its default start. Keys of sources no longer configured, or of paths
// their input no longer matches, are dropped silently. Every key not restored
// is deleted by the next Checkpoint's State.
func (t *Tailer) Restore(state map[string][]byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if t.polled {
		return errors.New("logtail: restore: called after Poll")
	}
	s := newSnapshot(len(t.inputs))
	bad := make([]bool, len(t.inputs))
	owners := make([]map[fileID]string, len(t.inputs))
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(state)) {
		fail := func(err error) {
			errs = append(errs, fmt.Errorf("logtail: restore key %q: %w", k, err))
			s.stale[k] = struct{}{}
		}
		source, path, ok := splitKey(k)
		if !ok {
			fail(fmt.Errorf("%w: not a logtail key", ErrBadState))
			continue
		}
		i := slices.IndexFunc(t.inputs, func(in *input) bool { return in.Source == source })
		if i < 0 {
			s.stale[k] = struct{}{} // input removed from the configuration
			continue
		}
		p, err := decodePosition(state[k])
		if err != nil {
			bad[i] = true
			fail(err)
			continue
		}
		if path == "" { // the input's marker
			if p != (savedPos{}) {
				bad[i] = true
				fail(fmt.Errorf("%w: marker carries a position", ErrBadState))
				continue
			}
			s.inputs[i].started = true
			continue
		}
		if p.path != path {
			bad[i] = true
			fail(fmt.Errorf("%w: value is for path %q", ErrBadState, p.path))
			continue
		}
		if !t.inputs[i].matches(path) {
			s.stale[k] = struct{}{}
			continue
		}
		if owners[i] == nil {
			owners[i] = map[fileID]string{}
		}
		if other, dup := owners[i][p.id]; dup {
			bad[i] = true
			fail(fmt.Errorf("%w: same file as %q", ErrBadState, other))
			continue
		}
		owners[i][p.id] = path
		s.inputs[i].streams[path] = p.pos
	}
	for i := range bad {
		if bad[i] {
			// Files of this input without a usable position start as on a
			// first start; the marker is written again by the next Commit.
			s.inputs[i].started = false
		}
	}
	t.cur = s
	return errors.Join(errs...)
}
