package objcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func fetcher(calls *int, data []byte) func(context.Context) ([]byte, error) {
	return func(context.Context) ([]byte, error) { *calls++; return data, nil }
}

func TestHitMissAndLRUEviction(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir, 250)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	calls := 0
	obj := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 100) }
	for i := range 2 {
		if _, err := c.Get(ctx, fmt.Sprint("k", i), fetcher(&calls, obj(i))); err != nil {
			t.Fatal(err)
		}
	}
	// Touch k0 so k1 is the least recently used, then add k2: k1 goes.
	got, err := c.Get(ctx, "k0", fetcher(&calls, nil))
	if err != nil || !bytes.Equal(got, obj(0)) || calls != 2 {
		t.Fatalf("hit: %d bytes, %v, %d fetches", len(got), err, calls)
	}
	if _, err := c.Get(ctx, "k2", fetcher(&calls, obj(2))); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	if st.Entries != 2 || st.Bytes != 200 || st.Evictions != 1 || st.Hits != 1 || st.Misses != 3 {
		t.Fatalf("stats %+v", st)
	}
	before := calls
	if _, err := c.Get(ctx, "k1", fetcher(&calls, obj(1))); err != nil || calls != before+1 {
		t.Fatalf("evicted k1 was not fetched again (%d fetches)", calls-before)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"+ext))
	if len(files) != 2 {
		t.Fatalf("%d files on disk, want 2", len(files))
	}
}

func TestReopenKeepsEntriesAndTrims(t *testing.T) {
	dir := t.TempDir()
	c, _ := Open(dir, 1000)
	calls := 0
	base := time.Now().Add(-time.Hour)
	for i := range 5 {
		c.Get(context.Background(), fmt.Sprint("k", i), fetcher(&calls, make([]byte, 100)))
		// File times are the recency record; make them distinct, as they
		// are when reads are not microseconds apart.
		at := base.Add(time.Duration(i) * time.Minute)
		os.Chtimes(filepath.Join(dir, fileName(fmt.Sprint("k", i))), at, at)
	}
	os.WriteFile(filepath.Join(dir, "leftover.tmp"), []byte("x"), 0o600)
	c2, err := Open(dir, 250)
	if err != nil {
		t.Fatal(err)
	}
	if st := c2.Stats(); st.Entries != 2 || st.Bytes != 200 {
		t.Fatalf("after reopen with a smaller cap: %+v", st)
	}
	before := calls
	c2.Get(context.Background(), "k4", fetcher(&calls, nil))
	if calls != before {
		t.Fatal("a kept entry was fetched again")
	}
}

func TestOversizeAndFetchErrors(t *testing.T) {
	c, _ := Open(t.TempDir(), 10)
	calls := 0
	got, err := c.Get(context.Background(), "big", fetcher(&calls, make([]byte, 11)))
	if err != nil || len(got) != 11 || c.Stats().Entries != 0 {
		t.Fatalf("oversize object: %d %v %+v", len(got), err, c.Stats())
	}
	boom := errors.New("store down")
	if _, err := c.Get(context.Background(), "x", func(context.Context) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("fetch error: %v", err)
	}
	if _, err := Open(t.TempDir(), 0); err == nil {
		t.Fatal("zero cap accepted")
	}
}
