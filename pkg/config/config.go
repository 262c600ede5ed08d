// Package config loads and validates server.toml (the collector) and
// agent.toml (the agent).
//
// Decoding is strict: a key the schema does not know is an error, as is a
// value of the wrong type. Every error is a *Error naming the file, the
// dotted key and, when the key is written in the file, its line; several
// problems are reported together with errors.Join, one per line.
//
// Relative paths in a config file (token files, TLS files, directories, log
// globs) are resolved against the directory that holds the config file, not
// the process's working directory, so a config set can be moved as a whole.
package config

import (
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/config/tomldoc"
)

// Error is one problem in a config file: "FILE:LINE: KEY: MSG". Line is 0
// (and left out of the message) when the key is not written in the file,
// e.g. a missing required key. It is the same type pkg/tokens reports
// token-table problems with.
type Error = tomldoc.Error

// maxConfigBytes bounds how much of a config file is read: a real one is a
// few KiB, and the fuzz target must not be able to make the parser allocate
// without bound.
const maxConfigBytes = 1 << 20

// Server is server.toml, the collector's configuration.
type Server struct {
	Ingest     Ingest     `toml:"ingest"`
	Query      Query      `toml:"query"`
	Storage    Storage    `toml:"storage"`
	Dashboards Dashboards `toml:"dashboards"`
	// ObjectStore is nil when server.toml has no [object_store] section.
	ObjectStore *ObjectStore `toml:"object_store"`
	Log         Log          `toml:"log"`
	// Path is the file the config was loaded from, as given.
	Path string `toml:"-"`

	doc *tomldoc.Doc
}

// Acceptance modes of the ingest listener.
const (
	// AcceptLocalSpool acknowledges a batch once it is durable in the local
	// spool; landing to the object store (if any) follows in the background.
	AcceptLocalSpool = "local_spool"
	// AcceptS3Manifest acknowledges a batch only once the object store holds
	// it in the accepted manifest, so several collectors can share a bucket.
	AcceptS3Manifest = "s3_manifest"
)

// Ingest is [ingest]: the agent-facing TLS listener and its limits.
type Ingest struct {
	Listen                  string `toml:"listen"`
	Acceptance              string `toml:"acceptance"`
	ObjectLandingIntervalMs int64  `toml:"object_landing_interval_ms"`
	MaxSeriesPerBatch       int    `toml:"max_series_per_batch"`
	MaxLabelsPerSeries      int    `toml:"max_labels_per_series"`
	MaxLabelKeyBytes        int    `toml:"max_label_key_bytes"`
	MaxLabelValueBytes      int    `toml:"max_label_value_bytes"`
	MaxLogMessageBytes      int    `toml:"max_log_message_bytes"`
	MaxLogsPerBatch         int    `toml:"max_logs_per_batch"`
	MaxAlertsPerBatch       int    `toml:"max_alerts_per_batch"`
	TokenFile               string `toml:"token_file"`
	MaxBodyBytes            int64  `toml:"max_body_bytes"`
	MaxDecodedBytes         int64  `toml:"max_decoded_bytes"`
	MaxConcurrentRequests   int    `toml:"max_concurrent_requests"`
	ReadHeaderTimeoutMs     int64  `toml:"read_header_timeout_ms"`
	ReadTimeoutMs           int64  `toml:"read_timeout_ms"`
	WriteTimeoutMs          int64  `toml:"write_timeout_ms"`
	IdleTimeoutMs           int64  `toml:"idle_timeout_ms"`
	TLS                     TLS    `toml:"tls"`
}

// TLS names a certificate chain and its private key (PEM files).
type TLS struct {
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
}

// Enabled reports whether a certificate is configured. For [query.tls] an
// unset pair means plain HTTP; [ingest.tls] must always be set.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Query is [query]: the private listener (query API, live stream, console).
type Query struct {
	Listen            string `toml:"listen"`
	TokenFile         string `toml:"token_file"`
	MaxSamples        int    `toml:"max_samples"`
	TimeoutMs         int64  `toml:"timeout_ms"`
	MaxSeries         int    `toml:"max_series"`
	LookbackDeltaMs   int64  `toml:"lookback_delta_ms"`
	AgentStaleAfterMs int64  `toml:"agent_stale_after_ms"`
	AgentDownAfterMs  int64  `toml:"agent_down_after_ms"`
	TLS               TLS    `toml:"tls"`
}

// Storage is [storage]: the spool of accepted batches and the query cache.
type Storage struct {
	SpoolDir string `toml:"spool_dir"`
	CacheDir string `toml:"cache_dir"`
	// SpoolMaxBytes caps the spool; 0 means no cap.
	SpoolMaxBytes  int64 `toml:"spool_max_bytes"`
	RetentionHours int   `toml:"retention_hours"`
	CacheMaxBytes  int64 `toml:"cache_max_bytes"`
}

// Dashboards is [dashboards]: where custom dashboard definitions live.
type Dashboards struct {
	DefinitionFiles []string `toml:"definition_files"`
	DefinitionDirs  []string `toml:"definition_dirs"`
}

// ObjectStore is [object_store]: an S3-compatible bucket for landing.
type ObjectStore struct {
	// Endpoint is host or host:port, without a scheme (Secure picks https).
	Endpoint string `toml:"endpoint"`
	Bucket   string `toml:"bucket"`
	Prefix   string `toml:"prefix"`
	Region   string `toml:"region"`
	Secure   bool   `toml:"secure"`
	CAFile   string `toml:"ca_file"`
	// AccessKeyFile and SecretKeyFile hold the credentials; when both are
	// empty the object-store client reads AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY from the environment instead.
	AccessKeyFile    string `toml:"access_key_file"`
	SecretKeyFile    string `toml:"secret_key_file"`
	PathStyle        bool   `toml:"path_style"`
	RequestTimeoutMs int64  `toml:"request_timeout_ms"`
	// PollIntervalMs is how often an s3_manifest collector lists the
	// manifest for batches its peers accepted.
	PollIntervalMs int64 `toml:"poll_interval_ms"`
}

// Log is [log]: the process's own logging.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text, json
}

// Agent is agent.toml, the agent's configuration.
type Agent struct {
	AgentID            string     `toml:"agent_id"`
	Endpoints          []string   `toml:"endpoints"`
	AuthTokenFile      string     `toml:"auth_token_file"`
	TLSCACertFile      string     `toml:"tls_ca_cert_file"`
	QueueDir           string     `toml:"queue_dir"`
	IntervalMs         int64      `toml:"interval_ms"`
	Hostname           string     `toml:"hostname"`
	MaxSeriesPerBatch  int        `toml:"max_series_per_batch"`
	MaxLogMessageBytes int        `toml:"max_log_message_bytes"`
	MaxLogsPerBatch    int        `toml:"max_logs_per_batch"`
	MaxAlertsPerBatch  int        `toml:"max_alerts_per_batch"`
	QueueMaxBatches    int        `toml:"queue_max_batches"`
	QueueMaxBytes      int64      `toml:"queue_max_bytes"`
	UploadTimeoutMs    int64      `toml:"upload_timeout_ms"`
	Processes          Processes  `toml:"processes"`
	Logs               []LogInput `toml:"logs"`
	Log                Log        `toml:"log"`
	// Path is the file the config was loaded from, as given.
	Path string `toml:"-"`

	doc *tomldoc.Doc
}

// Processes is [processes]: which per-process series the agent sends.
type Processes struct {
	Mode   string `toml:"mode"`    // top, all, off
	TopN   int    `toml:"top_n"`   // processes kept in "top" mode
	SortBy string `toml:"sort_by"` // cpu, rss: what "top" ranks by
}

// Process modes.
const (
	ProcessesTop = "top"
	ProcessesAll = "all"
	ProcessesOff = "off"
)

// LogInput is one [[logs]] entry: files to tail under one source name.
type LogInput struct {
	Source     string            `toml:"source"`
	Paths      []string          `toml:"paths"`
	Attributes map[string]string `toml:"attributes"`
	StartAt    string            `toml:"start_at"` // end, beginning: where a never-seen file is first read from
}

// MaxLogAttributes bounds [[logs]].attributes: the agent adds its own
// attributes (the file path and the source) to every record, and a record
// must stay within the collector's floor of 4 labels.
const MaxLogAttributes = 2

// ms turns a millisecond config value into a duration.
func ms(v int64) time.Duration { return time.Duration(v) * time.Millisecond }

// ObjectLandingInterval is object_landing_interval_ms as a duration.
func (i Ingest) ObjectLandingInterval() time.Duration { return ms(i.ObjectLandingIntervalMs) }

// ReadHeaderTimeout is read_header_timeout_ms as a duration.
func (i Ingest) ReadHeaderTimeout() time.Duration { return ms(i.ReadHeaderTimeoutMs) }

// ReadTimeout is read_timeout_ms as a duration.
func (i Ingest) ReadTimeout() time.Duration { return ms(i.ReadTimeoutMs) }

// WriteTimeout is write_timeout_ms as a duration.
func (i Ingest) WriteTimeout() time.Duration { return ms(i.WriteTimeoutMs) }

// IdleTimeout is idle_timeout_ms as a duration.
func (i Ingest) IdleTimeout() time.Duration { return ms(i.IdleTimeoutMs) }

// Timeout is [query] timeout_ms as a duration.
func (q Query) Timeout() time.Duration { return ms(q.TimeoutMs) }

// LookbackDelta is lookback_delta_ms as a duration.
func (q Query) LookbackDelta() time.Duration { return ms(q.LookbackDeltaMs) }

// AgentStaleAfter is agent_stale_after_ms as a duration.
func (q Query) AgentStaleAfter() time.Duration { return ms(q.AgentStaleAfterMs) }

// AgentDownAfter is agent_down_after_ms as a duration.
func (q Query) AgentDownAfter() time.Duration { return ms(q.AgentDownAfterMs) }

// Retention is retention_hours as a duration.
func (s Storage) Retention() time.Duration { return time.Duration(s.RetentionHours) * time.Hour }

// RequestTimeout is request_timeout_ms as a duration.
func (o ObjectStore) RequestTimeout() time.Duration { return ms(o.RequestTimeoutMs) }

// PollInterval is poll_interval_ms as a duration.
func (o ObjectStore) PollInterval() time.Duration { return ms(o.PollIntervalMs) }

// Interval is interval_ms as a duration.
func (a *Agent) Interval() time.Duration { return ms(a.IntervalMs) }

// UploadTimeout is upload_timeout_ms as a duration.
func (a *Agent) UploadTimeout() time.Duration { return ms(a.UploadTimeoutMs) }
