package shipper

import (
	"bytes"
	"os"
	"strconv"
)

// MaxSelfScalars is how many heartbeat values the shipper adds to the host's;
// hostmetrics.MaxHeartbeatScalars plus this stays within the floor of 107.
const MaxSelfScalars = 16

// residentBytes reads the process's resident set from /proc/self/statm,
// which costs one small read instead of gopsutil's several.
func residentBytes() (uint64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * uint64(os.Getpagesize()), true
}
