package demoprep

import (
	"bytes"
	"fmt"
	"net"

	"github.com/pelletier/go-toml/v2"

	"github.com/lightmetrics/lightmetrics/pkg/limits"
)

// The structs below mirror the config schema (pkg/config) key for key. They
// are this package's own so that the demo set is written out in full and in
// a fixed order, with comments, whatever defaults pkg/config applies; the
// tests load the result with pkg/config to prove the two agree.

const (
	mib = 1 << 20
	gib = 1 << 30
)

type serverTOML struct {
	Ingest     ingestTOML     `toml:"ingest" comment:"Agent-facing TLS listener. Every key is spelled out so the demo shows the whole section."`
	Query      queryTOML      `toml:"query" comment:"Private listener: query API, live stream and console (plain HTTP on loopback)."`
	Storage    storageTOML    `toml:"storage"`
	Dashboards dashboardsTOML `toml:"dashboards"`
	Log        logTOML        `toml:"log"`
}

type ingestTOML struct {
	Listen                  string  `toml:"listen"`
	Acceptance              string  `toml:"acceptance"`
	ObjectLandingIntervalMs int64   `toml:"object_landing_interval_ms" comment:"Unused here: the demo has no [object_store]."`
	MaxSeriesPerBatch       int     `toml:"max_series_per_batch"`
	MaxLabelsPerSeries      int     `toml:"max_labels_per_series"`
	MaxLabelKeyBytes        int     `toml:"max_label_key_bytes"`
	MaxLabelValueBytes      int     `toml:"max_label_value_bytes"`
	MaxLogMessageBytes      int     `toml:"max_log_message_bytes"`
	MaxLogsPerBatch         int     `toml:"max_logs_per_batch"`
	MaxAlertsPerBatch       int     `toml:"max_alerts_per_batch"`
	TokenFile               string  `toml:"token_file"`
	MaxBodyBytes            int64   `toml:"max_body_bytes"`
	MaxDecodedBytes         int64   `toml:"max_decoded_bytes"`
	MaxConcurrentRequests   int     `toml:"max_concurrent_requests"`
	ReadHeaderTimeoutMs     int64   `toml:"read_header_timeout_ms"`
	ReadTimeoutMs           int64   `toml:"read_timeout_ms"`
	WriteTimeoutMs          int64   `toml:"write_timeout_ms"`
	IdleTimeoutMs           int64   `toml:"idle_timeout_ms"`
	TLS                     tlsTOML `toml:"tls" comment:"Development certificate from the demo's throwaway CA (valid 24 h)."`
}

type tlsTOML struct {
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
}

type queryTOML struct {
	Listen            string `toml:"listen"`
	TokenFile         string `toml:"token_file"`
	MaxSamples        int    `toml:"max_samples"`
	TimeoutMs         int64  `toml:"timeout_ms"`
	MaxSeries         int    `toml:"max_series"`
	LookbackDeltaMs   int64  `toml:"lookback_delta_ms"`
	AgentStaleAfterMs int64  `toml:"agent_stale_after_ms"`
	AgentDownAfterMs  int64  `toml:"agent_down_after_ms"`
}

type storageTOML struct {
	SpoolDir       string `toml:"spool_dir"`
	CacheDir       string `toml:"cache_dir"`
	SpoolMaxBytes  int64  `toml:"spool_max_bytes" comment:"Modest caps: the demo usually lives in /tmp."`
	RetentionHours int    `toml:"retention_hours"`
	CacheMaxBytes  int64  `toml:"cache_max_bytes"`
}

type dashboardsTOML struct {
	DefinitionFiles []string `toml:"definition_files"`
	DefinitionDirs  []string `toml:"definition_dirs" comment:"Drop custom dashboard .toml files here."`
}

type logTOML struct {
	Level  string `toml:"level"`
	Format string `toml:"format"`
}

type agentTOML struct {
	AgentID            string        `toml:"agent_id"`
	Endpoints          []string      `toml:"endpoints"`
	AuthTokenFile      string        `toml:"auth_token_file"`
	TLSCACertFile      string        `toml:"tls_ca_cert_file" comment:"The demo CA that signed the collector's certificate."`
	QueueDir           string        `toml:"queue_dir"`
	IntervalMs         int           `toml:"interval_ms"`
	MaxSeriesPerBatch  int           `toml:"max_series_per_batch" comment:"Batch limits, each no higher than the collector's [ingest] limit of the same name."`
	MaxLogMessageBytes int           `toml:"max_log_message_bytes"`
	MaxLogsPerBatch    int           `toml:"max_logs_per_batch"`
	MaxAlertsPerBatch  int           `toml:"max_alerts_per_batch"`
	QueueMaxBatches    int           `toml:"queue_max_batches"`
	QueueMaxBytes      int64         `toml:"queue_max_bytes"`
	UploadTimeoutMs    int64         `toml:"upload_timeout_ms"`
	Processes          processesTOML `toml:"processes"`
	Logs               []logTOMLIn   `toml:"logs" comment:"The running demo appends lines to this file."`
	Log                logTOML       `toml:"log"`
}

type processesTOML struct {
	Mode   string `toml:"mode"`
	TopN   int    `toml:"top_n"`
	SortBy string `toml:"sort_by"`
}

type logTOMLIn struct {
	Source  string   `toml:"source"`
	Paths   []string `toml:"paths"`
	StartAt string   `toml:"start_at"`
}

type ingestTokensTOML struct {
	Tokens []tokenEntryTOML `toml:"tokens"`
}

type tokenEntryTOML struct {
	AgentID string `toml:"agent_id"`
	Token   string `toml:"token"`
}

func (p *prep) server() serverTOML {
	l := limits.Default()
	return serverTOML{
		Ingest: ingestTOML{
			Listen:                  p.ingestAddr,
			Acceptance:              "local_spool",
			ObjectLandingIntervalMs: 60000,
			MaxSeriesPerBatch:       l.MaxSeriesPerBatch,
			MaxLabelsPerSeries:      l.MaxLabelsPerSeries,
			MaxLabelKeyBytes:        l.MaxLabelKeyBytes,
			MaxLabelValueBytes:      l.MaxLabelValueBytes,
			MaxLogMessageBytes:      l.MaxLogMessageBytes,
			MaxLogsPerBatch:         l.MaxLogsPerBatch,
			MaxAlertsPerBatch:       l.MaxAlertsPerBatch,
			TokenFile:               p.path(ingestTokenFile),
			MaxBodyBytes:            16 * mib,
			MaxDecodedBytes:         64 * mib,
			MaxConcurrentRequests:   256,
			ReadHeaderTimeoutMs:     5000,
			ReadTimeoutMs:           30000,
			WriteTimeoutMs:          30000,
			IdleTimeoutMs:           120000,
			TLS:                     tlsTOML{CertFile: p.path(certFile), KeyFile: p.path(keyFile)},
		},
		Query: queryTOML{
			Listen:            p.queryAddr,
			TokenFile:         p.path(queryTokenFile),
			MaxSamples:        50000000,
			TimeoutMs:         120000,
			MaxSeries:         100000,
			LookbackDeltaMs:   300000,
			AgentStaleAfterMs: 60000,
			AgentDownAfterMs:  300000,
		},
		Storage: storageTOML{
			SpoolDir:       p.path(spoolDir),
			CacheDir:       p.path(cacheDir),
			SpoolMaxBytes:  1 * gib,
			RetentionHours: 24,
			CacheMaxBytes:  256 * mib,
		},
		Dashboards: dashboardsTOML{
			DefinitionFiles: []string{},
			DefinitionDirs:  []string{p.path(dashboardsDir)},
		},
		Log: logTOML{Level: "info", Format: "text"},
	}
}

func (p *prep) agent() agentTOML {
	l := limits.DefaultAgent()
	return agentTOML{
		AgentID:            p.agentID,
		Endpoints:          []string{"https://" + net.JoinHostPort(dialHost(p.ingestHost), p.ingestPort)},
		AuthTokenFile:      p.path(agentTokenFile),
		TLSCACertFile:      p.path(caFile),
		QueueDir:           p.path(queueDir),
		IntervalMs:         p.intervalMs,
		MaxSeriesPerBatch:  l.MaxSeriesPerBatch,
		MaxLogMessageBytes: l.MaxLogMessageBytes,
		MaxLogsPerBatch:    l.MaxLogsPerBatch,
		MaxAlertsPerBatch:  l.MaxAlertsPerBatch,
		QueueMaxBatches:    10000,
		QueueMaxBytes:      256 * mib,
		UploadTimeoutMs:    10000,
		Processes:          processesTOML{Mode: "top", TopN: 25, SortBy: "cpu"},
		Logs: []logTOMLIn{{
			Source: "demo",
			Paths:  []string{p.path(demoLogFile)},
			// The file starts empty and only the demo writes to it, so
			// reading from the beginning loses nothing written before the
			// agent's first cycle.
			StartAt: "beginning",
		}},
		Log: logTOML{Level: "info", Format: "text"},
	}
}

const header = "# Written by `lightmetrics demo` for the lab demo in %s.\n" +
	"# Re-running the demo rewrites this file; tokens and certificates are kept.\n\n"

func (p *prep) serverTOML() ([]byte, error) { return p.render(serverFile, p.server()) }

func (p *prep) agentTOML() ([]byte, error) { return p.render(agentFile, p.agent()) }

func (p *prep) render(name string, v any) ([]byte, error) {
	body, err := toml.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("demoprep: render %s: %w", name, err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, header, p.dir)
	b.Write(body)
	return b.Bytes(), nil
}

// ingestTokens renders the collector's token table: the demo agent only.
func ingestTokens(agentID, token string) []byte {
	// Marshalling two strings cannot fail; the encoder also quotes the token
	// correctly whatever visible characters it holds.
	body, _ := toml.Marshal(ingestTokensTOML{Tokens: []tokenEntryTOML{{AgentID: agentID, Token: token}}})
	return append([]byte("# The demo collector's ingest token table. Keep it private (0600).\n\n"), body...)
}
