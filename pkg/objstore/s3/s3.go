// Package s3 is the objstore.Bucket of any S3-compatible store (AWS S3,
// MinIO, ...) over minio-go.
package s3

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/lightmetrics/lightmetrics/pkg/objstore"
)

// Config is what New needs; it mirrors [object_store] in server.toml.
type Config struct {
	// Endpoint is host:port without a scheme; Secure picks https.
	Endpoint string
	Bucket   string
	Region   string
	Secure   bool
	// CAFile, when set, replaces the system roots for the store's
	// certificate.
	CAFile string
	// AccessKeyFile and SecretKeyFile hold the credentials; when both are
	// empty AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are used.
	AccessKeyFile, SecretKeyFile string
	// PathStyle puts the bucket in the URL path (MinIO); otherwise the
	// client picks virtual-host style where the endpoint supports it.
	PathStyle bool
	// RequestTimeout bounds every request (0: only the caller's context).
	RequestTimeout time.Duration
}

// Bucket is safe for concurrent use.
type Bucket struct {
	c       *minio.Client
	bucket  string
	name    string
	timeout time.Duration
}

var _ objstore.Bucket = (*Bucket)(nil)

// New builds the client. It reads the credential and CA files but sends no
// request.
func New(cfg Config) (*Bucket, error) {
	creds, err := credentialsFor(cfg)
	if err != nil {
		return nil, err
	}
	tr, err := minio.DefaultTransport(cfg.Secure)
	if err != nil {
		return nil, fmt.Errorf("s3: transport: %w", err)
	}
	if cfg.Secure {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("s3: ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("s3: ca_file %s: no PEM certificate in it", cfg.CAFile)
			}
			tr.TLSClientConfig.RootCAs = pool
		}
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        creds,
		Secure:       cfg.Secure,
		Region:       cfg.Region,
		Transport:    tr,
		BucketLookup: lookup,
		// Callers retry with their own backoff; minio-go's retries on top
		// would multiply the wait on a store that is down.
		MaxRetries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: client for %s: %w", cfg.Endpoint, err)
	}
	return &Bucket{c: c, bucket: cfg.Bucket, name: "s3://" + cfg.Bucket + "@" + cfg.Endpoint, timeout: cfg.RequestTimeout}, nil
}

func credentialsFor(cfg Config) (*credentials.Credentials, error) {
	if cfg.AccessKeyFile != "" || cfg.SecretKeyFile != "" {
		ak, err := readKey(cfg.AccessKeyFile, "access_key_file")
		if err != nil {
			return nil, err
		}
		sk, err := readKey(cfg.SecretKeyFile, "secret_key_file")
		if err != nil {
			return nil, err
		}
		return credentials.NewStaticV4(ak, sk, ""), nil
	}
	creds := credentials.NewEnvAWS()
	if v, err := creds.GetWithContext(nil); err != nil || v.AccessKeyID == "" || v.SecretAccessKey == "" {
		return nil, errors.New("s3: no credentials: set access_key_file and secret_key_file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	return creds, nil
}

// readKey reads one credential file; errors name the file, never the value.
func readKey(path, key string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("s3: %s is required with the other key file", key)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("s3: %s: %w", key, err)
	}
	v := strings.TrimSpace(string(data))
	if v == "" {
		return "", fmt.Errorf("s3: %s %s is empty", key, path)
	}
	return v, nil
}

func (b *Bucket) String() string { return b.name }

func (b *Bucket) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if b.timeout > 0 {
		return context.WithTimeout(ctx, b.timeout)
	}
	return context.WithCancel(ctx)
}

// mapErr turns S3 error codes into the objstore sentinels.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	r := minio.ToErrorResponse(err)
	switch {
	case r.Code == "NoSuchKey" || r.StatusCode == http.StatusNotFound && r.Code != "NoSuchBucket":
		return fmt.Errorf("%w (%v)", objstore.ErrNotExist, err)
	case r.Code == "PreconditionFailed" || r.Code == "ConditionalRequestConflict" ||
		r.StatusCode == http.StatusPreconditionFailed || r.StatusCode == http.StatusConflict:
		return fmt.Errorf("%w (%v)", objstore.ErrExists, err)
	}
	return err
}

func (b *Bucket) put(ctx context.Context, key string, data []byte, opts minio.PutObjectOptions) (objstore.ObjectInfo, error) {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	opts.SendContentMd5 = true
	opts.DisableMultipart = true
	opts.ContentType = "application/octet-stream"
	info, err := b.c.PutObject(ctx, b.bucket, key, bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		return objstore.ObjectInfo{}, mapErr(err)
	}
	if info.Size != int64(len(data)) {
		return objstore.ObjectInfo{}, fmt.Errorf("store reports %d bytes stored, %d sent", info.Size, len(data))
	}
	return objstore.ObjectInfo{Key: key, Size: info.Size, ETag: strings.Trim(info.ETag, `"`), Modified: info.LastModified}, nil
}

// Put implements objstore.Bucket.
func (b *Bucket) Put(ctx context.Context, key string, data []byte) (objstore.ObjectInfo, error) {
	info, err := b.put(ctx, key, data, minio.PutObjectOptions{})
	if err != nil {
		return info, fmt.Errorf("%s: put %s: %w", b.name, key, err)
	}
	return info, nil
}

// Create implements objstore.Bucket with If-None-Match: *.
func (b *Bucket) Create(ctx context.Context, key string, data []byte) (objstore.ObjectInfo, error) {
	var opts minio.PutObjectOptions
	opts.SetMatchETagExcept("*")
	info, err := b.put(ctx, key, data, opts)
	if err != nil {
		return info, fmt.Errorf("%s: create %s: %w", b.name, key, err)
	}
	return info, nil
}

// Get implements objstore.Bucket.
func (b *Bucket) Get(ctx context.Context, key string, maxBytes int64) ([]byte, error) {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	obj, err := b.c.GetObject(ctx, b.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: get %s: %w", b.name, key, mapErr(err))
	}
	defer obj.Close()
	st, err := obj.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: get %s: %w", b.name, key, mapErr(err))
	}
	if maxBytes > 0 && st.Size > maxBytes {
		return nil, fmt.Errorf("%s: get %s: %d bytes, limit %d: %w", b.name, key, st.Size, maxBytes, objstore.ErrTooLarge)
	}
	limit := st.Size
	data, err := io.ReadAll(io.LimitReader(obj, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: get %s: %w", b.name, key, mapErr(err))
	}
	if int64(len(data)) != st.Size {
		return nil, fmt.Errorf("%s: get %s: read %d bytes, object has %d", b.name, key, len(data), st.Size)
	}
	return data, nil
}

// Stat implements objstore.Bucket.
func (b *Bucket) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	st, err := b.c.StatObject(ctx, b.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("%s: stat %s: %w", b.name, key, mapErr(err))
	}
	return objstore.ObjectInfo{Key: key, Size: st.Size, ETag: strings.Trim(st.ETag, `"`), Modified: st.LastModified}, nil
}

// List implements objstore.Bucket.
func (b *Bucket) List(ctx context.Context, prefix, startAfter string, fn func(objstore.ObjectInfo) error) error {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops minio-go's listing goroutine when fn ends early
	for o := range b.c.ListObjects(lctx, b.bucket, minio.ListObjectsOptions{Prefix: prefix, StartAfter: startAfter, Recursive: true}) {
		if o.Err != nil {
			return fmt.Errorf("%s: list %s: %w", b.name, prefix, mapErr(o.Err))
		}
		if o.Key <= startAfter {
			continue // some stores include the StartAfter key itself
		}
		if err := fn(objstore.ObjectInfo{Key: o.Key, Size: o.Size, ETag: strings.Trim(o.ETag, `"`), Modified: o.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Dirs implements objstore.Bucket.
func (b *Bucket) Dirs(ctx context.Context, prefix string) ([]string, error) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var dirs []string
	for o := range b.c.ListObjects(lctx, b.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: false}) {
		if o.Err != nil {
			return nil, fmt.Errorf("%s: list dirs %s: %w", b.name, prefix, mapErr(o.Err))
		}
		if strings.HasSuffix(o.Key, "/") {
			dirs = append(dirs, o.Key)
		}
	}
	return dirs, ctx.Err()
}

// Delete implements objstore.Bucket.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	if err := b.c.RemoveObject(ctx, b.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		if errors.Is(mapErr(err), objstore.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("%s: delete %s: %w", b.name, key, err)
	}
	return nil
}

// EnsureBucket creates the bucket when it does not exist (tests, the demo).
func (b *Bucket) EnsureBucket(ctx context.Context) error {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	ok, err := b.c.BucketExists(ctx, b.bucket)
	if err != nil {
		return fmt.Errorf("%s: check bucket: %w", b.name, err)
	}
	if ok {
		return nil
	}
	if err := b.c.MakeBucket(ctx, b.bucket, minio.MakeBucketOptions{}); err != nil {
		return fmt.Errorf("%s: create bucket: %w", b.name, err)
	}
	return nil
}
