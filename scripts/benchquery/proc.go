package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of utime and stime in /proc/PID/stat: 100 on every
// architecture Go supports on Linux, whatever CONFIG_HZ is.
const userHZ = 100

// cpuTime returns the user+system CPU time process pid has used so far.
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("cpu time of %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces and parentheses; the
	// fields after it start after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("cpu time of %d: unexpected /proc stat format", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("cpu time of %d: short /proc stat line", pid)
	}
	var ticks uint64
	for _, s := range f[11:13] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cpu time of %d: %w", pid, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// machineBusy returns the CPU time all CPUs have spent not idle since
// boot, from the first line of /proc/stat.
func machineBusy() (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("machine cpu time: %w", err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return parseBusy(line)
}

// parseBusy sums the non-idle fields of the "cpu" line of /proc/stat
// (user nice system idle iowait irq softirq steal ...; guest time is
// already inside user and nice).
func parseBusy(line string) (time.Duration, error) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("machine cpu time: unexpected /proc/stat line %q", line)
	}
	var ticks uint64
	for i, s := range f[1:9] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("machine cpu time: %w", err)
		}
		if i != 3 && i != 4 { // idle, iowait
			ticks += v
		}
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// statusBytes returns a "kB" field of /proc/PID/status (VmRSS, VmHWM) in
// bytes.
func statusBytes(pid int, field string) (int64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("%s of %d: %w", field, pid, err)
	}
	return parseStatusBytes(string(data), field)
}

func parseStatusBytes(status, field string) (int64, error) {
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

// settle waits until process pid has been idle (under 5% of a core) for
// two seconds in a row, or until timeout: what a server does in the
// background after a load (indexing, head compaction, part merges) should
// be over before its queries are timed, or it times its own housekeeping.
func settle(ctx context.Context, pid int, timeout time.Duration) (time.Duration, error) {
	const tick = time.Second
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	prev, err := cpuTime(pid)
	if err != nil {
		return 0, err
	}
	quiet := 0
	for quiet < 2 {
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("process %d still busy after %s", pid, timeout)
		case <-time.After(tick):
		}
		cur, err := cpuTime(pid)
		if err != nil {
			return 0, err
		}
		if cur-prev < tick/20 {
			quiet++
		} else {
			quiet = 0
		}
		prev = cur
	}
	return time.Since(start), nil
}
