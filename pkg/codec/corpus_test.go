package codec

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the generated seed files in testdata/fuzz/FuzzDecode")

type seed struct {
	name  string
	data  []byte
	batch *batch.Batch // set for valid seeds: what data must decode to
}

// corpusSeeds generates the FuzzDecode seed corpus: valid encodings of
// varied batches, and mutations of them that reach each stage of Decode
// (header, checksum, zstd, body parser, caps).
func corpusSeeds(t testing.TB) []seed {
	t.Helper()
	enc, err := NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	var seeds []seed
	valid := map[string]*batch.Batch{}
	add := func(name string, b *batch.Batch) {
		data, err := enc.Encode(b)
		if err != nil {
			t.Fatalf("seed %s: %v", name, err)
		}
		valid[name] = b
		seeds = append(seeds, seed{name: "valid-" + name, data: data, batch: canonical(b)})
	}
	for _, tc := range roundTripCases() {
		if tc.name == "series with many samples" || tc.name == "logs with truncated flag" {
			continue // too large to be useful seeds
		}
		add(strings.ReplaceAll(tc.name, " ", "-"), tc.b)
	}
	add("host-1-cycle", hostBatch(2, 1))
	add("logs", &batch.Batch{AgentID: "db-1", Logs: []batch.LogRecord{
		{TimeNs: 1_700_000_000_000_000_000, Source: "postgres", Message: "checkpoint complete", Attrs: batch.Labels{{Name: "level", Value: "LOG"}}},
		{TimeNs: 1_700_000_000_100_000_000, Source: "postgres", Message: strings.Repeat("long line ", 30), Truncated: true}}})
	for i := int64(1); i <= 4; i++ {
		add(fmt.Sprintf("random-%d", i), randBatch(rand.New(rand.NewSource(i))))
	}

	mut := func(name string, data []byte) { seeds = append(seeds, seed{name: "mutated-" + name, data: data}) }
	hb, _ := enc.Encode(valid["heartbeat-only"])
	mut("truncated", hb[:len(hb)-3])
	mut("trailing", append(append([]byte(nil), hb...), 1, 2, 3))
	mut("version-2", edit(hb, func(d []byte) []byte { d[offVersion] = 2; return d }))
	mut("bad-checksum", edit(hb, func(d []byte) []byte { d[len(d)-2] ^= 0x10; return d }))
	for i, at := range []int{0, 5, 9, 17} {
		mut(fmt.Sprintf("zstd-flip-%d", i), edit(hb, func(d []byte) []byte {
			d[minHeader+int(d[offIDLen])+at] ^= 0x41
			return fixCRC(d)
		}))
	}
	// Body-level mutations, re-framed so they reach the parser.
	good := body{}.raw(1).v(1700000000000).s("h").s("v").s("linux").u(1).s("load1").raw(1).f(math.Float64bits(0.5)).
		u(1).series("up").u(1).s("job").s("node").u(2).v(1700000000000).v(10000).f(math.Float64bits(1)).f(0).
		u(1).v(5).s("syslog").s("hello").raw(1).u(0).
		u(1).v(6).s("dropped").raw(2).s("3 batches").u(0)
	mut("body-ok", frame(t, good))
	for i := 0; i < len(good); i += 7 {
		g := append([]byte(nil), good...)
		g[i] ^= 0xff
		mut(fmt.Sprintf("body-flip-%02d", i), frame(t, g))
	}
	mut("body-huge-series", frame(t, body{}.raw(0).u(1<<40)))
	mut("body-bad-utf8", frame(t, body{}.raw(0).u(1).s("\xff").raw(0).u(0).u(0).u(0).u(0)))
	mut("body-unsorted", frame(t, body{}.raw(0).u(1).series("s").u(2).s("b").s("").s("a").s("").u(0).u(0).u(0)))
	mut("bomb", assemble(rleFrame(1<<20, 128<<10, 64), 1<<20))
	return seeds
}

// TestFuzzCorpus keeps the committed seed corpus in step with its
// generator (go test -run TestFuzzCorpus -update-corpus rewrites it) and,
// since the valid seeds were written by earlier builds, checks that this
// decoder still reads them: the format-version promise.
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	seeds := corpusSeeds(t)
	if *updateCorpus {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, s := range seeds {
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s.data)
			if err := os.WriteFile(filepath.Join(dir, s.name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, dec := newPair(t, DefaultCaps())
	for _, s := range seeds {
		t.Run(s.name, func(t *testing.T) {
			data, err := readCorpusFile(filepath.Join(dir, s.name))
			if err != nil {
				t.Fatalf("%v (regenerate with: go test ./pkg/codec -run TestFuzzCorpus -update-corpus)", err)
			}
			got, err := dec.Decode(data)
			if s.batch == nil {
				// Some mutations (a flipped value byte) stay valid; the
				// rest must be refused as malformed.
				if err != nil && !errors.Is(err, ErrMalformed) {
					t.Fatalf("refused with %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("committed valid seed no longer decodes: %v", err)
			}
			sameBatch(t, got, s.batch)
		})
	}
}

// readCorpusFile reads a one-[]byte file in the go fuzz corpus format.
func readCorpusFile(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rest, ok := bytes.CutPrefix(raw, []byte("go test fuzz v1\n[]byte("))
	if !ok {
		return nil, fmt.Errorf("%s: not a go fuzz corpus file", path)
	}
	rest = bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(")"))
	s, err := strconv.Unquote(string(rest))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return []byte(s), nil
}
