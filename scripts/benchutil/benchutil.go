// Package benchutil holds what the benchmark programs under scripts/ share:
// process and host CPU time and memory read from /proc, free loopback
// ports, and waiting for a server to answer.
package benchutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/tlsutil"
)

// userHZ is the kernel's USER_HZ, the unit of /proc CPU times: 100 on every
// Linux architecture whatever CONFIG_HZ is.
const userHZ = 100

// CPUTime returns the user+system CPU time process pid ("self" for this
// one) has used so far, from /proc/PID/stat.
func CPUTime(pid string) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, fmt.Errorf("cpu time of %s: %w", pid, err)
	}
	return ParseStatCPU(data)
}

// ParseStatCPU sums utime and stime of a /proc/PID/stat line.
func ParseStatCPU(data []byte) (time.Duration, error) {
	// The command name (field 2) may hold spaces and parentheses; the
	// fields after it start after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, errors.New("cpu time: unexpected /proc stat format")
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("cpu time: short /proc stat line")
	}
	var ticks uint64
	for _, s := range f[11:13] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cpu time: %w", err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// HostBusy returns the CPU time all CPUs have spent busy since boot (every
// mode but idle, iowait and steal; guest time is already inside user and
// nice), from the first line of /proc/stat. Set against a server's own CPU
// time it shows how much of a shared machine something else took.
func HostBusy() (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("host cpu time: %w", err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return ParseBusy(line)
}

// ParseBusy sums the busy fields of the "cpu" line of /proc/stat.
func ParseBusy(line string) (time.Duration, error) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("host cpu time: unexpected /proc/stat line %q", line)
	}
	var ticks uint64
	for i, s := range f[1:9] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("host cpu time: %w", err)
		}
		if i != 3 && i != 4 && i != 7 { // idle, iowait, steal
			ticks += v
		}
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// StatusBytes returns a "kB" field of /proc/PID/status (VmRSS, VmHWM) in
// bytes.
func StatusBytes(pid, field string) (int64, error) {
	data, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, fmt.Errorf("%s of %s: %w", field, pid, err)
	}
	return ParseStatusBytes(string(data), field)
}

// ParseStatusBytes finds field in the text of a /proc/PID/status file.
func ParseStatusBytes(status, field string) (int64, error) {
	for line := range strings.SplitSeq(status, "\n") {
		rest, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%s: unexpected line %q", field, line)
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", field, err)
		}
		return v << 10, nil
	}
	return 0, fmt.Errorf("%s: not in /proc status", field)
}

// FreePorts returns n distinct TCP ports free on 127.0.0.1 right now. All
// are held open together while choosing, so they differ from each other.
func FreePorts(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	ports := make([]string, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	return ports, nil
}

// WaitOK polls rawURL with GET until it answers 200 or timeout passes. caFile
// is the PEM CA for an https URL ("" for system roots).
func WaitOK(ctx context.Context, rawURL, caFile string, timeout time.Duration) error {
	tlsCfg, err := tlsutil.ClientConfig(caFile)
	if err != nil {
		return fmt.Errorf("wait: %w", err)
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := "no answer"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
		if err != nil {
			return fmt.Errorf("wait: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait: %s not ready after %s: %s", rawURL, timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
