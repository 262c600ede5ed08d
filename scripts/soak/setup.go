package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/objstore/miniotest"
	"github.com/lightmetrics/lightmetrics/pkg/tlsutil"
	"github.com/lightmetrics/lightmetrics/scripts/benchutil"
)

// Prefixes of the two collector groups inside the one MinIO bucket.
const (
	prefixAB = "soak-ab"
	prefixC  = "soak-c"
)

// Agent ids. The junk agent has a token but never sends a valid batch: the
// garbage clients use it, and anything stored under it is a failure.
const (
	daemonAB = "daemon-ab"
	daemonC  = "daemon-c"
	junkID   = "junk"
)

// Settings of every collector and daemon agent the soak writes.
const (
	readHeaderTimeoutMs = 5000
	readTimeoutMs       = 20000
	landingIntervalMs   = 2000
	pollIntervalMs      = 500
	agentIntervalMs     = 1000
)

// collectorSpec is one collector's config set and addresses.
type collectorSpec struct {
	name       string // A, B or C
	dir        string
	acceptance string
	prefix     string
	ingestAddr string
	queryAddr  string
	serverToml string
	spoolDir   string
	tmpfs      string // mount point holding spoolDir (C only), "" when none
	agents     []string
}

func (c *collectorSpec) ingestURL() string { return "https://" + c.ingestAddr }
func (c *collectorSpec) queryURL() string  { return "http://" + c.queryAddr }

// daemonSpec is one `lightmetrics agent daemon` config set.
type daemonSpec struct {
	id        string
	dir       string
	agentToml string
	logFile   string
	group     string // "AB" or "C"
}

// workspace is everything written under the run directory.
type workspace struct {
	dir        string
	bin        string
	caFile     string
	queryToken string
	tokens     map[string]string // agent id → bearer token
	collectors []*collectorSpec  // A, B, C
	daemons    []*daemonSpec
	simAgents  []string
}

func (w *workspace) collector(name string) *collectorSpec {
	for _, c := range w.collectors {
		if c.name == name {
			return c
		}
	}
	return nil
}

// randomToken is 26 characters of base32 from crypto/rand.
func randomToken() string { return rand.Text() }

func writeFile(path, content string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), mode)
}

func simID(i int) string { return fmt.Sprintf("sim-%02d", i) }

// simGroup puts agents 0–29 on the s3_manifest pair and the rest on C.
func simGroup(i int) string {
	if i < 30 {
		return "AB"
	}
	return "C"
}

// newWorkspace writes the CA, certificates, tokens and configs of three
// collectors and two daemon agents under dir, on fixed free ports so a
// restarted collector keeps its addresses.
func newWorkspace(dir string, sims int, minio *miniotest.Server) (*workspace, error) {
	w := &workspace{dir: dir, queryToken: randomToken(), tokens: map[string]string{}}
	for i := range sims {
		w.simAgents = append(w.simAgents, simID(i))
	}
	for _, id := range append(append([]string{}, w.simAgents...), daemonAB, daemonC, junkID) {
		w.tokens[id] = randomToken()
	}
	ca, err := tlsutil.GenerateCA("lightmetrics soak CA", 24*time.Hour)
	if err != nil {
		return nil, err
	}
	srv, err := tlsutil.IssueServerCert(ca, []string{"127.0.0.1", "localhost"}, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	key, err := srv.KeyPEM()
	if err != nil {
		return nil, err
	}
	w.caFile = filepath.Join(dir, "ca.pem")
	if err := writeFile(w.caFile, string(ca.CertPEM()), 0o644); err != nil {
		return nil, err
	}
	ports, err := benchutil.FreePorts(6)
	if err != nil {
		return nil, err
	}
	groups := map[string][]string{}
	for i, id := range w.simAgents {
		groups[simGroup(i)] = append(groups[simGroup(i)], id)
	}
	groups["AB"] = append(groups["AB"], daemonAB, junkID)
	groups["C"] = append(groups["C"], daemonC, junkID)
	for i, name := range []string{"A", "B", "C"} {
		c := &collectorSpec{name: name, dir: filepath.Join(dir, "collector-"+strings.ToLower(name)),
			acceptance: "s3_manifest", prefix: prefixAB, agents: groups["AB"],
			ingestAddr: "127.0.0.1:" + ports[2*i], queryAddr: "127.0.0.1:" + ports[2*i+1]}
		c.spoolDir = filepath.Join(c.dir, "spool")
		if name == "C" {
			c.acceptance, c.prefix, c.agents = "local_spool", prefixC, groups["C"]
			c.tmpfs = filepath.Join(c.dir, "tmpfs")
			c.spoolDir = filepath.Join(c.tmpfs, "spool")
		}
		if err := w.writeCollector(c, srv.CertPEM(), ca.CertPEM(), key, minio); err != nil {
			return nil, err
		}
		w.collectors = append(w.collectors, c)
	}
	a, b, cc := w.collectors[0], w.collectors[1], w.collectors[2]
	for _, d := range []struct {
		id, group string
		eps       []*collectorSpec
	}{{daemonAB, "AB", []*collectorSpec{a, b}}, {daemonC, "C", []*collectorSpec{cc}}} {
		spec := &daemonSpec{id: d.id, group: d.group, dir: filepath.Join(dir, "agent-"+d.id),
			logFile: filepath.Join(dir, "logs", d.id+".log")}
		if err := w.writeDaemon(spec, d.eps); err != nil {
			return nil, err
		}
		w.daemons = append(w.daemons, spec)
	}
	return w, nil
}

func (w *workspace) writeCollector(c *collectorSpec, cert, ca, key []byte, minio *miniotest.Server) error {
	var tb strings.Builder
	for _, id := range c.agents {
		fmt.Fprintf(&tb, "[[tokens]]\nagent_id = %q\ntoken = %q\n\n", id, w.tokens[id])
	}
	s3 := minio.Config()
	files := []struct {
		name, content string
		mode          os.FileMode
	}{
		{"tls/fullchain.pem", string(cert) + string(ca), 0o644},
		{"tls/key.pem", string(key), 0o600},
		{"ingest-tokens.toml", tb.String(), 0o600},
		{"query-token", w.queryToken + "\n", 0o600},
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(c.dir, f.name), f.content, f.mode); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(c.spoolDir, 0o700); err != nil {
		return err
	}
	c.serverToml = filepath.Join(c.dir, "server.toml")
	return writeFile(c.serverToml, fmt.Sprintf(`# written by scripts/soak: collector %s
[ingest]
listen = %q
acceptance = %q
object_landing_interval_ms = %d
token_file = "ingest-tokens.toml"
read_header_timeout_ms = %d
read_timeout_ms = %d
write_timeout_ms = 20000
idle_timeout_ms = 60000

[ingest.tls]
cert_file = "tls/fullchain.pem"
key_file = "tls/key.pem"

[query]
listen = %q
token_file = "query-token"

[storage]
spool_dir = %q
cache_dir = "cache"

[dashboards]
definition_dirs = []

[object_store]
endpoint = %q
bucket = %q
prefix = %q
region = "us-east-1"
secure = false
path_style = true
access_key_file = %q
secret_key_file = %q
request_timeout_ms = 3000
poll_interval_ms = %d

[log]
level = "info"
`, c.name, c.ingestAddr, c.acceptance, landingIntervalMs, readHeaderTimeoutMs, readTimeoutMs,
		c.queryAddr, c.spoolDir, s3.Endpoint, s3.Bucket, c.prefix, s3.AccessKeyFile, s3.SecretKeyFile, pollIntervalMs), 0o640)
}

func (w *workspace) writeDaemon(d *daemonSpec, eps []*collectorSpec) error {
	var urls []string
	for _, c := range eps {
		urls = append(urls, fmt.Sprintf("%q", c.ingestURL()))
	}
	if err := writeFile(filepath.Join(d.dir, "token"), w.tokens[d.id]+"\n", 0o600); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(d.logFile), 0o755); err != nil {
		return err
	}
	d.agentToml = filepath.Join(d.dir, "agent.toml")
	return writeFile(d.agentToml, fmt.Sprintf(`# written by scripts/soak
agent_id = %q
endpoints = [%s]
auth_token_file = "token"
tls_ca_cert_file = %q
queue_dir = "queue"
interval_ms = %d
upload_timeout_ms = 5000

[processes]
mode = "off"

[[logs]]
source = "soak"
paths = [%q]
start_at = "beginning"

[log]
level = "info"
`, d.id, strings.Join(urls, ", "), w.caFile, agentIntervalMs, d.logFile), 0o640)
}

// buildBinary builds lightmetrics from the module at repo into dir.
func buildBinary(ctx context.Context, repo, dir string) (string, error) {
	bin := filepath.Join(dir, "lightmetrics")
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = repo
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
}

// checkConfigs runs the binary's own config checks on every file written,
// so a mistake here fails fast with the product's message.
func (w *workspace) checkConfigs(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var cmds [][]string
	for _, c := range w.collectors {
		cmds = append(cmds, []string{"collector", "check-config", c.serverToml})
	}
	for _, d := range w.daemons {
		cmds = append(cmds, []string{"agent", "check", d.agentToml})
	}
	for _, args := range cmds {
		out, err := exec.CommandContext(ctx, w.bin, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %s: %w\n%s", w.bin, strings.Join(args, " "), err, out)
		}
	}
	return nil
}
