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

// Version is the pinned github.com/minio/minio module version.
const Version = "v0.0.0-20260212201848-7aac2a2c5b7c"

// BucketName is the bucket Launch creates.
const BucketName = "lightmetrics-test"

// Binary finds the MinIO executable: $LM_MINIO_BIN, then minio on PATH,
// then the cache scripts/setup-minio.sh fills.
func Binary() (string, error) {
	if p := os.Getenv("LM_MINIO_BIN"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	home, _ := os.UserHomeDir()
	p := filepath.Join(home, ".cache", "lightmetrics", "tools", "minio-"+Version, "minio")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", errors.New("minio not found: run `bash scripts/setup-minio.sh` (builds the pinned MinIO once) or set LM_MINIO_BIN")
}

// Server is one MinIO process with its data directory.
type Server struct {
	bin, dir      string
	addr, console string
	AccessKey     string
	SecretKey     string
	accessKeyFile string
	secretKeyFile string
	logw          io.Writer
	mu            sync.Mutex
	cmd           *exec.Cmd
	exited        chan struct{}
}

// Launch starts MinIO with its data under dir and creates BucketName.
// Process output goes to logw.
func Launch(ctx context.Context, dir string, logw io.Writer) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dir: dir, addr: ports[0], console: ports[1], logw: logw,
		AccessKey: "lm-" + randHex(6), SecretKey: randHex(20)}
	s.accessKeyFile = filepath.Join(dir, "access-key")
	s.secretKeyFile = filepath.Join(dir, "secret-key")
	for path, v := range map[string]string{s.accessKeyFile: s.AccessKey, s.secretKeyFile: s.SecretKey} {
		if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
			return nil, err
		}
	}
	if err := s.Start(ctx); err != nil {
		return nil, err
	}
	b, err := s3.New(s.Config())
	if err == nil {
		// Health can turn green a moment before the object layer is up.
		for try := 0; ; try++ {
			if err = b.EnsureBucket(ctx); err == nil || try == 100 || ctx.Err() != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("miniotest: create bucket: %w", err)
	}
	return s, nil
}

// Start runs the server (again) on the same port and data directory and
// waits until it answers its health check.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("miniotest: already running")
	}
	cmd := exec.Command(s.bin, "server", "--quiet", "--address", s.addr, "--console-address", s.console, filepath.Join(s.dir, "data"))
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+s.AccessKey, "MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1")
	cmd.Stdout, cmd.Stderr = s.logw, s.logw
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("miniotest: start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.addr+"/minio/health/ready", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("miniotest: minio exited during start-up (see its log)")
		case <-ctx.Done():
			s.stopLocked()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stopLocked()
			return errors.New("miniotest: minio not healthy within 60s")
		}
	}
}

// Stop ends the server (SIGTERM, then SIGKILL after 10 s); its data stays
// for Start.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked()
}

func (s *Server) stopLocked() error {
	if s.cmd == nil {
		return nil
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
	return nil
}

// Kill ends the server with SIGKILL (fault injection).
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.cmd.Process.Kill()
		<-s.exited
		s.cmd = nil
	}
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

// Close stops the server for good.
func (s *Server) Close() error { return s.Stop() }

// Endpoint is host:port of the S3 API.
func (s *Server) Endpoint() string { return s.addr }

// Config is an s3.Config for this server: plain HTTP, path style,
// credentials from files, 5 s request timeout.
func (s *Server) Config() s3.Config {
	return s3.Config{Endpoint: s.addr, Bucket: BucketName, Region: "us-east-1", PathStyle: true,
		AccessKeyFile: s.accessKeyFile, SecretKeyFile: s.secretKeyFile, RequestTimeout: 5 * time.Second}
}

// Start launches a server for a test: it fails under CI (CI set) when the
// binary is missing and skips elsewhere; it stops with the test, printing
// the end of MinIO's log when the test failed.
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
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s, err := Launch(ctx, dir, logf)
	if err != nil {
		logf.Close()
		t.Fatalf("%v\n%s", err, tail(logPath, 40))
	}
	t.Cleanup(func() {
		s.Close()
		logf.Close()
		if t.Failed() {
			t.Logf("last lines of the MinIO log:\n%s", tail(logPath, 40))
		}
	})
	return s
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
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

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

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
