package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/golang/snappy"
)

func crc32c(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

// TestConcurrentAgents has 64 agents upload 50 batches each at once, then
// re-send some: every ack must match exactly one stored record, and every
// re-send must be answered duplicate without storing anything.
func TestConcurrentAgents(t *testing.T) {
	for _, tc := range []struct {
		checker  bool
		agents   int
		perAgent uint64
	}{
		// Dedupe at Append, as the spool does it: the full load.
		{checker: false, agents: 64, perAgent: 50},
		// Dedupe before decoding: the same path, smaller, to keep -race quick.
		{checker: true, agents: 16, perAgent: 10},
	} {
		agents, perAgent, checker := tc.agents, tc.perAgent, tc.checker
		total := agents * int(perAgent)
		t.Run(fmt.Sprintf("%dx%d/duplicate_checker=%v", agents, perAgent, checker), func(t *testing.T) {
			e := newEnv(t, envConfig{agents: agents, checker: checker})
			type ack struct {
				agent string
				seq   uint64
			}
			var (
				mu   sync.Mutex
				acks = map[ack]int{}
				wg   sync.WaitGroup
			)
			send := func(agent string, seq uint64, want string) {
				r, err := e.do(context.Background(), batchReq(e, agent, testBatch(agent, seq)))
				if err != nil {
					t.Errorf("%s/%d: %v", agent, seq, err)
					return
				}
				var a ackBody
				if err := json.Unmarshal(r.body, &a); err != nil || r.status != 200 || a.Status != want || a.AgentID != agent || a.Seq != seq {
					t.Errorf("%s/%d: %d %s, want 200 %s", agent, seq, r.status, r.body, want)
					return
				}
				mu.Lock()
				acks[ack{agent, seq}]++
				mu.Unlock()
			}
			for i := range agents {
				agent := fmt.Sprintf("agent-%03d", i)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for seq := uint64(1); seq <= perAgent; seq++ {
						send(agent, seq, "accepted")
					}
				}()
			}
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}
			stored := e.stored()
			if len(acks) != total || len(stored) != total {
				t.Fatalf("%d acks, %d distinct stored records, want %d each", len(acks), len(stored), total)
			}
			for a := range acks {
				k := string(dedupeKey(a.agent, a.seq))
				if n := len(stored[k]); n != 1 {
					t.Errorf("acked %s stored %d times", k, n)
				}
			}
			// Lost acks: each agent re-sends three batches, concurrently.
			for i := range agents {
				agent := fmt.Sprintf("agent-%03d", i)
				for _, seq := range []uint64{1, perAgent / 2, perAgent} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						send(agent, seq, "duplicate")
					}()
				}
			}
			wg.Wait()
			if st := e.q.Stats(); st.Records != total {
				t.Errorf("queue holds %d records after re-sends, want %d", st.Records, total)
			}
			if got := e.metric("lightmetrics_ingest_batches_total", map[string]string{"status": "duplicate"}); got != float64(agents*3) {
				t.Errorf("batches_total{duplicate} = %v, want %d", got, agents*3)
			}
		})
	}
}

// TestBombsBoundedMemory sends bodies that inflate far beyond
// max_decoded_bytes and checks each is refused with the process allocating
// well under what inflating them would take.
func TestBombsBoundedMemory(t *testing.T) {
	const maxDecoded = 8 << 20
	e := newEnv(t, envConfig{opts: Options{MaxDecodedBytes: maxDecoded}})
	snappyBomb := snappyLenPrefix(1 << 30) // claims 1 GiB once decompressed
	for _, tc := range []struct {
		name   string
		req    func() request
		status int
		want   string
	}{
		{
			name: "zstd frame declaring 1 GiB",
			req: func() request {
				return request{path: RouteBatches, agent: "agent-a", body: strings.NewReader(string(bombBody(t, e, "agent-a", 1<<30, 1<<30)))}
			},
			status: 413, want: "max_decoded_bytes",
		},
		{
			name: "zstd frame declaring 1 MiB, inflating to 1 GiB",
			req: func() request {
				return request{path: RouteBatches, agent: "agent-a", body: strings.NewReader(string(bombBody(t, e, "agent-a", 1<<20, 1<<30)))}
			},
			status: 400, want: "malformed batch",
		},
		{
			name: "snappy block declaring 1 GiB",
			req: func() request {
				return request{path: RouteRemoteWrite, agent: "agent-a", body: strings.NewReader(string(snappyBomb)), headers: rwHeaders()}
			},
			status: 413, want: "max_decoded_bytes",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			r := e.mustDo(req)
			runtime.ReadMemStats(&after)
			if r.status != tc.status || !strings.Contains(string(r.body), tc.want) {
				t.Errorf("got %d %s, want %d naming %s", r.status, r.body, tc.status, tc.want)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew >= 64<<20 {
				t.Errorf("refusing the bomb allocated %d MiB, want < 64 MiB", grew>>20)
			} else {
				t.Logf("allocated %.1f MiB while refusing", float64(grew)/(1<<20))
			}
		})
	}
	if n := len(e.stored()); n != 0 {
		t.Errorf("%d records stored from bombs", n)
	}
}

// snappyLenPrefix is a snappy block that declares n decoded bytes and holds
// one literal: enough for DecodedLen, corrupt for Decode.
func snappyLenPrefix(n uint64) []byte {
	var b []byte
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	b = append(b, byte(n))
	return append(b, snappy.Encode(nil, []byte("tail"))[1:]...)
}
