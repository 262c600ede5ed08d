package collector

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/codec"
)

const crashChildEnv = "LIGHTMETRICS_CRASH_CHILD_CONFIG"

// TestHelperCollectorProcess is the child of TestCrashSIGKILLUnderLoad: a
// collector that prints its ingest address and serves until it is killed.
func TestHelperCollectorProcess(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("helper process for TestCrashSIGKILLUnderLoad; runs only as its child")
	}
	c, err := load(path)
	if err != nil {
		fmt.Println("LOAD-ERROR", err)
		os.Exit(3)
	}
	err = serve(context.Background(), path, c, Options{Ready: func(in, _ net.Addr) {
		fmt.Println("READY", in.String())
	}})
	fmt.Println("SERVE-ERROR", err)
	os.Exit(4)
}

// startChild runs a collector on serverToml in a child process and returns
// it with its ingest address ("" when it never became ready; it is killed).
func startChild(t *testing.T, serverToml string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCollectorProcess$", "-test.v=false")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+serverToml)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "READY" {
			addr = f[1]
			break
		} else if len(f) > 0 && strings.HasSuffix(f[0], "ERROR") {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child: %s", sc.Text())
		}
	}
	if addr == "" {
		cmd.Process.Kill()
		cmd.Wait()
		return cmd, ""
	}
	go func() { // keep the pipe drained
		for sc.Scan() {
		}
	}()
	return cmd, addr
}

// TestCrashSIGKILLUnderLoad kills the collector with SIGKILL at random
// moments while 16 agents post batches, restarts it on the same spool, and
// proves every batch that got a 200 is stored, none twice; a batch whose ack
// was lost in the kill is answered "duplicate" or "accepted" when re-sent,
// never stored twice.
func TestCrashSIGKILLUnderLoad(t *testing.T) {
	const agents, kills = 16, 12
	e := newEnv(t, t.TempDir(), agents, "")
	enc, err := codec.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	rng := rand.New(rand.NewPCG(42, 7))

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
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			cancel()
			wait()
		} else {
			// Last round: a clean stop after some more load.
			time.Sleep(200 * time.Millisecond)
			cancel()
			wait()
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
		}
	}
	total, totalDup := load.acked, load.duplicates
	if total < kills+1 {
		t.Fatalf("only %d batches acknowledged over %d rounds: the load did not run", total, kills)
	}
	t.Logf("%d kills, %d batches acknowledged, %d re-sends answered duplicate", kills, total, totalDup)
	assertSpool(t, e, func(id string) uint64 { return load.next[id] - 1 })
}

// agentLoad is every agent of an env sending batches the way its queue
// would: from its first unacknowledged seq, again after a collector died.
type agentLoad struct {
	e   *env
	enc *codec.Encoder

	mu sync.Mutex
	// next is each agent's first seq not yet acknowledged.
	next              map[string]uint64
	acked, duplicates int
}

func newAgentLoad(e *env, enc *codec.Encoder) *agentLoad {
	l := &agentLoad{e: e, enc: enc, next: map[string]uint64{}}
	for id := range e.tokens {
		l.next[id] = 1
	}
	return l
}

// start sends from every agent to addr until ctx ends or the collector
// stops answering. firstAck closes at the first acknowledgement, so a test
// can kill under load however slow the machine is; wait waits for the
// senders to stop.
func (l *agentLoad) start(t *testing.T, ctx context.Context, addr string) (firstAck <-chan struct{}, wait func()) {
	first := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for id := range l.e.tokens {
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			c := l.e.client(t, id, addr)
			for ctx.Err() == nil {
				l.mu.Lock()
				seq := l.next[id]
				l.mu.Unlock()
				ack, err := c.Send(ctx, encodeBatch(t, l.enc, id, seq))
				if err != nil {
					return // the collector died: wait for the next round
				}
				if ack.Seq != seq || (ack.Status != "accepted" && ack.Status != "duplicate") {
					t.Errorf("%s seq %d: bad ack %+v", id, seq, ack)
					return
				}
				l.mu.Lock()
				if ack.Status == "duplicate" {
					l.duplicates++
				}
				l.acked++
				l.next[id] = seq + 1
				l.mu.Unlock()
				once.Do(func() { close(first) })
			}
		}(id)
	}
	return first, wg.Wait
}
