package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/exitcode"
	"github.com/lightmetrics/lightmetrics/pkg/landing"
	"github.com/lightmetrics/lightmetrics/pkg/objstore"
	"github.com/lightmetrics/lightmetrics/pkg/objstore/miniotest"
	"github.com/lightmetrics/lightmetrics/pkg/objstore/s3"
	"github.com/lightmetrics/lightmetrics/pkg/segment"
	"github.com/lightmetrics/lightmetrics/pkg/spool"
	"github.com/lightmetrics/lightmetrics/pkg/uplink"
)

// objectStoreSection is the [object_store] of a test server.toml pointing at
// a MinIO started by the test, under its own prefix.
func objectStoreSection(srv *miniotest.Server, prefix string) string {
	c := srv.Config()
	return fmt.Sprintf(`
[object_store]
endpoint = %q
bucket = %q
prefix = %q
region = "us-east-1"
secure = false
path_style = true
access_key_file = %q
secret_key_file = %q
request_timeout_ms = 3000
poll_interval_ms = 200
`, c.Endpoint, c.Bucket, prefix, c.AccessKeyFile, c.SecretKeyFile)
}

// bucketAt opens the test bucket under prefix, the way the collector does.
func bucketAt(t *testing.T, srv *miniotest.Server, prefix string) objstore.Bucket {
	t.Helper()
	b, err := s3.New(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	return objstore.Prefixed(b, prefix)
}

type agentSeq struct {
	agent string
	seq   uint64
}

// landedRecords decodes every landed segment and counts each (agent, seq);
// it fails the test on overlapping spool ranges, which would mean a range
// was landed twice under different keys.
func landedRecords(t *testing.T, b objstore.Bucket) (map[agentSeq]int, int) {
	t.Helper()
	ctx := context.Background()
	got := map[agentSeq]int{}
	type span struct{ first, last uint64 }
	spans := map[string][]span{}
	objects := 0
	err := b.List(ctx, segment.BatchesDir, "", func(info objstore.ObjectInfo) error {
		objects++
		data, err := b.Get(ctx, info.Key, 0)
		if err != nil {
			return err
		}
		seg, err := segment.Decode(data, segment.DefaultCaps())
		if err != nil {
			return fmt.Errorf("%s: %w", info.Key, err)
		}
		c, first, last, err := segment.ParseBatchKey(info.Key)
		if err != nil {
			return err
		}
		spans[c] = append(spans[c], span{first, last})
		for _, r := range seg.Records {
			h, err := codec.PeekHeader(r.Body)
			if err != nil || h.AgentID != r.AgentID || h.Seq != r.Seq {
				return fmt.Errorf("%s: record %d body does not match its identity (%v)", info.Key, r.SpoolSeq, err)
			}
			got[agentSeq{r.AgentID, r.Seq}]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for c, ss := range spans {
		sort.Slice(ss, func(i, j int) bool { return ss[i].first < ss[j].first })
		for i := 1; i < len(ss); i++ {
			if ss[i].first <= ss[i-1].last {
				t.Fatalf("collector %s: segments %d-%d and %d-%d overlap", c, ss[i-1].first, ss[i-1].last, ss[i].first, ss[i].last)
			}
		}
	}
	return got, objects
}

// waitFor polls cond every 50 ms up to limit; it reports how long it took.
// The limit is a liveness bound, generous for a loaded machine, not a
// performance assertion.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	last := ""
	for time.Since(start) < limit {
		ok, state := cond()
		if ok {
			return time.Since(start)
		}
		last = state
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not true after %v (%s)", what, limit, last)
	return 0
}

func TestLandingCatchesUpAfterStoreOutage(t *testing.T) {
	srv := miniotest.Start(t)
	const interval = 500 * time.Millisecond
	e := newEnv(t, t.TempDir(), 3, fmt.Sprintf("object_landing_interval_ms = %d\n%s", interval.Milliseconds(), objectStoreSection(srv, "outage")))
	b := bucketAt(t, srv, "outage")
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	ingestAddr, _, stop := started(t, e)
	enc, err := codec.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	want := map[agentSeq]bool{}
	for id := range e.tokens {
		c := e.client(t, id, ingestAddr)
		for seq := uint64(1); seq <= 10; seq++ {
			ack, err := c.Send(context.Background(), encodeBatch(t, enc, id, seq))
			if err != nil || ack.Status != "accepted" {
				t.Fatalf("%s/%d with the store down: %+v %v (local_spool must keep accepting)", id, seq, ack, err)
			}
			want[agentSeq{id, seq}] = true
		}
	}
	time.Sleep(2 * interval) // landing passes fail meanwhile
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, 60*time.Second, "all acknowledged batches landed", func() (bool, string) {
		got, _ := landedRecords(t, b)
		return len(got) == len(want), fmt.Sprintf("%d of %d landed", len(got), len(want))
	})
	t.Logf("store back: all %d batches landed after %v (landing interval %v)", len(want), took.Round(time.Millisecond), interval)
	got, objects := landedRecords(t, b)
	for k, n := range got {
		if !want[k] || n != 1 {
			t.Errorf("%v landed %d times (acknowledged: %v)", k, n, want[k])
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(context.Background(), segment.CollectorIndexKey(firstCollector(t, b))); err != nil {
		t.Errorf("collector index object: %v", err)
	}
	t.Logf("%d segments", objects)
}

func firstCollector(t *testing.T, b objstore.Bucket) string {
	t.Helper()
	var c string
	err := b.List(context.Background(), segment.BatchesDir, "", func(info objstore.ObjectInfo) error {
		c, _, _, _ = segment.ParseBatchKey(info.Key)
		return errStopList
	})
	if err != nil && err != errStopList {
		t.Fatal(err)
	}
	return c
}

var errStopList = fmt.Errorf("stop")

// TestLandingSurvivesSIGKILL kills a landing collector at random moments
// while agents post batches, restarts it on the same spool, and checks the
// bucket: every acknowledged batch landed exactly once, no spool range in
// two segments.
func TestLandingSurvivesSIGKILL(t *testing.T) {
	srv := miniotest.Start(t)
	const agents, kills = 4, 8
	e := newEnv(t, t.TempDir(), agents, "object_landing_interval_ms = 5\n"+objectStoreSection(srv, "kill"))
	b := bucketAt(t, srv, "kill")
	enc, err := codec.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	rng := rand.New(rand.NewPCG(7, 42))
	midUpload := 0
	load := newAgentLoad(e, enc)
	for round := 0; round <= kills; round++ {
		cmd, addr := startChild(t, e.serverToml)
		if addr == "" {
			t.Fatalf("round %d: child never became ready", round)
		}
		ctx, cancel := context.WithCancel(context.Background())
		firstAck, wait := load.start(t, ctx, addr)
		select {
		case <-firstAck:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("round %d: no batch acknowledged within 60s", round)
		}
		if round < kills {
			time.Sleep(time.Duration(100+rng.IntN(500)) * time.Millisecond)
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			cancel()
			wait()
			if pendingAtKill(t, e) {
				midUpload++
			}
			continue
		}
		time.Sleep(300 * time.Millisecond)
		cancel()
		wait()
		want := 0
		for _, n := range load.next {
			want += int(n - 1)
		}
		waitFor(t, 60*time.Second, "everything acknowledged landed", func() (bool, string) {
			got, _ := landedRecords(t, b)
			return len(got) >= want, fmt.Sprintf("%d of %d landed", len(got), want)
		})
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
	got, objects := landedRecords(t, b)
	next := load.next
	total := 0
	for id, n := range next {
		for seq := uint64(1); seq < n; seq++ {
			total++
			if c := got[agentSeq{id, seq}]; c != 1 {
				t.Errorf("%s/%d acknowledged, landed %d times", id, seq, c)
			}
		}
	}
	// Beyond the acknowledged ones the bucket may hold only a batch whose
	// ack was lost when the test stopped its agents (stored, never acked):
	// the next seq of each agent, landed once like the rest.
	for k, c := range got {
		if k.seq >= next[k.agent] && (k.seq != next[k.agent] || c != 1) {
			t.Errorf("%v landed %d times but was never sent or acknowledged", k, c)
		}
	}
	if total < kills {
		t.Fatalf("only %d batches acknowledged: the load did not run", total)
	}
	t.Logf("%d kills (%d with a segment upload pending), %d batches acknowledged, %d segments, each batch landed once",
		kills, midUpload, total, objects)
}

// pendingAtKill reads the dead collector's landing cursor: was a segment
// upload started and not confirmed when it died?
func pendingAtKill(t *testing.T, e *env) bool {
	t.Helper()
	sp, err := spool.Open(filepath.Join(e.dir, "spool"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	v, err := sp.LoadState(landing.StateKey)
	if err != nil {
		t.Fatal(err)
	}
	var st landing.State
	if len(v) > 0 {
		if err := json.Unmarshal(v, &st); err != nil {
			t.Fatal(err)
		}
	}
	return st.Pending != nil
}

// queryOK runs an instant query on a private listener and returns the
// number of series in the result.
func queryOK(t *testing.T, e *env, queryAddr, q string) (int, error) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+queryAddr+"/api/v1/query?query="+url.QueryEscape(q), nil)
	req.Header.Set("Authorization", "Bearer "+e.queryToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		return 0, fmt.Errorf("query %q: %s %v", q, body, err)
	}
	return len(r.Data.Result), nil
}

// TestS3ManifestActiveActive runs two collectors on one bucket: agents are
// spread over both, one agent sends every batch to both at once, and every
// acknowledged (agent, seq) must have exactly one manifest entry; each
// collector must answer queries about what the other accepted; with the
// store stopped both refuse with 503 and acknowledge nothing.
func TestS3ManifestActiveActive(t *testing.T) {
	srv := miniotest.Start(t)
	const agents = 5
	root := t.TempDir()
	extra := "acceptance = \"s3_manifest\"\n" + objectStoreSection(srv, "aa")
	ea := newEnv(t, root+"/a", agents, extra)
	eb := newEnv(t, root+"/b", agents, extra)
	// One CA and one token table for both, as in a real pair behind DNS.
	eb.caFile = ea.caFile
	for _, f := range []string{"ca.pem", "tls/fullchain.pem", "tls/key.pem"} {
		copyFile(t, root+"/a/"+f, root+"/b/"+f)
	}
	inA, qA, stopA := started(t, ea)
	inB, qB, stopB := started(t, eb)
	defer stopA()
	defer stopB()
	enc, err := codec.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()

	type result struct {
		status string
		err    error
	}
	acked := map[agentSeq]int{}
	var mu sync.Mutex
	send := func(c *uplink.Client, id string, seq uint64) result {
		ack, err := c.Send(context.Background(), encodeBatch(t, enc, id, seq))
		if err != nil {
			return result{err: err}
		}
		mu.Lock()
		acked[agentSeq{id, seq}]++
		mu.Unlock()
		return result{status: ack.Status}
	}
	var wg sync.WaitGroup
	for i := 0; i < agents-1; i++ {
		id := fmt.Sprintf("agent-%03d", i)
		addr := inA
		if i%2 == 1 {
			addr = inB
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := ea.client(t, id, addr)
			for seq := uint64(1); seq <= 20; seq++ {
				if r := send(c, id, seq); r.err != nil || r.status != "accepted" {
					t.Errorf("%s/%d: %+v", id, seq, r)
					return
				}
			}
		}()
	}
	// The same batch to both collectors at once: one winner.
	both := fmt.Sprintf("agent-%03d", agents-1)
	ca, cb := ea.client(t, both, inA), ea.client(t, both, inB)
	winners := 0
	for seq := uint64(1); seq <= 20; seq++ {
		rs := make([]result, 2)
		var pair sync.WaitGroup
		pair.Add(2)
		go func() { defer pair.Done(); rs[0] = send(ca, both, seq) }()
		go func() { defer pair.Done(); rs[1] = send(cb, both, seq) }()
		pair.Wait()
		accepted := 0
		for _, r := range rs {
			if r.err != nil {
				t.Fatalf("%s/%d: %v", both, seq, r.err)
			}
			if r.status == "accepted" {
				accepted++
			}
		}
		if accepted != 1 {
			t.Fatalf("%s/%d sent to both: %d accepted (%+v), want exactly 1", both, seq, accepted, rs)
		}
		winners++
	}
	wg.Wait()

	// Exactly one manifest entry per acknowledged batch.
	b := bucketAt(t, srv, "aa")
	entries := map[agentSeq]int{}
	err = b.List(context.Background(), segment.ManifestDir, "", func(info objstore.ObjectInfo) error {
		_, agent, seq, err := segment.ParseManifestKey(info.Key)
		if err != nil {
			return err
		}
		entries[agentSeq{agent, seq}]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(acked) {
		t.Fatalf("%d manifest entries for %d acknowledged batches", len(entries), len(acked))
	}
	for k := range acked {
		if entries[k] != 1 {
			t.Errorf("%v: %d manifest entries", k, entries[k])
		}
	}

	// Each collector answers for what the other accepted.
	for _, c := range []struct {
		name, addr string
		e          *env
	}{{"A", qA, ea}, {"B", qB, eb}} {
		took := waitFor(t, 30*time.Second, "collector "+c.name+" sees every agent", func() (bool, string) {
			n, err := queryOK(t, c.e, c.addr, "count by (agent) (host_uptime_seconds)")
			return err == nil && n == agents, fmt.Sprintf("%d agents, %v", n, err)
		})
		t.Logf("collector %s saw all %d agents %v after the last ack", c.name, agents, took.Round(time.Millisecond))
	}
	// agent-000 only ever talks to A: B serves a batch A just
	// acknowledged within about one manifest poll (200 ms here).
	if r := send(ea.client(t, "agent-000", inA), "agent-000", 21); r.err != nil || r.status != "accepted" {
		t.Fatalf("agent-000/21 to A: %+v", r)
	}
	took := waitFor(t, 30*time.Second, "collector B serves agent-000's batch 21, acknowledged by A", func() (bool, string) {
		n, err := queryOK(t, eb, qB, `host_uptime_seconds{agent="agent-000"} == 21`)
		return err == nil && n == 1, fmt.Sprintf("%d series, %v", n, err)
	})
	t.Logf("collector B served the batch A acknowledged %v after the ack (poll_interval_ms 200)", took.Round(time.Millisecond))

	// Store down: both refuse, nothing is acknowledged.
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{inA, inB} {
		status, retry := postRaw(t, ea, addr, "agent-000", encodeBatch(t, enc, "agent-000", 22))
		if status != http.StatusServiceUnavailable || retry == "" {
			t.Fatalf("%s with the store down: status %d, Retry-After %q; want 503 with Retry-After", addr, status, retry)
		}
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := send(ea.client(t, "agent-000", inB), "agent-000", 22); r.err != nil || r.status != "accepted" {
		t.Fatalf("retry after the store came back: %+v", r)
	}
	t.Logf("%d batches acknowledged across two collectors, %d raced to both; one manifest entry each", len(acked), winners)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, string(data), 0o600)
}

// postRaw sends one encoded batch without the uplink's retries and returns
// the status and Retry-After.
func postRaw(t *testing.T, e *env, addr, agent string, body []byte) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: e.tlsClientConfig(t)}}
	req, _ := http.NewRequest("POST", "https://"+addr+"/v1/batches", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+e.tokens[agent])
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("post to %s: %v", addr, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

func TestCheckObjectStore(t *testing.T) {
	srv := miniotest.Start(t)
	e := newEnv(t, t.TempDir(), 1, objectStoreSection(srv, "probe"))
	var out strings.Builder
	if err := Check(context.Background(), e.serverToml, true, &out); err != nil {
		t.Fatalf("--check-object-store against a running MinIO: %v", err)
	}
	if !strings.Contains(out.String(), "conditional writes honoured") {
		t.Fatalf("output %q does not report the probe", out.String())
	}
	out.Reset()
	if err := Check(context.Background(), e.serverToml, false, &out); err != nil || !strings.Contains(out.String(), "not contacted") {
		t.Fatalf("plain check-config: %q %v", out.String(), err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	err := Check(context.Background(), e.serverToml, true, &out)
	if err == nil || exitcode.Of(err) != exitcode.Runtime || !strings.Contains(err.Error(), "object_store") {
		t.Fatalf("--check-object-store with the store down: %v (exit %d), want a runtime error naming object_store", err, exitcode.Of(err))
	}
	// Without the flag check-config never contacts the store.
	if err := Check(context.Background(), e.serverToml, false, io.Discard); err != nil {
		t.Fatalf("check-config without the flag needs the store: %v", err)
	}
}

// TestReplacementCollectorAnswersFromBucket lands batches, throws the
// collector's spool away, and starts a new collector on the same bucket:
// its queries reach what the old one landed, through the cache dir.
func TestReplacementCollectorAnswersFromBucket(t *testing.T) {
	srv := miniotest.Start(t)
	e := newEnv(t, t.TempDir(), 2, "object_landing_interval_ms = 100\n"+objectStoreSection(srv, "replace"))
	b := bucketAt(t, srv, "replace")
	in, _, stop := started(t, e)
	enc, err := codec.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	for id := range e.tokens {
		c := e.client(t, id, in)
		for seq := uint64(1); seq <= 5; seq++ {
			if _, err := c.Send(context.Background(), encodeBatch(t, enc, id, seq)); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, 30*time.Second, "batches landed", func() (bool, string) {
		got, _ := landedRecords(t, b)
		return len(got) == 10, fmt.Sprintf("%d of 10", len(got))
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(e.dir, "spool")); err != nil {
		t.Fatal(err)
	}
	_, q, stop2 := started(t, e)
	defer stop2()
	n, err := queryOK(t, e, q, "count by (agent) (host_uptime_seconds)")
	if err != nil || n != 2 {
		t.Fatalf("new collector with an empty spool: %d agents, %v; want both from the bucket", n, err)
	}
	files, _ := filepath.Glob(filepath.Join(e.dir, "cache", "*.obj"))
	if len(files) == 0 {
		t.Fatal("no segment was kept in the cache dir")
	}
}
