package logtail

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// work is one path of one input during one Poll: the position it resumes
// from and what a stat of the path found now.
type work struct {
	in   int
	path string
	obs  obs
	has  bool // pos is valid: the path follows a file
	pos  pos
	// draining: pos.id is no longer what path names (rotated away or
	// deleted). It is read to its end, then the path follows obs.
	draining bool
	// waiting: the file at path is followed by another path of the input
	// (a glob matching rotated names); it is taken over when released.
	waiting  bool
	prepared bool // truncation checked this Poll
	blocked  bool // cannot be read this Poll (error, no descriptor)
	idle     bool // read to its end this Poll
}

// pin is where a path first found by this Poll starts reading.
type pin struct {
	in   int
	path string
	pos  pos
}

type pollRun struct {
	t          *Tailer
	next       *snapshot
	now        int64
	out        []batch.LogRecord
	maxLines   int
	works      [][]*work
	owners     []map[fileID]*work // per input: which path follows a file
	seen       map[fileID]string  // every file found at a path this Poll
	unresolved []bool             // per input: a new file's start is still unknown
	pins       []pin
	errs       map[string]string
}

// Poll reads at most maxLines complete lines, sharing them fairly between inputs
// (and between the files of an input) in turns that rotate from one Poll to
// the next, and returns them with a Checkpoint of the positions after them.
// Every record has TimeNs = now.
//
// Messages are valid UTF-8 (bad sequences become U+FFFD) of at most
// MaxLineBytes. Records of one file share their Attrs slices, which must be
// treated as read-only. The slice is nil when there is nothing new.
//
// Positions do not move until Commit: Polling again without committing
// returns the same lines. Only where a newly found file starts is fixed at
// once, so that lines written after it was first seen are never skipped.
//
// Problems with single files never fail Poll (see Options.OnError); it fails
// only when ctx is done, maxLines is not positive or the tailer is closed.
func (t *Tailer) Poll(ctx context.Context, maxLines int, now time.Time) ([]batch.LogRecord, *Checkpoint, error) {
	if maxLines <= 0 {
		return nil, nil, fmt.Errorf("logtail: poll: maxLines is %d, want > 0", maxLines)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("logtail: poll: %w", err)
	}
	t.polled = true
	t.tick++
	t.pruneHandles() // descriptors opened by a Poll that was never committed
	if t.buf == nil {
		t.buf = make([]byte, t.opt.MaxLineBytes+1+t.opt.ReadChunkBytes)
	}
	n := len(t.inputs)
	r := &pollRun{
		t:          t,
		next:       t.cur.clone(),
		now:        now.UnixNano(),
		maxLines:   maxLines,
		works:      make([][]*work, n),
		owners:     make([]map[fileID]*work, n),
		seen:       map[fileID]string{},
		unresolved: make([]bool, n),
		errs:       map[string]string{},
	}
	r.next.stale = map[string]struct{}{}
	for i := range t.inputs {
		r.resolve(i)
	}
	if err := r.readAll(ctx, maxLines); err != nil {
		return nil, nil, fmt.Errorf("logtail: poll: %w", err)
	}
	for i := range t.inputs {
		r.settle(i)
	}
	if n > 0 {
		r.next.rr = (t.cur.rr + 1) % n
	}
	t.reported = r.errs
	t.pin(r)
	cp := &Checkpoint{t: t, base: t.gen, next: r.next, state: diff(t.inputs, t.cur, r.next, t.unsaved)}
	return r.out, cp, nil
}

// pin records the start of files and inputs this Poll found for the first
// time, without waiting for Commit. Starting points are not progress: Poll
// without Commit still rereads the same lines. But a file that is renamed,
// or an input whose FromStart end moves, before the first Commit must not
// lose the lines written since it was first seen.
func (t *Tailer) pin(r *pollRun) {
	var cur *snapshot
	clone := func() {
		if cur == nil {
			cur = t.cur.clone()
		}
	}
	for i, in := range t.inputs {
		if !t.cur.inputs[i].started && r.next.inputs[i].started {
			clone()
			cur.inputs[i].started = true
			t.unsaved[stateKey(in.Source, "")] = true
		}
	}
	for _, p := range r.pins {
		st := &t.cur.inputs[p.in]
		if _, ok := st.streams[p.path]; ok {
			continue // the committed position stays until Commit
		}
		if ownedElsewhere(st.streams, p.pos.id) {
			continue // still another path's file until Commit
		}
		clone()
		cur.inputs[p.in].streams[p.path] = p.pos
		t.unsaved[stateKey(t.inputs[p.in].Source, p.path)] = true
	}
	if cur != nil {
		t.cur = cur
		t.gen++ // checkpoints made before are stale now
	}
}

func (r *pollRun) report(in int, path string, err error) {
	r.t.report(r.errs, r.t.inputs[in], path, err)
}

// resolve finds an input's files and decides, without reading, what each
// path does this Poll: continue, drain a rotated file, or start.
func (r *pollRun) resolve(i int) {
	st := &r.next.inputs[i]
	paths := expand(r.t.inputs[i])
	for p := range st.streams {
		// Stat'ed even when no longer listed: that is how a deletion or a
		// rotation without a new file shows.
		paths = append(paths, p)
	}
	slices.Sort(paths)
	paths = slices.Compact(paths)

	owners := map[fileID]*work{}
	var ws []*work
	for _, path := range paths {
		w := &work{in: i, path: path}
		o, err := observe(path)
		if err != nil {
			r.report(i, path, err)
			w.blocked = true // keep its position untouched
		} else if o.exists {
			w.obs = o
			r.seen[o.id] = path
		}
		if p, ok := st.streams[path]; ok {
			w.has, w.pos = true, p
			owners[p.id] = w
		} else if !w.obs.exists {
			continue
		}
		ws = append(ws, w)
	}
	r.owners[i], r.works[i] = owners, ws
	for _, w := range ws {
		switch {
		case w.blocked:
		case w.has && w.obs.exists && w.obs.id == w.pos.id:
		case w.has:
			w.draining = true
		default:
			r.start(w, false)
		}
	}
}

// start makes w follow the file its path names now. A successor (the new
// file after a rotation) and any file appearing after the input started is
// read from its beginning; files found on the input's first start follow
// FromStart.
func (r *pollRun) start(w *work, successor bool) {
	id := w.obs.id
	owners := r.owners[w.in]
	if o, ok := owners[id]; ok && o != w {
		w.waiting = true
		return
	}
	st := &r.next.inputs[w.in]
	p := pos{id: id}
	if rp, ok := st.released[id]; ok {
		p = rp
		delete(st.released, id)
	} else if !successor && !st.started && !r.t.inputs[w.in].FromStart {
		var err error
		if p, err = r.endPos(w); err != nil {
			if !errors.Is(err, errRaced) {
				r.report(w.in, w.path, err)
			}
			r.unresolved[w.in] = true
			w.blocked = true
			return
		}
	}
	w.has, w.pos, w.waiting, w.prepared, w.draining = true, p, false, false, false
	owners[id] = w
	if !successor {
		r.pins = append(r.pins, pin{w.in, w.path, p})
	}
}

var errRaced = errors.New("file replaced while opening it")

// endPos is where a file found on a first start without FromStart is read
// from: just after its last complete line, so that a line being written as
// the tailer starts is still read whole. A last line already longer than
// MaxLineBytes is skipped.
func (r *pollRun) endPos(w *work) (pos, error) {
	f, err := r.open(w.obs.id, w.path, false)
	if err != nil {
		return pos{}, err
	}
	if f == nil {
		return pos{}, errRaced
	}
	fi, err := f.Stat()
	if err != nil {
		return pos{}, err
	}
	size := fi.Size()
	n := min(size, int64(r.t.opt.MaxLineBytes+1))
	buf := r.t.buf[:n]
	got, err := f.ReadAt(buf, size-n)
	if err != nil && got < len(buf) {
		return pos{}, fmt.Errorf("read end: %w", err)
	}
	for i := len(buf) - 1; i >= 0; i-- {
		if buf[i] == '\n' {
			return pos{id: w.obs.id, off: size - n + int64(i) + 1}, nil
		}
	}
	if n == size {
		return pos{id: w.obs.id}, nil
	}
	return pos{id: w.obs.id, off: size, skip: true}, nil
}

// readAll shares maxLines between inputs: each round gives every input
// that still has lines an equal share of what is left, starting with the
// input whose turn it is.
func (r *pollRun) readAll(ctx context.Context, maxLines int) error {
	n := len(r.t.inputs)
	active := make([]bool, n)
	for i := range active {
		active[i] = len(r.works[i]) > 0
	}
	for remaining := maxLines; remaining > 0; {
		act := 0
		for _, a := range active {
			if a {
				act++
			}
		}
		if act == 0 {
			break
		}
		q := (remaining + act - 1) / act
		for k := 0; k < n && remaining > 0; k++ {
			i := (r.t.cur.rr + k) % n
			if !active[i] {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			want := min(q, remaining)
			got := r.readInput(i, want)
			remaining -= got
			if got < want {
				active[i] = false
			}
		}
	}
	return nil
}

// readInput shares want lines between an input's files the way readAll
// shares between inputs.
func (r *pollRun) readInput(i, want int) int {
	ws := r.works[i]
	rr := r.t.cur.inputs[i].rr
	total := 0
	for want > 0 {
		act := 0
		for _, w := range ws {
			if !w.idle {
				act++
			}
		}
		if act == 0 {
			break
		}
		q := (want + act - 1) / act
		for k := 0; k < len(ws) && want > 0; k++ {
			w := ws[(rr+k)%len(ws)]
			if w.idle {
				continue
			}
			ask := min(q, want)
			got := r.readStream(w, ask)
			want -= got
			total += got
			if got < ask {
				w.idle = true
			}
		}
	}
	return total
}

// readStream reads up to quota lines for one path, draining a rotated file
// and switching to its successor on the way.
func (r *pollRun) readStream(w *work, quota int) int {
	got := 0
	for got < quota {
		if !w.has || w.waiting || w.blocked {
			w.idle = true
			break
		}
		f, err := r.prepare(w)
		if err != nil {
			if !errors.Is(err, errNoSlot) {
				r.report(w.in, w.path, err)
			}
			w.blocked = true
			continue
		}
		if f == nil {
			if w.draining {
				// Rotated away and not found again: what was left in it
				// is out of reach; follow the path's new file.
				r.finish(w, false)
				continue
			}
			w.blocked = true // replaced since the stat; the next Poll sees it
			continue
		}
		n, eof, err := r.readLines(w, f, quota-got)
		got += n
		if err != nil {
			r.report(w.in, w.path, fmt.Errorf("read: %w", err))
			w.blocked = true
			continue
		}
		if !eof {
			break
		}
		if !w.draining {
			w.idle = true
			break
		}
		r.finish(w, true)
	}
	return got
}

// prepare opens w's file and, once per Poll, checks it for copytruncate: a
// file shorter than the position, or whose byte before the position is not
// the newline that ended the last line read, was truncated (and maybe
// written again) and is read from its beginning.
func (r *pollRun) prepare(w *work) (*os.File, error) {
	f, err := r.open(w.pos.id, w.path, w.draining)
	if err != nil || f == nil || w.prepared || w.draining {
		return f, err
	}
	w.prepared = true
	switch {
	case w.obs.size < w.pos.off:
		w.pos = pos{id: w.pos.id}
	case !w.pos.skip && w.pos.off > 0 && w.obs.size > w.pos.off:
		var b [1]byte
		if _, err := f.ReadAt(b[:], w.pos.off-1); err == nil && b[0] != '\n' {
			w.pos = pos{id: w.pos.id}
		}
	}
	return f, nil
}

// finish ends w's reading of a rotated or deleted file and moves it on to
// the file its path names now, if any.
func (r *pollRun) finish(w *work, found bool) {
	st := &r.next.inputs[w.in]
	delete(r.owners[w.in], w.pos.id)
	if found {
		st.released[w.pos.id] = w.pos
	}
	w.has, w.draining, w.prepared = false, false, false
	if w.obs.exists {
		r.start(w, true)
	}
}

// settle hands files released this Poll to the paths waiting for them and
// writes the input's positions into the next snapshot.
func (r *pollRun) settle(i int) {
	st := &r.next.inputs[i]
	in := r.t.inputs[i]
	for _, w := range r.works[i] {
		if w.waiting {
			if o, ok := r.owners[i][w.obs.id]; !ok || o == w {
				w.waiting = false
				r.start(w, false)
			}
		}
	}
	present := map[fileID]bool{}
	paths := map[string]bool{}
	for _, w := range r.works[i] {
		paths[w.path] = true
		if w.obs.exists {
			present[w.obs.id] = true
		}
		if w.has {
			st.streams[w.path] = w.pos
		} else {
			delete(st.streams, w.path)
		}
	}
	for id := range st.released {
		if !present[id] {
			delete(st.released, id) // deleted or out of the input's reach
		}
	}
	for p := range in.attrs {
		if !paths[p] {
			delete(in.attrs, p)
		}
	}
	if !r.unresolved[i] {
		st.started = true
	}
	st.rr = (st.rr + 1) % max(1, len(r.works[i]))
}

func ownedElsewhere(streams map[string]pos, id fileID) bool {
	for _, q := range streams {
		if q.id == id {
			return true
		}
	}
	return false
}
