package queue

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const holdLockEnv = "LMQ_TEST_HOLD_LOCK"

// TestHelperHoldLock is not a test: TestErrLocked runs it in a child process
// to hold a queue open until its stdin closes.
func TestHelperHoldLock(t *testing.T) {
	path := os.Getenv(holdLockEnv)
	if path == "" {
		t.Skip("helper process for TestErrLocked")
	}
	q, err := Open(path, Options{})
	if err != nil {
		fmt.Println("ERROR", err)
		return
	}
	fmt.Println("LOCKED")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := q.Close(); err != nil {
		t.Error(err)
	}
}

func TestErrLocked(t *testing.T) {
	cases := []struct {
		name string
		hold func(t *testing.T, path string) (unlock func())
	}{
		{"same process", func(t *testing.T, path string) func() {
			q, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			return func() {
				if err := q.Close(); err != nil {
					t.Error(err)
				}
			}
		}},
		{"other process", holdInChild},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "queue.db")
			unlock := tc.hold(t, path)
			q, err := Open(path, Options{})
			if err == nil {
				_ = q.Close()
				unlock()
				t.Fatal("second Open succeeded while the file is held")
			}
			if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
				t.Errorf("second Open = %v, want ErrLocked naming %s", err, path)
			}
			unlock()
			q, err = Open(path, Options{})
			if err != nil {
				t.Fatalf("Open after release: %v", err)
			}
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func holdInChild(t *testing.T, path string) func() {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldLock$", "-test.count=1")
	cmd.Env = append(os.Environ(), holdLockEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "LOCKED\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("child: %q, %v", line, err)
	}
	return func() {
		_ = stdin.Close()
		_, _ = io.Copy(io.Discard, stdout)
		if err := cmd.Wait(); err != nil {
			t.Errorf("child: %v", err)
		}
	}
}
