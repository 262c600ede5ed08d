package dashboards

import (
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// pathPart is one step of a key path: a key name or an array index.
type pathPart struct {
	name    string
	index   int
	isIndex bool
}

// keyPath is a key's full path from the document root.
type keyPath []pathPart

// String renders the path in the notation errors use:
// panels[2].queries[0].expr. Names that are not bare TOML keys are quoted.
func (p keyPath) String() string {
	var b strings.Builder
	for i, part := range p {
		switch {
		case part.isIndex:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(part.index))
			b.WriteByte(']')
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			if isBareKey(part.name) {
				b.WriteString(part.name)
			} else {
				b.WriteString(strconv.Quote(part.name))
			}
		}
	}
	return b.String()
}

// with returns p extended by one part, never sharing p's backing array.
func (p keyPath) with(part pathPart) keyPath {
	out := make(keyPath, len(p), len(p)+1)
	copy(out, p)
	return append(out, part)
}

func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isIdentChar(c) || c == '-') {
			return false
		}
	}
	return true
}

// keyEntry is one key (or array element) written in the document.
type keyEntry struct {
	path keyPath
	line int
}

// keyIndex maps key paths to the 1-based line where each key is written.
// Decoding into structs loses positions, so problems found afterwards look
// their line up here; it also lets Parse find unknown keys in one pass.
type keyIndex struct {
	entries []keyEntry
	lines   map[string]int // rendered path -> line of its first appearance
	// arrays counts the [[header]] occurrences seen per resolved path, so a
	// later [[panels.queries]] attaches to the last [[panels]] element.
	arrays map[string]int
	// lineStarts holds the byte offset of every line start, for offset->line.
	lineStarts []int
	// byLine inverts lines; see pathAt.
	byLine map[int][]string
}

// indexKeys walks the TOML document's syntax tree and records where each
// key is. It is best effort: on a syntax error it keeps what it saw so far.
func indexKeys(data []byte) (idx *keyIndex) {
	idx = &keyIndex{lines: map[string]int{}, arrays: map[string]int{}, lineStarts: []int{0}}
	for i, c := range data {
		if c == '\n' {
			idx.lineStarts = append(idx.lineStarts, i+1)
		}
	}
	// The parser lives in go-toml's "unstable" package; a surprise there must
	// cost us line numbers, not the process.
	defer func() {
		if recover() != nil {
			return
		}
	}()
	var p unstable.Parser
	p.Reset(data)
	var prefix keyPath
	for p.NextExpression() {
		n := p.Expression()
		switch n.Kind {
		case unstable.Table:
			it := n.Key()
			parts, line := idx.keyParts(&it)
			prefix = idx.resolve(parts)
			idx.record(prefix, line)
		case unstable.ArrayTable:
			it := n.Key()
			parts, line := idx.keyParts(&it)
			if len(parts) == 0 {
				continue
			}
			base := idx.resolve(parts[:len(parts)-1]).with(pathPart{name: parts[len(parts)-1]})
			key := base.String()
			count := idx.arrays[key]
			idx.arrays[key] = count + 1
			idx.record(base, line)
			prefix = base.with(pathPart{index: count, isIndex: true})
			idx.record(prefix, line)
		case unstable.KeyValue:
			idx.keyValue(prefix, n)
		}
	}
	return idx
}

// keyParts returns the parts of a (possibly dotted) key and the line of its
// first part.
func (idx *keyIndex) keyParts(it *unstable.Iterator) ([]string, int) {
	var parts []string
	line := 0
	for it.Next() {
		k := it.Node()
		if line == 0 {
			line = idx.lineOf(k)
		}
		parts = append(parts, string(k.Data))
	}
	return parts, line
}

// resolve turns header key parts into a path, entering the last element of
// every array of tables on the way, as TOML does.
func (idx *keyIndex) resolve(parts []string) keyPath {
	var path keyPath
	for _, part := range parts {
		path = path.with(pathPart{name: part})
		if n, ok := idx.arrays[path.String()]; ok && n > 0 {
			path = path.with(pathPart{index: n - 1, isIndex: true})
		}
	}
	return path
}

// keyValue records a key = value expression under prefix, and everything
// inside its value.
func (idx *keyIndex) keyValue(prefix keyPath, n *unstable.Node) {
	it := n.Key()
	parts, line := idx.keyParts(&it)
	path := prefix
	for _, part := range parts {
		path = path.with(pathPart{name: part})
		idx.record(path, line)
	}
	idx.value(path, n.Value(), line)
}

// value records the elements of arrays and the keys of inline tables.
func (idx *keyIndex) value(path keyPath, v *unstable.Node, line int) {
	switch v.Kind {
	case unstable.InlineTable:
		it := v.Children()
		for it.Next() {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				idx.keyValue(path, c)
			}
		}
	case unstable.Array:
		it := v.Children()
		i := 0
		for it.Next() {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			elemLine := line
			// Arrays carry no range of their own; scalars and inline tables do.
			if c.Kind != unstable.Array && c.Raw.Length > 0 {
				elemLine = idx.lineOf(c)
			}
			elem := path.with(pathPart{index: i, isIndex: true})
			idx.record(elem, elemLine)
			idx.value(elem, c, elemLine)
			i++
		}
	}
}

// record notes path at line. The first line seen wins: a table's header
// comes before the keys that extend it.
func (idx *keyIndex) record(path keyPath, line int) {
	if line <= 0 {
		return
	}
	key := path.String()
	if _, ok := idx.lines[key]; ok {
		return
	}
	idx.lines[key] = line
	idx.entries = append(idx.entries, keyEntry{path: path, line: line})
}

// lineOf returns the 1-based line of a node's first byte.
func (idx *keyIndex) lineOf(n *unstable.Node) int {
	off := int(n.Raw.Offset)
	return sort.Search(len(idx.lineStarts), func(i int) bool { return idx.lineStarts[i] > off })
}

// line returns the line of path, or of its nearest recorded ancestor: a
// missing required key is reported where its table starts. 0 when unknown.
func (idx *keyIndex) line(path string) int {
	for path != "" {
		if l, ok := idx.lines[path]; ok {
			return l
		}
		path = parentKey(path)
	}
	return 0
}

// pathAt finds the recorded path written on line whose last part is name;
// it maps go-toml's index-free decode error keys back to our notation.
func (idx *keyIndex) pathAt(line int, name string) (string, bool) {
	if idx.byLine == nil {
		// Built once: a file with thousands of errors must not cost
		// thousands of scans of the whole index.
		idx.byLine = map[int][]string{}
		for _, e := range idx.entries {
			idx.byLine[e.line] = append(idx.byLine[e.line], e.path.String())
		}
	}
	best := ""
	for _, e := range idx.byLine[line] {
		if lastKey(e) != name && lastKey(e) != strconv.Quote(name) {
			continue
		}
		// Deterministic choice when several match: the longest, then lowest.
		if best == "" || len(e) > len(best) || (len(e) == len(best) && e < best) {
			best = e
		}
	}
	return best, best != ""
}

// parentKey drops the last element (".name" or "[i]") of a rendered path
// built from bare keys, which is what validation errors use.
func parentKey(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// lastKey returns the last named part of a rendered path, ignoring array
// indices.
func lastKey(path string) string {
	for strings.HasSuffix(path, "]") {
		i := strings.LastIndexByte(path, '[')
		if i < 0 {
			break
		}
		path = path[:i]
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}
