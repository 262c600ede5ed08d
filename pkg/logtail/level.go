package logtail

import (
	"bytes"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// level is a severity detected in a line.
type level uint8

const (
	levelNone level = iota
	levelTrace
	levelDebug
	levelInfo
	levelWarn
	levelError
	levelFatal
	numLevels
)

// String is the value of the "level" attribute.
func (l level) String() string {
	switch l {
	case levelTrace:
		return "trace"
	case levelDebug:
		return "debug"
	case levelInfo:
		return "info"
	case levelWarn:
		return "warn"
	case levelError:
		return "error"
	case levelFatal:
		return "fatal"
	default:
		return ""
	}
}

// levelScanBytes bounds detection: severities sit near the start of a line,
// and detection must stay cheap for long lines.
const levelScanBytes = 256

// detectLevel finds a line's severity without allocating. It recognises an
// upper-case word (ERROR, WARN, INFO, DEBUG, ...), a bracketed word in any
// case ([error], <warn>), and key=value / key: value / "key":"value" forms
// for the keys level, lvl, severity and loglevel. The first match wins.
func detectLevel(b []byte) level {
	if len(b) > levelScanBytes {
		b = b[:levelScanBytes]
	}
	for i := 0; i < len(b); {
		if !isWordByte(b[i]) {
			i++
			continue
		}
		// Words are whole runs of letters, digits and '_', so that
		// INFORMATION or ERR_TIMEOUT are not levels.
		j := i
		for j < len(b) && isWordByte(b[j]) {
			j++
		}
		word := b[i:j]
		if isLevelKey(word) {
			if lv := levelAfterKey(b[j:]); lv != levelNone {
				return lv
			}
		}
		if isUpper(word) {
			if lv := levelWord(word); lv != levelNone {
				return lv
			}
		} else if i > 0 && j < len(b) && ((b[i-1] == '[' && b[j] == ']') || (b[i-1] == '<' && b[j] == '>')) {
			if lv := levelWord(word); lv != levelNone {
				return lv
			}
		}
		i = j
	}
	return levelNone
}

// levelAfterKey reads the value in `="warn"`, `: warn`, `":"warn"` and the like.
func levelAfterKey(b []byte) level {
	k := 0
	if k < len(b) && b[k] == '"' {
		k++
	}
	if k >= len(b) || (b[k] != '=' && b[k] != ':') {
		return levelNone
	}
	k++
	for k < len(b) && (b[k] == ' ' || b[k] == '"' || b[k] == '\'') {
		k++
	}
	j := k
	for j < len(b) && isWordByte(b[j]) {
		j++
	}
	return levelWord(b[k:j])
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isWordByte(c byte) bool { return isLetter(c) || (c >= '0' && c <= '9') || c == '_' }

func isUpper(w []byte) bool {
	for _, c := range w {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

func isLevelKey(w []byte) bool {
	switch len(w) {
	case 3:
		return bytes.EqualFold(w, []byte("lvl"))
	case 5:
		return bytes.EqualFold(w, []byte("level"))
	case 8:
		return bytes.EqualFold(w, []byte("severity")) || bytes.EqualFold(w, []byte("loglevel"))
	case 9:
		return bytes.EqualFold(w, []byte("log_level"))
	}
	return false
}

// levelWord maps a severity word, in any case, to a level. Words with
// anything but letters are no severity.
func levelWord(w []byte) level {
	if len(w) < 3 || len(w) > 9 {
		return levelNone
	}
	var low [9]byte
	for i, c := range w {
		if !isLetter(c) {
			return levelNone
		}
		low[i] = c | 0x20
	}
	switch string(low[:len(w)]) { // no allocation: the conversion is only compared
	case "trace":
		return levelTrace
	case "debug", "dbg":
		return levelDebug
	case "info", "inf", "notice":
		return levelInfo
	case "warn", "warning", "wrn":
		return levelWarn
	case "error", "err":
		return levelError
	case "fatal", "panic", "crit", "critical", "emerg", "alert":
		return levelFatal
	}
	return levelNone
}

// attrSet holds the attribute lists of one file's records, one per level,
// built once and shared by every record of that level.
type attrSet struct {
	byLevel [numLevels]batch.Labels
}

// newAttrSet builds a file's attribute lists: path, host (when set), the
// input's static attributes (which win over a same-named automatic one),
// and the detected level when it still fits in MaxRecordAttrs. New allows at
// most MaxStaticAttrs static attributes, so the lists never exceed
// MaxRecordAttrs.
func newAttrSet(in *input, path, host string) *attrSet {
	has := func(name string) bool {
		return slices.ContainsFunc(in.static, func(l batch.Label) bool { return l.Name == name })
	}
	base := batch.Labels{{Name: AttrPath, Value: attrValue(path, true)}}
	if host != "" && !has(AttrHost) {
		base = append(base, batch.Label{Name: AttrHost, Value: attrValue(host, false)})
	}
	base = append(base, in.static...)
	s := &attrSet{}
	for lv := range numLevels {
		ls := slices.Clone(base)
		if lv != levelNone && len(ls) < MaxRecordAttrs && !has(AttrLevel) {
			ls = append(ls, batch.Label{Name: AttrLevel, Value: lv.String()})
		}
		if len(ls) > MaxRecordAttrs {
			ls = ls[:MaxRecordAttrs]
		}
		ls.Sort()
		s.byLevel[lv] = ls[:len(ls):len(ls)]
	}
	return s
}

// attrValue makes v acceptable to every valid collector: valid UTF-8 and at
// most MaxAttrValueBytes. A long path keeps its end, which tells files
// apart, behind a "…"; anything else keeps its start.
func attrValue(v string, keepEnd bool) string {
	v = strings.ToValidUTF8(v, "\uFFFD")
	if len(v) <= MaxAttrValueBytes {
		return v
	}
	if !keepEnd {
		return v[:cutUTF8([]byte(v), MaxAttrValueBytes)]
	}
	const ellipsis = "\u2026"
	start := len(v) - (MaxAttrValueBytes - len(ellipsis))
	for start < len(v) && !utf8.RuneStart(v[start]) {
		start++
	}
	return ellipsis + v[start:]
}
