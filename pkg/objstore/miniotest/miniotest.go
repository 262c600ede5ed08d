// Package miniotest runs a real MinIO server on 127.0.0.1 for tests,
// benchmarks and the soak suite: the object-store code is proven against
// the S3 implementation operators run, never against a hand-written fake.
//
// The binary is the pinned MinIO release built by scripts/setup-minio.sh
// (which scripts/test.sh runs first); tests fail under CI when it is
// missing and skip elsewhere.
package miniotest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/objstore/s3"
)

// Version is the pinned github.com/minio/minio module version;
// scripts/setup-minio.sh reads it from here.
const Version = "v0.0.0-20260212201848-7aac2a2c5b7c"

// BucketName is the bucket Launch creates.
const BucketName = "lightmetrics-test"

const (
	// startTimeout bounds the wait for a (re)started server to serve.
	startTimeout = 60 * time.Second
	// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
	stopGrace = 10 * time.Second
	// launchAttempts: the free ports are picked before MinIO binds them,
	// so another process can take one in between; a new pair fixes that.
	launchAttempts = 3
)

// errExited is a start-up that ended because MinIO exited.
var errExited = errors.New("minio exited during start-up (see its log)")

// Binary finds the MinIO executable: $LM_MINIO_BIN, then minio on PATH,
// then the cache scripts/setup-minio.sh fills.
func Binary() (string, error) {
	const install = "run `bash scripts/setup-minio.sh` (builds the pinned MinIO once) or set LM_MINIO_BIN"
	if p := os.Getenv("LM_MINIO_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("minio not found: LM_MINIO_BIN=%s: %w; %s", p, err, install)
		}
		return p, nil
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "lightmetrics", "tools", "minio-"+Version, "minio")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("minio not found: " + install)
}

// Server is one MinIO process with its data directory. Its methods are
// safe for concurrent use.
type Server struct {
	// AccessKey and SecretKey are the root credentials, random per Launch.
	AccessKey, SecretKey string
	// Bucket is the bucket Launch created (BucketName).
	Bucket string

	bin, dir                     string
	addr, console                string
	accessKeyFile, secretKeyFile string
	logw                         io.Writer

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	closed bool
}

// Launch starts MinIO with its data under dir/data, credentials in files
// under dir, on free 127.0.0.1 ports, and creates BucketName. Process
// output goes to logw (nil: discarded). Close it when done.
func Launch(ctx context.Context, dir string, logw io.Writer) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if logw == nil {
		logw = io.Discard
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("miniotest: %w", err)
	}
	s := &Server{bin: bin, dir: dir, logw: logw, Bucket: BucketName,
		AccessKey: "lm-" + randHex(6), SecretKey: randHex(20),
		accessKeyFile: filepath.Join(dir, "access-key"), secretKeyFile: filepath.Join(dir, "secret-key")}
	for path, v := range map[string]string{s.accessKeyFile: s.AccessKey, s.secretKeyFile: s.SecretKey} {
		if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("miniotest: write credentials: %w", err)
		}
	}
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(2)
		if err != nil {
			return nil, fmt.Errorf("miniotest: pick ports: %w", err)
		}
		s.addr, s.console = ports[0], ports[1]
		err = s.Start(ctx)
		if err == nil {
			break
		}
		if !errors.Is(err, errExited) || attempt == launchAttempts {
			return nil, err
		}
		fmt.Fprintf(logw, "miniotest: %v; trying other ports\n", err)
	}
	if err := s.ensureBucket(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// ensureBucket creates the bucket, retrying briefly: the first requests
// after start-up can still meet a server finishing its initialisation.
func (s *Server) ensureBucket(ctx context.Context) error {
	b, err := s3.New(s.Config())
	if err != nil {
		return fmt.Errorf("miniotest: %w", err)
	}
	deadline := time.Now().Add(startTimeout)
	for {
		err = b.EnsureBucket(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("miniotest: create bucket: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("miniotest: create bucket: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Start runs the server (again, after Stop) on the same port and data
// directory and returns once it serves requests.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return errors.New("miniotest: server closed")
	case s.cmd != nil:
		return errors.New("miniotest: already running")
	}
	cmd := exec.Command(s.bin, "server", "--quiet",
		"--address", s.addr, "--console-address", s.console, filepath.Join(s.dir, "data"))
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.AccessKey, "MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off",
		// CI/CD mode: a 256 MiB buffer pool instead of half the machine's
		// memory, and no refusal of a data dir on the root disk.
		"MINIO_CI_CD=1")
	cmd.Stdout, cmd.Stderr = s.logw, s.logw
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("miniotest: start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the exit status of a server we stop says nothing
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	if err := s.waitReady(ctx); err != nil {
		if !errors.Is(err, errExited) {
			s.stopLocked()
		}
		s.cmd = nil
		return fmt.Errorf("miniotest: minio on %s: %w", s.addr, err)
	}
	return nil
}

// waitReady polls the liveness endpoint until it answers 200 without the
// "offline" status MinIO reports while its object layer starts.
func (s *Server) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	url := "http://" + s.addr + "/minio/health/live"
	deadline := time.Now().Add(startTimeout)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && resp.Header.Get("X-Minio-Server-Status") != "offline" {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %s", startTimeout)
		}
		select {
		case <-s.exited:
			return errExited
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop ends the server (SIGTERM, then SIGKILL after 10 s); its data
// directory stays for Start.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked()
}

func (s *Server) stopLocked() error {
	if s.cmd == nil {
		return nil
	}
	defer func() { s.cmd = nil }()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("miniotest: stop minio: %w", err)
	}
	select {
	case <-s.exited:
		return nil
	case <-time.After(stopGrace):
	}
	if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("miniotest: kill minio: %w", err)
	}
	<-s.exited
	return nil
}

// Kill ends the server with SIGKILL at once (fault injection); its data
// directory stays for Start.
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	defer func() { s.cmd = nil }()
	if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("miniotest: kill minio: %w", err)
	}
	<-s.exited
	return nil
}

// Pid is the running server's process id, 0 when stopped.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Close stops the server for good; Start fails afterwards. The data
// directory is left to whoever owns dir.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return s.stopLocked()
}

// Endpoint is host:port of the S3 API.
func (s *Server) Endpoint() string { return s.addr }

// Config is an s3.Config for this server: plain HTTP, path style,
// credentials from the 0600 files Launch wrote, 5 s request timeout.
func (s *Server) Config() s3.Config {
	return s3.Config{Endpoint: s.addr, Bucket: s.Bucket, Region: "us-east-1", PathStyle: true,
		AccessKeyFile: s.accessKeyFile, SecretKeyFile: s.secretKeyFile, RequestTimeout: 5 * time.Second}
}

// Start launches a server for a test, in a t.TempDir, closed when the test
// ends. When the binary is missing it fails under CI (CI set, as
// scripts/test.sh does) and skips elsewhere; when the test fails it logs
// the end of MinIO's output.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := Binary(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err.Error() + "; skipping (CI fails instead)")
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "minio.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*startTimeout)
	defer cancel()
	s, err := Launch(ctx, dir, logf)
	if err != nil {
		logf.Close()
		t.Fatalf("%v\nlast lines of the MinIO log:\n%s", err, tail(logPath, 40))
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		logf.Close()
		if t.Failed() {
			t.Logf("last lines of the MinIO log:\n%s", tail(logPath, 40))
		}
	})
	return s
}

// tail is the last n lines of the file at path, for a failure message.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// randHex is 2n random hex digits (crypto/rand.Read cannot fail).
func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freePorts returns n distinct 127.0.0.1:port addresses that were free a
// moment ago (all held open together so they differ).
func freePorts(n int) ([]string, error) {
	var out []string
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	return out, nil
}
