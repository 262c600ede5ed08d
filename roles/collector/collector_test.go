package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/exitcode"
	"github.com/lightmetrics/lightmetrics/pkg/spool"
	"github.com/lightmetrics/lightmetrics/pkg/uplink"
)

func TestCheckConfig(t *testing.T) {
	e := newEnv(t, t.TempDir(), 2, "")
	var out bytes.Buffer
	if err := Check(context.Background(), e.serverToml, false, &out); err != nil {
		t.Fatalf("check-config of a good set: %v", err)
	}
	if lines := strings.Count(out.String(), "\n"); lines != 1 || !strings.Contains(out.String(), "OK") {
		t.Fatalf("want one OK line, got %q", out.String())
	}
	for _, secret := range append([]string{e.queryToken}, e.tokens["agent-000"]) {
		if strings.Contains(out.String(), secret) {
			t.Fatal("check-config output shows a token")
		}
	}

	tests := []struct {
		name   string
		mutate func(t *testing.T, dir string)
		want   []string
	}{
		{"series below floor", func(t *testing.T, dir string) {
			appendIngest(t, dir, "max_series_per_batch = 100")
		}, []string{"server.toml", "max_series_per_batch", "107"}},
		{"unknown key", func(t *testing.T, dir string) {
			appendIngest(t, dir, "max_serie_per_batch = 3000")
		}, []string{"server.toml:", "max_serie_per_batch"}},
		{"missing key file", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "tls/key.pem"))
		}, []string{"ingest.tls"}},
		{"missing query token", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "query-token"))
		}, []string{"query.token_file"}},
		{"object store key file missing", func(t *testing.T, dir string) {
			appendIngest(t, dir, `acceptance = "s3_manifest"`)
			b, _ := os.ReadFile(filepath.Join(dir, "server.toml"))
			os.WriteFile(filepath.Join(dir, "server.toml"), append(b, "\n[object_store]\nendpoint = \"127.0.0.1:9000\"\nbucket = \"lightmetrics\"\nsecure = false\naccess_key_file = \"nope/ak\"\nsecret_key_file = \"nope/sk\"\n"...), 0o640)
		}, []string{"object_store", "access_key_file", "nope/ak"}},
		{"object store without credentials", func(t *testing.T, dir string) {
			t.Setenv("AWS_ACCESS_KEY_ID", "")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "")
			b, _ := os.ReadFile(filepath.Join(dir, "server.toml"))
			os.WriteFile(filepath.Join(dir, "server.toml"), append(b, "\n[object_store]\nendpoint = \"127.0.0.1:9000\"\nbucket = \"lightmetrics\"\nsecure = false\n"...), 0o640)
		}, []string{"object_store", "no credentials", "AWS_ACCESS_KEY_ID"}},
		{"bad dashboard", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "dash/bad.toml"), "id = \"x\"\ntitel = \"typo\"\n", 0o644)
			replaceIn(t, filepath.Join(dir, "server.toml"), "definition_dirs = []", `definition_dirs = ["dash"]`)
		}, []string{"bad.toml", "titel"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, t.TempDir(), 1, "")
			tt.mutate(t, e.dir)
			var out bytes.Buffer
			err := Check(context.Background(), e.serverToml, false, &out)
			if err == nil {
				t.Fatal("check-config accepted a broken set")
			}
			if code := exitcode.Of(err); code != exitcode.Usage {
				t.Fatalf("exit code %d, want 2 (err %v)", code, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func appendIngest(t *testing.T, dir, line string) {
	replaceIn(t, filepath.Join(dir, "server.toml"), "[ingest]\n", "[ingest]\n"+line+"\n")
}

func replaceIn(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s has no %q", path, old)
	}
	if err := os.WriteFile(path, bytes.Replace(b, []byte(old), []byte(new), 1), 0o640); err != nil {
		t.Fatal(err)
	}
}

// TestServeEndToEnd drives a running collector over real TLS: batches from
// several agents, re-sends answered as duplicates, a wrong agent refused, the
// private listener guarded by the query token, and every acknowledged batch
// in the spool exactly once after a clean shutdown.
func TestServeEndToEnd(t *testing.T) {
	e := newEnv(t, t.TempDir(), 8, "")
	ingestAddr, queryAddr, stop := started(t, e)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	enc, err := codec.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	ctx := context.Background()

	const perAgent = 25
	var wg sync.WaitGroup
	for id := range e.tokens {
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			c := e.client(t, id, ingestAddr)
			for seq := uint64(1); seq <= perAgent; seq++ {
				body := encodeBatch(t, enc, id, seq)
				ack, err := c.Send(ctx, body)
				if err != nil || ack.Status != "accepted" || ack.Seq != seq || ack.AgentID != id {
					t.Errorf("%s seq %d: ack %+v err %v", id, seq, ack, err)
					return
				}
				if seq%5 == 0 { // a lost ack: the agent sends again
					ack, err := c.Send(ctx, body)
					if err != nil || ack.Status != "duplicate" {
						t.Errorf("%s seq %d re-sent: ack %+v err %v", id, seq, ack, err)
					}
				}
			}
		}(id)
	}
	wg.Wait()

	// agent-001's token cannot write agent-000's batch.
	c := e.client(t, "agent-001", ingestAddr)
	_, err = c.Send(ctx, encodeBatch(t, enc, "agent-000", 999))
	var setup *uplink.SetupError
	if !errors.As(err, &setup) || setup.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-agent write: %v, want 403", err)
	}

	// The private listener: healthz open, metrics behind the query token.
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+queryAddr+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz", ""); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
	if code, _ := get("/metrics", ""); code != 401 {
		t.Fatalf("metrics without token: %d, want 401", code)
	}
	code, body := get("/metrics", e.queryToken)
	if code != 200 || !strings.Contains(body, "lightmetrics_spool_group_commit_entries") || !strings.Contains(body, "lightmetrics_ingest_") {
		t.Fatalf("metrics with token: %d %.300s", code, body)
	}
	for _, tok := range e.tokens {
		if strings.Contains(body, tok) {
			t.Fatal("metrics leak an agent token")
		}
	}

	if err := stop(); err != nil {
		t.Fatalf("clean shutdown: %v", err)
	}
	stopped = true
	assertSpool(t, e, func(id string) uint64 { return perAgent })
}

// assertSpool opens the spool after the collector stopped and checks that
// each agent's batches 1..want(id) are there exactly once.
func assertSpool(t *testing.T, e *env, want func(id string) uint64) {
	t.Helper()
	sp, err := spool.Open(filepath.Join(e.dir, "spool"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	dec, err := codec.NewDecoder(codec.DefaultCaps())
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	seen := map[string]int{}
	err = sp.Scan(context.Background(), 0, func(_ uint64, _ int64, data []byte) error {
		b, err := dec.Decode(data)
		if err != nil {
			return err
		}
		seen[fmt.Sprintf("%s/%d", b.AgentID, b.Seq)]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for id := range e.tokens {
		for seq := uint64(1); seq <= want(id); seq++ {
			k := fmt.Sprintf("%s/%d", id, seq)
			if seen[k] != 1 {
				t.Errorf("%s stored %d times, want once", k, seen[k])
			}
		}
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s stored %d times", k, n)
		}
	}
}
