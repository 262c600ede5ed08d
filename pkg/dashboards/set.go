package dashboards

import (
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

//go:embed builtin/*.toml
var builtinFS embed.FS

// builtinOrder is the order built-ins are listed in: the fleet first, then
// drilling down. Every embedded file must appear here (a test checks).
func builtinOrder() []string {
	return []string{"fleet-overview", "host-detail", "processes", "agent-health", "logs"}
}

// MaxFileBytes bounds a definition file: dashboards are small, and a stray
// huge file in a definitions directory should fail fast, not eat memory.
const MaxFileBytes = 1 << 20

// Builtins parses and returns the dashboards shipped in the binary, in
// listing order. An error means the binary itself is broken.
func Builtins() ([]Dashboard, error) {
	out := make([]Dashboard, 0, len(builtinOrder()))
	var errs []error
	for _, id := range builtinOrder() {
		name := path.Join("builtin", id+".toml")
		data, err := builtinFS.ReadFile(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("dashboards: read built-in %s: %w", name, err))
			continue
		}
		d, err := Parse(name, data)
		if err != nil {
			errs = append(errs, fmt.Errorf("dashboards: built-in: %w", err))
			continue
		}
		if d.ID != id {
			errs = append(errs, fmt.Errorf("dashboards: built-in %s has id %q, want %q", name, d.ID, id))
			continue
		}
		d.Builtin = true
		out = append(out, d)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// Set is the dashboards a collector serves: the built-ins (with any explicit
// overrides in place) followed by the custom ones in load order. It is
// immutable after Load and safe for concurrent use.
type Set struct {
	list []Dashboard
	byID map[string]int
}

// Load reads the custom definitions in files and in every *.toml file
// directly inside each of dirs (sorted by name; sub-directories and names
// starting with "." are skipped), validates them and merges them with the
// built-ins. Every problem found is reported in one joined error: unreadable
// or missing files and directories, invalid definitions, a custom id used by
// two files (naming both), and a custom id equal to a built-in one without
// override = true.
func Load(files []string, dirs []string) (*Set, error) {
	builtins, err := Builtins()
	if err != nil {
		return nil, err
	}
	var errs []error
	paths, listErrs := definitionPaths(files, dirs)
	errs = append(errs, listErrs...)

	var customs []Dashboard
	for _, p := range paths {
		d, err := parseFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		customs = append(customs, d)
	}
	s, mergeErrs := merge(builtins, customs)
	errs = append(errs, mergeErrs...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// definitionPaths lists the files to read: files as given, then each dir's
// *.toml entries, without reading any file twice.
func definitionPaths(files, dirs []string) ([]string, []error) {
	var (
		out  []string
		errs []error
		seen = map[string]bool{}
	)
	add := func(p string) {
		key := filepath.Clean(p)
		if abs, err := filepath.Abs(p); err == nil {
			key = abs
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, p)
		}
	}
	for _, f := range files {
		add(f)
	}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			errs = append(errs, &Error{File: dir, Msg: "read definition directory: " + describeFSError(err)})
			continue
		}
		// os.ReadDir sorts by name, so the load order is stable.
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".toml") {
				continue
			}
			p := filepath.Join(dir, name)
			if info, err := os.Stat(p); err == nil && info.IsDir() {
				continue
			}
			add(p)
		}
	}
	return out, errs
}

// parseFile reads and parses one custom definition.
func parseFile(p string) (Dashboard, error) {
	f, err := os.Open(p)
	if err != nil {
		return Dashboard{}, &Error{File: p, Msg: "read definition: " + describeFSError(err)}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return Dashboard{}, &Error{File: p, Msg: "read definition: " + describeFSError(err)}
	}
	if len(data) > MaxFileBytes {
		return Dashboard{}, &Error{File: p, Msg: fmt.Sprintf("definition larger than %d bytes", MaxFileBytes)}
	}
	return Parse(p, data)
}

// describeFSError says what went wrong without repeating the path, which the
// *Error already carries.
func describeFSError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if errors.Is(err, fs.ErrNotExist) {
		return "does not exist"
	}
	return err.Error()
}

// merge combines built-ins and customs, enforcing the id rules.
func merge(builtins, customs []Dashboard) (*Set, []error) {
	s := &Set{byID: map[string]int{}}
	var errs []error
	for _, b := range builtins {
		s.byID[b.ID] = len(s.list)
		s.list = append(s.list, b)
	}
	firstCustom := map[string]*Dashboard{}
	for i := range customs {
		d := &customs[i]
		idLine := lineOfID(d)
		if prev, dup := firstCustom[d.ID]; dup {
			errs = append(errs, &Error{File: d.Source, Key: "id", Line: idLine,
				Msg: fmt.Sprintf("duplicate dashboard id %q: also defined in %s", d.ID, location(prev))})
			continue
		}
		firstCustom[d.ID] = d
		at, isBuiltin := s.byID[d.ID]
		switch {
		case isBuiltin && !d.Override:
			errs = append(errs, &Error{File: d.Source, Key: "id", Line: idLine,
				Msg: fmt.Sprintf("id %q is a built-in dashboard; set override = true to replace it, or choose another id", d.ID)})
		case isBuiltin:
			s.list[at] = *d
		case d.Override:
			errs = append(errs, &Error{File: d.Source, Key: "override", Line: d.lines.override,
				Msg: fmt.Sprintf("override = true but there is no built-in dashboard %q to replace; remove override", d.ID)})
		default:
			s.byID[d.ID] = len(s.list)
			s.list = append(s.list, *d)
		}
	}
	return s, errs
}

// location renders "FILE:LINE" (or "FILE") for a definition's id key.
func location(d *Dashboard) string {
	if l := lineOfID(d); l > 0 {
		return fmt.Sprintf("%s:%d", d.Source, l)
	}
	return d.Source
}

func lineOfID(d *Dashboard) int { return d.lines.id }

// List returns a summary of every dashboard, built-ins first.
func (s *Set) List() []Summary {
	out := make([]Summary, len(s.list))
	for i := range s.list {
		out[i] = s.list[i].summary()
	}
	return out
}

// Get returns a copy of the dashboard with the given id.
func (s *Set) Get(id string) (Dashboard, bool) {
	i, ok := s.byID[id]
	if !ok {
		return Dashboard{}, false
	}
	return s.list[i].clone(), true
}
