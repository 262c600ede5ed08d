package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/lightmetrics/lightmetrics/pkg/tokens"
)

// mode is one way of accepting batches that the benchmark compares.
type mode struct {
	// Name is how the report calls it.
	Name string
	// Acceptance is ingest.acceptance.
	Acceptance string
	// Store gives the collector an [object_store]; with local_spool that
	// turns background landing on.
	Store bool
	// Landing is local_spool with an object store: the lander runs.
	Landing bool
}

var (
	modeLocal    = mode{Name: "local_spool", Acceptance: "local_spool"}
	modeLanding  = mode{Name: "local_spool+landing", Acceptance: "local_spool", Store: true, Landing: true}
	modeManifest = mode{Name: "s3_manifest", Acceptance: "s3_manifest", Store: true}
	allModes     = []mode{modeLocal, modeLanding, modeManifest}
)

// storeSettings is the [object_store] section a collector gets.
type storeSettings struct {
	Endpoint, Bucket, Prefix     string
	AccessKeyFile, SecretKeyFile string
	// LandingInterval is ingest.object_landing_interval_ms.
	LandingInterval time.Duration
}

// rewriteServerConfig turns the demo's server.toml into m's: the
// acceptance mode, the object store when m has one, and no spool cap (the
// demo's 1 GiB must not refuse a benchmark's batches).
func rewriteServerConfig(data []byte, m mode, st storeSettings) ([]byte, error) {
	var cfg map[string]any
	if err := toml.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("server config: %w", err)
	}
	ingest, ok1 := cfg["ingest"].(map[string]any)
	storage, ok2 := cfg["storage"].(map[string]any)
	if !ok1 || !ok2 {
		return nil, errors.New("server config: no [ingest] or [storage] section")
	}
	ingest["acceptance"] = m.Acceptance
	storage["spool_max_bytes"] = 0
	delete(cfg, "object_store")
	if m.Store {
		ingest["object_landing_interval_ms"] = st.LandingInterval.Milliseconds()
		cfg["object_store"] = map[string]any{
			"endpoint":           st.Endpoint,
			"bucket":             st.Bucket,
			"prefix":             st.Prefix,
			"region":             "us-east-1",
			"secure":             false,
			"path_style":         true,
			"access_key_file":    st.AccessKeyFile,
			"secret_key_file":    st.SecretKeyFile,
			"request_timeout_ms": 5000,
			"poll_interval_ms":   1000,
		}
	}
	out, err := toml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("server config: %w", err)
	}
	return out, nil
}

// process is a child started by the benchmark, with its output in a file.
type process struct {
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
}

// startProcess runs bin with args, its output going to logPath.
func startProcess(logPath, bin string, args ...string) (*process, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &process{cmd: cmd, log: logf, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *process) pid() string { return strconv.Itoa(p.cmd.Process.Pid) }

// exited reports whether the process has ended on its own.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and, after grace, SIGKILL; it returns once the
// process is gone.
func (p *process) stop(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
}

// metricsClient reads a collector's /metrics on its private listener with
// the query token.
type metricsClient struct {
	url   string
	token string
	http  *http.Client
}

func newMetricsClient(privateAddr, queryTokenFile string) (*metricsClient, error) {
	tok, err := tokens.LoadSecret(queryTokenFile)
	if err != nil {
		return nil, fmt.Errorf("query token: %w", err)
	}
	return &metricsClient{url: "http://" + privateAddr + "/metrics", token: tok.Value(), http: &http.Client{Timeout: 10 * time.Second}}, nil
}

func (c *metricsClient) read(ctx context.Context) (scrape, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %s: %s", c.url, resp.Status)
	}
	return parseMetrics(io.LimitReader(resp.Body, 16<<20))
}

// waitLanded polls the collector's metrics until landing has reached the
// end of its spool, and returns the last reading and how long it took.
func (c *metricsClient) waitLanded(ctx context.Context, timeout time.Duration) (scrape, time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		m, err := c.read(ctx)
		if err == nil && m["lightmetrics_landing_lag_records"] == 0 && m["lightmetrics_landing_landed_seq"] > 0 {
			return m, time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("%.0f records still unlanded", m["lightmetrics_landing_lag_records"])
			}
			return m, time.Since(start), fmt.Errorf("landing did not catch up within %s: %w", timeout, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
