package dashboards

import (
	"fmt"
	"strings"
)

// Error is one problem found in a dashboard definition. It prints as
// "FILE:LINE: KEY: MSG"; LINE is left out when unknown and KEY when the
// problem concerns the whole file.
type Error struct {
	File string
	// Key is the path of the offending key, e.g. panels[2].queries[0].expr,
	// with zero-based array indices.
	Key string
	// Line is 1-based; 0 when unknown.
	Line int
	Msg  string
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}
