package logstore

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// Agent states, from the time since an agent's last batch was received.
const (
	StateUp    = "up"
	StateStale = "stale"
	StateDown  = "down"
)

// agentState is what the roster knows about one agent id.
type agentState struct {
	id      string
	ordinal uint32

	hostname, version, os string
	firstSeenNs           int64
	lastSeenNs            int64
	heartbeatMs           int64 // of the newest heartbeat, 0 when none yet
	hasHeartbeat          bool
	values                []batch.Scalar // picked from the newest heartbeat

	batches, samples, logs, alerts uint64
}

// observe folds one batch into the roster entry. The identity and values
// come from the heartbeat with the newest timestamp, not the last one
// received: an agent flushing its backlog sends old heartbeats last.
func (a *agentState) observe(spoolSeq uint64, receivedNs int64, b *batch.Batch, want map[string]bool) {
	if a.batches == 0 || receivedNs < a.firstSeenNs {
		a.firstSeenNs = receivedNs
	}
	if receivedNs > a.lastSeenNs {
		a.lastSeenNs = receivedNs
	}
	a.batches++
	a.samples += uint64(b.SampleCount())
	a.logs += uint64(len(b.Logs))
	a.alerts += uint64(len(b.Alerts))
	hb := b.Heartbeat
	if hb == nil || (a.hasHeartbeat && hb.TimestampMs < a.heartbeatMs) {
		return
	}
	a.hasHeartbeat = true
	a.heartbeatMs = hb.TimestampMs
	a.hostname, a.version, a.os = hb.Hostname, hb.AgentVersion, hb.OS
	a.values = a.values[:0]
	for _, v := range hb.Values {
		if want[v.Name] {
			a.values = append(a.values, v)
		}
	}
}

// Value is a heartbeat value in JSON: a number, or the strings "NaN",
// "+Inf" and "-Inf" that JSON numbers cannot spell (as Prometheus does).
type Value float64

// MarshalJSON implements json.Marshaler.
func (v Value) MarshalJSON() ([]byte, error) {
	f := float64(v)
	switch {
	case math.IsNaN(f):
		return []byte(`"NaN"`), nil
	case math.IsInf(f, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler, for clients in Go and tests.
func (v *Value) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		*v = Value(f)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*v = Value(f)
	return nil
}

// AgentJSON is one agent in /api/v1/agents.
type AgentJSON struct {
	ID           string `json:"id"`
	Hostname     string `json:"hostname"`
	AgentVersion string `json:"agent_version"`
	OS           string `json:"os"`
	// State is StateUp, StateStale or StateDown.
	State string `json:"state"`
	// FirstSeen and LastSeen are when the oldest and newest batch the
	// collector holds were received (RFC 3339).
	FirstSeen string `json:"first_seen"`
	LastSeen  string `json:"last_seen"`
	// SecondsSinceSeen is now - LastSeen, what State was judged on.
	SecondsSinceSeen float64 `json:"seconds_since_seen"`
	// LastHeartbeat is the agent's own timestamp of its newest heartbeat;
	// empty when no heartbeat arrived yet (remote write only, say).
	LastHeartbeat string `json:"last_heartbeat,omitempty"`
	// Values are the configured heartbeat values that heartbeat carried.
	Values map[string]Value `json:"values"`
	// Counts over the batches the collector holds (the spool at startup
	// plus everything received since).
	Batches uint64 `json:"batches"`
	Samples uint64 `json:"samples"`
	Logs    uint64 `json:"logs"`
	Alerts  uint64 `json:"alerts"`
}

// Agents returns the roster at now, sorted by id. Agents not seen within
// the retention are left out.
func (s *Store) Agents(now time.Time) []AgentJSON {
	nowNs := now.UnixNano()
	cutoff := int64(math.MinInt64)
	if s.o.Retention > 0 {
		cutoff = nowNs - int64(s.o.Retention)
	}
	s.mu.RLock()
	out := make([]AgentJSON, 0, len(s.agents))
	for _, a := range s.agents {
		if a.lastSeenNs < cutoff {
			continue
		}
		since := time.Duration(nowNs - a.lastSeenNs)
		j := AgentJSON{
			ID:               a.id,
			Hostname:         a.hostname,
			AgentVersion:     a.version,
			OS:               a.os,
			State:            s.state(since),
			FirstSeen:        formatNs(a.firstSeenNs),
			LastSeen:         formatNs(a.lastSeenNs),
			SecondsSinceSeen: max(since.Seconds(), 0),
			Values:           make(map[string]Value, len(a.values)),
			Batches:          a.batches,
			Samples:          a.samples,
			Logs:             a.logs,
			Alerts:           a.alerts,
		}
		if a.hasHeartbeat {
			j.LastHeartbeat = formatNs(a.heartbeatMs * int64(time.Millisecond))
		}
		for _, v := range a.values {
			j.Values[v.Name] = Value(v.Value)
		}
		out = append(out, j)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (s *Store) state(since time.Duration) string {
	switch {
	case since < s.o.StaleAfter:
		return StateUp
	case since < s.o.DownAfter:
		return StateStale
	}
	return StateDown
}

func formatNs(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
