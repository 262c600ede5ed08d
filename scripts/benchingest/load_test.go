package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/ingest"
	"github.com/lightmetrics/lightmetrics/pkg/tokens"
	"github.com/lightmetrics/lightmetrics/scripts/benchutil"
)

// memAppender stores records in memory and counts what it stored, so the
// test can hold the load generator's counts against the server's.
type memAppender struct {
	mu      sync.Mutex
	seen    map[string]bool
	records int
	samples int
}

func (a *memAppender) Append(_ context.Context, rec ingest.Record) (ingest.Result, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := fmt.Sprintf("%d/%s/%d", rec.Kind, rec.AgentID, rec.Seq)
	if a.seen[k] {
		return ingest.Result{Duplicate: true}, nil
	}
	a.seen[k] = true
	a.records++
	a.samples += rec.Batch.SampleCount()
	return ingest.Result{}, nil
}

// TestLoadAgainstIngest runs the generator for a moment against the real
// ingest handler over TLS with a token table written by `benchingest
// tokens`, through both routes, and checks that what the summary says was
// acknowledged is exactly what the server stored.
func TestLoadAgainstIngest(t *testing.T) {
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "ingest-tokens.toml")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"tokens", "--agents", "4", "--out", tokFile}, &out, &errOut); code != 0 {
		t.Fatalf("tokens: exit %d: %s", code, errOut.String())
	}
	table, err := tokens.LoadTable(tokFile)
	if err != nil {
		t.Fatalf("the collector's loader refuses the written table: %v", err)
	}
	if table.Len() != 4 {
		t.Fatalf("table has %d agents, want 4", table.Len())
	}
	if fi, err := os.Stat(tokFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token table mode: %v %v", fi.Mode(), err)
	}
	creds, err := readTokens(tokFile)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range creds {
		if id, ok := table.Lookup(c.Token); !ok || id != benchAgentID(i) || c.ID != id {
			t.Fatalf("token %d authenticates %q (%v), read as agent %q", i, id, ok, c.ID)
		}
		if strings.Contains(out.String()+errOut.String(), c.Token) {
			t.Fatal("a token was printed")
		}
	}

	for _, tc := range []struct {
		target, path string
		rate         float64
	}{
		{targetLightmetrics, ingest.RouteBatches, 0},
		{targetRemoteWrite, ingest.RouteRemoteWrite, 0},
		{targetLightmetrics, ingest.RouteBatches, 40}, // paced: 4 batches in 100 ms
	} {
		t.Run(fmt.Sprintf("%s-rate%g", tc.target, tc.rate), func(t *testing.T) {
			app := &memAppender{seen: map[string]bool{}}
			h, err := ingest.New(app, ingest.NewTokenHolder(table), ingest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			srv := httptest.NewUnstartedServer(h)
			srv.EnableHTTP2 = true
			srv.StartTLS()
			defer srv.Close()

			cfg := &loadConfig{
				Target: tc.target, URL: srv.URL + tc.path, Agents: creds,
				Gen:        benchutil.GenOptions{SeriesPerBatch: 50, SamplesPerSeries: 4, StepMs: 10, StartMs: time.Now().UnixMilli(), FirstSeq: 1},
				MaxPerSend: 120, // 200 samples a batch: two requests
				Duration:   100 * time.Millisecond, Timeout: 5 * time.Second,
				TLS:  srv.Client().Transport.(*http.Transport).TLSClientConfig,
				Rate: tc.rate,
			}
			sum, err := runLoad(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(sum.Errors) > 0 {
				t.Fatalf("errors: %v %v", sum.Errors, sum.errSample)
			}
			if sum.Requests == 0 || sum.Samples == 0 {
				t.Fatalf("nothing sent: %+v", sum)
			}
			app.mu.Lock()
			defer app.mu.Unlock()
			if uint64(app.records) != sum.Requests || uint64(app.samples) != sum.Samples {
				t.Fatalf("server stored %d records with %d samples, summary says %d requests with %d samples",
					app.records, app.samples, sum.Requests, sum.Samples)
			}
			wantPerBatch := uint64(1)
			if tc.target == targetRemoteWrite {
				wantPerBatch = 2
			}
			if sum.Requests != sum.Batches*wantPerBatch || sum.Samples != sum.Batches*200 {
				t.Fatalf("%d batches, %d requests, %d samples: want %d requests and 200 samples a batch",
					sum.Batches, sum.Requests, sum.Samples, wantPerBatch)
			}
			if tc.rate > 0 && float64(sum.Batches) > tc.rate*cfg.Duration.Seconds()+float64(len(creds)) {
				t.Fatalf("paced at %g batches/s for %s, yet %d batches were sent", tc.rate, cfg.Duration, sum.Batches)
			}
			if sum.Latency.P50 <= 0 || sum.Latency.P50 > sum.Latency.P99 || sum.Latency.P99 > sum.Latency.Max {
				t.Fatalf("latency quantiles out of order: %+v", sum.Latency)
			}
		})
	}
}

// TestLoadFlags checks the command-line rules that keep a run meaningful.
func TestLoadFlags(t *testing.T) {
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "t.toml")
	if err := os.WriteFile(tokFile, []byte("[[tokens]]\nagent_id = 'a'\ntoken = 'aaaaaaaaaaaaaaaaaaaa'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string // in the usage error; "" means accepted
	}{
		{"lightmetrics over http", []string{"--url", "http://127.0.0.1:1", "--token", "x"}, "TLS only"},
		{"no credentials", []string{"--url", "https://127.0.0.1:1"}, "--tokens-file or --token"},
		{"token without agent id", []string{"--url", "https://127.0.0.1:1", "--token", "x"}, "--agent-id"},
		{"both credentials", []string{"--url", "https://127.0.0.1:1", "--token", "x", "--tokens-file", tokFile}, "exclusive"},
		{"more agents than tokens", []string{"--url", "https://127.0.0.1:1", "--tokens-file", tokFile, "--agents", "2"}, "only 1"},
		{"insecure for lightmetrics", []string{"--url", "https://127.0.0.1:1", "--tokens-file", tokFile, "--agents", "1", "--insecure-skip-verify"}, "remote-write peers only"},
		{"bad target", []string{"--target", "influx", "--url", "http://127.0.0.1:1"}, "--target"},
		{"zero duration", []string{"--target", "remote-write", "--url", "http://127.0.0.1:1", "--duration", "0s"}, "--duration"},
		{"remote write, no token", []string{"--target", "remote-write", "--url", "http://127.0.0.1:1"}, ""},
		{"one token, shared agent", []string{"--url", "https://127.0.0.1:1", "--token", "x", "--agent-id", "a", "--agents", "3"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f loadFlags
			fs := newLoadFlagSet(&f, &bytes.Buffer{})
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			cfg, err := f.config()
			var ue *usageError
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (!errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want a usage error about %q", err, tc.want)
			case tc.want == "" && f.agentID != "":
				// Simulated agents sharing one id must not share sequence numbers.
				if cfg.Agents[1].SeqBase == cfg.Agents[0].SeqBase {
					t.Fatal("agents sharing an id share sequence numbers")
				}
			}
		})
	}
}
