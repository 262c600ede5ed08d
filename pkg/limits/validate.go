package limits

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// Names of the structural rules Validate enforces besides the numeric
// limits. Like the limit key names they are the Limit of a Violation and are
// stable: ingest reports them to agents and tests match on them.
const (
	RuleAgentID        = "agent_id"         // the batch names no agent
	RuleMetricName     = "metric_name"      // not [a-zA-Z_:][a-zA-Z0-9_:]*, or starts with "__"
	RuleLabelName      = "label_name"       // not [a-zA-Z_][a-zA-Z0-9_]*, or starts with "__"
	RuleDuplicateLabel = "duplicate_label"  // one label name twice in a series, record or alert
	RuleLabelValueUTF8 = "label_value_utf8" // a label value that is not UTF-8
	RuleSamples        = "samples"          // a series without samples
)

// Violation is the first reason Validate found to refuse a batch.
type Violation struct {
	Limit string // a Key… limit name or a Rule… name
	Value int    // the offending count or size (0 for structural rules)
	Max   int    // the limit it broke (0 for structural rules)
	Where string // which part of the batch: "batch", `series 3 "cpu_seconds_total"`, …
}

// Error describes the violation, naming the limit first so that a person
// reading an agent's log knows which collector key to look at.
func (v *Violation) Error() string {
	var what string
	switch v.Limit {
	case KeyMaxSeriesPerBatch:
		what = fmt.Sprintf("%s has %d series, limit %d", v.Where, v.Value, v.Max)
	case KeyMaxLabelsPerSeries:
		what = fmt.Sprintf("%s has %d labels, limit %d", v.Where, v.Value, v.Max)
	case KeyMaxLabelKeyBytes:
		what = fmt.Sprintf("%s has a %d-byte name, limit %d", v.Where, v.Value, v.Max)
	case KeyMaxLabelValueBytes:
		what = fmt.Sprintf("%s has a %d-byte value, limit %d", v.Where, v.Value, v.Max)
	case KeyMaxLogMessageBytes:
		what = fmt.Sprintf("%s has a %d-byte message, limit %d", v.Where, v.Value, v.Max)
	case KeyMaxLogsPerBatch:
		what = fmt.Sprintf("%s has %d log records, limit %d", v.Where, v.Value, v.Max)
	case KeyMaxAlertsPerBatch:
		what = fmt.Sprintf("%s has %d alerts, limit %d", v.Where, v.Value, v.Max)
	case RuleAgentID:
		what = v.Where + " has an empty agent_id"
	case RuleMetricName:
		what = v.Where + ": metric name must match [a-zA-Z_:][a-zA-Z0-9_:]* and not start with \"__\""
	case RuleLabelName:
		what = v.Where + ": label name must match [a-zA-Z_][a-zA-Z0-9_]* and not start with \"__\""
	case RuleDuplicateLabel:
		what = v.Where + " appears more than once"
	case RuleLabelValueUTF8:
		what = v.Where + ": value is not valid UTF-8"
	case RuleSamples:
		what = v.Where + " has no samples"
	default:
		what = fmt.Sprintf("%s: value %d, limit %d", v.Where, v.Value, v.Max)
	}
	return v.Limit + ": " + what
}

// Validate checks b against the limits and the structural rules and returns
// nil or the first *Violation found. Batch-wide counts are checked before
// any per-series work, so an oversized batch costs little to refuse.
func (l Limits) Validate(b *batch.Batch) error {
	if b.AgentID == "" {
		return &Violation{Limit: RuleAgentID, Where: "batch"}
	}
	if n := b.SeriesCount(); n > l.MaxSeriesPerBatch {
		return &Violation{Limit: KeyMaxSeriesPerBatch, Value: n, Max: l.MaxSeriesPerBatch, Where: "batch"}
	}
	if n := len(b.Logs); n > l.MaxLogsPerBatch {
		return &Violation{Limit: KeyMaxLogsPerBatch, Value: n, Max: l.MaxLogsPerBatch, Where: "batch"}
	}
	if n := len(b.Alerts); n > l.MaxAlertsPerBatch {
		return &Violation{Limit: KeyMaxAlertsPerBatch, Value: n, Max: l.MaxAlertsPerBatch, Where: "batch"}
	}
	if b.Heartbeat != nil {
		for i, v := range b.Heartbeat.Values {
			if !validMetricName(v.Name) {
				return &Violation{Limit: RuleMetricName, Where: part{"heartbeat value", i, v.Name}.String()}
			}
		}
	}
	for i := range b.Series {
		s := &b.Series[i]
		at := part{"series", i, s.Name}
		if !validMetricName(s.Name) {
			return &Violation{Limit: RuleMetricName, Where: at.String()}
		}
		if len(s.Samples) == 0 {
			return &Violation{Limit: RuleSamples, Where: at.String()}
		}
		if v := l.checkLabels(at, s.Labels); v != nil {
			return v
		}
	}
	for i := range b.Logs {
		r := &b.Logs[i]
		at := part{"log record", i, r.Source}
		if n := len(r.Message); n > l.MaxLogMessageBytes {
			return &Violation{Limit: KeyMaxLogMessageBytes, Value: n, Max: l.MaxLogMessageBytes, Where: at.String()}
		}
		if v := l.checkLabels(at, r.Attrs); v != nil {
			return v
		}
	}
	for i := range b.Alerts {
		a := &b.Alerts[i]
		at := part{"alert", i, a.Name}
		if n := len(a.Message); n > l.MaxLogMessageBytes {
			return &Violation{Limit: KeyMaxLogMessageBytes, Value: n, Max: l.MaxLogMessageBytes, Where: at.String()}
		}
		if v := l.checkLabels(at, a.Labels); v != nil {
			return v
		}
	}
	return nil
}

// part names one series, heartbeat value, log record or alert of a batch.
// The text is only built when a violation is reported: Validate runs on
// every accepted batch and must not format thousands of strings per call.
type part struct {
	kind  string
	index int
	name  string
}

// String renders the part for Violation.Where, e.g. `series 3 "cpu"` or
// `log record 0 (source "syslog")`.
func (p part) String() string {
	if p.kind == "log record" {
		return fmt.Sprintf("log record %d (source %s)", p.index, quote(p.name))
	}
	return fmt.Sprintf("%s %d %s", p.kind, p.index, quote(p.name))
}

// checkLabels applies the per-label rules to the labels (or attributes) of
// the part of the batch at.
func (l Limits) checkLabels(at part, ls batch.Labels) *Violation {
	if n := len(ls); n > l.MaxLabelsPerSeries {
		return &Violation{Limit: KeyMaxLabelsPerSeries, Value: n, Max: l.MaxLabelsPerSeries, Where: at.String()}
	}
	for _, lb := range ls {
		switch {
		case len(lb.Name) > l.MaxLabelKeyBytes:
			return &Violation{Limit: KeyMaxLabelKeyBytes, Value: len(lb.Name), Max: l.MaxLabelKeyBytes, Where: labelWhere(at, lb)}
		case !validLabelName(lb.Name):
			return &Violation{Limit: RuleLabelName, Where: labelWhere(at, lb)}
		case len(lb.Value) > l.MaxLabelValueBytes:
			return &Violation{Limit: KeyMaxLabelValueBytes, Value: len(lb.Value), Max: l.MaxLabelValueBytes, Where: labelWhere(at, lb)}
		case !utf8.ValidString(lb.Value):
			return &Violation{Limit: RuleLabelValueUTF8, Where: labelWhere(at, lb)}
		}
	}
	if i := duplicateAt(ls); i >= 0 {
		return &Violation{Limit: RuleDuplicateLabel, Where: labelWhere(at, ls[i])}
	}
	return nil
}

func labelWhere(at part, lb batch.Label) string { return at.String() + " label " + quote(lb.Name) }

// duplicateAt returns the index of the first label whose name appeared
// earlier, or -1. Label counts are already bounded by MaxLabelsPerSeries;
// short lists are compared pairwise to avoid a map allocation per series.
func duplicateAt(ls batch.Labels) int {
	if len(ls) <= 16 {
		for i := 1; i < len(ls); i++ {
			for j := 0; j < i; j++ {
				if ls[i].Name == ls[j].Name {
					return i
				}
			}
		}
		return -1
	}
	seen := make(map[string]struct{}, len(ls))
	for i, lb := range ls {
		if _, ok := seen[lb.Name]; ok {
			return i
		}
		seen[lb.Name] = struct{}{}
	}
	return -1
}

// validMetricName reports whether s is a Prometheus metric name that is not
// in the "__" namespace Prometheus reserves for itself.
func validMetricName(s string) bool {
	if s == "" || strings.HasPrefix(s, "__") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isLetter(c) || c == '_' || c == ':' || (i > 0 && isDigit(c)) {
			continue
		}
		return false
	}
	return true
}

// validLabelName reports whether s is a Prometheus label name outside the
// reserved "__" namespace (which would let a batch forge __name__).
func validLabelName(s string) bool {
	if s == "" || strings.HasPrefix(s, "__") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isLetter(c) || c == '_' || (i > 0 && isDigit(c)) {
			continue
		}
		return false
	}
	return true
}

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// quote renders a name from an untrusted batch for an error message: quoted
// (so control characters are escaped) and cut short, so that a megabyte-long
// label name does not become a megabyte-long log line.
func quote(s string) string {
	const max = 64
	if len(s) <= max {
		return fmt.Sprintf("%q", s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q...", s[:cut])
}
