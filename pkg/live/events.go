package live

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// kindSet is a set of event kinds, one bit each.
type kindSet uint8

const (
	kindBatch kindSet = 1 << iota
	kindLog
	kindAlert
)

// Event names as they appear on the "event:" line and in the kind filter.
const (
	EventBatch   = "batch"
	EventLog     = "log"
	EventAlert   = "alert"
	EventDropped = "dropped" // the stream was too slow and ends here
	EventGap     = "gap"     // a resume could not start where asked
	EventError   = "error"   // replay failed; the stream ends
)

func (k kindSet) name() string {
	switch k {
	case kindLog:
		return EventLog
	case kindAlert:
		return EventAlert
	}
	return EventBatch
}

// eventID orders events: by spool sequence, then by index in the record
// (0 the batch, 1..len(Logs) its log records, then its alerts, as
// logstore.EventID numbers them). Its text form is "<seq>-<index>".
type eventID struct {
	seq uint64
	idx uint32
}

func (a eventID) after(b eventID) bool {
	return a.seq > b.seq || (a.seq == b.seq && a.idx > b.idx)
}

func (a eventID) String() string {
	b := strconv.AppendUint(make([]byte, 0, 24), a.seq, 10)
	b = append(b, '-')
	return string(strconv.AppendUint(b, uint64(a.idx), 10))
}

func parseEventID(s string) (eventID, error) {
	seq, idx, ok := strings.Cut(s, "-")
	if !ok {
		return eventID{}, errors.New("want <spool seq>-<index>")
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return eventID{}, errors.New("want <spool seq>-<index>")
	}
	i, err := strconv.ParseUint(idx, 10, 32)
	if err != nil {
		return eventID{}, errors.New("want <spool seq>-<index>")
	}
	return eventID{seq: n, idx: uint32(i)}, nil
}

// event is one encoded event, shared read-only by every stream it goes to.
type event struct {
	id     eventID
	kind   kindSet
	agent  string
	source string // log events only
	data   []byte // one line of JSON
}

// BatchJSON is the data of a "batch" event.
type BatchJSON struct {
	ID       string `json:"id"`
	Agent    string `json:"agent"`
	Seq      uint64 `json:"seq"` // the agent's batch sequence
	SpoolSeq uint64 `json:"spool_seq"`
	Received string `json:"received"` // RFC 3339, when the collector accepted it
	Series   int    `json:"series"`   // heartbeat values count as series
	Samples  int    `json:"samples"`
	Logs     int    `json:"logs"`
	Alerts   int    `json:"alerts"`
}

// LogJSON is the data of a "log" event: the same object /api/v1/logs
// returns for the record (pkg/logstore's LogRecordJSON; a test holds the
// two equal), so a console can merge the two.
type LogJSON struct {
	ID         string            `json:"id"`
	Time       string            `json:"time"`
	Agent      string            `json:"agent"`
	Source     string            `json:"source"`
	Message    string            `json:"message"`
	Truncated  bool              `json:"truncated"`
	Attributes map[string]string `json:"attributes"`
}

// AlertJSON is the data of an "alert" event, the same object
// /api/v1/alerts returns.
type AlertJSON struct {
	ID       string            `json:"id"`
	Time     string            `json:"time"`
	Agent    string            `json:"agent"`
	Name     string            `json:"name"`
	Severity string            `json:"severity"`
	Message  string            `json:"message"`
	Labels   map[string]string `json:"labels"`
}

// eventsOf encodes the events of one spool record, in id order.
func eventsOf(spoolSeq uint64, receivedNs int64, b *batch.Batch) []*event {
	evs := make([]*event, 0, 1+len(b.Logs)+len(b.Alerts))
	id := eventID{seq: spoolSeq}
	evs = append(evs, &event{id: id, kind: kindBatch, agent: b.AgentID, data: mustJSON(BatchJSON{
		ID: id.String(), Agent: b.AgentID, Seq: b.Seq, SpoolSeq: spoolSeq, Received: formatNs(receivedNs),
		Series: b.SeriesCount(), Samples: b.SampleCount(), Logs: len(b.Logs), Alerts: len(b.Alerts),
	})})
	for i := range b.Logs {
		lr := &b.Logs[i]
		id.idx++
		attrs := make(map[string]string, len(lr.Attrs))
		for _, l := range lr.Attrs {
			attrs[l.Name] = l.Value
		}
		evs = append(evs, &event{id: id, kind: kindLog, agent: b.AgentID, source: lr.Source, data: mustJSON(LogJSON{
			ID: id.String(), Time: formatNs(lr.TimeNs), Agent: b.AgentID, Source: lr.Source,
			Message: lr.Message, Truncated: lr.Truncated, Attributes: attrs,
		})})
	}
	for i := range b.Alerts {
		al := &b.Alerts[i]
		id.idx++
		labels := make(map[string]string, len(al.Labels))
		for _, l := range al.Labels {
			labels[l.Name] = l.Value
		}
		evs = append(evs, &event{id: id, kind: kindAlert, agent: b.AgentID, data: mustJSON(AlertJSON{
			ID: id.String(), Time: formatNs(al.TimeNs), Agent: b.AgentID, Name: al.Name,
			Severity: al.Severity.String(), Message: al.Message, Labels: labels,
		})})
	}
	return evs
}

// mustJSON encodes one of our event structs: strings, ints, bools and
// string maps, which always encode (invalid UTF-8 becomes U+FFFD).
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(`{"error":"unencodable event"}`)
	}
	return b
}

func formatNs(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
