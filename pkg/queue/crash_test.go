package queue

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	crashPathEnv = "LMQ_TEST_CRASH_PATH"
	// The cap makes oldest-first dropping part of what gets killed midway.
	crashMaxRecords = 500
	crashWriters    = 8
	crashRuns       = 50
	crashSeed       = 0x1a2b3c4d
)

var crashStateBucket, crashStateKey = []byte("crash"), []byte("last")

func crashOptions() Options { return Options{MaxRecords: crashMaxRecords} }

// crashPayload is the record for seq: its content and size follow from seq
// alone, some sizes spill into overflow pages.
func crashPayload(seq uint64) []byte {
	n := 16 + int(seq*7919%3000)
	if seq%50 == 0 {
		n = 9000
	}
	p := make([]byte, n)
	binary.BigEndian.PutUint64(p, seq)
	for i := 8; i < n; i++ {
		p[i] = byte(seq*31 + uint64(i)*17 ^ seq>>8)
	}
	return p
}

// TestHelperAppendLoop is not a test: TestCrashAppendSIGKILL runs it in a
// child process, which appends from several goroutines and prints each seq
// only after Append has returned it, until it is killed.
func TestHelperAppendLoop(t *testing.T) {
	path := os.Getenv(crashPathEnv)
	if path == "" {
		t.Skip("helper process for TestCrashAppendSIGKILL")
	}
	q, err := Open(path, crashOptions())
	if err != nil {
		t.Fatal(err)
	}
	// Bounded in case the parent never kills us.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var (
		out sync.Mutex
		wg  sync.WaitGroup
	)
	for range crashWriters {
		wg.Go(func() {
			for ctx.Err() == nil {
				last := make([]byte, 8) // Build fills it; State stores it with the record
				r, err := q.Append(ctx, Entry{
					Build: func(seq uint64) ([]byte, error) {
						binary.BigEndian.PutUint64(last, seq)
						return crashPayload(seq), nil
					},
					State: []KV{{crashStateBucket, crashStateKey, last}},
				})
				if err != nil {
					if ctx.Err() == nil {
						t.Error(err)
					}
					return
				}
				out.Lock()
				// One write per line: the parent sees whole lines or nothing.
				_, _ = os.Stdout.WriteString("SEQ " + strconv.FormatUint(r.Seq, 10) + "\n")
				out.Unlock()
			}
		})
	}
	wg.Wait()
	if err := q.Close(); err != nil {
		t.Error(err)
	}
}

// TestCrashAppendSIGKILL kills an appending child process at random moments,
// 50 times on one file, and checks after each kill that everything the child
// was told is stored is there and intact, that counters and state agree with
// the records, and that bbolt finds the file consistent.
func TestCrashAppendSIGKILL(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	path := filepath.Join(t.TempDir(), "agent", "queue.db")
	rng := rand.New(rand.NewPCG(crashSeed, 0))
	var acked, maxAcked uint64
	var present, dropped int
	for run := range crashRuns {
		delay := time.Duration(5+rng.IntN(56)) * time.Millisecond
		seqs := runCrashChild(t, path, delay)
		if len(seqs) == 0 {
			t.Fatalf("run %d: child acknowledged nothing", run)
		}
		for _, s := range seqs {
			maxAcked = max(maxAcked, s)
		}
		acked += uint64(len(seqs))
		p, d := verifyAfterCrash(t, path, run, seqs, maxAcked)
		present += p
		dropped += d
		if t.Failed() {
			t.Fatalf("run %d (seed %#x, kill %v after the first ack) failed", run, crashSeed, delay)
		}
	}
	t.Logf("%d kills, %d acknowledged appends: %d found intact right after their kill, %d dropped by the %d-record cap before it",
		crashRuns, acked, present, dropped, crashMaxRecords)
}

// runCrashChild starts the helper, SIGKILLs it delay after its first
// acknowledged append and returns every seq it acknowledged.
func runCrashChild(t *testing.T, path string, delay time.Duration) []uint64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAppendLoop$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashPathEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	firstAck := make(chan struct{})
	done := make(chan []uint64, 1)
	go func() {
		var seqs []uint64
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			rest, ok := strings.CutPrefix(sc.Text(), "SEQ ")
			if !ok {
				continue
			}
			s, err := strconv.ParseUint(rest, 10, 64)
			if err != nil {
				continue
			}
			if len(seqs) == 0 {
				close(firstAck)
			}
			seqs = append(seqs, s)
		}
		done <- seqs
	}()

	select {
	case <-firstAck:
		time.Sleep(delay)
	case <-time.After(15 * time.Second):
		// Not a timing assertion: a bound so a wedged child cannot hang the run.
		t.Errorf("child acknowledged nothing in 15 s")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Errorf("kill: %v", err)
	}
	seqs := <-done
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child exited with %v before the kill; stderr:\n%s", err, stderr.String())
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, not by SIGKILL; stderr:\n%s", err, stderr.String())
	}
	return seqs
}

// verifyAfterCrash returns how many acknowledged seqs it found intact and
// how many the cap had legitimately dropped.
func verifyAfterCrash(t *testing.T, path string, run int, acked []uint64, maxAcked uint64) (present, dropped int) {
	t.Helper()
	// bbolt's own consistency check on the raw file.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("run %d: raw open: %v", run, err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		for cerr := range tx.Check() {
			t.Errorf("run %d: bbolt check: %v", run, cerr)
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("run %d: raw check: %v", run, err)
	}

	q, err := Open(path, crashOptions())
	if err != nil {
		t.Fatalf("run %d: reopen: %v", run, err)
	}
	defer func() {
		if err := q.Close(); err != nil {
			t.Errorf("run %d: close: %v", run, err)
		}
	}()
	st := q.Stats()

	// Every record passes its checksum, holds its own payload, and the
	// records form one unbroken run [FirstSeq, LastSeq]: the child only
	// appends, so the only way records go is oldest-first dropping.
	var count int
	var sum int64
	next := st.FirstSeq
	err = q.Scan(context.Background(), 0, func(seq uint64, data []byte) error {
		if seq != next {
			return fmt.Errorf("record %d follows %d: hole in the log", seq, next-1)
		}
		if !bytes.Equal(data, crashPayload(seq)) {
			return fmt.Errorf("record %d: payload is not the one built for it", seq)
		}
		next++
		count++
		sum += int64(len(data))
		return nil
	})
	if err != nil {
		t.Fatalf("run %d: %v", run, err)
	}
	if next-1 != st.LastSeq || count != st.Records || sum != st.Bytes {
		t.Errorf("run %d: scanned %d records (%d bytes) up to %d; Stats %+v", run, count, sum, next-1, st)
	}
	if st.FirstSeq > 1 && st.Records != crashMaxRecords {
		t.Errorf("run %d: records were dropped but only %d of %d are kept", run, st.Records, crashMaxRecords)
	}
	if st.LastSeq < maxAcked {
		t.Errorf("run %d: last seq %d, but %d was acknowledged", run, st.LastSeq, maxAcked)
	}
	for _, s := range acked {
		if s < st.FirstSeq {
			// Legitimately dropped only if the cap pushed it out.
			if st.LastSeq-s < crashMaxRecords {
				t.Errorf("run %d: acknowledged seq %d is gone without %d newer records to push it out", run, s, crashMaxRecords)
			}
			dropped++
			continue
		}
		if data, err := q.Get(s); err != nil || !bytes.Equal(data, crashPayload(s)) {
			t.Errorf("run %d: acknowledged seq %d: %d bytes, %v", run, s, len(data), err)
		}
		present++
	}
	// The state written with each record names the newest one.
	v, err := q.State(crashStateBucket, crashStateKey)
	if err != nil || len(v) != 8 || binary.BigEndian.Uint64(v) != st.LastSeq {
		t.Errorf("run %d: state %q = %x, %v; want last seq %d", run, crashStateKey, v, err, st.LastSeq)
	}
	return present, dropped
}
