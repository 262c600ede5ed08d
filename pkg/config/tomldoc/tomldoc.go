// Package tomldoc decodes a TOML document strictly (unknown keys are errors)
// and remembers the line of every key, so that both decode errors and the
// validation errors found later can name the file, the key and its line.
//
// It is shared by pkg/config (server.toml, agent.toml) and pkg/tokens (the
// ingest token table), which is why it is a package of its own rather than
// part of pkg/config: tokens must not import config, config imports tokens.
package tomldoc

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Error is one problem in a TOML file, located by key and line.
type Error struct {
	File string // the path as the caller gave it
	Key  string // dotted key, array-table elements indexed: "logs[1].paths"; "" for syntax errors
	Line int    // 1-based; 0 when the key is absent from the file (e.g. a missing required key)
	Msg  string
	Err  error // the underlying cause, when there is one (e.g. an fs error from a file check)
}

// Error returns "FILE:LINE: KEY: MSG", leaving out LINE when it is 0 and KEY
// when it is empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Doc is a decoded document's key index.
type Doc struct {
	name  string
	lines map[string]int // indexed dotted key -> line of its first occurrence
	// all holds every occurrence, repeats included, so that an error the
	// decoder reports at a repeated key can still be given its full name.
	all []occurrence
}

type occurrence struct {
	key  string
	line int
}

// Name returns the file name the document was decoded under.
func (d *Doc) Name() string {
	if d == nil {
		return ""
	}
	return d.name
}

// Line returns the line of key (as Error.Key spells it), or 0 when absent.
// A nil Doc (a config built in code rather than read from a file) knows no
// lines.
func (d *Doc) Line(key string) int {
	if d == nil {
		return 0
	}
	return d.lines[key]
}

// Has reports whether key, or any key below it, is written in the document.
func (d *Doc) Has(key string) bool {
	if d == nil {
		return false
	}
	if _, ok := d.lines[key]; ok {
		return true
	}
	for k := range d.lines {
		if strings.HasPrefix(k, key) && len(k) > len(key) && (k[len(key)] == '.' || k[len(key)] == '[') {
			return true
		}
	}
	return false
}

// Errorf returns an *Error for key, located at the key's line when present.
func (d *Doc) Errorf(key, format string, args ...any) *Error {
	return &Error{File: d.name, Key: key, Line: d.Line(key), Msg: fmt.Sprintf(format, args...)}
}

// Decode decodes data into v, refusing keys v has no field for, and returns
// the key index. Errors are *Error (several unknown keys: an errors.Join of
// them, in document order).
func Decode(name string, data []byte, v any) (*Doc, error) {
	doc := &Doc{name: name, lines: map[string]int{}}
	// Index first: if the syntax is broken, the decoder reports it below with
	// a better message, so an index failure alone is not returned.
	idxErr := doc.index(data)

	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return nil, doc.mapError(err)
	}
	if idxErr != nil {
		return nil, &Error{File: name, Msg: "cannot index keys: " + idxErr.Error()}
	}
	return doc, nil
}

func (d *Doc) mapError(err error) error {
	var sm *toml.StrictMissingError
	if errors.As(err, &sm) {
		errs := make([]error, 0, len(sm.Errors))
		for i := range sm.Errors {
			e := &sm.Errors[i]
			line, _ := e.Position()
			errs = append(errs, &Error{File: d.name, Key: d.keyAt(e.Key(), line), Line: line, Msg: "unknown key"})
		}
		return errors.Join(errs...)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		if m := typeMismatch.FindStringSubmatch(msg); m != nil {
			msg = fmt.Sprintf("wrong type: want %s, found a TOML %s", goTypeName(m[2]), m[1])
		} else if len(de.Key()) == 0 {
			msg = fmt.Sprintf("syntax error at column %d: %s", col, msg)
		}
		return &Error{File: d.name, Key: d.keyAt(de.Key(), line), Line: line, Msg: msg}
	}
	return &Error{File: d.name, Msg: strings.TrimPrefix(err.Error(), "toml: "), Err: err}
}

// typeMismatch matches go-toml's "cannot decode TOML string into struct field
// config.Ingest.Listen of type int", whose Go spelling means little to the
// person editing the file.
var typeMismatch = regexp.MustCompile(`^cannot decode TOML (.+?) into (?:.* of type )?(\S+)$`)

func goTypeName(t string) string {
	t = strings.TrimLeft(t, "*")
	switch {
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "string":
		return "a string"
	case t == "bool":
		return "a boolean (true or false)"
	case strings.HasPrefix(t, "[]"):
		return "an array"
	default:
		return "a table"
	}
}

// keyAt turns the decoder's key (which has no array-table indexes) into the
// indexed spelling by finding the indexed key at the same line.
func (d *Doc) keyAt(parts toml.Key, line int) string {
	if len(parts) == 0 {
		return ""
	}
	quoted := make([]string, len(parts))
	for i, p := range parts {
		quoted[i] = keyPart(p)
	}
	plain := strings.Join(quoted, ".")
	// The decoder's key is absolute for most errors but relative to the
	// current table for some (a repeated key): accept a suffix match too.
	var suffix string
	for _, o := range d.all {
		if o.line != line {
			continue
		}
		s := stripIndexes(o.key)
		if s == plain {
			return o.key
		}
		if suffix == "" && strings.HasSuffix(s, "."+plain) {
			suffix = o.key
		}
	}
	if suffix != "" {
		return suffix
	}
	return plain
}

func stripIndexes(k string) string {
	if !strings.Contains(k, "[") {
		return k
	}
	var b strings.Builder
	skip := false
	for i := 0; i < len(k); i++ {
		switch {
		case k[i] == '[':
			skip = true
		case k[i] == ']':
			skip = false
		case !skip:
			b.WriteByte(k[i])
		}
	}
	return b.String()
}

// index records the line of every table header, array-table element and
// key (inline tables and arrays of inline tables included).
func (d *Doc) index(data []byte) error {
	var p unstable.Parser
	p.Reset(data)
	counts := map[string]int{}  // array-table path -> elements seen so far
	current := map[string]int{} // array-table path -> index of its last element
	prefix := ""
	lineOf := func(n *unstable.Node) int {
		if n == nil {
			return 0
		}
		return p.Shape(n.Raw).Start.Line
	}

	// resolve spells a header's key parts, indexing every array table
	// crossed on the way, as TOML resolves them to the last element.
	resolve := func(parts []string, last bool) string {
		cur := ""
		for i, part := range parts {
			cur = join(cur, part)
			if i == len(parts)-1 && !last {
				break
			}
			if n, ok := current[cur]; ok {
				cur += "[" + strconv.Itoa(n) + "]"
			}
		}
		return cur
	}
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table:
			parts, first := keyParts(e.Key())
			prefix = resolve(parts, true)
			d.set(prefix, lineOf(first))
		case unstable.ArrayTable:
			parts, first := keyParts(e.Key())
			path := resolve(parts, false)
			n := counts[path]
			counts[path] = n + 1
			current[path] = n
			prefix = path + "[" + strconv.Itoa(n) + "]"
			d.set(prefix, lineOf(first))
		case unstable.KeyValue:
			d.keyValue(prefix, e, lineOf)
		}
	}
	return p.Error()
}

func (d *Doc) keyValue(prefix string, kv *unstable.Node, lineOf func(*unstable.Node) int) {
	parts, first := keyParts(kv.Key())
	key := prefix
	for _, part := range parts {
		key = join(key, part)
	}
	line := lineOf(first)
	d.set(key, line)
	d.value(key, kv.Value(), line, lineOf)
}

// value indexes the keys inside an inline table and the elements of an
// array (as key[i]); line is where the enclosing key is, used for nodes the
// parser gives no position (arrays).
func (d *Doc) value(key string, v *unstable.Node, line int, lineOf func(*unstable.Node) int) {
	switch v.Kind {
	case unstable.InlineTable:
		for it := v.Children(); it.Next(); {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				d.keyValue(key, c, lineOf)
			}
		}
	case unstable.Array:
		i := 0
		for it := v.Children(); it.Next(); {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			ek := key + "[" + strconv.Itoa(i) + "]"
			el := line
			if c.Raw.Length > 0 {
				el = lineOf(c)
			}
			d.set(ek, el)
			d.value(ek, c, el, lineOf)
			i++
		}
	}
}

func (d *Doc) set(key string, line int) {
	d.all = append(d.all, occurrence{key, line})
	if _, ok := d.lines[key]; !ok {
		d.lines[key] = line
	}
}

func keyParts(it unstable.Iterator) ([]string, *unstable.Node) {
	var parts []string
	var first *unstable.Node
	for it.Next() {
		n := it.Node()
		if first == nil {
			first = n
		}
		parts = append(parts, keyPart(string(n.Data)))
	}
	return parts, first
}

// keyPart spells one key part as TOML would: bare when it can be, quoted
// otherwise, so that a key holding a newline or a dot cannot break an error
// message into misleading pieces.
func keyPart(s string) string {
	if s == "" {
		return `""`
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return strconv.Quote(s)
		}
	}
	return s
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// Keys returns every indexed key in document order; for tests and tools.
func (d *Doc) Keys() []string {
	keys := make([]string, 0, len(d.lines))
	for k := range d.lines {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if d.lines[keys[i]] != d.lines[keys[j]] {
			return d.lines[keys[i]] < d.lines[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}
