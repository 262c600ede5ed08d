package hostmetrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// memorySource reports RAM and swap. It parses /proc/meminfo and the two
// swap counters of /proc/vmstat by hand: gopsutil's mem.SwapMemory splits all
// ~170 lines of vmstat into strings for two numbers (about 580 allocations
// and a fifth of the non-process cycle cost), and counts swapped pages as
// 4 KiB whatever the page size.
type memorySource struct{}

const (
	fromMeminfo = "/proc/meminfo"
	fromVmstat  = "/proc/vmstat pswpin, pswpout × page size"
)

var (
	descMemTotal = scalarDesc("host_memory_total_bytes", batch.KindGauge, "bytes", fromMeminfo,
		"Usable RAM (MemTotal).")
	descMemAvailable = scalarDesc("host_memory_available_bytes", batch.KindGauge, "bytes", fromMeminfo,
		"RAM available for new work without swapping (MemAvailable; free + cached on kernels before 3.14).")
	descMemUsed = scalarDesc("host_memory_used_bytes", batch.KindGauge, "bytes", fromMeminfo,
		"RAM in use: total minus free, buffers and cached.")
	descMemFree = scalarDesc("host_memory_free_bytes", batch.KindGauge, "bytes", fromMeminfo,
		"RAM not used for anything (MemFree).")
	descMemBuffers = scalarDesc("host_memory_buffers_bytes", batch.KindGauge, "bytes", fromMeminfo,
		"RAM used by block device buffers (Buffers).")
	descMemCached = scalarDesc("host_memory_cached_bytes", batch.KindGauge, "bytes", fromMeminfo,
		"RAM used by the page cache and reclaimable slab (Cached + SReclaimable).")
	descSwapTotal = scalarDesc("host_swap_total_bytes", batch.KindGauge, "bytes", fromMeminfo,
		"Swap space configured (SwapTotal).")
	descSwapUsed = scalarDesc("host_swap_used_bytes", batch.KindGauge, "bytes", fromMeminfo,
		"Swap space in use (SwapTotal - SwapFree).")
	descSwapIn = scalarDesc("host_swap_in_bytes_total", batch.KindCounter, "bytes", fromVmstat,
		"Bytes swapped in from disk since boot.")
	descSwapOut = scalarDesc("host_swap_out_bytes_total", batch.KindCounter, "bytes", fromVmstat,
		"Bytes swapped out to disk since boot.")
)

func (*memorySource) name() string { return "memory" }

func (*memorySource) describe() []*desc {
	return []*desc{descMemTotal, descMemAvailable, descMemUsed, descMemFree, descMemBuffers, descMemCached,
		descSwapTotal, descSwapUsed, descSwapIn, descSwapOut}
}

func (*memorySource) collect(_ context.Context, s *sink) error {
	var errs []error
	if data, err := s.c.readFile(s.c.procRoot + "/meminfo"); err != nil {
		errs = append(errs, err)
	} else if m, err := parseMeminfo(data); err != nil {
		errs = append(errs, err)
	} else {
		cached := m.cached + m.sReclaimable
		avail := m.available
		if !m.hasAvailable {
			avail = m.free + cached
		}
		used := m.total - min(m.total, m.free+m.buffers+cached)
		s.scalar(descMemTotal, float64(m.total))
		s.scalar(descMemAvailable, float64(avail))
		s.scalar(descMemUsed, float64(used))
		s.scalar(descMemFree, float64(m.free))
		s.scalar(descMemBuffers, float64(m.buffers))
		s.scalar(descMemCached, float64(cached))
		s.scalar(descSwapTotal, float64(m.swapTotal))
		s.scalar(descSwapUsed, float64(m.swapTotal-min(m.swapTotal, m.swapFree)))
	}
	if data, err := s.c.readFile(s.c.procRoot + "/vmstat"); err != nil {
		errs = append(errs, err)
	} else if in, out, err := parseVmstatSwap(data); err != nil {
		errs = append(errs, err)
	} else {
		s.scalar(descSwapIn, float64(in)*s.c.pageSize)
		s.scalar(descSwapOut, float64(out)*s.c.pageSize)
	}
	return errors.Join(errs...)
}

// meminfo holds the /proc/meminfo fields used, in bytes.
type meminfo struct {
	total, free, available, buffers, cached, sReclaimable, swapTotal, swapFree uint64
	hasAvailable                                                               bool
}

// parseMeminfo parses the "Key:   value kB" lines of /proc/meminfo.
func parseMeminfo(data []byte) (meminfo, error) {
	var m meminfo
	var hasTotal bool
	for rest := data; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		key, vals, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *uint64
		switch string(key) { // switch on string(bytes) does not allocate
		case "MemTotal":
			dst, hasTotal = &m.total, true
		case "MemFree":
			dst = &m.free
		case "MemAvailable":
			dst, m.hasAvailable = &m.available, true
		case "Buffers":
			dst = &m.buffers
		case "Cached":
			dst = &m.cached
		case "SReclaimable":
			dst = &m.sReclaimable
		case "SwapTotal":
			dst = &m.swapTotal
		case "SwapFree":
			dst = &m.swapFree
		default:
			continue
		}
		f, vals := nextField(vals)
		unit, _ := nextField(vals)
		v, ok := parseUint(f)
		if !ok || (len(unit) > 0 && string(unit) != "kB") || v > math.MaxUint64/1024 {
			return m, fmt.Errorf("parse meminfo: bad %s line %q", key, truncate(line))
		}
		if len(unit) > 0 {
			v *= 1024
		}
		*dst = v
	}
	if !hasTotal || m.total == 0 {
		return m, errors.New("parse meminfo: no MemTotal")
	}
	return m, nil
}

// parseVmstatSwap returns the pswpin and pswpout page counters of
// /proc/vmstat.
func parseVmstatSwap(data []byte) (in, out uint64, err error) {
	var hasIn, hasOut bool
	for rest := data; len(rest) > 0 && !(hasIn && hasOut); {
		var line []byte
		line, rest = nextLine(rest)
		if !bytes.HasPrefix(line, []byte("pswp")) {
			continue
		}
		key, vals := nextField(line)
		switch string(key) {
		case "pswpin":
			in, hasIn = firstUint(vals)
		case "pswpout":
			out, hasOut = firstUint(vals)
		}
	}
	if !hasIn || !hasOut {
		return 0, 0, errors.New("parse vmstat: no pswpin/pswpout")
	}
	return in, out, nil
}
