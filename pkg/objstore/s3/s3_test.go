package s3_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/objstore"
	"github.com/lightmetrics/lightmetrics/pkg/objstore/miniotest"
	"github.com/lightmetrics/lightmetrics/pkg/objstore/objstoretest"
	"github.com/lightmetrics/lightmetrics/pkg/objstore/s3"
)

// TestAcceptanceMinIO runs the objstore suite against a real MinIO. The
// suite keeps its keys apart, so every run shares one bucket.
func TestAcceptanceMinIO(t *testing.T) {
	srv := miniotest.Start(t)
	b := newBucket(t, srv.Config())
	objstoretest.Run(t, func(*testing.T) objstore.Bucket { return b })
}

func newBucket(t *testing.T, cfg s3.Config) *s3.Bucket {
	t.Helper()
	b, err := s3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestNewConfigErrors: New refuses what it cannot use, naming the file or
// setting at fault and never a credential's value.
func TestNewConfigErrors(t *testing.T) {
	const accessValue, secretValue = "AKID-VALUE-4242", "SECRET-VALUE-4242"
	dir := t.TempDir()
	ak := writeFile(t, filepath.Join(dir, "ak"), accessValue+"\n")
	sk := writeFile(t, filepath.Join(dir, "sk"), "  "+secretValue+" \n")
	emptyAK := writeFile(t, filepath.Join(dir, "empty-ak"), "")
	blankSK := writeFile(t, filepath.Join(dir, "blank-sk"), " \n\t\n")
	notPEM := writeFile(t, filepath.Join(dir, "ca.pem"), "not a certificate\n")
	missing := filepath.Join(dir, "missing")
	base := s3.Config{Endpoint: "127.0.0.1:1", Bucket: "bucket", AccessKeyFile: ak, SecretKeyFile: sk}
	with := func(f func(*s3.Config)) s3.Config { c := base; f(&c); return c }

	for _, tc := range []struct {
		name    string
		cfg     s3.Config
		wantErr string // "" for success
	}{
		{"key files", base, ""},
		{"empty access key file", with(func(c *s3.Config) { c.AccessKeyFile = emptyAK }), "access_key_file " + emptyAK + " is empty"},
		{"blank secret key file", with(func(c *s3.Config) { c.SecretKeyFile = blankSK }), "secret_key_file " + blankSK + " is empty"},
		{"missing secret key file", with(func(c *s3.Config) { c.SecretKeyFile = missing }), missing},
		{"bucket name too short", with(func(c *s3.Config) { c.Bucket = "b" }), "s3://b@127.0.0.1:1: bucket:"},
		{"only an access key file", with(func(c *s3.Config) { c.SecretKeyFile = "" }), "secret_key_file is required"},
		{"only a secret key file", with(func(c *s3.Config) { c.AccessKeyFile = "" }), "access_key_file is required"},
		{"ca file without TLS", with(func(c *s3.Config) { c.CAFile = notPEM }), "secure is false"},
		{"ca file without a certificate", with(func(c *s3.Config) { c.Secure, c.CAFile = true, notPEM }), notPEM + ": no PEM certificate"},
		{"missing ca file", with(func(c *s3.Config) { c.Secure, c.CAFile = true, missing }), missing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := s3.New(tc.cfg)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s := b.String(); s != "s3://bucket@127.0.0.1:1" {
					t.Errorf("String() = %q", s)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), accessValue) || strings.Contains(err.Error(), secretValue) {
				t.Fatalf("error quotes a credential: %v", err)
			}
		})
	}
}

// TestCredentialsFromEnvironment: without key files New takes the AWS
// variables, and says what to set when there are none.
func TestCredentialsFromEnvironment(t *testing.T) {
	srv := miniotest.Start(t)
	cfg := srv.Config()
	cfg.AccessKeyFile, cfg.SecretKeyFile = "", ""

	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	const want = "no credentials: set access_key_file/secret_key_file or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
	if _, err := s3.New(cfg); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("no credentials anywhere: %v, want %q", err, want)
	}

	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	b := newBucket(t, cfg)
	if _, err := b.Put(context.Background(), "env/k", []byte("v")); err != nil {
		t.Fatalf("put with credentials from the environment: %v", err)
	}
}

// TestWrongSecret: the store refuses, and neither the error nor the
// bucket's name quotes a secret.
func TestWrongSecret(t *testing.T) {
	srv := miniotest.Start(t)
	cfg := srv.Config()
	const wrong = "not-the-secret-4242"
	cfg.SecretKeyFile = writeFile(t, filepath.Join(t.TempDir(), "sk"), wrong+"\n")
	b := newBucket(t, cfg)
	_, err := b.Put(context.Background(), "k", []byte("v"))
	if err == nil {
		t.Fatal("put with a wrong secret key succeeded")
	}
	for _, secret := range []string{wrong, srv.SecretKey} {
		if strings.Contains(err.Error(), secret) || strings.Contains(b.String(), secret) {
			t.Fatalf("a secret shows: error %q, name %q", err, b)
		}
	}
	if errors.Is(err, objstore.ErrNotExist) || errors.Is(err, objstore.ErrExists) {
		t.Fatalf("refused credentials reported as %v", err)
	}
}

// ops is one call of every Bucket method, for tests that expect them all
// to fail the same way.
func ops(b objstore.Bucket) []struct {
	name string
	do   func(context.Context) error
} {
	return []struct {
		name string
		do   func(context.Context) error
	}{
		{"put", func(ctx context.Context) error { _, err := b.Put(ctx, "ops/k", []byte("v")); return err }},
		{"create", func(ctx context.Context) error { _, err := b.Create(ctx, "ops/new", []byte("v")); return err }},
		{"get", func(ctx context.Context) error { _, err := b.Get(ctx, "ops/k", 0); return err }},
		{"stat", func(ctx context.Context) error { _, err := b.Stat(ctx, "ops/k"); return err }},
		{"list", func(ctx context.Context) error {
			return b.List(ctx, "ops/", "", func(objstore.ObjectInfo) error { return nil })
		}},
		{"dirs", func(ctx context.Context) error { _, err := b.Dirs(ctx, ""); return err }},
		{"delete", func(ctx context.Context) error { return b.Delete(ctx, "ops/k") }},
	}
}

// TestStoppedServer: with the store down every call fails (none mistakes
// it for a missing object), and after a restart on the same data the
// objects are back.
func TestStoppedServer(t *testing.T) {
	srv := miniotest.Start(t)
	b := newBucket(t, srv.Config())
	ctx := context.Background()
	if _, err := b.Put(ctx, "ops/k", []byte("before")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, op := range ops(b) {
		if err := op.do(ctx); err == nil || errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("%s on a stopped server: %v, want an error other than ErrNotExist", op.name, err)
		}
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := b.Get(ctx, "ops/k", 0)
	if err != nil || string(got) != "before" {
		t.Fatalf("get after restart: %q, %v; want the object put before the stop", got, err)
	}
}

// TestRequestTimeout: a store that accepts connections but never answers
// (a hung server, a black-holed route) costs each call one request
// timeout, not a hang.
func TestRequestTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never read or answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})

	dir := t.TempDir()
	b := newBucket(t, s3.Config{Endpoint: ln.Addr().String(), Bucket: "silent", PathStyle: true, Region: "us-east-1",
		AccessKeyFile: writeFile(t, filepath.Join(dir, "ak"), "ak"), SecretKeyFile: writeFile(t, filepath.Join(dir, "sk"), "sk"),
		RequestTimeout: 300 * time.Millisecond})
	// The guard only keeps a broken timeout from hanging the test; the
	// check is that the request's own deadline ended each call.
	guard, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, op := range ops(b) {
		err := op.do(guard)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s on a silent server: %v, want the request's deadline exceeded", op.name, err)
		}
		if guard.Err() != nil {
			t.Fatalf("%s on a silent server ran until the test's guard: %v", op.name, err)
		}
	}
}

// TestEnsureBucket: a new bucket is made once and is usable; a missing
// bucket is an error, not a missing object.
func TestEnsureBucket(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()
	cfg := srv.Config()
	cfg.Bucket = "another-bucket"
	b := newBucket(t, cfg)
	if _, err := b.Get(ctx, "k", 0); err == nil || errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("get from a bucket that does not exist: %v, want an error other than ErrNotExist", err)
	}
	for range 2 {
		if err := b.EnsureBucket(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("put into the new bucket: %v", err)
	}
}
