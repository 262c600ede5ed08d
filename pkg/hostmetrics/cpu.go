package hostmetrics

import (
	"context"
	"strconv"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// cpuSource reports CPU time by mode, host-wide in the heartbeat and per CPU
// as series. It parses /proc/stat by hand (shared with hostSource, read once
// per cycle) instead of calling gopsutil's cpu.Times twice, which would make
// the kernel render and Go split the whole file twice more.
type cpuSource struct {
	// ids caches the "cpu" label value for each CPU number.
	ids []string
}

// seriesModes are the modes reported per CPU. Guest time is left out there
// because the kernel already counts it inside user and nice: summing a CPU's
// modes gives its total time. The heartbeat reports guest separately.
const seriesModes = 8

var (
	descCPUModes = func() (d [numCPUModes]*desc) {
		for i, m := range cpuModes {
			d[i] = scalarDesc("host_cpu_"+m+"_seconds_total", batch.KindCounter, "seconds",
				"/proc/stat cpu", "CPU time spent in "+m+" mode, summed over all CPUs.")
		}
		d[8].help += " Already included in user."
		d[9].help += " Already included in nice."
		return d
	}()
	descCPUCount = scalarDesc("host_cpu_count", batch.KindGauge, "CPUs",
		"/proc/stat cpuN lines", "Online logical CPUs.")
	descCPUSeconds = seriesDesc("host_cpu_seconds_total", batch.KindCounter, []string{"cpu", "mode"}, "seconds",
		"/proc/stat cpuN", "CPU time one CPU spent in one mode (user, nice, system, idle, iowait, irq, softirq, steal).")
)

func (*cpuSource) name() string { return "cpu" }

func (*cpuSource) describe() []*desc {
	return append(descCPUModes[:], descCPUCount, descCPUSeconds)
}

func (c *cpuSource) collect(_ context.Context, s *sink) error {
	st, err := s.procStat()
	if err != nil {
		return err
	}
	hz := s.c.clkTck
	for i := 0; i < st.total.modes; i++ {
		s.scalar(descCPUModes[i], float64(st.total.ticks[i])/hz)
	}
	s.scalar(descCPUCount, float64(len(st.cpus)))
	for _, cpu := range st.cpus {
		id := c.label(cpu.id)
		for m := 0; m < min(cpu.modes, seriesModes); m++ {
			s.add(descCPUSeconds, float64(cpu.ticks[m])/hz, id, cpuModes[m])
		}
	}
	return nil
}

// label returns the cached decimal string for CPU number id.
func (c *cpuSource) label(id int) string {
	for len(c.ids) <= id {
		c.ids = append(c.ids, strconv.Itoa(len(c.ids)))
	}
	return c.ids[id]
}
