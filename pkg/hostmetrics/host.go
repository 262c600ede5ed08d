package hostmetrics

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// hostSource reports boot time, uptime and kernel-wide counters. Boot time and
// uptime are read by hand: gopsutil's host.BootTime runs virtualisation
// detection (a dozen file reads) on every call and rounds to whole seconds.
type hostSource struct{}

var (
	descBootTime = scalarDesc("host_boot_time_seconds", batch.KindGauge, "seconds",
		"/proc/stat btime", "Unix time the host booted.")
	descUptime = scalarDesc("host_uptime_seconds", batch.KindGauge, "seconds",
		"/proc/uptime", "Seconds since the host booted.")
	descContextSwitches = scalarDesc("host_context_switches_total", batch.KindCounter, "switches",
		"/proc/stat ctxt", "Context switches since boot, all CPUs.")
	descInterrupts = scalarDesc("host_interrupts_total", batch.KindCounter, "interrupts",
		"/proc/stat intr", "Interrupts serviced since boot, all CPUs and sources.")
	descForks = scalarDesc("host_forks_total", batch.KindCounter, "processes",
		"/proc/stat processes", "Processes and threads created since boot.")
	descFDAllocated = scalarDesc("host_filefd_allocated", batch.KindGauge, "file handles",
		"/proc/sys/fs/file-nr", "File handles allocated system-wide (open files).")
	descFDMax = scalarDesc("host_filefd_maximum", batch.KindGauge, "file handles",
		"/proc/sys/fs/file-nr", "System-wide limit on file handles (fs.file-max).")
	descEntropy = scalarDesc("host_entropy_available_bits", batch.KindGauge, "bits",
		"/proc/sys/kernel/random/entropy_avail", "Entropy the kernel's random pool reports available.")
)

func (*hostSource) name() string { return "host" }

func (*hostSource) describe() []*desc {
	return []*desc{descBootTime, descUptime, descContextSwitches, descInterrupts, descForks,
		descFDAllocated, descFDMax, descEntropy}
}

func (h *hostSource) collect(_ context.Context, s *sink) error {
	var errs []error
	if st, err := s.procStat(); err != nil {
		errs = append(errs, err)
	} else {
		counters := []struct {
			d   *desc
			v   uint64
			has bool
		}{
			{descBootTime, st.btime, st.hasBt},
			{descContextSwitches, st.ctxt, st.hasCtxt},
			{descInterrupts, st.intr, st.hasIntr},
			{descForks, st.forks, st.hasForks},
		}
		for _, c := range counters {
			if c.has {
				s.scalar(c.d, float64(c.v))
			}
		}
	}

	if data, err := s.c.readFile(s.c.procRoot + "/uptime"); err != nil {
		errs = append(errs, err)
	} else if up, err := parseUptime(data); err != nil {
		errs = append(errs, err)
	} else {
		s.scalar(descUptime, up)
	}

	var fileNR [3]uint64 // allocated, unused (always 0 since 2.6), maximum
	if data, err := s.c.readFile(s.c.procRoot + "/sys/fs/file-nr"); err != nil {
		errs = append(errs, err)
	} else if n, err := parseUintFields(data, fileNR[:]); err != nil || n != 3 {
		errs = append(errs, fmt.Errorf("parse file-nr: %d fields, %v", n, err))
	} else {
		s.scalar(descFDAllocated, float64(fileNR[0]))
		s.scalar(descFDMax, float64(fileNR[2]))
	}

	// Entropy is optional: some sandboxes hide /proc/sys/kernel/random.
	var entropy [1]uint64
	if data, err := s.c.readFile(s.c.procRoot + "/sys/kernel/random/entropy_avail"); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	} else if n, err := parseUintFields(data, entropy[:]); err != nil || n != 1 {
		errs = append(errs, fmt.Errorf("parse entropy_avail: %v", err))
	} else {
		s.scalar(descEntropy, float64(entropy[0]))
	}
	return errors.Join(errs...)
}
