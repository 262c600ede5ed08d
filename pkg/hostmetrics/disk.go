package hostmetrics

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// diskSource reports block device I/O counters: per device as series and
// summed over physical disks in the heartbeat.
//
// Loop, RAM and zram devices and partitions are skipped: a partition's I/O is
// already counted on its disk. Device-mapper and md devices get series but are
// left out of the heartbeat totals for the same reason. Devices that never did
// any I/O are skipped too (a host has dozens of idle loop and nbd devices).
//
// /proc/diskstats is parsed by hand: gopsutil's disk.IOCounters also looks up
// each device's serial number (udev database) and label (sysfs) on every
// call, a handful of system calls per device that this package never uses.
type diskSource struct {
	// names caches device names, so that the labels cost no allocation
	// per cycle.
	names map[string]string
}

const fromDiskstats = "/proc/diskstats"

var (
	descDiskReads = scalarDesc("host_disk_reads_completed_total", batch.KindCounter, "reads", fromDiskstats,
		"Reads completed, summed over physical disks.")
	descDiskWrites = scalarDesc("host_disk_writes_completed_total", batch.KindCounter, "writes", fromDiskstats,
		"Writes completed, summed over physical disks.")
	descDiskReadBytes = scalarDesc("host_disk_read_bytes_total", batch.KindCounter, "bytes", fromDiskstats,
		"Bytes read, summed over physical disks.")
	descDiskWrittenBytes = scalarDesc("host_disk_written_bytes_total", batch.KindCounter, "bytes", fromDiskstats,
		"Bytes written, summed over physical disks.")
	descDiskIOTime = scalarDesc("host_disk_io_time_seconds_total", batch.KindCounter, "seconds", fromDiskstats,
		"Time disks spent with I/O in flight, summed over physical disks (can exceed wall time).")

	deviceLabel = []string{"device"}

	descBlockReads = seriesDesc("host_blockdev_reads_completed_total", batch.KindCounter, deviceLabel, "reads",
		fromDiskstats, "Reads completed by one block device.")
	descBlockWrites = seriesDesc("host_blockdev_writes_completed_total", batch.KindCounter, deviceLabel, "writes",
		fromDiskstats, "Writes completed by one block device.")
	descBlockReadBytes = seriesDesc("host_blockdev_read_bytes_total", batch.KindCounter, deviceLabel, "bytes",
		fromDiskstats, "Bytes read from one block device.")
	descBlockWrittenBytes = seriesDesc("host_blockdev_written_bytes_total", batch.KindCounter, deviceLabel, "bytes",
		fromDiskstats, "Bytes written to one block device.")
	descBlockIOTime = seriesDesc("host_blockdev_io_time_seconds_total", batch.KindCounter, deviceLabel, "seconds",
		fromDiskstats, "Time one block device spent with I/O in flight; its rate is the device's utilisation.")
)

func (*diskSource) name() string { return "disk" }

func (*diskSource) describe() []*desc {
	return []*desc{descDiskReads, descDiskWrites, descDiskReadBytes, descDiskWrittenBytes, descDiskIOTime,
		descBlockReads, descBlockWrites, descBlockReadBytes, descBlockWrittenBytes, descBlockIOTime}
}

// maxCachedDeviceNames bounds the name cache on hosts that create and
// destroy devices all day (loop devices of CI runners).
const maxCachedDeviceNames = 1024

// diskSectorBytes is the unit of the sector columns of /proc/diskstats,
// whatever the device's real sector size.
const diskSectorBytes = 512

func (d *diskSource) collect(_ context.Context, s *sink) error {
	data, err := s.c.readFile(s.c.procRoot + "/diskstats")
	if err != nil {
		return err
	}
	if d.names == nil || len(d.names) > maxCachedDeviceNames {
		d.names = map[string]string{}
	}
	var total diskStats
	var parseErr error
	emitted := 0
	// The kernel lists devices sorted by major:minor, a stable order.
	for rest := data; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		nameB, st, err := parseDiskstatsLine(line)
		if err != nil {
			parseErr = cmp.Or(parseErr, err) // report the first, keep the other devices
			continue
		}
		if st == (diskStats{}) {
			continue
		}
		name, ok := d.names[string(nameB)]
		if !ok {
			name = string(nameB)
			d.names[name] = name
		}
		if skipBlockDevice(name) {
			continue
		}
		emitted++
		s.add(descBlockReads, float64(st.reads), name)
		s.add(descBlockWrites, float64(st.writes), name)
		s.add(descBlockReadBytes, float64(st.readSectors)*diskSectorBytes, name)
		s.add(descBlockWrittenBytes, float64(st.writtenSectors)*diskSectorBytes, name)
		s.add(descBlockIOTime, float64(st.ioMillis)/1000, name)
		if !stackedBlockDevice(name) {
			total.reads += st.reads
			total.writes += st.writes
			total.readSectors += st.readSectors
			total.writtenSectors += st.writtenSectors
			total.ioMillis += st.ioMillis
		}
	}
	if emitted == 0 {
		return cmp.Or(parseErr, ErrNoData)
	}
	s.scalar(descDiskReads, float64(total.reads))
	s.scalar(descDiskWrites, float64(total.writes))
	s.scalar(descDiskReadBytes, float64(total.readSectors)*diskSectorBytes)
	s.scalar(descDiskWrittenBytes, float64(total.writtenSectors)*diskSectorBytes)
	s.scalar(descDiskIOTime, float64(total.ioMillis)/1000)
	return parseErr
}

// diskStats is the part of one /proc/diskstats line the source uses.
type diskStats struct {
	reads, readSectors, writes, writtenSectors, ioMillis uint64
}

// parseDiskstatsLine parses "major minor name" and the first ten counters
// (Documentation/admin-guide/iostats.rst); later kernels append discard and
// flush columns, which are ignored. name points into line.
func parseDiskstatsLine(line []byte) (name []byte, st diskStats, err error) {
	var f []byte
	rest := line
	for i := 0; i < 2; i++ { // major, minor
		if f, rest = nextField(rest); len(f) == 0 {
			return nil, st, fmt.Errorf("parse diskstats: short line %q", truncate(line))
		}
	}
	if name, rest = nextField(rest); len(name) == 0 {
		return nil, st, fmt.Errorf("parse diskstats: short line %q", truncate(line))
	}
	var cols [10]uint64
	for i := range cols {
		f, rest = nextField(rest)
		v, ok := parseUint(f)
		if !ok {
			return nil, st, fmt.Errorf("parse diskstats: bad column %d in %q", i+1, truncate(line))
		}
		cols[i] = v
	}
	// Columns: reads, reads merged, sectors read, ms reading, writes, writes
	// merged, sectors written, ms writing, I/Os in flight, ms doing I/O.
	return name, diskStats{reads: cols[0], readSectors: cols[2], writes: cols[4], writtenSectors: cols[6],
		ioMillis: cols[9]}, nil
}

// skipBlockDevice reports devices that get no series: memory-backed devices,
// loop devices and partitions.
func skipBlockDevice(name string) bool {
	for _, p := range []string{"loop", "ram", "zram", "fd"} {
		if rest, ok := strings.CutPrefix(name, p); ok && rest != "" && allDigits(rest) {
			return true
		}
	}
	return isPartition(name)
}

// isPartition recognises the partition naming schemes of the common disk
// drivers: sda1, vdb2, xvda1, hdc3 and nvme0n1p1, mmcblk0p2.
func isPartition(name string) bool {
	for _, p := range []string{"sd", "vd", "xvd", "hd"} {
		if rest, ok := strings.CutPrefix(name, p); ok {
			i := 0
			for i < len(rest) && rest[i] >= 'a' && rest[i] <= 'z' {
				i++
			}
			return i > 0 && i < len(rest) && allDigits(rest[i:])
		}
	}
	for _, p := range []string{"nvme", "mmcblk"} {
		if rest, ok := strings.CutPrefix(name, p); ok {
			disk, part, found := strings.Cut(rest, "p")
			return found && disk != "" && part != "" && allDigits(part) &&
				strings.Trim(disk, "0123456789n") == ""
		}
	}
	return false
}

// stackedBlockDevice reports devices built on other block devices, whose I/O
// the underlying disks count again.
func stackedBlockDevice(name string) bool {
	return strings.HasPrefix(name, "dm-") || strings.HasPrefix(name, "md")
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
