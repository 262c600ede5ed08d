// Package objstore is the small, context-first view of an S3-compatible
// bucket that landing and the s3_manifest acceptance path need: whole-object
// put (plain and create-only), get, stat, ordered listing and delete.
//
// Backends live in subpackages (objstore/s3 over minio-go, objstore/memory
// for unit tests) and every one of them passes the same acceptance suite in
// objstore/objstoretest, run in CI against a real MinIO server too. Keys are
// plain slash-separated strings; Prefixed roots a Bucket under a prefix.
package objstore

import (
	"context"
	"errors"
	"time"
)

// ErrNotExist is returned (wrapped) when the object asked for is not there.
var ErrNotExist = errors.New("objstore: object does not exist")

// ErrExists is returned (wrapped) by Create when an object already exists at
// the key: another writer won the conditional create.
var ErrExists = errors.New("objstore: object already exists")

// ErrTooLarge is returned (wrapped) by Get when the object is larger than
// the caller's bound; nothing beyond the bound is read.
var ErrTooLarge = errors.New("objstore: object larger than allowed")

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key  string
	Size int64
	// ETag as the store reports it, without quotes.
	ETag     string
	Modified time.Time
}

// Bucket is one bucket of an object store. Implementations are safe for
// concurrent use and honour ctx in every call.
type Bucket interface {
	// Put stores data at key, replacing any object there, and returns once
	// the store has confirmed it (an S3 backend sends Content-MD5 so a
	// corrupted upload is refused by the server).
	Put(ctx context.Context, key string, data []byte) (ObjectInfo, error)
	// Create stores data at key only when nothing is there yet
	// (If-None-Match: *). When an object exists, it returns ErrExists and
	// leaves that object alone. Of two concurrent Creates of one key, at most
	// one succeeds.
	Create(ctx context.Context, key string, data []byte) (ObjectInfo, error)
	// Get returns the whole object at key; ErrNotExist when absent,
	// ErrTooLarge when it is over maxBytes (maxBytes <= 0: no bound).
	Get(ctx context.Context, key string, maxBytes int64) ([]byte, error)
	// Stat describes the object at key; ErrNotExist when absent.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List calls fn for every object whose key starts with prefix and sorts
	// strictly after startAfter ("" for all), in ascending key order, until
	// fn returns an error (returned as is) or the listing ends.
	List(ctx context.Context, prefix, startAfter string, fn func(ObjectInfo) error) error
	// Dirs returns the distinct next path elements under prefix (which
	// should end in "/"), each as prefix+element+"/", in ascending order:
	// an S3 listing with delimiter "/".
	Dirs(ctx context.Context, prefix string) ([]string, error)
	// Delete removes the object at key; deleting an absent key is not an
	// error.
	Delete(ctx context.Context, key string) error
	// String names the bucket for logs and errors, never with credentials.
	String() string
}
