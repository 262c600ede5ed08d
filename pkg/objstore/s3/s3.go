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
	"github.com/minio/minio-go/v7/pkg/s3utils"

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
	// certificate (Secure only).
	CAFile string
	// AccessKeyFile and SecretKeyFile hold the credentials; when both are
	// empty AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are used.
	AccessKeyFile, SecretKeyFile string
	// PathStyle puts the bucket in the URL path (MinIO and most
	// self-hosted stores); otherwise the client picks virtual-host style
	// where the endpoint supports it.
	PathStyle bool
	// RequestTimeout bounds every request to the store, each page of a
	// listing on its own (0: only the caller's context).
	RequestTimeout time.Duration
}

// Bucket is one S3 bucket; safe for concurrent use.
type Bucket struct {
	client  *minio.Client
	bucket  string
	region  string
	name    string // "s3://bucket@endpoint", for logs and errors
	timeout time.Duration
}

var _ objstore.Bucket = (*Bucket)(nil)

// New builds the client. It reads the credential and CA files but sends no
// request, so a configuration check can call it.
func New(cfg Config) (*Bucket, error) {
	name := "s3://" + cfg.Bucket + "@" + cfg.Endpoint
	// minio-go checks the name on every request; checking it here turns
	// a typo into a configuration error instead of failing requests.
	if err := s3utils.CheckValidBucketName(cfg.Bucket); err != nil {
		return nil, fmt.Errorf("%s: bucket: %w", name, err)
	}
	creds, err := credentialsFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	tr, err := transport(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
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
		return nil, fmt.Errorf("%s: client: %w", name, err)
	}
	return &Bucket{client: c, bucket: cfg.Bucket, region: cfg.Region, name: name, timeout: cfg.RequestTimeout}, nil
}

func credentialsFor(cfg Config) (*credentials.Credentials, error) {
	if cfg.AccessKeyFile != "" || cfg.SecretKeyFile != "" {
		ak, err := readKey("access_key_file", cfg.AccessKeyFile)
		if err != nil {
			return nil, err
		}
		sk, err := readKey("secret_key_file", cfg.SecretKeyFile)
		if err != nil {
			return nil, err
		}
		return credentials.NewStaticV4(ak, sk, ""), nil
	}
	creds := credentials.NewEnvAWS()
	// The environment provider never fails; its error, were there one,
	// is left out all the same in case it quoted a value.
	if v, err := creds.GetWithContext(nil); err != nil || v.AccessKeyID == "" || v.SecretAccessKey == "" {
		return nil, errors.New("no credentials: set access_key_file/secret_key_file or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
	}
	return creds, nil
}

// readKey reads one credential file; errors name the file, never its
// content.
func readKey(field, path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("%s is required when the other key file is set", field)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	v := strings.TrimSpace(string(data))
	if v == "" {
		return "", fmt.Errorf("%s %s is empty", field, path)
	}
	return v, nil
}

func transport(cfg Config) (*http.Transport, error) {
	if cfg.CAFile != "" && !cfg.Secure {
		return nil, fmt.Errorf("ca_file %s is set but secure is false: the connection would not use TLS", cfg.CAFile)
	}
	tr, err := minio.DefaultTransport(cfg.Secure)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	if !cfg.Secure {
		return tr, nil
	}
	// Keep what minio-go sets up (SSL_CERT_FILE roots), only pin the floor.
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{}
	}
	tr.TLSClientConfig.MinVersion = tls.VersionTLS12
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", cfg.CAFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return tr, nil
}

// String is "s3://bucket@endpoint".
func (b *Bucket) String() string { return b.name }

// withTimeout bounds one request by the configured RequestTimeout.
func (b *Bucket) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if b.timeout > 0 {
		return context.WithTimeout(ctx, b.timeout)
	}
	return context.WithCancel(ctx)
}

// errorResponse is the S3 error in err, if there is one.
func errorResponse(err error) (minio.ErrorResponse, bool) {
	var r minio.ErrorResponse
	ok := errors.As(err, &r)
	return r, ok
}

// notFound tells a missing key from a missing bucket, which must stay an
// error: a typo in the bucket name is not "no object yet".
func notFound(err error) bool {
	r, ok := errorResponse(err)
	return ok && (r.Code == minio.NoSuchKey || r.StatusCode == http.StatusNotFound && r.Code != minio.NoSuchBucket)
}

// createLost reports that an If-None-Match: * put found an object there
// (412 PreconditionFailed). AWS's 409 ConditionalRequestConflict is not
// that: it means another conditional write to the key was in flight and
// may still fail, so the key may stay empty. Treating it as "exists" would
// let s3_manifest answer "duplicate" for a batch nobody stored; as a plain
// error it becomes a 503 and the sender retries, to meet the 412 or win.
func createLost(err error) bool {
	r, ok := errorResponse(err)
	return ok && (r.Code == minio.PreconditionFailed || r.StatusCode == http.StatusPreconditionFailed)
}

func (b *Bucket) put(ctx context.Context, key string, data []byte, opts minio.PutObjectOptions) (objstore.ObjectInfo, error) {
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	// Content-MD5 makes the store refuse a body corrupted on the way;
	// objects are small, so one request, no multipart.
	opts.SendContentMd5 = true
	opts.DisableMultipart = true
	opts.ContentType = "application/octet-stream"
	info, err := b.client.PutObject(ctx, b.bucket, key, bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		return objstore.ObjectInfo{}, err
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
	switch {
	case createLost(err):
		return info, fmt.Errorf("%s: create %s: %w (%w)", b.name, key, objstore.ErrExists, err)
	case err != nil:
		return info, fmt.Errorf("%s: create %s: %w", b.name, key, err)
	}
	return info, nil
}

// Get implements objstore.Bucket. It sends one GET and reads the size from
// its headers, so an object over maxBytes is refused without reading its
// body.
func (b *Bucket) Get(ctx context.Context, key string, maxBytes int64) ([]byte, error) {
	data, err := b.get(ctx, key, maxBytes)
	switch {
	case notFound(err):
		return nil, fmt.Errorf("%s: get %s: %w (%w)", b.name, key, objstore.ErrNotExist, err)
	case err != nil:
		return nil, fmt.Errorf("%s: get %s: %w", b.name, key, err)
	}
	return data, nil
}

func (b *Bucket) get(ctx context.Context, key string, maxBytes int64) ([]byte, error) {
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	body, info, _, err := minio.Core{Client: b.client}.GetObject(ctx, b.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	defer body.Close()
	if info.Size < 0 {
		return nil, errors.New("store sent no Content-Length")
	}
	if maxBytes > 0 && info.Size > maxBytes {
		return nil, fmt.Errorf("%d bytes, limit %d: %w", info.Size, maxBytes, objstore.ErrTooLarge)
	}
	// The +1 notices a body longer than its Content-Length without
	// reading an unbounded amount.
	data, err := io.ReadAll(io.LimitReader(body, info.Size+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(data)) != info.Size {
		return nil, fmt.Errorf("read %d bytes, object has %d", len(data), info.Size)
	}
	return data, nil
}

// Stat implements objstore.Bucket.
func (b *Bucket) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	st, err := b.client.StatObject(ctx, b.bucket, key, minio.StatObjectOptions{})
	switch {
	case notFound(err):
		return objstore.ObjectInfo{}, fmt.Errorf("%s: stat %s: %w (%w)", b.name, key, objstore.ErrNotExist, err)
	case err != nil:
		return objstore.ObjectInfo{}, fmt.Errorf("%s: stat %s: %w", b.name, key, err)
	}
	return objstore.ObjectInfo{Key: key, Size: st.Size, ETag: strings.Trim(st.ETag, `"`), Modified: st.LastModified}, nil
}

// List implements objstore.Bucket.
func (b *Bucket) List(ctx context.Context, prefix, startAfter string, fn func(objstore.ObjectInfo) error) error {
	var fnErr, orderErr error
	last := startAfter
	err := b.list(ctx, minio.ListObjectsOptions{Prefix: prefix, StartAfter: startAfter, Recursive: true}, func(o minio.ObjectInfo) bool {
		if o.Key <= startAfter {
			return true // some stores include the StartAfter key itself
		}
		// List's startAfter contract rests on the ascending order S3
		// promises: a store that breaks it must not go unnoticed.
		if o.Key <= last {
			orderErr = fmt.Errorf("store listed %q after %q: not in ascending order", o.Key, last)
			return false
		}
		last = o.Key
		fnErr = fn(objstore.ObjectInfo{Key: o.Key, Size: o.Size, ETag: strings.Trim(o.ETag, `"`), Modified: o.LastModified})
		return fnErr == nil
	})
	switch {
	case fnErr != nil:
		return fnErr
	case orderErr != nil:
		err = orderErr
	}
	if err != nil {
		return fmt.Errorf("%s: list %s after %q: %w", b.name, prefix, startAfter, err)
	}
	return nil
}

// Dirs implements objstore.Bucket: the common prefixes of a listing
// delimited by "/", which are the entries that end in "/" (minio-go hands
// them over after each page's objects).
func (b *Bucket) Dirs(ctx context.Context, prefix string) ([]string, error) {
	var dirs []string
	var orderErr error
	err := b.list(ctx, minio.ListObjectsOptions{Prefix: prefix, Recursive: false}, func(o minio.ObjectInfo) bool {
		// An object named exactly prefix (a "directory marker") is not a
		// directory under it.
		if o.Key == prefix || !strings.HasSuffix(o.Key, "/") {
			return true
		}
		if n := len(dirs); n > 0 && o.Key <= dirs[n-1] {
			orderErr = fmt.Errorf("store listed %q after %q: not in ascending order", o.Key, dirs[n-1])
			return false
		}
		dirs = append(dirs, o.Key)
		return true
	})
	if err == nil {
		err = orderErr
	}
	if err != nil {
		return nil, fmt.Errorf("%s: dirs %s: %w", b.name, prefix, err)
	}
	return dirs, nil
}

// list runs one listing, which minio-go pages by continuation token, and
// calls fn for each entry until fn returns false. RequestTimeout bounds
// each request rather than the whole listing: a watchdog cancels the
// listing once the store has sent nothing for that long, and it is paused
// while fn runs, so neither a long listing nor a slow caller is cut short.
func (b *Bucket) list(ctx context.Context, opts minio.ListObjectsOptions, fn func(minio.ObjectInfo) bool) error {
	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var watchdog *time.Timer
	if b.timeout > 0 {
		watchdog = time.AfterFunc(b.timeout, func() {
			cancel(fmt.Errorf("no answer within %s: %w", b.timeout, context.DeadlineExceeded))
		})
		defer watchdog.Stop()
	}
	noOwner := false
	opts.FetchOwner = &noOwner
	for o := range b.client.ListObjectsIter(lctx, b.bucket, opts) {
		if watchdog != nil {
			watchdog.Stop()
		}
		if o.Err != nil {
			if cause := context.Cause(lctx); cause != nil {
				return cause
			}
			return o.Err
		}
		if !fn(o) {
			return nil
		}
		if watchdog != nil {
			watchdog.Reset(b.timeout)
		}
	}
	// minio-go ends a listing silently when its context is done: without
	// this a timeout or a cancellation would look like the end of it.
	return context.Cause(lctx)
}

// Delete implements objstore.Bucket.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	if err := b.client.RemoveObject(ctx, b.bucket, key, minio.RemoveObjectOptions{}); err != nil && !notFound(err) {
		return fmt.Errorf("%s: delete %s: %w", b.name, key, err)
	}
	return nil
}

// EnsureBucket creates the bucket when it does not exist yet (tests, the
// demo); production buckets are made by their operators.
func (b *Bucket) EnsureBucket(ctx context.Context) error {
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	ok, err := b.client.BucketExists(ctx, b.bucket)
	if err != nil {
		return fmt.Errorf("%s: check bucket: %w", b.name, err)
	}
	if ok {
		return nil
	}
	err = b.client.MakeBucket(ctx, b.bucket, minio.MakeBucketOptions{Region: b.region})
	if r, isS3 := errorResponse(err); isS3 && r.Code == minio.BucketAlreadyOwnedByYou {
		return nil // made by a concurrent caller
	}
	if err != nil {
		return fmt.Errorf("%s: create bucket: %w", b.name, err)
	}
	return nil
}
