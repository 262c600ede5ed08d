// Package objstoretest is the one acceptance suite every objstore.Bucket
// implementation must pass: the in-memory one and the S3 backend against a
// real MinIO, so unit tests built on the memory bucket rely only on
// behaviour the real store has too.
package objstoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/lightmetrics/lightmetrics/pkg/objstore"
)

// Run runs the suite on the bucket open returns, then again through
// objstore.Prefixed. Subtests use their own key namespaces.
func Run(t *testing.T, open func(t *testing.T) objstore.Bucket) {
	t.Run("plain", func(t *testing.T) { run(t, open(t), "plain/") })
	t.Run("prefixed", func(t *testing.T) { run(t, objstore.Prefixed(open(t), "p/q"), "") })
}

func run(t *testing.T, b objstore.Bucket, ns string) {
	ctx := context.Background()
	put := func(t *testing.T, key string, data []byte) {
		t.Helper()
		if _, err := b.Put(ctx, key, data); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	get := func(t *testing.T, key string) []byte {
		t.Helper()
		got, err := b.Get(ctx, key, 0)
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		return got
	}
	list := func(t *testing.T, prefix, after string) []string {
		t.Helper()
		var keys []string
		if err := b.List(ctx, prefix, after, func(i objstore.ObjectInfo) error { keys = append(keys, i.Key); return nil }); err != nil {
			t.Fatalf("list %s after %q: %v", prefix, after, err)
		}
		return keys
	}

	t.Run("round trip", func(t *testing.T) {
		big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
		for key, data := range map[string][]byte{ns + "rt/empty": {}, ns + "rt/small": []byte("hello"), ns + "rt/1MiB": big} {
			info, err := b.Put(ctx, key, data)
			if err != nil {
				t.Fatalf("put %s: %v", key, err)
			}
			if info.Size != int64(len(data)) {
				t.Errorf("put %s: size %d, want %d", key, info.Size, len(data))
			}
			if got := get(t, key); !bytes.Equal(got, data) {
				t.Errorf("get %s: %d bytes differ from the %d put", key, len(got), len(data))
			}
		}
	})
	t.Run("overwrite", func(t *testing.T) {
		put(t, ns+"ow/k", []byte("one"))
		put(t, ns+"ow/k", []byte("two"))
		if got := get(t, ns+"ow/k"); string(got) != "two" {
			t.Fatalf("after overwrite: %q", got)
		}
	})
	t.Run("absent", func(t *testing.T) {
		if _, err := b.Get(ctx, ns+"absent/x", 0); !errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("get absent: %v", err)
		}
		if _, err := b.Stat(ctx, ns+"absent/x"); !errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("stat absent: %v", err)
		}
		if err := b.Delete(ctx, ns+"absent/x"); err != nil {
			t.Errorf("delete absent: %v", err)
		}
	})
	t.Run("stat", func(t *testing.T) {
		put(t, ns+"stat/k", []byte("12345"))
		info, err := b.Stat(ctx, ns+"stat/k")
		if err != nil || info.Size != 5 || info.ETag == "" || info.Key != ns+"stat/k" {
			t.Fatalf("stat: %+v %v", info, err)
		}
	})
	t.Run("get bound", func(t *testing.T) {
		put(t, ns+"bound/k", make([]byte, 100))
		if _, err := b.Get(ctx, ns+"bound/k", 99); !errors.Is(err, objstore.ErrTooLarge) {
			t.Fatalf("get over bound: %v", err)
		}
		if got, err := b.Get(ctx, ns+"bound/k", 100); err != nil || len(got) != 100 {
			t.Fatalf("get at bound: %d %v", len(got), err)
		}
	})
	t.Run("create", func(t *testing.T) {
		if _, err := b.Create(ctx, ns+"create/k", []byte("first")); err != nil {
			t.Fatalf("create: %v", err)
		}
		if _, err := b.Create(ctx, ns+"create/k", []byte("second")); !errors.Is(err, objstore.ErrExists) {
			t.Fatalf("second create: %v, want ErrExists", err)
		}
		if got := get(t, ns+"create/k"); string(got) != "first" {
			t.Fatalf("a losing create changed the object: %q", got)
		}
	})
	t.Run("create race", func(t *testing.T) {
		const n = 16
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = b.Create(ctx, ns+"race/k", []byte(fmt.Sprintf("writer %d", i)))
			}()
		}
		wg.Wait()
		wins, lost := -1, 0
		for i, err := range errs {
			switch {
			case err == nil:
				if wins >= 0 {
					t.Fatalf("writers %d and %d both won", wins, i)
				}
				wins = i
			case errors.Is(err, objstore.ErrExists):
				lost++
			default:
				t.Fatalf("writer %d: %v", i, err)
			}
		}
		if wins < 0 || lost != n-1 {
			t.Fatalf("winner %d, %d lost; want one winner", wins, lost)
		}
		if got := get(t, ns+"race/k"); string(got) != fmt.Sprintf("writer %d", wins) {
			t.Fatalf("object holds %q, winner was %d", got, wins)
		}
	})
	t.Run("list", func(t *testing.T) {
		keys := []string{ns + "list/b", ns + "list/a/2", ns + "list/a/1", ns + "list/c", ns + "listx"}
		for _, k := range keys {
			put(t, k, []byte(k))
		}
		want := []string{ns + "list/a/1", ns + "list/a/2", ns + "list/b", ns + "list/c"}
		if got := list(t, ns+"list/", ""); !slices.Equal(got, want) {
			t.Fatalf("list = %v, want %v", got, want)
		}
		if got := list(t, ns+"list/", ns+"list/a/2"); !slices.Equal(got, want[2:]) {
			t.Fatalf("list after a/2 = %v, want %v (strictly after)", got, want[2:])
		}
		if got := list(t, ns+"list/", ns+"list/bb"); !slices.Equal(got, want[3:]) {
			t.Fatalf("list after an absent key = %v, want %v", got, want[3:])
		}
		stop := errors.New("enough")
		seen := 0
		err := b.List(ctx, ns+"list/", "", func(objstore.ObjectInfo) error { seen++; return stop })
		if !errors.Is(err, stop) || seen != 1 {
			t.Fatalf("early stop: %v after %d", err, seen)
		}
	})
	t.Run("dirs", func(t *testing.T) {
		for _, k := range []string{"dirs/1/x", "dirs/2/y", "dirs/2/z", "dirs/3"} {
			put(t, ns+k, []byte("v"))
		}
		got, err := b.Dirs(ctx, ns+"dirs/")
		want := []string{ns + "dirs/1/", ns + "dirs/2/"}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("dirs = %v %v, want %v", got, err, want)
		}
	})
	t.Run("delete", func(t *testing.T) {
		put(t, ns+"del/k", []byte("v"))
		if err := b.Delete(ctx, ns+"del/k"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Get(ctx, ns+"del/k", 0); !errors.Is(err, objstore.ErrNotExist) {
			t.Fatalf("after delete: %v", err)
		}
	})
	t.Run("probe", func(t *testing.T) {
		if err := objstore.Probe(ctx, b); err != nil {
			t.Fatal(err)
		}
		if got := list(t, "probe/", ""); len(got) != 0 {
			t.Fatalf("probe left %v behind", got)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := b.Put(cctx, ns+"cancel/k", []byte("v")); err == nil {
			t.Fatal("put with a cancelled context succeeded")
		}
	})
}
