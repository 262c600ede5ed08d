package s3_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightmetrics/lightmetrics/pkg/objstore"
	"github.com/lightmetrics/lightmetrics/pkg/objstore/miniotest"
	"github.com/lightmetrics/lightmetrics/pkg/objstore/objstoretest"
	"github.com/lightmetrics/lightmetrics/pkg/objstore/s3"
)

// TestAcceptanceMinIO runs the objstore suite against a real MinIO.
func TestAcceptanceMinIO(t *testing.T) {
	srv := miniotest.Start(t)
	n := 0
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket {
		b, err := s3.New(srv.Config())
		if err != nil {
			t.Fatal(err)
		}
		n++
		// Each run gets its own prefix: the suite's keys must not meet.
		return objstore.Prefixed(b, "run"+strings.Repeat("x", n))
	})
}

func TestCredentialErrorsNameFileNotSecret(t *testing.T) {
	dir := t.TempDir()
	ak, sk := filepath.Join(dir, "ak"), filepath.Join(dir, "sk")
	os.WriteFile(ak, []byte("AKIDEXAMPLE\n"), 0o600)
	os.WriteFile(sk, []byte("   \n"), 0o600)
	_, err := s3.New(s3.Config{Endpoint: "127.0.0.1:1", Bucket: "b", AccessKeyFile: ak, SecretKeyFile: sk})
	if err == nil || !strings.Contains(err.Error(), sk) || strings.Contains(err.Error(), "AKIDEXAMPLE") {
		t.Fatalf("empty secret key file: %v", err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	if _, err := s3.New(s3.Config{Endpoint: "127.0.0.1:1", Bucket: "b"}); err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Fatalf("no credentials at all: %v", err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "envkey")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "envsecret")
	if _, err := s3.New(s3.Config{Endpoint: "127.0.0.1:1", Bucket: "b"}); err != nil {
		t.Fatalf("credentials from the environment: %v", err)
	}
}

func TestWrongSecretAndStoppedServer(t *testing.T) {
	srv := miniotest.Start(t)
	cfg := srv.Config()
	wrong := filepath.Join(t.TempDir(), "sk")
	os.WriteFile(wrong, []byte("not-the-secret-4242\n"), 0o600)
	cfg.SecretKeyFile = wrong
	b, err := s3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Put(context.Background(), "k", []byte("v"))
	if err == nil || strings.Contains(err.Error(), "not-the-secret-4242") || strings.Contains(err.Error(), srv.SecretKey) {
		t.Fatalf("wrong secret: %v", err)
	}
	good, err := s3.New(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := good.Put(context.Background(), "k", []byte("v")); err == nil {
		t.Fatal("put to a stopped server succeeded")
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := good.Put(context.Background(), "k", []byte("v")); err != nil {
		t.Fatalf("put after restart: %v", err)
	}
}
