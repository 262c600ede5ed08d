package benchutil

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// utime 150 + stime 50 ticks = 2 s; the name holds ") (" to trip naive parsing.
	line := []byte("42 (a) (b) S 1 42 42 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 1 0 100 0 0")
	got, err := ParseStatCPU(line)
	if err != nil || got != 2*time.Second {
		t.Fatalf("ParseStatCPU = %v, %v; want 2s", got, err)
	}
	if _, err := ParseStatCPU([]byte("no paren")); err == nil {
		t.Fatal("malformed line accepted")
	}
	// /proc counts CPU in 10 ms ticks: spin until this process has used
	// some (bounded), or a fresh test binary may still read 0.
	x := 0
	for start := time.Now(); time.Since(start) < 2*time.Second; x++ {
		if x%1_000_000 == 0 {
			if self, _ := CPUTime("self"); self > 0 {
				break
			}
		}
	}
	if self, err := CPUTime("self"); err != nil || self <= 0 {
		t.Fatalf("CPUTime(self) = %v, %v", self, err)
	}
}

func TestParseBusy(t *testing.T) {
	tests := []struct {
		line    string
		want    time.Duration
		wantErr bool
	}{
		// user nice system idle iowait irq softirq steal: busy = 100+0+50+10+10 ticks
		{"cpu  100 0 50 9999 500 10 10 77 0 0", 1700 * time.Millisecond, false},
		{"cpu0 1 2 3 4 5 6 7 8", 0, true},
		{"cpu 1 2", 0, true},
		{"cpu 1 x 3 4 5 6 7 8", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseBusy(tc.line)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseBusy(%q) = %v, %v; want %v, error %v", tc.line, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestStatusBytes(t *testing.T) {
	got, err := ParseStatusBytes("Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t1024 kB\n", "VmRSS")
	if err != nil || got != 1<<20 {
		t.Fatalf("VmRSS = %d, %v", got, err)
	}
	if _, err := ParseStatusBytes("VmRSS: 12 MB\n", "VmRSS"); err == nil {
		t.Fatal("unit other than kB accepted")
	}
	if _, err := ParseStatusBytes("Name: x\n", "VmHWM"); err == nil {
		t.Fatal("missing field accepted")
	}
	if rss, err := StatusBytes(itoa(os.Getpid()), "VmRSS"); err != nil || rss <= 0 {
		t.Fatalf("own VmRSS = %d, %v", rss, err)
	}
}

func itoa(n int) string {
	return strconv.Itoa(n)
}

func TestFreePortsDistinct(t *testing.T) {
	ports, err := FreePorts(5)
	if err != nil || len(ports) != 5 {
		t.Fatalf("FreePorts: %v %v", ports, err)
	}
	seen := map[string]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("port %s twice in %v", p, ports)
		}
		seen[p] = true
	}
}

func TestWaitOK(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) < 3 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
	}))
	defer srv.Close()
	if err := WaitOK(context.Background(), srv.URL, "", 20*time.Second); err != nil {
		t.Fatalf("WaitOK: %v", err)
	}
	if calls.Load() < 3 {
		t.Fatalf("returned after %d calls, before the server answered 200", calls.Load())
	}
	never := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "never", http.StatusServiceUnavailable)
	}))
	defer never.Close()
	if err := WaitOK(context.Background(), never.URL, "", 300*time.Millisecond); err == nil {
		t.Fatal("WaitOK succeeded against a server that never answers 200")
	}
}

func TestParseStatusBytesTable(t *testing.T) {
	status := "Name:\tlightmetrics\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n"
	tests := []struct {
		field   string
		want    int64
		wantErr bool
	}{
		{"VmRSS", 100 << 20, false},
		{"VmHWM", 200 << 20, false},
		{"VmSwap", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseStatusBytes(status, tc.field)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%s: %d, %v; want %d, error %v", tc.field, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseBusyTable(t *testing.T) {
	tests := []struct {
		line    string
		want    time.Duration
		wantErr bool
	}{
		// user nice system idle iowait irq softirq steal guest guest_nice:
		// steal is the hypervisor's, not this machine's work
		{"cpu  100 5 50 1000 20 1 2 3 7 0", 158 * time.Second / userHZ, false},
		{"cpu0 100 5 50 1000 20 1 2 3 0 0", 0, true},
		{"cpu 1 2", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseBusy(tc.line)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParseBusy(%q) = %v, %v; want %v, error %v", tc.line, got, err, tc.want, tc.wantErr)
		}
	}
}
