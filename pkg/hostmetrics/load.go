package hostmetrics

import (
	"context"

	"github.com/shirou/gopsutil/v3/load"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// loadSource reports the run-queue load averages through gopsutil, which
// reads one short file (falling back to sysinfo(2) when it cannot).
type loadSource struct{}

var (
	descLoad1 = scalarDesc("host_load1", batch.KindGauge, "runnable tasks",
		"/proc/loadavg via gopsutil load.AvgWithContext", "Load average over 1 minute.")
	descLoad5 = scalarDesc("host_load5", batch.KindGauge, "runnable tasks",
		"/proc/loadavg via gopsutil load.AvgWithContext", "Load average over 5 minutes.")
	descLoad15 = scalarDesc("host_load15", batch.KindGauge, "runnable tasks",
		"/proc/loadavg via gopsutil load.AvgWithContext", "Load average over 15 minutes.")
)

func (*loadSource) name() string { return "load" }

func (*loadSource) describe() []*desc { return []*desc{descLoad1, descLoad5, descLoad15} }

func (*loadSource) collect(_ context.Context, s *sink) error {
	avg, err := load.AvgWithContext(s.gopsutil)
	if err != nil {
		return err
	}
	s.scalar(descLoad1, avg.Load1)
	s.scalar(descLoad5, avg.Load5)
	s.scalar(descLoad15, avg.Load15)
	return nil
}
