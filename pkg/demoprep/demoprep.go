// Package demoprep writes the lab demo's config set: a directory laid out
// like a real install (configs, token files, TLS files, state directories)
// that the collector and the agent can run from as they are, and that
// `lightmetrics collector check-config` accepts.
//
// Preparing is idempotent. Tokens are generated once and never replaced;
// the development certificates are kept until they come within an hour of
// expiring; configs are rewritten from the options on every run.
package demoprep

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// Defaults of Options.
const (
	DefaultDir        = "/tmp/lightmetrics-demo"
	DefaultIngestAddr = "127.0.0.1:8443"
	DefaultQueryAddr  = "127.0.0.1:9099"
	DefaultAgentID    = "demo-agent"
	DefaultIntervalMs = 5000
)

const (
	// certValidity keeps the demo's certificates short-lived: they exist
	// for one lab session and are not worth protecting beyond it.
	certValidity = 24 * time.Hour
	// renewBefore is how close to expiry a certificate may get before a
	// re-run replaces it, so a demo started now outlives the next hour.
	renewBefore = time.Hour
	// minIntervalMs mirrors the agent config's floor for interval_ms.
	minIntervalMs = 1000
	tokenBytes    = 32
)

// The names inside the demo directory, mirroring /etc/lightmetrics and
// /var/lib/lightmetrics of an install.
const (
	serverFile      = "server.toml"
	agentFile       = "agent.toml"
	ingestTokenFile = "ingest-tokens.toml"
	agentTokenFile  = "token"
	queryTokenFile  = "query-token"
	caFile          = "ca.pem"
	tlsDir          = "tls"
	certFile        = "tls/fullchain.pem"
	keyFile         = "tls/key.pem"
	dashboardsDir   = "dashboards.d"
	spoolDir        = "spool"
	cacheDir        = "cache"
	queueDir        = "queue"
	demoLogFile     = "demo.log"
)

// agentIDPattern is the agent config's rule for agent_id.
var agentIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// Options say where and how to prepare the demo. Zero values take the defaults.
type Options struct {
	Dir        string // DefaultDir
	IngestAddr string // host:port of the TLS ingest listener, DefaultIngestAddr
	QueryAddr  string // host:port of the private query listener, DefaultQueryAddr
	AgentID    string // DefaultAgentID
	IntervalMs int    // the agent's collection interval, DefaultIntervalMs
	// Now is the clock for certificate issue and renewal; nil is time.Now.
	Now func() time.Time
}

// Result tells where things are. It never holds a token value.
type Result struct {
	Dir            string // absolute
	ServerConfig   string // server.toml
	AgentConfig    string // agent.toml
	QueryTokenFile string // the file to read the console's bearer token from
	ConsoleURL     string
	LogFile        string // demo.log, the file the agent tails
	// Renewed reports that certificates from an earlier run were replaced
	// (near expiry, unreadable, or not covering the ingest host); it is
	// false on a first run and when they were kept.
	Renewed bool
}

// Prepare creates or refreshes the demo directory described by o.
func Prepare(o Options) (Result, error) {
	p, err := newPrep(o)
	if err != nil {
		return Result{}, err
	}
	if err := p.dirs(); err != nil {
		return Result{}, err
	}
	agentToken, err := p.token(agentTokenFile)
	if err != nil {
		return Result{}, err
	}
	if _, err := p.token(queryTokenFile); err != nil {
		return Result{}, err
	}
	renewed, err := p.certs()
	if err != nil {
		return Result{}, err
	}
	if err := writeFileAtomic(p.path(ingestTokenFile), ingestTokens(p.agentID, agentToken), 0o600); err != nil {
		return Result{}, err
	}
	server, err := p.serverTOML()
	if err != nil {
		return Result{}, err
	}
	if err := writeFileAtomic(p.path(serverFile), server, 0o640); err != nil {
		return Result{}, err
	}
	agent, err := p.agentTOML()
	if err != nil {
		return Result{}, err
	}
	if err := writeFileAtomic(p.path(agentFile), agent, 0o640); err != nil {
		return Result{}, err
	}
	if err := touch(p.path(demoLogFile)); err != nil {
		return Result{}, err
	}
	return Result{
		Dir:            p.dir,
		ServerConfig:   p.path(serverFile),
		AgentConfig:    p.path(agentFile),
		QueryTokenFile: p.path(queryTokenFile),
		ConsoleURL:     "http://" + net.JoinHostPort(dialHost(p.queryHost), p.queryPort) + "/",
		LogFile:        p.path(demoLogFile),
		Renewed:        renewed,
	}, nil
}

// prep is Options checked and resolved.
type prep struct {
	dir                    string
	ingestAddr, queryAddr  string
	ingestHost, ingestPort string
	queryHost, queryPort   string
	agentID                string
	intervalMs             int
	now                    time.Time
}

func newPrep(o Options) (*prep, error) {
	p := &prep{
		dir:        o.Dir,
		ingestAddr: o.IngestAddr,
		queryAddr:  o.QueryAddr,
		agentID:    o.AgentID,
		intervalMs: o.IntervalMs,
	}
	if p.dir == "" {
		p.dir = DefaultDir
	}
	abs, err := filepath.Abs(p.dir)
	if err != nil {
		return nil, fmt.Errorf("demoprep: directory %q: %w", p.dir, err)
	}
	p.dir = abs
	if p.ingestAddr == "" {
		p.ingestAddr = DefaultIngestAddr
	}
	if p.queryAddr == "" {
		p.queryAddr = DefaultQueryAddr
	}
	if p.ingestHost, p.ingestPort, err = splitAddr("ingest", p.ingestAddr); err != nil {
		return nil, err
	}
	if p.queryHost, p.queryPort, err = splitAddr("query", p.queryAddr); err != nil {
		return nil, err
	}
	if p.ingestPort == p.queryPort && dialHost(p.ingestHost) == dialHost(p.queryHost) {
		return nil, fmt.Errorf("demoprep: ingest and query listeners both on %s", p.ingestAddr)
	}
	if p.agentID == "" {
		p.agentID = DefaultAgentID
	}
	if !agentIDPattern.MatchString(p.agentID) {
		return nil, fmt.Errorf("demoprep: agent id %q: want 1 to 128 of A-Z a-z 0-9 . _ -", p.agentID)
	}
	if p.intervalMs == 0 {
		p.intervalMs = DefaultIntervalMs
	}
	if p.intervalMs < minIntervalMs {
		return nil, fmt.Errorf("demoprep: interval %d ms is below the agent's minimum of %d ms", p.intervalMs, minIntervalMs)
	}
	p.now = time.Now()
	if o.Now != nil {
		p.now = o.Now()
	}
	return p, nil
}

func splitAddr(what, addr string) (host, port string, err error) {
	host, port, err = net.SplitHostPort(addr)
	if err != nil {
		return "", "", fmt.Errorf("demoprep: %s address: %w", what, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("demoprep: %s address %q: port must be 1-65535", what, addr)
	}
	return host, port, nil
}

// dialHost is the host a client on this machine connects to for a listener
// bound to host: a wildcard bind is reached on the loopback address.
func dialHost(host string) string {
	if host == "" {
		return "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if ip.To4() == nil {
			return "::1"
		}
		return "127.0.0.1"
	}
	return host
}

func (p *prep) path(name string) string { return filepath.Join(p.dir, filepath.FromSlash(name)) }

// dirs creates the demo directory (0700) and its subdirectories, after
// making sure an existing one is a directory this user alone controls: the
// default lives in /tmp, where another user could have made it first.
func (p *prep) dirs() error {
	fi, err := os.Stat(p.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(p.dir, 0o700); err != nil {
			return fmt.Errorf("demoprep: create directory: %w", err)
		}
		if err := os.Chmod(p.dir, 0o700); err != nil { // MkdirAll is subject to the umask
			return fmt.Errorf("demoprep: create directory: %w", err)
		}
	case err != nil:
		return fmt.Errorf("demoprep: directory: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("demoprep: %s exists and is not a directory; choose another --dir or remove it", p.dir)
	default:
		if err := checkOwned(p.dir, fi); err != nil {
			return err
		}
	}
	for _, d := range []string{tlsDir, dashboardsDir, spoolDir, cacheDir, queueDir} {
		path := p.path(d)
		if err := os.Mkdir(path, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("demoprep: create directory: %w", err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("demoprep: directory: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("demoprep: %s exists and is not a directory", path)
		}
	}
	return nil
}

// token returns the token kept in the named file, creating the file with a
// new random token (0600) when it does not exist or holds only whitespace.
// An existing token is never replaced: the running agent and any client the
// user pointed at the demo keep working across re-runs.
func (p *prep) token(name string) (string, error) {
	path := p.path(name)
	v, err := readToken(path)
	if err != nil {
		return "", err
	}
	if v != "" {
		// Tighten a loosened mode rather than leave the secret readable.
		if err := os.Chmod(path, 0o600); err != nil {
			return "", fmt.Errorf("demoprep: token file: %w", err)
		}
		return v, nil
	}
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("demoprep: generate token for %s: %w", path, err)
	}
	v = hex.EncodeToString(b[:])
	if err := writeFileAtomic(path, []byte(v+"\n"), 0o600); err != nil {
		return "", err
	}
	return v, nil
}
