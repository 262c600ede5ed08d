package config

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/lightmetrics/lightmetrics/pkg/config/tomldoc"
	"github.com/lightmetrics/lightmetrics/pkg/limits"
	"github.com/lightmetrics/lightmetrics/pkg/tokens"
)

// reservedLogAttributes are added by the agent itself to every log record.
var reservedLogAttributes = []string{"path", "source", "level"}

// LoadAgent reads, decodes and validates agent.toml at path. Keys left out
// take the values of DefaultAgent (and DefaultLogInput for each [[logs]]);
// relative paths, log globs included, are resolved against the file's
// directory.
func LoadAgent(path string) (*Agent, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Msg: fmt.Sprintf("cannot read: %v", unwrapPath(err)), Err: err}
	}
	defer f.Close()
	return ParseAgent(path, f)
}

// ParseAgent is LoadAgent reading from r; name is used in errors and its
// directory anchors relative paths.
func ParseAgent(name string, r io.Reader) (*Agent, error) {
	data, err := readConfig(name, r)
	if err != nil {
		return nil, err
	}
	a := DefaultAgent()
	doc, err := tomldoc.Decode(name, data, a)
	if err != nil {
		return nil, err
	}
	// [[logs]] entries are decoded into fresh values, so their defaults are
	// applied afterwards, only to keys the file leaves out.
	def := DefaultLogInput()
	for i := range a.Logs {
		if !doc.Has("logs[" + strconv.Itoa(i) + "].start_at") {
			a.Logs[i].StartAt = def.StartAt
		}
	}
	a.Path = name
	a.doc = doc
	a.resolvePaths(baseDir(name))
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *Agent) resolvePaths(base string) {
	a.AuthTokenFile = resolvePath(base, a.AuthTokenFile)
	a.TLSCACertFile = resolvePath(base, a.TLSCACertFile)
	a.QueueDir = resolvePath(base, a.QueueDir)
	for i := range a.Logs {
		for j, p := range a.Logs[i].Paths {
			a.Logs[i].Paths[j] = resolvePath(base, p)
		}
	}
}

// Validate checks every value of a. LoadAgent calls it; call it yourself for
// an Agent built in code.
func (a *Agent) Validate() error {
	c := &checker{file: a.Path, doc: a.doc}
	if c.required("agent_id", a.AgentID) && !tokens.ValidAgentID(a.AgentID) {
		c.add("agent_id", "%q is not 1-128 characters of A-Z a-z 0-9 . _ -", a.AgentID)
	}
	if len(a.Endpoints) == 0 {
		if a.doc.Has("endpoints") {
			c.add("endpoints", "must list at least one collector URL")
		} else {
			c.add("endpoints", "required: at least one collector URL, e.g. [\"https://collector.example:8443\"]")
		}
	}
	seen := map[string]int{}
	for i, e := range a.Endpoints {
		key := fmt.Sprintf("endpoints[%d]", i)
		if err := checkAgentURL(e); err != nil {
			c.add(key, "%q %v", e, err)
			continue
		}
		if j, dup := seen[e]; dup {
			c.add(key, "%q is already endpoints[%d]", e, j)
		}
		seen[e] = i
	}
	c.required("auth_token_file", a.AuthTokenFile)
	c.required("queue_dir", a.QueueDir)
	c.atLeast("interval_ms", a.IntervalMs, 1000)
	if a.Hostname != "" && (len(a.Hostname) > limits.FloorLabelValueBytes || strings.ContainsFunc(a.Hostname, isSpaceOrControl)) {
		c.add("hostname", "%q must be at most %d bytes without spaces or control characters", a.Hostname, limits.FloorLabelValueBytes)
	}
	if a.MaxSeriesPerBatch < limits.FloorSeriesPerBatch {
		c.add("max_series_per_batch", "%d is below the floor of %d: the heartbeat alone carries up to %d values",
			a.MaxSeriesPerBatch, limits.FloorSeriesPerBatch, limits.FloorSeriesPerBatch)
	}
	c.atLeast("max_log_message_bytes", int64(a.MaxLogMessageBytes), 1)
	c.atLeast("max_logs_per_batch", int64(a.MaxLogsPerBatch), 1)
	c.atLeast("max_alerts_per_batch", int64(a.MaxAlertsPerBatch), 0)
	c.positive("queue_max_batches", int64(a.QueueMaxBatches))
	c.positive("queue_max_bytes", a.QueueMaxBytes)
	c.positive("upload_timeout_ms", a.UploadTimeoutMs)

	c.enum("processes.mode", a.Processes.Mode, ProcessesTop, ProcessesAll, ProcessesOff)
	c.positive("processes.top_n", int64(a.Processes.TopN))
	c.enum("processes.sort_by", a.Processes.SortBy, "cpu", "rss")

	a.validateLogs(c)
	c.log("log.", a.Log)
	return c.err()
}

func (a *Agent) validateLogs(c *checker) {
	sources := map[string]int{}
	paths := map[string]string{}
	for i := range a.Logs {
		in := &a.Logs[i]
		k := "logs[" + strconv.Itoa(i) + "]"
		if c.required(k+".source", in.Source) {
			if !sourcePattern.MatchString(in.Source) {
				c.add(k+".source", "%q is not 1-64 characters of A-Z a-z 0-9 . _ / : -", in.Source)
			} else if j, dup := sources[in.Source]; dup {
				c.add(k+".source", "%q is already the source of logs[%d]", in.Source, j)
			} else {
				sources[in.Source] = i
			}
		}
		if len(in.Paths) == 0 {
			c.add(k+".paths", "must list at least one file or glob")
		}
		for j, p := range in.Paths {
			pk := fmt.Sprintf("%s.paths[%d]", k, j)
			switch {
			case p == "":
				c.add(pk, "must not be empty")
			case !validGlob(p):
				c.add(pk, "%q is not a valid glob pattern", p)
			default:
				if other, dup := paths[p]; dup {
					c.add(pk, "%q is already tailed by %s; a file must belong to one input", p, other)
				} else {
					paths[p] = k
				}
			}
		}
		if n := len(in.Attributes); n > MaxLogAttributes {
			c.add(k+".attributes", "has %d entries, at most %d: the agent adds path and source, and a record must fit the collector's floor of %d labels",
				n, MaxLogAttributes, limits.FloorLabelsPerSeries)
		}
		for name, value := range in.Attributes {
			ak := k + ".attributes." + name
			switch {
			case !labelNamePattern.MatchString(name) || strings.HasPrefix(name, "__"):
				c.add(ak, "%q is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with \"__\")", name)
			case isReserved(name):
				c.add(ak, "%q is set by the agent itself; choose another name", name)
			case len(name) > limits.FloorLabelKeyBytes:
				c.add(ak, "name is %d bytes, at most %d so that every valid collector accepts it", len(name), limits.FloorLabelKeyBytes)
			case len(value) > limits.FloorLabelValueBytes:
				c.add(ak, "value is %d bytes, at most %d so that every valid collector accepts it", len(value), limits.FloorLabelValueBytes)
			}
		}
		c.enum(k+".start_at", in.StartAt, "end", "beginning")
	}
}

func isReserved(name string) bool {
	for _, r := range reservedLogAttributes {
		if name == r {
			return true
		}
	}
	return false
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

// CheckAlignment reports every agent limit above the collector's, as *Error
// values located in the agent's file and naming the collector's key, so that
// a command that sees both configs says which key to change.
func CheckAlignment(a *Agent, s *Server) error {
	err := limits.CheckAlignment(a.Limits(), s.Limits())
	if err == nil {
		return nil
	}
	c := &checker{file: a.Path, doc: a.doc}
	for _, e := range unjoin(err) {
		if le, ok := e.(*limits.Error); ok {
			hint := ""
			if le.Key == limits.KeyMaxAlertsPerBatch && le.Bound == 0 {
				hint = "; set it to 0 when the collector accepts no alert records"
			}
			c.add(le.Key, "%d is above ingest.%s = %d in %s%s", le.Value, le.Key, le.Bound, s.Path, hint)
		}
	}
	return c.err()
}
