// Package limits holds the collector's per-batch limits, the floors below
// which a collector config is refused, the agent's own limits and the rule
// that keeps the two aligned, and Validate, which checks a decoded batch
// against the limits and against the structural rules every stored series
// must satisfy.
//
// It is pure: no I/O and nothing of ours but the batch value types, so that
// the ingest path, the config loader and tests can all share one definition
// of what a collector accepts.
package limits

import (
	"errors"
	"fmt"
)

// Config key names of the limits. They double as the Limit of a Violation
// and the Key of an Error, so that every message names the key an operator
// would change.
const (
	KeyMaxSeriesPerBatch  = "max_series_per_batch"
	KeyMaxLabelsPerSeries = "max_labels_per_series"
	KeyMaxLabelKeyBytes   = "max_label_key_bytes"
	KeyMaxLabelValueBytes = "max_label_value_bytes"
	KeyMaxLogMessageBytes = "max_log_message_bytes"
	KeyMaxLogsPerBatch    = "max_logs_per_batch"
	KeyMaxAlertsPerBatch  = "max_alerts_per_batch"
)

// Floors under the collector limits. The agent's built-in heartbeat carries
// up to 107 scalar values, its per-CPU/interface/process series carry up to
// three labels and its log records up to four attributes, with label keys up
// to 14 bytes and values that fit in 64: a collector configured below these
// would refuse every batch of a stock agent.
const (
	FloorSeriesPerBatch  = 107
	FloorLabelsPerSeries = 4
	FloorLabelKeyBytes   = 14
	FloorLabelValueBytes = 64
)

// Limits bounds what the collector accepts in one batch. Field names mirror
// the [ingest] keys of server.toml.
type Limits struct {
	MaxSeriesPerBatch  int // heartbeat values plus labelled series
	MaxLabelsPerSeries int // per series, log record (attributes) and alert
	MaxLabelKeyBytes   int
	MaxLabelValueBytes int
	MaxLogMessageBytes int
	MaxLogsPerBatch    int
	MaxAlertsPerBatch  int
}

// Default returns the limits a collector uses when server.toml sets none.
func Default() Limits {
	return Limits{
		MaxSeriesPerBatch:  2048,
		MaxLabelsPerSeries: 32,
		MaxLabelKeyBytes:   128,
		MaxLabelValueBytes: 512,
		MaxLogMessageBytes: 16384,
		MaxLogsPerBatch:    1000,
		MaxAlertsPerBatch:  16,
	}
}

// Error reports one limit setting that cannot be used: below its floor, not
// positive, or (for CheckAlignment) above what the collector accepts.
type Error struct {
	Key   string // config key name, e.g. "max_series_per_batch"
	Value int    // the configured value
	Bound int    // the floor or ceiling it broke
	Msg   string // human explanation without the key, e.g. "100 is below the floor of 107"
}

// Error returns "KEY: MSG".
func (e *Error) Error() string { return e.Key + ": " + e.Msg }

// CheckFloors reports every limit below its floor or otherwise unusable, as
// an errors.Join of *Error in field order. max_alerts_per_batch may be 0 (the
// collector then refuses alert records); every other limit must be positive.
func (l Limits) CheckFloors() error {
	var errs []error
	floor := func(key string, v, min int) {
		switch {
		case v < min && min > 1:
			errs = append(errs, &Error{Key: key, Value: v, Bound: min,
				Msg: fmt.Sprintf("%d is below the floor of %d", v, min)})
		case v < min:
			errs = append(errs, &Error{Key: key, Value: v, Bound: min,
				Msg: fmt.Sprintf("%d must be at least %d", v, min)})
		}
	}
	floor(KeyMaxSeriesPerBatch, l.MaxSeriesPerBatch, FloorSeriesPerBatch)
	floor(KeyMaxLabelsPerSeries, l.MaxLabelsPerSeries, FloorLabelsPerSeries)
	floor(KeyMaxLabelKeyBytes, l.MaxLabelKeyBytes, FloorLabelKeyBytes)
	floor(KeyMaxLabelValueBytes, l.MaxLabelValueBytes, FloorLabelValueBytes)
	floor(KeyMaxLogMessageBytes, l.MaxLogMessageBytes, 1)
	floor(KeyMaxLogsPerBatch, l.MaxLogsPerBatch, 1)
	floor(KeyMaxAlertsPerBatch, l.MaxAlertsPerBatch, 0)
	return errors.Join(errs...)
}

// AgentLimits bounds what one agent puts in a batch. They must not exceed
// the collector's Limits, or the collector refuses the agent's batches.
type AgentLimits struct {
	MaxSeriesPerBatch  int
	MaxLogMessageBytes int
	MaxLogsPerBatch    int
	// MaxAlertsPerBatch is 1 by default: the agent reports a queue-pressure
	// drop as one alert record. 0 turns alert records off, for collectors
	// that accept none.
	MaxAlertsPerBatch int
}

// DefaultAgent returns the limits an agent uses when agent.toml sets none.
func DefaultAgent() AgentLimits {
	return AgentLimits{
		MaxSeriesPerBatch:  2048,
		MaxLogMessageBytes: 16384,
		MaxLogsPerBatch:    1000,
		MaxAlertsPerBatch:  1,
	}
}

// CheckAlignment reports, as an errors.Join of *Error, every agent limit
// above the collector's matching limit. Key is the agent's key name (the
// collector's key is the same name under [ingest]).
func CheckAlignment(a AgentLimits, c Limits) error {
	var errs []error
	check := func(key string, agent, collector int) {
		if agent > collector {
			errs = append(errs, &Error{Key: key, Value: agent, Bound: collector,
				Msg: fmt.Sprintf("agent value %d is above the collector's ingest.%s of %d", agent, key, collector)})
		}
	}
	check(KeyMaxSeriesPerBatch, a.MaxSeriesPerBatch, c.MaxSeriesPerBatch)
	check(KeyMaxLogMessageBytes, a.MaxLogMessageBytes, c.MaxLogMessageBytes)
	check(KeyMaxLogsPerBatch, a.MaxLogsPerBatch, c.MaxLogsPerBatch)
	check(KeyMaxAlertsPerBatch, a.MaxAlertsPerBatch, c.MaxAlertsPerBatch)
	return errors.Join(errs...)
}
