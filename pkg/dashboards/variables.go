package dashboards

import (
	"regexp"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
)

// identRE is the shape of variable names and of the label names legends and
// label_values() refer to (Prometheus' classic label-name syntax).
var identRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// labelNameRE is identRE under the name its label uses read better with.
var labelNameRE = identRE

// Built-in variables the console fills in for every dashboard. Their names
// start with "__", which user variables may not.
const (
	// VarInterval is the step of the range query being drawn.
	VarInterval = "__interval"
	// VarRateInterval is a window safe for rate()/increase() at the current
	// step: never shorter than four collection intervals, nor than the step
	// plus one collection interval.
	VarRateInterval = "__rate_interval"
	// VarRange is the whole selected time range.
	VarRange = "__range"
)

// builtinVariables returns the built-in variables with the sample value used
// when checking expressions (a duration, since that is where they appear).
func builtinVariables() map[string]string {
	return map[string]string{VarInterval: "1m", VarRateInterval: "5m", VarRange: "1h"}
}

// placeholderValue stands in for a variable with no default or options when
// an expression is checked. It is valid as a label value, a label name and
// inside a regular expression.
const placeholderValue = "lm_placeholder"

// sampleValue is the value substituted for vr when checking expressions: what
// the console would start with if known, else a neutral placeholder.
func sampleValue(vr *Variable) string {
	switch {
	case vr.Default != "":
		return vr.Default
	case vr.Kind == VariableCustom && len(vr.Options) > 0:
		return vr.Options[0]
	default:
		return placeholderValue
	}
}

// varRef is one $name or ${name} reference inside a string.
type varRef struct {
	name       string
	start, end int // byte range of the whole reference in the string
}

// scanRefs finds variable references: ${name} always, and $name unless
// bracedOnly (used for regular expressions, where "$" is an anchor). A "$"
// not followed by an identifier is literal text, so PromQL's "$1" in
// label_replace() is not a reference.
func scanRefs(s string, bracedOnly bool) []varRef {
	var refs []varRef
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			continue
		}
		if s[i+1] == '{' {
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				continue
			}
			name := s[i+2 : i+2+end]
			if identRE.MatchString(name) {
				refs = append(refs, varRef{name: name, start: i, end: i + 3 + end})
				i += 2 + end
			}
			continue
		}
		if bracedOnly || !isIdentStart(s[i+1]) {
			continue
		}
		j := i + 2
		for j < len(s) && isIdentChar(s[j]) {
			j++
		}
		refs = append(refs, varRef{name: s[i+1 : j], start: i, end: j})
		i = j - 1
	}
	return refs
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// substitute replaces each reference with value(name).
func substitute(s string, refs []varRef, value func(string) string) string {
	if len(refs) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, r := range refs {
		b.WriteString(s[last:r.start])
		b.WriteString(value(r.name))
		last = r.end
	}
	b.WriteString(s[last:])
	return b.String()
}

// checkRefs reports references to undeclared variables; it returns false
// when there was one, so callers skip checks that need every value.
func (v *validator) checkRefs(key string, refs []varRef) bool {
	ok := true
	reported := map[string]bool{}
	for _, r := range refs {
		if _, declared := v.vars[r.name]; declared || reported[r.name] {
			continue
		}
		reported[r.name] = true
		ok = false
		if v.declaredLater[r.name] {
			v.errorf(key, "variable $%s is declared after this one; move its [[variables]] entry earlier", r.name)
			continue
		}
		v.errorf(key, "undefined variable $%s (declare it under [[variables]])", r.name)
	}
	return ok
}

// promQL checks one panel expression: non-empty, every variable declared,
// and valid PromQL of an instant-vector or scalar type once variables are
// replaced by sample values.
func (v *validator) promQL(key, panelID, expr string) {
	if strings.TrimSpace(expr) == "" {
		v.errorf(key, "panel %q: required: a PromQL expression", panelID)
		return
	}
	refs := scanRefs(expr, false)
	if !v.checkRefs(key, refs) {
		return
	}
	e, err := v.parser.ParseExpr(substitute(expr, refs, v.sample))
	if err != nil {
		note := ""
		if len(refs) > 0 {
			note = " (variables replaced by sample values)"
		}
		v.errorf(key, "panel %q: invalid PromQL%s: %v", panelID, note, oneLine(err.Error()))
		return
	}
	switch e.Type() {
	case parser.ValueTypeVector, parser.ValueTypeScalar:
	case parser.ValueTypeMatrix:
		v.errorf(key, "panel %q: expression is a range vector; panels need an instant vector or a scalar (wrap the range selector in a function such as rate())", panelID)
	default:
		v.errorf(key, "panel %q: expression has type %s; panels need an instant vector or a scalar", panelID, e.Type())
	}
}

// plainRefs checks the variable references of a logs query string field.
func (v *validator) plainRefs(key, s string) {
	v.checkRefs(key, scanRefs(s, false))
}

// regexp checks a logs query's RE2 expression with ${name} references
// replaced by their quoted sample values.
func (v *validator) regexp(key, re string) {
	refs := scanRefs(re, true)
	if !v.checkRefs(key, refs) {
		return
	}
	quoted := substitute(re, refs, func(n string) string { return regexp.QuoteMeta(v.sample(n)) })
	if _, err := regexp.Compile(quoted); err != nil {
		v.errorf(key, "invalid RE2 regular expression: %v", oneLine(err.Error()))
	}
}

// labelValuesQuery checks label_values(label) or
// label_values(selector, label).
func (v *validator) labelValuesQuery(key, q string) {
	const fn = "label_values("
	s := strings.TrimSpace(q)
	if s == "" {
		v.errorf(key, "required for kind \"label_values\", e.g. label_values(host_uptime_seconds, agent)")
		return
	}
	if !strings.HasPrefix(s, fn) || !strings.HasSuffix(s, ")") {
		v.errorf(key, "%q is not of the form label_values(label) or label_values(selector, label)", q)
		return
	}
	inner := s[len(fn) : len(s)-1]
	selector, label := "", strings.TrimSpace(inner)
	// A label name has no comma, so the last comma separates the two
	// arguments even when the selector's matchers contain commas.
	if i := strings.LastIndexByte(inner, ','); i >= 0 {
		selector, label = strings.TrimSpace(inner[:i]), strings.TrimSpace(inner[i+1:])
		if selector == "" {
			v.errorf(key, "empty selector in %q", q)
		}
	}
	if !labelNameRE.MatchString(label) {
		v.errorf(key, "%q in %q is not a label name", label, q)
	}
	if selector == "" {
		return
	}
	refs := scanRefs(selector, false)
	if !v.checkRefs(key, refs) {
		return
	}
	if _, err := v.parser.ParseMetricSelector(substitute(selector, refs, v.sample)); err != nil {
		v.errorf(key, "invalid series selector %q: %v", selector, oneLine(err.Error()))
	}
}

// sample returns the value a declared variable is checked with.
func (v *validator) sample(name string) string { return v.vars[name] }

// oneLine keeps an error message on one line, as "FILE:LINE: KEY: MSG" promises.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
