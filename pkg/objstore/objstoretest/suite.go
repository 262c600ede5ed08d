// Package objstoretest is the one acceptance suite every objstore.Bucket
// implementation must pass: the in-memory one and the S3 backend against a
// real MinIO, so unit tests built on the memory bucket rely only on
// behaviour the real store has too.
package objstoretest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightmetrics/lightmetrics/pkg/objstore"
)

// Run runs the suite on buckets open returns: once on the bucket itself,
// once through objstore.Prefixed, then the Prefixed and Instrument
// wrappers' own checks. Everything happens under a fresh random key
// namespace and every subtest under its own part of it, so open may return
// the same shared bucket every time.
func Run(t *testing.T, open func(t *testing.T) objstore.Bucket) {
	ns := "suite-" + randomHex(t) + "/"
	t.Run("plain", func(t *testing.T) { run(t, open(t), ns+"plain/") })
	t.Run("prefixed", func(t *testing.T) { run(t, objstore.Prefixed(open(t), ns+"p/q"), "") })
	t.Run("prefix semantics", func(t *testing.T) { prefixSemantics(t, open(t), ns+"pfx/") })
	t.Run("instrument", func(t *testing.T) { instrument(t, open(t), ns+"instr/") })
}

// run is the behaviour every Bucket must have; keys live under ns.
func run(t *testing.T, b objstore.Bucket, ns string) {
	ctx := context.Background()

	t.Run("round trip", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			data []byte
		}{
			{"empty", []byte{}},
			{"small", []byte("hello")},
			{"1MiB", bytes.Repeat([]byte("0123456789abcdef"), 1<<16)},
		} {
			key := ns + "rt/" + tc.name
			info, err := b.Put(ctx, key, tc.data)
			if err != nil {
				t.Fatalf("put %s: %v", key, err)
			}
			if info.Key != key || info.Size != int64(len(tc.data)) || info.ETag == "" {
				t.Errorf("put %s: info %+v, want that key, size %d and an etag", key, info, len(tc.data))
			}
			if got := get(t, b, key); !bytes.Equal(got, tc.data) {
				t.Errorf("get %s: %d bytes differ from the %d put", key, len(got), len(tc.data))
			}
		}
	})

	t.Run("overwrite", func(t *testing.T) {
		put(t, b, ns+"ow/k", []byte("one"))
		put(t, b, ns+"ow/k", []byte("second"))
		if got := get(t, b, ns+"ow/k"); string(got) != "second" {
			t.Fatalf("after overwrite: %q, want %q", got, "second")
		}
	})

	t.Run("absent", func(t *testing.T) {
		if _, err := b.Get(ctx, ns+"absent/x", 0); !errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("get absent: %v, want ErrNotExist", err)
		}
		if _, err := b.Stat(ctx, ns+"absent/x"); !errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("stat absent: %v, want ErrNotExist", err)
		}
	})

	t.Run("stat", func(t *testing.T) {
		put1, err := b.Put(ctx, ns+"stat/k", []byte("12345"))
		if err != nil {
			t.Fatal(err)
		}
		info, err := b.Stat(ctx, ns+"stat/k")
		if err != nil {
			t.Fatal(err)
		}
		if info.Key != ns+"stat/k" || info.Size != 5 || info.ETag == "" || info.ETag != put1.ETag || info.Modified.IsZero() {
			t.Fatalf("stat: %+v; want key %s, size 5, the etag put returned (%q), a time", info, ns+"stat/k", put1.ETag)
		}
	})

	t.Run("get bound", func(t *testing.T) {
		put(t, b, ns+"bound/k", make([]byte, 100))
		if _, err := b.Get(ctx, ns+"bound/k", 99); !errors.Is(err, objstore.ErrTooLarge) {
			t.Errorf("get with bound 99 of 100 bytes: %v, want ErrTooLarge", err)
		}
		for _, bound := range []int64{100, 101, 0, -1} {
			if got, err := b.Get(ctx, ns+"bound/k", bound); err != nil || len(got) != 100 {
				t.Errorf("get with bound %d of 100 bytes: %d bytes, %v", bound, len(got), err)
			}
		}
	})

	t.Run("create", func(t *testing.T) {
		info, err := b.Create(ctx, ns+"create/k", []byte("first"))
		if err != nil {
			t.Fatalf("create on an absent key: %v", err)
		}
		if info.Key != ns+"create/k" || info.Size != 5 {
			t.Errorf("create: info %+v", info)
		}
		if _, err := b.Create(ctx, ns+"create/k", []byte("second")); !errors.Is(err, objstore.ErrExists) {
			t.Fatalf("second create: %v, want ErrExists", err)
		}
		if got := get(t, b, ns+"create/k"); string(got) != "first" {
			t.Fatalf("a losing create changed the object: %q", got)
		}
	})

	t.Run("create race", func(t *testing.T) {
		const n = 16
		key := ns + "race/k"
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = b.Create(ctx, key, fmt.Appendf(nil, "writer %d", i))
			})
		}
		close(start)
		wg.Wait()
		winner, lost := -1, 0
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("writers %d and %d both won the create", winner, i)
				}
				winner = i
			case errors.Is(err, objstore.ErrExists):
				lost++
			default:
				t.Errorf("writer %d: %v", i, err)
			}
		}
		if winner < 0 || lost != n-1 {
			t.Fatalf("%d won, %d got ErrExists; want exactly one winner and %d ErrExists", n-lost, lost, n-1)
		}
		if got := get(t, b, key); string(got) != fmt.Sprintf("writer %d", winner) {
			t.Fatalf("object holds %q, but writer %d won", got, winner)
		}
	})

	t.Run("list", func(t *testing.T) {
		// Put out of order; "listx" shares the string prefix but not the
		// "list/" one.
		for _, k := range []string{"list/b", "list/a/2", "list/a/1", "list/c", "listx"} {
			put(t, b, ns+k, []byte(k))
		}
		all := []string{ns + "list/a/1", ns + "list/a/2", ns + "list/b", ns + "list/c"}
		for _, tc := range []struct {
			name, prefix, after string
			want                []string
		}{
			{"all, ascending", ns + "list/", "", all},
			{"strictly after a key", ns + "list/", ns + "list/a/2", all[2:]},
			{"after an absent key", ns + "list/", ns + "list/bb", all[3:]},
			{"after the last key", ns + "list/", ns + "list/c", nil},
			{"after a key before the prefix", ns + "list/", ns + "lis", all},
			{"narrower prefix", ns + "list/a/", "", all[:2]},
			{"string prefix", ns + "list", "", append(slices.Clone(all), ns+"listx")},
			{"no match", ns + "list/zz", "", nil},
		} {
			if got := listKeys(t, b, tc.prefix, tc.after); !slices.Equal(got, tc.want) {
				t.Errorf("%s: list %q after %q = %v, want %v", tc.name, tc.prefix, tc.after, got, tc.want)
			}
		}
		var info objstore.ObjectInfo
		err := b.List(ctx, ns+"list/c", "", func(i objstore.ObjectInfo) error { info = i; return nil })
		if err != nil || info.Key != ns+"list/c" || info.Size != int64(len("list/c")) || info.ETag == "" {
			t.Errorf("list info: %+v, %v; want key, size and etag", info, err)
		}
	})

	t.Run("list stops early", func(t *testing.T) {
		for _, k := range []string{"stop/1", "stop/2", "stop/3"} {
			put(t, b, ns+k, []byte("v"))
		}
		stop := errors.New("enough")
		var seen []string
		err := b.List(ctx, ns+"stop/", "", func(i objstore.ObjectInfo) error {
			seen = append(seen, i.Key)
			if len(seen) == 2 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || !slices.Equal(seen, []string{ns + "stop/1", ns + "stop/2"}) {
			t.Fatalf("list stopped after 2: %v, saw %v; want the fn's error and 2 keys", err, seen)
		}
	})

	t.Run("list beyond one page", func(t *testing.T) {
		// More keys than one S3 listing page (1000) holds, each in its own
		// directory, so List and Dirs both continue across pages.
		const n = 1010
		keys := make([]string, n)
		dirs := make([]string, n)
		for i := range keys {
			dirs[i] = fmt.Sprintf("%smany/%04d/", ns, i)
			keys[i] = dirs[i] + "x"
		}
		putAll(t, b, keys)
		if got := listKeys(t, b, ns+"many/", ""); !slices.Equal(got, keys) {
			t.Errorf("list of %d keys: got %d, first difference at %d", n, len(got), firstDiff(got, keys))
		}
		if got := listKeys(t, b, ns+"many/", keys[999]); !slices.Equal(got, keys[1000:]) {
			t.Errorf("list after key 999: got %d keys, want %d", len(got), n-1000)
		}
		got, err := b.Dirs(ctx, ns+"many/")
		if err != nil || !slices.Equal(got, dirs) {
			t.Errorf("dirs of %d: got %d (%v), first difference at %d", n, len(got), err, firstDiff(got, dirs))
		}
	})

	t.Run("dirs", func(t *testing.T) {
		for _, k := range []string{"dirs/1/x", "dirs/2/y", "dirs/2/z", "dirs/3", "dirs/2/deep/w", "dirsx/9/v"} {
			put(t, b, ns+k, []byte("v"))
		}
		for _, tc := range []struct {
			prefix string
			want   []string
		}{
			// dirs/3 is an object, not a directory; dirsx/ is not under dirs/.
			{ns + "dirs/", []string{ns + "dirs/1/", ns + "dirs/2/"}},
			{ns + "dirs/2/", []string{ns + "dirs/2/deep/"}},
			{ns + "dirs/1/", nil},
			{ns + "nodirs/", nil},
		} {
			got, err := b.Dirs(ctx, tc.prefix)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("dirs %s = %v (%v), want %v", tc.prefix, got, err, tc.want)
			}
		}
	})

	t.Run("delete", func(t *testing.T) {
		put(t, b, ns+"del/k", []byte("v"))
		put(t, b, ns+"del/kept", []byte("v"))
		if err := b.Delete(ctx, ns+"del/k"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Get(ctx, ns+"del/k", 0); !errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("get after delete: %v, want ErrNotExist", err)
		}
		if got := listKeys(t, b, ns+"del/", ""); !slices.Equal(got, []string{ns + "del/kept"}) {
			t.Errorf("list after delete: %v", got)
		}
		if err := b.Delete(ctx, ns+"del/k"); err != nil {
			t.Errorf("delete again: %v, want nil", err)
		}
		if err := b.Delete(ctx, ns+"del/never"); err != nil {
			t.Errorf("delete of a key never written: %v, want nil", err)
		}
	})

	t.Run("probe", func(t *testing.T) {
		if err := objstore.Probe(ctx, objstore.Prefixed(b, ns)); err != nil {
			t.Fatal(err)
		}
		if got := listKeys(t, b, ns+"probe/", ""); len(got) != 0 {
			t.Fatalf("probe left %v behind", got)
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		put(t, b, ns+"cancel/there", []byte("v"))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		for _, tc := range []struct {
			op string
			do func() error
		}{
			{"put", func() error { _, err := b.Put(cctx, ns+"cancel/k", []byte("v")); return err }},
			{"create", func() error { _, err := b.Create(cctx, ns+"cancel/k", []byte("v")); return err }},
			{"get", func() error { _, err := b.Get(cctx, ns+"cancel/there", 0); return err }},
			{"stat", func() error { _, err := b.Stat(cctx, ns+"cancel/there"); return err }},
			{"list", func() error {
				return b.List(cctx, ns+"cancel/", "", func(objstore.ObjectInfo) error { return nil })
			}},
			{"dirs", func() error { _, err := b.Dirs(cctx, ns); return err }},
			{"delete", func() error { return b.Delete(cctx, ns+"cancel/there") }},
		} {
			if err := tc.do(); !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a cancelled context: %v, want context.Canceled", tc.op, err)
			}
		}
		if _, err := b.Stat(ctx, ns+"cancel/k"); !errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("a put with a cancelled context stored the object: stat %v", err)
		}
		if _, err := b.Stat(ctx, ns+"cancel/there"); err != nil {
			t.Errorf("a delete with a cancelled context removed the object: stat %v", err)
		}
	})
}

// prefixSemantics checks what Prefixed promises on top of the suite:
// normalisation, where keys land in the bucket, and relative keys out.
func prefixSemantics(t *testing.T, raw objstore.Bucket, ns string) {
	ctx := context.Background()
	for _, empty := range []string{"", "/", "//"} {
		if got := objstore.Prefixed(raw, empty); got != raw {
			t.Errorf("Prefixed(b, %q) = %v, want b itself", empty, got)
		}
	}
	// A neighbour that shares the prefix as a string but not as a
	// directory must stay out of sight.
	put(t, raw, ns+"a/bc/x", []byte("neighbour"))
	var keys, dirs []string
	for i, spelling := range []string{ns + "a/b", "/" + ns + "a/b", ns + "a/b/", "/" + ns + "a/b//"} {
		p := objstore.Prefixed(raw, spelling)
		if s := p.String(); !strings.Contains(s, raw.String()) || !strings.Contains(s, ns+"a/b/") {
			t.Errorf("Prefixed(%q).String() = %q, want the bucket and the prefix", spelling, s)
		}
		dir := fmt.Sprintf("k%d/", i)
		key := dir + "x"
		data := []byte(spelling)
		keys, dirs = append(keys, key), append(dirs, dir)
		if info, err := p.Put(ctx, key, data); err != nil || info.Key != key {
			t.Fatalf("Prefixed(%q): put %s: %+v, %v; want the relative key back", spelling, key, info, err)
		}
		if got := get(t, raw, ns+"a/b/"+key); !bytes.Equal(got, data) {
			t.Errorf("Prefixed(%q): the bucket holds %q at %s, want %q", spelling, got, ns+"a/b/"+key, data)
		}
		if info, err := p.Stat(ctx, key); err != nil || info.Key != key {
			t.Errorf("Prefixed(%q): stat %s: %+v, %v", spelling, key, info, err)
		}
		if got := listKeys(t, p, "", ""); !slices.Equal(got, keys) {
			t.Errorf("Prefixed(%q): list = %v, want %v", spelling, got, keys)
		}
		if got := listKeys(t, p, "", keys[0]); !slices.Equal(got, keys[1:]) {
			t.Errorf("Prefixed(%q): list after %s = %v, want %v", spelling, keys[0], got, keys[1:])
		}
		if got, err := p.Dirs(ctx, ""); err != nil || !slices.Equal(got, dirs) {
			t.Errorf("Prefixed(%q): dirs = %v (%v), want %v", spelling, got, err, dirs)
		}
		if _, err := p.Create(ctx, key, data); !errors.Is(err, objstore.ErrExists) {
			t.Errorf("Prefixed(%q): create of an existing key: %v, want ErrExists", spelling, err)
		}
	}
	p := objstore.Prefixed(raw, ns+"a/b")
	if err := p.Delete(ctx, keys[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Stat(ctx, ns+"a/b/"+keys[0]); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("delete through Prefixed left the object in the bucket: stat %v", err)
	}
}

// instrument checks Instrument's series after a known set of requests.
func instrument(t *testing.T, raw objstore.Bucket, ns string) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	b := objstore.Instrument(objstore.Prefixed(raw, ns), reg)
	if b.String() != objstore.Prefixed(raw, ns).String() {
		t.Errorf("String() = %q, want the wrapped bucket's", b.String())
	}
	put(t, b, "k", []byte("12345"))
	get(t, b, "k")
	if _, err := b.Get(ctx, "absent", 0); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("get absent: %v", err)
	}
	if _, err := b.Create(ctx, "k", []byte("x")); !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("create existing: %v", err)
	}
	stop := errors.New("stop")
	if err := b.List(ctx, "", "", func(objstore.ObjectInfo) error { return stop }); err != stop {
		t.Fatalf("list: %v, want the fn's error as is", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.Stat(cctx, "k"); err == nil {
		t.Fatal("stat with a cancelled context succeeded")
	}
	// A second bucket on the same registry adds to the same series.
	b2 := objstore.Instrument(objstore.Prefixed(raw, ns), reg)
	if err := b2.Delete(ctx, "absent"); err != nil {
		t.Fatal(err)
	}

	got := gather(t, reg)
	for series, want := range map[string]float64{
		`lightmetrics_objstore_requests_total{op="put",outcome="ok"}`:           1,
		`lightmetrics_objstore_requests_total{op="get",outcome="ok"}`:           1,
		`lightmetrics_objstore_requests_total{op="get",outcome="not_found"}`:    1,
		`lightmetrics_objstore_requests_total{op="create",outcome="exists"}`:    1,
		`lightmetrics_objstore_requests_total{op="list",outcome="ok"}`:          1,
		`lightmetrics_objstore_requests_total{op="stat",outcome="error"}`:       1,
		`lightmetrics_objstore_requests_total{op="delete",outcome="ok"}`:        1,
		`lightmetrics_objstore_request_duration_seconds_count{op="get"}`:        2,
		`lightmetrics_objstore_request_duration_seconds_count{op="create"}`:     1,
		`lightmetrics_objstore_bytes_written_total`:                             5,
		`lightmetrics_objstore_bytes_read_total`:                                5,
		`lightmetrics_objstore_requests_total{op="create",outcome="ok"}`:        0,
		`lightmetrics_objstore_requests_total{op="list",outcome="error"}`:       0,
		`lightmetrics_objstore_request_duration_seconds_count{op="dirs"}`:       0,
		`lightmetrics_objstore_requests_total{op="put",outcome="not_found"}`:    0,
		`lightmetrics_objstore_requests_total{op="delete",outcome="not_found"}`: 0,
	} {
		if got[series] != want {
			t.Errorf("%s = %v, want %v", series, got[series], want)
		}
	}

	// Without a registry the series go to a private one, never the
	// global registry.
	objstore.Instrument(raw, nil)
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "lightmetrics_objstore_") {
			t.Errorf("Instrument(b, nil) registered %s globally", f.GetName())
		}
	}
}

// gather flattens reg into series → value: counters by name{labels},
// histograms by their _count.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			suffix := ""
			if len(labels) > 0 {
				suffix = "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.GetCounter() != nil:
				out[f.GetName()+suffix] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				out[f.GetName()+"_count"+suffix] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func put(t *testing.T, b objstore.Bucket, key string, data []byte) {
	t.Helper()
	if _, err := b.Put(context.Background(), key, data); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func get(t *testing.T, b objstore.Bucket, key string) []byte {
	t.Helper()
	got, err := b.Get(context.Background(), key, 0)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return got
}

// putAll puts every key (its name as content) from a few goroutines, as a
// real store takes a while for a thousand sequential requests.
func putAll(t *testing.T, b objstore.Bucket, keys []string) {
	t.Helper()
	const workers = 16
	work := make(chan string)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for k := range work {
				if _, err := b.Put(context.Background(), k, []byte(k)); err != nil {
					errs <- fmt.Errorf("put %s: %w", k, err)
					for range work { // drain so the sender finishes
					}
					return
				}
			}
		})
	}
	for _, k := range keys {
		work <- k
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func listKeys(t *testing.T, b objstore.Bucket, prefix, after string) []string {
	t.Helper()
	var keys []string
	err := b.List(context.Background(), prefix, after, func(i objstore.ObjectInfo) error {
		keys = append(keys, i.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("list %s after %q: %v", prefix, after, err)
	}
	return keys
}

// firstDiff is the first index where a and b differ (for a short message
// about two long lists).
func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func randomHex(t *testing.T) string {
	t.Helper()
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(r[:])
}
