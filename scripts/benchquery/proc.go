package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/lightmetrics/lightmetrics/scripts/benchutil"
)

// cpuTime returns the user+system CPU time process pid has used so far.
func cpuTime(pid int) (time.Duration, error) { return benchutil.CPUTime(strconv.Itoa(pid)) }

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
