package dashboards

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
)

var (
	// slugRE is the shape of dashboard and panel ids: safe in URLs and file names.
	slugRE = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)
	// colorRE accepts #rrggbb beside the named colours.
	colorRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
)

// namedColors are the threshold colours the console maps to its palette (so
// they read well in both dark and light themes).
func namedColors() []string { return []string{"green", "blue", "yellow", "orange", "red"} }

// Bounds on scalar fields.
const (
	maxDecimals   = 10
	maxTags       = 32
	maxTagBytes   = 64
	minRefresh    = time.Second
	refreshOff    = "off"
	maxTitleBytes = 256
)

// validator collects every problem of one definition, so a user fixes a file
// in one round instead of one error per run.
type validator struct {
	file   string
	idx    *keyIndex
	errs   []error
	parser parser.Parser
	// vars maps each declared variable name to its sample value, used to
	// substitute references before PromQL is parsed.
	vars map[string]string
	// declaredLater holds the names of all variables while they are checked
	// in order, to tell "declared too late" from "not declared".
	declaredLater map[string]bool
}

// errorf records a problem at key, locating its line in the document.
func (v *validator) errorf(key, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.file, Key: key, Line: v.idx.line(key), Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) dashboard(d *Dashboard) {
	v.parser = parser.NewParser(parser.Options{})
	switch {
	case d.ID == "":
		v.errorf("id", "required")
	case !slugRE.MatchString(d.ID):
		v.errorf("id", "%q is not a valid id: use 1-64 characters from a-z, 0-9 and -", d.ID)
	}
	v.title("title", d.Title)
	v.tags(d.Tags)
	if d.Refresh != "" && d.Refresh != refreshOff {
		if dur, err := model.ParseDuration(d.Refresh); err != nil {
			v.errorf("refresh", "%q is not a duration such as \"30s\" or \"1m\" (or \"off\")", d.Refresh)
		} else if time.Duration(dur) < minRefresh {
			v.errorf("refresh", "%q is shorter than %s", d.Refresh, minRefresh)
		}
	}
	if d.TimeRange != "" {
		if dur, err := model.ParseDuration(d.TimeRange); err != nil || dur <= 0 {
			v.errorf("time_range", "%q is not a positive duration such as \"1h\" or \"7d\"", d.TimeRange)
		}
	}
	v.variables(d.Variables)
	if len(d.Panels) == 0 {
		v.errorf("panels", "a dashboard needs at least one panel")
	}
	seen := map[string]int{}
	for i := range d.Panels {
		key := fmt.Sprintf("panels[%d]", i)
		p := &d.Panels[i]
		if first, dup := seen[p.ID]; dup && p.ID != "" {
			v.errorf(key+".id", "duplicate panel id %q (first used by panels[%d])", p.ID, first)
		} else {
			seen[p.ID] = i
		}
		v.panel(key, p)
	}
	v.overlaps(d.Panels)
}

// overlaps reports panels placed on top of an earlier one: the console draws
// the layout as written, so an overlap would hide a panel.
func (v *validator) overlaps(panels []Panel) {
	for i := range panels {
		a := panels[i].Layout
		if a.W <= 0 || a.H <= 0 {
			continue
		}
		for j := 0; j < i; j++ {
			b := panels[j].Layout
			if b.W <= 0 || b.H <= 0 {
				continue
			}
			if a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H {
				v.errorf(fmt.Sprintf("panels[%d].layout", i), "overlaps panel %q (panels[%d]) at x %d-%d, y %d-%d",
					panels[j].ID, j, b.X, b.X+b.W-1, b.Y, b.Y+b.H-1)
				break
			}
		}
	}
}

func (v *validator) title(key, title string) {
	switch {
	case strings.TrimSpace(title) == "":
		v.errorf(key, "required")
	case len(title) > maxTitleBytes:
		v.errorf(key, "longer than %d bytes", maxTitleBytes)
	}
}

func (v *validator) tags(tags []string) {
	if len(tags) > maxTags {
		v.errorf("tags", "%d tags, at most %d allowed", len(tags), maxTags)
	}
	seen := map[string]bool{}
	for i, t := range tags {
		key := fmt.Sprintf("tags[%d]", i)
		switch {
		case strings.TrimSpace(t) == "":
			v.errorf(key, "empty tag")
		case len(t) > maxTagBytes:
			v.errorf(key, "tag longer than %d bytes", maxTagBytes)
		case seen[t]:
			v.errorf(key, "duplicate tag %q", t)
		}
		seen[t] = true
	}
}

func (v *validator) variables(vars []Variable) {
	v.vars = builtinVariables()
	v.declaredLater = map[string]bool{}
	for i := range vars {
		v.declaredLater[vars[i].Name] = true
	}
	defer func() { v.declaredLater = nil }()
	for i := range vars {
		key := fmt.Sprintf("variables[%d]", i)
		vr := &vars[i]
		switch {
		case vr.Name == "":
			v.errorf(key+".name", "required")
		case !identRE.MatchString(vr.Name):
			v.errorf(key+".name", "%q is not a valid variable name: use letters, digits and _, not starting with a digit", vr.Name)
		case strings.HasPrefix(vr.Name, "__"):
			v.errorf(key+".name", "%q: names starting with __ are reserved for built-in variables", vr.Name)
		default:
			if _, dup := v.vars[vr.Name]; dup {
				v.errorf(key+".name", "duplicate variable %q", vr.Name)
			}
		}
		switch vr.Kind {
		case VariableAgent, VariableCustom, VariableLabelValues, VariableText:
		case "":
			v.errorf(key+".kind", "required: one of %s", quoteList(variableKinds()))
		default:
			v.errorf(key+".kind", "%q is not one of %s", vr.Kind, quoteList(variableKinds()))
		}
		if vr.Kind == VariableLabelValues {
			// Only variables declared earlier may appear: the console resolves
			// them in order, and this rules out cycles.
			v.labelValuesQuery(key+".query", vr.Query)
		} else if vr.Query != "" {
			v.errorf(key+".query", "only variables of kind \"label_values\" take a query")
		}
		if vr.Kind == VariableCustom {
			v.customOptions(key, vr)
		} else if len(vr.Options) > 0 {
			v.errorf(key+".options", "only variables of kind \"custom\" take options")
		}
		if vr.Name != "" {
			if _, dup := v.vars[vr.Name]; !dup {
				v.vars[vr.Name] = sampleValue(vr)
			}
		}
	}
}

func (v *validator) customOptions(key string, vr *Variable) {
	if len(vr.Options) == 0 {
		v.errorf(key+".options", "variables of kind \"custom\" need at least one option")
		return
	}
	seen := map[string]bool{}
	for j, o := range vr.Options {
		if seen[o] {
			v.errorf(fmt.Sprintf("%s.options[%d]", key, j), "duplicate option %q", o)
		}
		seen[o] = true
	}
	if vr.Default != "" && !seen[vr.Default] {
		v.errorf(key+".default", "%q is not one of the options", vr.Default)
	}
}

func (v *validator) panel(key string, p *Panel) {
	switch {
	case p.ID == "":
		v.errorf(key+".id", "required")
	case !slugRE.MatchString(p.ID):
		v.errorf(key+".id", "%q is not a valid panel id: use 1-64 characters from a-z, 0-9 and -", p.ID)
	}
	v.title(key+".title", p.Title)
	v.plainRefs(key+".title", p.Title)
	switch p.Type {
	case PanelTimeseries, PanelStat, PanelTable:
		v.metricPanel(key, p)
	case PanelLogs:
		v.logsPanel(key, p)
	case "":
		v.errorf(key+".type", "required: one of %s", quoteList(panelTypes()))
	default:
		v.errorf(key+".type", "%q is not one of %s", p.Type, quoteList(panelTypes()))
	}
	v.layout(key+".layout", p.Layout)
}

func (v *validator) metricPanel(key string, p *Panel) {
	if p.Logs != nil {
		v.errorf(key+".logs", "only panels of type \"logs\" take a logs query")
	}
	if len(p.Queries) == 0 {
		v.errorf(key+".queries", "panel %q of type %q needs at least one query", p.ID, p.Type)
	}
	for j, q := range p.Queries {
		qk := fmt.Sprintf("%s.queries[%d]", key, j)
		v.promQL(qk+".expr", p.ID, q.Expr)
		v.legend(qk+".legend", q.Legend)
	}
	if p.Unit != "" && !contains(units(), p.Unit) {
		v.errorf(key+".unit", "%q is not one of %s", p.Unit, quoteList(units()))
	}
	if p.Decimals != nil && (*p.Decimals < 0 || *p.Decimals > maxDecimals) {
		v.errorf(key+".decimals", "%d is outside 0-%d", *p.Decimals, maxDecimals)
	}
	prev := math.Inf(-1)
	for j, t := range p.Thresholds {
		tk := fmt.Sprintf("%s.thresholds[%d]", key, j)
		if math.IsNaN(t.Value) {
			v.errorf(tk+".value", "not a number")
		} else if t.Value <= prev {
			v.errorf(tk+".value", "thresholds must be in ascending order of value")
		}
		prev = t.Value
		if !colorRE.MatchString(t.Color) && !contains(namedColors(), t.Color) {
			v.errorf(tk+".color", "%q is not one of %s or a #rrggbb colour", t.Color, quoteList(namedColors()))
		}
	}
}

func (v *validator) logsPanel(key string, p *Panel) {
	if len(p.Queries) > 0 {
		v.errorf(key+".queries", "panel %q of type \"logs\" takes a logs query ([panels.logs]), not PromQL queries", p.ID)
	}
	for _, f := range []struct {
		name string
		set  bool
	}{{"unit", p.Unit != ""}, {"decimals", p.Decimals != nil}, {"thresholds", len(p.Thresholds) > 0}} {
		if f.set {
			v.errorf(key+"."+f.name, "does not apply to panels of type \"logs\"")
		}
	}
	if p.Logs == nil {
		v.errorf(key+".logs", "panel %q of type \"logs\" needs a logs query ([panels.logs])", p.ID)
		return
	}
	lk := key + ".logs"
	l := p.Logs
	v.plainRefs(lk+".agent", l.Agent)
	v.plainRefs(lk+".source", l.Source)
	v.plainRefs(lk+".q", l.Q)
	if l.Re != "" {
		v.regexp(lk+".re", l.Re)
	}
	if l.Limit < 0 || l.Limit > MaxLogsLimit {
		v.errorf(lk+".limit", "%d is outside 1-%d (0 means %d)", l.Limit, MaxLogsLimit, DefaultLogsLimit)
	}
}

func (v *validator) layout(key string, l Layout) {
	if l == (Layout{}) {
		v.errorf(key, "required: { x, y, w, h } on the %d-column grid, with w and h at least 1", GridColumns)
		return
	}
	if l.X < 0 || l.X >= GridColumns {
		v.errorf(key+".x", "%d is outside the grid's columns 0-%d", l.X, GridColumns-1)
	}
	if l.Y < 0 {
		v.errorf(key+".y", "%d is negative", l.Y)
	}
	switch {
	case l.W <= 0:
		v.errorf(key+".w", "width %d must be at least 1", l.W)
	case l.X >= 0 && l.X < GridColumns && l.X+l.W > GridColumns:
		v.errorf(key+".w", "x %d + w %d = %d runs past the %d-column grid", l.X, l.W, l.X+l.W, GridColumns)
	}
	if l.H <= 0 {
		v.errorf(key+".h", "height %d must be at least 1", l.H)
	}
}

func (v *validator) legend(key, legend string) {
	rest := legend
	for {
		open := strings.Index(rest, "{{")
		if open < 0 {
			return
		}
		end := strings.Index(rest[open:], "}}")
		if end < 0 {
			v.errorf(key, "unclosed {{ in legend %q", legend)
			return
		}
		name := strings.TrimSpace(rest[open+2 : open+end])
		if !labelNameRE.MatchString(name) {
			v.errorf(key, "{{%s}} in legend %q is not a label name", name, legend)
		}
		rest = rest[open+end+2:]
	}
}

// variableKinds, panelTypes and units list each enum's values in the order
// error messages show them.
func variableKinds() []VariableKind {
	return []VariableKind{VariableAgent, VariableLabelValues, VariableCustom, VariableText}
}

func panelTypes() []PanelType {
	return []PanelType{PanelTimeseries, PanelStat, PanelTable, PanelLogs}
}

func units() []Unit {
	return []Unit{UnitNone, UnitCount, UnitBytes, UnitBytesPerSecond, UnitSeconds, UnitPercent, UnitRatio, UnitOps}
}

func contains[T comparable](list []T, x T) bool {
	for _, y := range list {
		if x == y {
			return true
		}
	}
	return false
}

func quoteList[T ~string](list []T) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
