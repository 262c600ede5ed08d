// Package objcache keeps recently read object-store objects on local disk
// (storage.cache_dir), bounded by a byte cap with least-recently-used
// eviction, so repeated queries over landed data do not fetch the same
// segments again.
//
// Entries are immutable (landed segment keys never change content), so
// there is no invalidation; the index is rebuilt from the directory at open
// (recency from file modification times, touched on every hit).
package objcache

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/atomicfile"
)

const ext = ".obj"

type entry struct {
	name string
	size int64
}

// Cache is safe for concurrent use.
type Cache struct {
	dir string
	max int64

	mu    sync.Mutex
	lru   *list.List // front = most recent; values are *entry
	byKey map[string]*list.Element
	size  int64

	hits, misses, evictions int64
}

// Stats are the cache's counters.
type Stats struct {
	Entries                 int
	Bytes                   int64
	Hits, Misses, Evictions int64
}

// Open indexes dir (creating it) and trims it to maxBytes.
func Open(dir string, maxBytes int64) (*Cache, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("objcache: cap must be positive, got %d", maxBytes)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("objcache: %w", err)
	}
	c := &Cache{dir: dir, max: maxBytes, lru: list.New(), byKey: map[string]*list.Element{}}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("objcache: read %s: %w", dir, err)
	}
	type found struct {
		e   entry
		mod time.Time
	}
	var fs []found
	for _, de := range des {
		if !strings.HasSuffix(de.Name(), ext) {
			continue // temp files of an interrupted write, or not ours
		}
		info, err := de.Info()
		if err != nil {
			continue
		}
		fs = append(fs, found{entry{de.Name(), info.Size()}, info.ModTime()})
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].mod.After(fs[j].mod) })
	for _, f := range fs {
		e := f.e
		c.byKey[e.name] = c.lru.PushBack(&e)
		c.size += e.size
	}
	c.mu.Lock()
	c.evictLocked()
	c.mu.Unlock()
	return c, nil
}

func fileName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:]) + ext
}

// Get returns the object at key from the cache, or calls fetch and keeps
// what it returns (when it fits the cap).
func (c *Cache) Get(ctx context.Context, key string, fetch func(context.Context) ([]byte, error)) ([]byte, error) {
	name := fileName(key)
	c.mu.Lock()
	el, ok := c.byKey[name]
	if ok {
		c.lru.MoveToFront(el)
	}
	c.mu.Unlock()
	if ok {
		data, err := os.ReadFile(filepath.Join(c.dir, name))
		if err == nil {
			now := time.Now()
			os.Chtimes(filepath.Join(c.dir, name), now, now)
			c.mu.Lock()
			c.hits++
			c.mu.Unlock()
			return data, nil
		}
		c.mu.Lock()
		c.removeLocked(name) // gone or unreadable: fetch again
		c.mu.Unlock()
	}
	data, err := fetch(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.misses++
	c.mu.Unlock()
	if int64(len(data)) > c.max {
		return data, nil
	}
	if err := atomicfile.Write(filepath.Join(c.dir, name), data, 0o600); err != nil {
		// A cache that cannot write still answers; the next read fetches.
		return data, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[name]; !ok {
		c.byKey[name] = c.lru.PushFront(&entry{name, int64(len(data))})
		c.size += int64(len(data))
	}
	c.evictLocked()
	return data, nil
}

func (c *Cache) removeLocked(name string) {
	if el, ok := c.byKey[name]; ok {
		c.size -= el.Value.(*entry).size
		c.lru.Remove(el)
		delete(c.byKey, name)
	}
}

func (c *Cache) evictLocked() {
	for c.size > c.max && c.lru.Len() > 0 {
		e := c.lru.Back().Value.(*entry)
		if err := os.Remove(filepath.Join(c.dir, e.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return // keep the index true to the disk; try again next time
		}
		c.removeLocked(e.name)
		c.evictions++
	}
}

// Stats returns a snapshot of the counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Entries: c.lru.Len(), Bytes: c.size, Hits: c.hits, Misses: c.misses, Evictions: c.evictions}
}
