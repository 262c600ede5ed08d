package dashboards

import (
	"fmt"
	"reflect"
	"strings"
)

// unknownKeys reports every key in the index that the Dashboard type has no
// field for, with its line.
//
// Strict decoding finds the same keys, but go-toml renders each of its errors
// against the whole document, so a file with thousands of stray keys would
// take minutes; this pass is linear. Strict decoding still runs when this
// finds nothing, and stays the authority.
func unknownKeys(file string, idx *keyIndex) []error {
	root := reflect.TypeOf(Dashboard{})
	var errs []error
	reported := map[string]bool{}
	for _, e := range idx.entries {
		if under(e.path, reported) {
			continue
		}
		ok, hint := knownPath(root, e.path)
		if ok {
			continue
		}
		key := e.path.String()
		reported[key] = true
		msg := "unknown key"
		if hint != "" {
			msg += fmt.Sprintf(" (keys are case-sensitive: did you mean %q?)", hint)
		}
		errs = append(errs, &Error{File: file, Key: key, Line: e.line, Msg: msg})
	}
	return errs
}

// knownPath walks path through t's toml-tagged fields. Only a name missing
// from a struct is unknown; a path running into a scalar, or an index into a
// non-array, is a type error the decoder reports in its own words. For an
// unknown name that matches a field but for case, hint is the right spelling.
func knownPath(t reflect.Type, path keyPath) (ok bool, hint string) {
	for _, part := range path {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if part.isIndex {
			if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
				return true, ""
			}
			t = t.Elem()
			continue
		}
		if t.Kind() != reflect.Struct {
			return true, ""
		}
		f, found, hint := tomlField(t, part.name)
		if !found {
			return false, hint
		}
		t = f.Type
	}
	return true, ""
}

// tomlField finds the exported field of struct type t whose toml tag is
// exactly name. go-toml would also accept other casings; we do not, so that
// a file means the same to every TOML reader, but we name the intended key.
func tomlField(t reflect.Type, name string) (f reflect.StructField, found bool, hint string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if !f.IsExported() || tag == "-" || tag == "" {
			continue
		}
		if tag == name {
			return f, true, ""
		}
		if strings.EqualFold(tag, name) {
			hint = tag
		}
	}
	return reflect.StructField{}, false, hint
}

// under reports whether path lies inside an already-reported path, so an
// unknown table is reported once, not once per key inside it.
func under(path keyPath, reported map[string]bool) bool {
	if len(reported) == 0 {
		return false
	}
	for n := 1; n < len(path); n++ {
		if reported[path[:n].String()] {
			return true
		}
	}
	return false
}
