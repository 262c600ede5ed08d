package dashboards

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"

	toml "github.com/pelletier/go-toml/v2"
)

// Parse decodes and validates one dashboard definition. name is the file name
// used in errors. Unknown keys are errors. On failure the error joins one
// *Error per problem found, each naming name, the key path and, where known,
// the line.
func Parse(name string, data []byte) (Dashboard, error) {
	idx := indexKeys(data)
	if errs := unknownKeys(name, idx); len(errs) > 0 {
		return Dashboard{}, joinCapped(name, errs)
	}
	var d Dashboard
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return Dashboard{}, joinCapped(name, decodeErrors(name, idx, err))
	}
	d.Source = name
	d.lines.id, d.lines.override = idx.line("id"), idx.line("override")
	v := validator{file: name, idx: idx}
	v.dashboard(&d)
	if len(v.errs) > 0 {
		return Dashboard{}, joinCapped(name, v.errs)
	}
	applyDefaults(&d)
	return d, nil
}

// maxErrorsPerFile bounds how many problems one file reports: past a point
// more lines only bury the first, which is usually the cause.
const maxErrorsPerFile = 50

// joinCapped joins errs, keeping the first maxErrorsPerFile and counting the
// rest.
func joinCapped(name string, errs []error) error {
	if len(errs) > maxErrorsPerFile {
		more := len(errs) - maxErrorsPerFile
		errs = append(errs[:maxErrorsPerFile:maxErrorsPerFile], &Error{File: name, Msg: fmt.Sprintf("%d more problems not shown", more)})
	}
	return errors.Join(errs...)
}

// decodeErrors turns go-toml's errors into *Error values carrying our key
// path notation.
func decodeErrors(name string, idx *keyIndex, err error) []error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		out := make([]error, 0, len(strict.Errors))
		for i := range strict.Errors {
			e := fromDecodeError(name, idx, &strict.Errors[i])
			e.Msg = "unknown key"
			out = append(out, e)
		}
		return out
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		return []error{fromDecodeError(name, idx, de)}
	}
	return []error{&Error{File: name, Msg: "decode: " + err.Error()}}
}

// fromDecodeError keeps go-toml's position and message and rewrites its key
// (which has no array indices) into our path notation when the line allows.
func fromDecodeError(name string, idx *keyIndex, de *toml.DecodeError) *Error {
	line, _ := de.Position()
	e := &Error{File: name, Line: line, Msg: describeDecodeError(de.Error())}
	key := de.Key()
	if len(key) > 0 {
		e.Key = strings.Join(key, ".")
		if p, ok := idx.pathAt(line, key[len(key)-1]); ok {
			e.Key = p
		}
	}
	return e
}

// Defaults applied to fields a definition leaves out.
const (
	defaultRefresh   = "30s"
	defaultTimeRange = "1h"
)

// applyDefaults fills in what a valid definition may omit, so API clients
// never need to know the defaults.
func applyDefaults(d *Dashboard) {
	if d.Refresh == "" {
		d.Refresh = defaultRefresh
	}
	if d.TimeRange == "" {
		d.TimeRange = defaultTimeRange
	}
	for i := range d.Panels {
		p := &d.Panels[i]
		if p.Type == PanelLogs {
			if p.Logs != nil && p.Logs.Limit == 0 {
				p.Logs.Limit = DefaultLogsLimit
			}
			continue
		}
		if p.Unit == "" {
			p.Unit = UnitNone
		}
	}
}

// mismatchRE matches go-toml's type mismatch message, which names Go types.
var mismatchRE = regexp.MustCompile(`^(?:toml: )?cannot decode TOML (.+?) into (?:struct field \S+ of type )?(\S+)$`)

// describeDecodeError rewrites go-toml's messages in the TOML terms a user
// editing the file knows, instead of Go type names.
func describeDecodeError(msg string) string {
	m := mismatchRE.FindStringSubmatch(msg)
	if m == nil {
		return strings.TrimPrefix(msg, "toml: ")
	}
	return "expected " + tomlKind(m[2]) + ", got " + article(m[1])
}

// tomlKind names the TOML value a Go field type of this package accepts.
func tomlKind(goType string) string {
	t := strings.TrimPrefix(goType, "*")
	switch {
	case strings.HasPrefix(t, "[]"):
		return "an array"
	case t == "string", t == "dashboards.PanelType", t == "dashboards.VariableKind", t == "dashboards.Unit":
		return "a string"
	case t == "bool":
		return "a boolean (true or false)"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	default:
		return "a table"
	}
}

func article(noun string) string {
	if noun != "" && strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an " + noun
	}
	return "a " + noun
}
