package hostmetrics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v3/disk"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// filesystemSource reports space and inodes of real filesystems through
// gopsutil: per mountpoint as series, summed over distinct devices in the
// heartbeat.
//
// statfs on a dead network mount blocks in the kernel. Each call therefore
// runs in its own goroutine bounded by a timeout; a mountpoint that timed out
// is skipped (and reported) until its call finally returns, like
// node_exporter's stuck-mount handling. The goroutine cannot be cancelled: it
// lives exactly as long as the kernel call.
type filesystemSource struct {
	includeTmpfs bool
	timeout      time.Duration

	mu sync.Mutex
	// pending holds mountpoints whose statfs has not returned yet.
	pending map[string]bool
}

const (
	fromMounts = "/proc/1/mountinfo via gopsutil disk.PartitionsWithContext, then statfs(2) via disk.UsageWithContext"
)

var (
	descSpaceSize = scalarDesc("host_disk_space_size_bytes", batch.KindGauge, "bytes", fromMounts,
		"Size of real filesystems, each device counted once.")
	descSpaceUsed = scalarDesc("host_disk_space_used_bytes", batch.KindGauge, "bytes", fromMounts,
		"Space used on real filesystems, each device counted once.")
	descSpaceAvail = scalarDesc("host_disk_space_avail_bytes", batch.KindGauge, "bytes", fromMounts,
		"Space available to unprivileged users on real filesystems, each device counted once.")

	fsLabels = []string{"fstype", "mountpoint"}

	descFSSize = seriesDesc("host_filesystem_size_bytes", batch.KindGauge, fsLabels, "bytes", fromMounts,
		"Size of one filesystem.")
	descFSUsed = seriesDesc("host_filesystem_used_bytes", batch.KindGauge, fsLabels, "bytes", fromMounts,
		"Space used on one filesystem (size minus free blocks).")
	descFSAvail = seriesDesc("host_filesystem_avail_bytes", batch.KindGauge, fsLabels, "bytes", fromMounts,
		"Space available to unprivileged users on one filesystem.")
	descFSInodes = seriesDesc("host_filesystem_inodes", batch.KindGauge, fsLabels, "inodes", fromMounts,
		"Inodes one filesystem has in all (0 when it does not use inodes, e.g. btrfs).")
	descFSInodesUsed = seriesDesc("host_filesystem_inodes_used", batch.KindGauge, fsLabels, "inodes", fromMounts,
		"Inodes in use on one filesystem.")
)

// pseudoFilesystems hold no user data or report a size that is not disk space.
var pseudoFilesystems = []string{
	"autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts", "devtmpfs",
	"efivarfs", "erofs", "fuse.lxcfs", "fusectl", "hugetlbfs", "iso9660", "mqueue", "nsfs", "proc",
	"pstore", "ramfs", "rpc_pipefs", "securityfs", "selinuxfs", "squashfs", "sysfs", "tracefs",
}

// pseudoMountRoots are trees whose mounts belong to the kernel or to container
// runtimes (each container's rootfs would otherwise appear here).
var pseudoMountRoots = []string{
	"/proc", "/sys", "/dev", "/run/credentials", "/var/lib/docker/", "/var/lib/containers/storage/",
	"/var/lib/kubelet/pods/",
}

func newFilesystemSource(includeTmpfs bool, timeout time.Duration) *filesystemSource {
	return &filesystemSource{includeTmpfs: includeTmpfs, timeout: timeout, pending: map[string]bool{}}
}

func (*filesystemSource) name() string { return "filesystem" }

func (*filesystemSource) describe() []*desc {
	return []*desc{descSpaceSize, descSpaceUsed, descSpaceAvail,
		descFSSize, descFSUsed, descFSAvail, descFSInodes, descFSInodesUsed}
}

func (f *filesystemSource) collect(ctx context.Context, s *sink) error {
	parts, err := disk.PartitionsWithContext(s.gopsutil, true)
	if err != nil {
		return err
	}
	mounts := f.realMounts(parts)
	if len(mounts) == 0 {
		return ErrNoData
	}
	var errs []error
	var size, used, avail uint64
	counted := make(map[string]bool, len(mounts))
	emitted := 0
	for _, p := range mounts {
		if err := ctx.Err(); err != nil {
			return err
		}
		u, err := f.usage(ctx, p.Mountpoint)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, err)
			continue
		}
		emitted++
		s.add(descFSSize, float64(u.Total), p.Fstype, p.Mountpoint)
		s.add(descFSUsed, float64(u.Used), p.Fstype, p.Mountpoint)
		s.add(descFSAvail, float64(u.Free), p.Fstype, p.Mountpoint)
		s.add(descFSInodes, float64(u.InodesTotal), p.Fstype, p.Mountpoint)
		s.add(descFSInodesUsed, float64(u.InodesUsed), p.Fstype, p.Mountpoint)
		// One filesystem mounted twice is one device; devices without a
		// /dev path (overlay, nfs "server:/export") count per mountpoint.
		key := p.Device
		if !strings.HasPrefix(key, "/dev/") {
			key = p.Mountpoint
		}
		if !counted[key] {
			counted[key] = true
			size += u.Total
			used += u.Used
			avail += u.Free
		}
	}
	if emitted > 0 {
		s.scalar(descSpaceSize, float64(size))
		s.scalar(descSpaceUsed, float64(used))
		s.scalar(descSpaceAvail, float64(avail))
	}
	return errors.Join(errs...)
}

// realMounts keeps the mounts worth reporting, one per mountpoint (the last
// mount wins: it hides the ones below it).
func (f *filesystemSource) realMounts(parts []disk.PartitionStat) []disk.PartitionStat {
	out := parts[:0]
	for _, p := range parts {
		switch {
		case slices.Contains(pseudoFilesystems, p.Fstype),
			p.Fstype == "tmpfs" && !f.includeTmpfs,
			// gopsutil marks mounts of a subtree ("bind"): Docker's
			// /etc/hosts and friends, views of a filesystem already listed.
			slices.Contains(p.Opts, "bind"),
			underPseudoRoot(p.Mountpoint):
			continue
		}
		if i := slices.IndexFunc(out, func(q disk.PartitionStat) bool { return q.Mountpoint == p.Mountpoint }); i >= 0 {
			out = slices.Delete(out, i, i+1)
		}
		out = append(out, p)
	}
	return out
}

func underPseudoRoot(mp string) bool {
	for _, r := range pseudoMountRoots {
		if strings.HasSuffix(r, "/") {
			if strings.HasPrefix(mp, r) {
				return true
			}
		} else if mp == r || strings.HasPrefix(mp, r+"/") {
			return true
		}
	}
	return false
}

// errStuck reports a mountpoint whose statfs has not returned.
var errStuck = errors.New("statfs still pending from an earlier cycle")

// usage runs statfs on mp, bounded by f.timeout and ctx. A call is marked
// pending before its goroutine starts and unmarked by the goroutine when the
// kernel returns, so a mountpoint is skipped exactly while a call is stuck.
func (f *filesystemSource) usage(ctx context.Context, mp string) (*disk.UsageStat, error) {
	f.mu.Lock()
	if f.pending[mp] {
		f.mu.Unlock()
		return nil, fmt.Errorf("statfs %s: %w", mp, errStuck)
	}
	f.pending[mp] = true
	f.mu.Unlock()

	type result struct {
		u   *disk.UsageStat
		err error
	}
	done := make(chan result, 1) // buffered: the goroutine never blocks after a timeout
	go func() {
		u, err := disk.UsageWithContext(ctx, mp)
		f.mu.Lock()
		delete(f.pending, mp)
		f.mu.Unlock()
		done <- result{u, err}
	}()
	t := time.NewTimer(f.timeout)
	defer t.Stop()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("statfs %s: %w", mp, r.err)
		}
		return r.u, nil
	case <-t.C:
		return nil, fmt.Errorf("statfs %s: no answer in %v", mp, f.timeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
