package config

import "github.com/lightmetrics/lightmetrics/pkg/limits"

// Production paths of the install layout; the defaults of the path keys.
const (
	DefaultIngestTokenFile = "/etc/lightmetrics/ingest-tokens.toml"
	DefaultTLSCertFile     = "/etc/lightmetrics/tls/fullchain.pem"
	DefaultTLSKeyFile      = "/etc/lightmetrics/tls/key.pem"
	DefaultQueryTokenFile  = "/etc/lightmetrics/query-token"
	DefaultSpoolDir        = "/var/lib/lightmetrics/spool"
	DefaultCacheDir        = "/var/lib/lightmetrics/cache"
	DefaultDashboardsDir   = "/etc/lightmetrics/dashboards.d"
	DefaultAgentTokenFile  = "/etc/lightmetrics/token"
	DefaultQueueDir        = "/var/lib/lightmetrics/queue"
)

const (
	kib = 1 << 10
	mib = 1 << 20
	gib = 1 << 30
)

// DefaultServer returns the collector configuration used for every key
// server.toml leaves out. ObjectStore is nil: landing is off by default.
func DefaultServer() *Server {
	l := limits.Default()
	return &Server{
		Ingest: Ingest{
			Listen:                  "0.0.0.0:8443",
			Acceptance:              AcceptLocalSpool,
			ObjectLandingIntervalMs: 60000,
			MaxSeriesPerBatch:       l.MaxSeriesPerBatch,
			MaxLabelsPerSeries:      l.MaxLabelsPerSeries,
			MaxLabelKeyBytes:        l.MaxLabelKeyBytes,
			MaxLabelValueBytes:      l.MaxLabelValueBytes,
			MaxLogMessageBytes:      l.MaxLogMessageBytes,
			MaxLogsPerBatch:         l.MaxLogsPerBatch,
			MaxAlertsPerBatch:       l.MaxAlertsPerBatch,
			TokenFile:               DefaultIngestTokenFile,
			MaxBodyBytes:            16 * mib,
			MaxDecodedBytes:         64 * mib,
			MaxConcurrentRequests:   256,
			ReadHeaderTimeoutMs:     5000,
			ReadTimeoutMs:           30000,
			WriteTimeoutMs:          30000,
			IdleTimeoutMs:           120000,
			TLS:                     TLS{CertFile: DefaultTLSCertFile, KeyFile: DefaultTLSKeyFile},
		},
		Query: Query{
			Listen:            "127.0.0.1:9099",
			TokenFile:         DefaultQueryTokenFile,
			MaxSamples:        50000000,
			TimeoutMs:         120000,
			MaxSeries:         100000,
			LookbackDeltaMs:   300000,
			AgentStaleAfterMs: 60000,
			AgentDownAfterMs:  300000,
		},
		Storage: Storage{
			SpoolDir:       DefaultSpoolDir,
			CacheDir:       DefaultCacheDir,
			SpoolMaxBytes:  8 * gib,
			RetentionHours: 168,
			CacheMaxBytes:  1 * gib,
		},
		Dashboards: Dashboards{
			DefinitionFiles: []string{},
			DefinitionDirs:  []string{DefaultDashboardsDir},
		},
		Log: Log{Level: "info", Format: "text"},
	}
}

// DefaultObjectStore returns the values an [object_store] section starts
// from; Endpoint and Bucket have no default and must be set.
func DefaultObjectStore() *ObjectStore {
	return &ObjectStore{
		Region:           "us-east-1",
		Secure:           true,
		PathStyle:        true,
		RequestTimeoutMs: 30000,
		PollIntervalMs:   1000,
	}
}

// DefaultAgent returns the agent configuration used for every key
// agent.toml leaves out. AgentID and Endpoints have no default.
func DefaultAgent() *Agent {
	l := limits.DefaultAgent()
	return &Agent{
		AuthTokenFile:      DefaultAgentTokenFile,
		QueueDir:           DefaultQueueDir,
		IntervalMs:         10000,
		MaxSeriesPerBatch:  l.MaxSeriesPerBatch,
		MaxLogMessageBytes: l.MaxLogMessageBytes,
		MaxLogsPerBatch:    l.MaxLogsPerBatch,
		MaxAlertsPerBatch:  l.MaxAlertsPerBatch,
		QueueMaxBatches:    10000,
		QueueMaxBytes:      256 * mib,
		UploadTimeoutMs:    10000,
		Processes:          Processes{Mode: ProcessesTop, TopN: 25, SortBy: "cpu"},
		Log:                Log{Level: "info", Format: "text"},
	}
}

// DefaultLogInput returns the values a [[logs]] entry starts from.
func DefaultLogInput() LogInput { return LogInput{StartAt: "end"} }

// Limits returns the collector's batch limits from [ingest].
func (s *Server) Limits() limits.Limits {
	return limits.Limits{
		MaxSeriesPerBatch:  s.Ingest.MaxSeriesPerBatch,
		MaxLabelsPerSeries: s.Ingest.MaxLabelsPerSeries,
		MaxLabelKeyBytes:   s.Ingest.MaxLabelKeyBytes,
		MaxLabelValueBytes: s.Ingest.MaxLabelValueBytes,
		MaxLogMessageBytes: s.Ingest.MaxLogMessageBytes,
		MaxLogsPerBatch:    s.Ingest.MaxLogsPerBatch,
		MaxAlertsPerBatch:  s.Ingest.MaxAlertsPerBatch,
	}
}

// Limits returns the agent's own batch limits.
func (a *Agent) Limits() limits.AgentLimits {
	return limits.AgentLimits{
		MaxSeriesPerBatch:  a.MaxSeriesPerBatch,
		MaxLogMessageBytes: a.MaxLogMessageBytes,
		MaxLogsPerBatch:    a.MaxLogsPerBatch,
		MaxAlertsPerBatch:  a.MaxAlertsPerBatch,
	}
}
