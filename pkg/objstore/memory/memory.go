// Package memory is an in-memory objstore.Bucket for unit tests. It passes
// the same acceptance suite (objstore/objstoretest) as the S3 backend.
package memory

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/objstore"
)

type object struct {
	data []byte
	info objstore.ObjectInfo
}

// Bucket is safe for concurrent use.
type Bucket struct {
	mu      sync.RWMutex
	objects map[string]object
}

var _ objstore.Bucket = (*Bucket)(nil)

// New returns an empty bucket.
func New() *Bucket { return &Bucket{objects: map[string]object{}} }

// String names the bucket in logs and errors.
func (b *Bucket) String() string { return "memory" }

func store(data []byte, key string) object {
	sum := md5.Sum(data)
	return object{data: append([]byte(nil), data...), info: objstore.ObjectInfo{
		Key: key, Size: int64(len(data)), ETag: hex.EncodeToString(sum[:]), Modified: time.Now()}}
}

// Put implements objstore.Bucket.
func (b *Bucket) Put(ctx context.Context, key string, data []byte) (objstore.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return objstore.ObjectInfo{}, err
	}
	o := store(data, key)
	b.mu.Lock()
	b.objects[key] = o
	b.mu.Unlock()
	return o.info, nil
}

// Create implements objstore.Bucket.
func (b *Bucket) Create(ctx context.Context, key string, data []byte) (objstore.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return objstore.ObjectInfo{}, err
	}
	o := store(data, key)
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.objects[key]; ok {
		return objstore.ObjectInfo{}, fmt.Errorf("memory: create %s: %w", key, objstore.ErrExists)
	}
	b.objects[key] = o
	return o.info, nil
}

// Get implements objstore.Bucket.
func (b *Bucket) Get(ctx context.Context, key string, maxBytes int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.RLock()
	o, ok := b.objects[key]
	b.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("memory: get %s: %w", key, objstore.ErrNotExist)
	}
	if maxBytes > 0 && int64(len(o.data)) > maxBytes {
		return nil, fmt.Errorf("memory: get %s: %d bytes, limit %d: %w", key, len(o.data), maxBytes, objstore.ErrTooLarge)
	}
	return append([]byte(nil), o.data...), nil
}

// Stat implements objstore.Bucket.
func (b *Bucket) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return objstore.ObjectInfo{}, err
	}
	b.mu.RLock()
	o, ok := b.objects[key]
	b.mu.RUnlock()
	if !ok {
		return objstore.ObjectInfo{}, fmt.Errorf("memory: stat %s: %w", key, objstore.ErrNotExist)
	}
	return o.info, nil
}

func (b *Bucket) sortedKeys(prefix string) []string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var keys []string
	for k := range b.objects {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// List implements objstore.Bucket.
func (b *Bucket) List(ctx context.Context, prefix, startAfter string, fn func(objstore.ObjectInfo) error) error {
	for _, k := range b.sortedKeys(prefix) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if k <= startAfter {
			continue
		}
		b.mu.RLock()
		o, ok := b.objects[k]
		b.mu.RUnlock()
		if !ok {
			continue
		}
		if err := fn(o.info); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Dirs implements objstore.Bucket.
func (b *Bucket) Dirs(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var dirs []string
	for _, k := range b.sortedKeys(prefix) {
		rest := k[len(prefix):]
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			continue
		}
		d := prefix + rest[:i+1]
		if len(dirs) == 0 || dirs[len(dirs)-1] != d {
			dirs = append(dirs, d)
		}
	}
	return dirs, nil
}

// Delete implements objstore.Bucket.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.objects, key)
	b.mu.Unlock()
	return nil
}
