package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of utime and stime in /proc/PID/stat. The kernel
// exports it as 100 on every architecture Go supports on Linux, whatever
// CONFIG_HZ is.
const userHZ = 100

// cpuTime returns the user+system CPU time process pid ("self" for this
// one) has used so far, from /proc. It lets the benchmark put each server's
// CPU cost per sample next to its throughput.
func cpuTime(pid string) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read cpu time of %s: %w", pid, err)
	}
	// The command name (field 2) may hold spaces and parentheses; the
	// fields after it start after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("read cpu time of %s: unexpected /proc stat format", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("read cpu time of %s: short /proc stat line", pid)
	}
	var ticks uint64
	for _, s := range f[11:13] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read cpu time of %s: %w", pid, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// peakRSS returns the peak resident set size of process pid (VmHWM) in
// bytes.
func peakRSS(pid string) (int64, error) {
	data, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, fmt.Errorf("read peak rss of %s: %w", pid, err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			break
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read peak rss of %s: %w", pid, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("read peak rss of %s: no VmHWM line", pid)
}

// hostBusy returns the CPU time all processes on the host have used so far
// (every mode but idle and iowait, summed over CPUs), from /proc/stat. Set
// against the server's and this process's own, it shows how much of the
// machine something else took during a run: a benchmark on a shared box is
// only as good as that number is small.
func hostBusy() (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("read host cpu time: %w", err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, errors.New("read host cpu time: unexpected /proc/stat format")
	}
	var busy uint64
	// user nice system idle iowait irq softirq steal [guest guest_nice]:
	// guest time is already inside user and nice, steal is the
	// hypervisor's.
	for i, s := range f[1:min(len(f), 9)] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read host cpu time: %w", err)
		}
		if i == 3 || i == 4 || i == 7 { // idle, iowait, steal
			continue
		}
		busy += v
	}
	return time.Duration(busy) * time.Second / userHZ, nil
}
