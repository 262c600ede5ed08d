package main

import (
	"time"

	"github.com/lightmetrics/lightmetrics/scripts/benchutil"
)

// cpuWindow samples the CPU time of this process, of MinIO and of the whole
// host, to tell what a measured window cost and how much other work ran
// beside it (on a shared machine a figure is only worth as much as that
// last number is small).
type cpuWindow struct {
	minioPID          string
	start             time.Time
	self, minio, host time.Duration
	ok                bool
}

func startCPUWindow(minioPID string) *cpuWindow {
	w := &cpuWindow{minioPID: minioPID, start: time.Now()}
	var e1, e2, e3 error
	w.self, e1 = benchutil.CPUTime("self")
	w.minio, e2 = benchutil.CPUTime(minioPID)
	w.host, e3 = benchutil.HostBusy()
	w.ok = e1 == nil && e2 == nil && e3 == nil
	return w
}

// cpuCores is CPU use over a window, in cores.
type cpuCores struct {
	Self, MinIO, Host float64
}

// end closes the window; all zero when /proc could not be read.
func (w *cpuWindow) end() cpuCores {
	wall := time.Since(w.start).Seconds()
	self, e1 := benchutil.CPUTime("self")
	minio, e2 := benchutil.CPUTime(w.minioPID)
	host, e3 := benchutil.HostBusy()
	if !w.ok || e1 != nil || e2 != nil || e3 != nil || wall <= 0 {
		return cpuCores{}
	}
	return cpuCores{
		Self:  (self - w.self).Seconds() / wall,
		MinIO: (minio - w.minio).Seconds() / wall,
		Host:  (host - w.host).Seconds() / wall,
	}
}

// Other is what neither this process nor MinIO used.
func (c cpuCores) Other() float64 { return max(0, c.Host-c.Self-c.MinIO) }
