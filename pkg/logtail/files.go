package logtail

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
)

// handle is one open descriptor, shared by whatever path reads its file.
type handle struct {
	f    *os.File
	used uint64 // tick of the last Poll that used it
}

// errNoSlot means every descriptor the tailer may hold is needed for files
// that could not be found again if closed; the file waits for a later Poll.
var errNoSlot = errors.New("logtail: all MaxOpenFiles descriptors busy with rotated files")

// obs is what a stat of a path found this Poll.
type obs struct {
	exists bool
	id     fileID
	size   int64
}

// observe stats path. Anything but a regular file counts as absent: a glob
// may match directories or FIFOs, and opening a FIFO would block.
func observe(path string) (obs, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return obs{}, nil
	}
	if err != nil {
		return obs{}, err
	}
	if !fi.Mode().IsRegular() {
		return obs{}, nil
	}
	id, err := idOf(fi)
	if err != nil {
		return obs{}, err
	}
	return obs{exists: true, id: id, size: fi.Size()}, nil
}

// expand lists the files an input names now, sorted and without duplicates.
func expand(in *input) []string {
	var out []string
	for _, p := range in.patterns {
		if !hasMeta(p) {
			out = append(out, p)
			continue
		}
		// The pattern was checked by New, and Glob ignores I/O errors; a
		// path it misses because of one is stat'ed again below if it has
		// a position.
		m, _ := filepath.Glob(p)
		out = append(out, m...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// openID opens path and returns it only if it is still file id, closing it
// otherwise: between a stat and an open the name may have been rotated.
// A missing file is (nil, nil).
func openID(path string, id fileID) (*os.File, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		var got fileID
		if got, err = idOf(fi); err == nil && got == id {
			return f, nil
		}
	}
	_ = f.Close() // read-only: nothing to lose
	return nil, err
}

// findInDir looks in dir for file id: where a rotated file usually went
// (app.log -> app.log.1).
func findInDir(dir string, id fileID) (*os.File, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if got, err := idOf(fi); err != nil || got != id {
			continue
		}
		return openID(filepath.Join(dir, e.Name()), id)
	}
	return nil, nil
}

// pruneHandles closes descriptors of files no committed position refers to.
func (t *Tailer) pruneHandles() {
	ref := t.cur.referenced()
	for id, h := range t.handles {
		if !ref[id] {
			_ = h.f.Close()
			delete(t.handles, id)
		}
	}
}

// open returns a descriptor for file id, which path named. When search is
// set and path no longer leads to id (it was rotated), the file is looked
// for under any path seen this Poll and then in path's directory. A file
// that cannot be found is (nil, nil).
func (r *pollRun) open(id fileID, path string, search bool) (*os.File, error) {
	t := r.t
	if h, ok := t.handles[id]; ok {
		h.used = t.tick
		return h.f, nil
	}
	if len(t.handles) >= t.opt.MaxOpenFiles && !r.evict() {
		return nil, errNoSlot
	}
	f, err := openID(path, id)
	if f == nil && err == nil && search {
		if p, ok := r.seen[id]; ok && p != path {
			f, err = openID(p, id)
		}
		if f == nil && err == nil {
			f, err = findInDir(filepath.Dir(path), id)
		}
	}
	if f == nil {
		return nil, err
	}
	t.handles[id] = &handle{f: f, used: t.tick}
	return f, nil
}

// evict closes the least recently used descriptor of a file that a path
// still leads to, so that it can be reopened later without loss. Rotated or
// deleted files being drained are never evicted.
func (r *pollRun) evict() bool {
	var (
		victim fileID
		best   *handle
	)
	for id, h := range r.t.handles {
		if _, ok := r.seen[id]; !ok {
			continue
		}
		if best == nil || h.used < best.used {
			victim, best = id, h
		}
	}
	if best == nil {
		return false
	}
	_ = best.f.Close()
	delete(r.t.handles, victim)
	return true
}
