// Package batch holds the value types that travel from an agent to a
// collector: one Batch per upload, carrying a heartbeat, metric series, log
// records and alert records. It has no behaviour beyond small helpers so that
// the codec, the limits validator, the agent and the collector can all share
// it without importing each other.
package batch

import "sort"

// Label is one name/value pair attached to a series, a log record or an alert.
type Label struct {
	Name  string
	Value string
}

// Labels is a list of labels. Series labels are kept sorted by name so that a
// series has one canonical identity.
type Labels []Label

// Sort orders labels by name, then value, in place.
func (ls Labels) Sort() {
	sort.Slice(ls, func(i, j int) bool {
		if ls[i].Name != ls[j].Name {
			return ls[i].Name < ls[j].Name
		}
		return ls[i].Value < ls[j].Value
	})
}

// Get returns the value of the label called name, or "" when absent.
func (ls Labels) Get(name string) string {
	for _, l := range ls {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}

// Sample is one observation of a series.
type Sample struct {
	// TimestampMs is milliseconds since the Unix epoch, as Prometheus uses.
	TimestampMs int64
	Value       float64
}

// Kind says how a series' values behave, so that the query side can treat
// counters correctly. It is advisory: PromQL works on the raw values.
type Kind uint8

const (
	KindUnknown Kind = iota
	KindGauge
	KindCounter
)

// String returns the Prometheus type name of the kind.
func (k Kind) String() string {
	switch k {
	case KindGauge:
		return "gauge"
	case KindCounter:
		return "counter"
	default:
		return "unknown"
	}
}

// Series is one metric series with one or more samples.
type Series struct {
	Name    string
	Kind    Kind
	Labels  Labels
	Samples []Sample
}

// Scalar is one unlabelled heartbeat value.
type Scalar struct {
	Name  string
	Kind  Kind
	Value float64
}

// Heartbeat is the agent's "I am alive" record: who it is and up to a fixed
// number of unlabelled values, all observed at one instant.
type Heartbeat struct {
	TimestampMs  int64
	Hostname     string
	AgentVersion string
	OS           string
	Values       []Scalar
}

// LogRecord is one line read from a log input.
type LogRecord struct {
	// TimeNs is nanoseconds since the Unix epoch at which the agent read the
	// line (or the time parsed from it).
	TimeNs  int64
	Source  string
	Message string
	// Truncated is set when the original line was longer than the agent's
	// max_log_message_bytes and Message holds only its first part.
	Truncated bool
	Attrs     Labels
}

// Severity of an alert record.
type Severity uint8

const (
	SeverityInfo Severity = iota
	SeverityWarning
	SeverityCritical
)

// String returns the lower-case name of the severity.
func (s Severity) String() string {
	switch s {
	case SeverityWarning:
		return "warning"
	case SeverityCritical:
		return "critical"
	default:
		return "info"
	}
}

// Alert is a record of something the agent wants an operator to see, such as
// queued batches dropped under queue pressure.
type Alert struct {
	TimeNs   int64
	Name     string
	Severity Severity
	Message  string
	Labels   Labels
}

// Batch is the unit an agent uploads and a collector acknowledges. The pair
// (AgentID, Seq) identifies it: a collector stores each pair once.
type Batch struct {
	AgentID string
	Seq     uint64
	// CreatedNs is nanoseconds since the Unix epoch when the agent built it.
	CreatedNs int64
	Heartbeat *Heartbeat
	Series    []Series
	Logs      []LogRecord
	Alerts    []Alert
}

// SeriesCount is the number of series the batch carries for limit purposes:
// every heartbeat value counts as one unlabelled series.
func (b *Batch) SeriesCount() int {
	n := len(b.Series)
	if b.Heartbeat != nil {
		n += len(b.Heartbeat.Values)
	}
	return n
}

// SampleCount is the number of samples in the batch, heartbeat values included.
func (b *Batch) SampleCount() int {
	n := 0
	if b.Heartbeat != nil {
		n = len(b.Heartbeat.Values)
	}
	for i := range b.Series {
		n += len(b.Series[i].Samples)
	}
	return n
}
