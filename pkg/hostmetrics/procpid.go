package hostmetrics

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pidStat is the part of /proc/<pid>/stat the process source uses. comm
// points into the read buffer and is only valid until the next read.
type pidStat struct {
	pid   int32
	comm  []byte
	state byte
	// utime and stime are in USER_HZ ticks, starttime in ticks after boot.
	utime, stime, starttime uint64
	numThreads              int64
	// vsize is in bytes, rss in pages.
	vsize uint64
	rss   int64
}

var errStatFormat = errors.New("malformed stat")

// parseStat parses /proc/<pid>/stat. The command name sits in parentheses and
// may itself contain spaces and parentheses, so the fields are counted from
// the last ')'.
func parseStat(data []byte) (pidStat, error) {
	var st pidStat
	open := bytes.IndexByte(data, '(')
	closing := bytes.LastIndexByte(data, ')')
	if open < 1 || closing < open {
		return st, fmt.Errorf("parse stat: %w: no (comm)", errStatFormat)
	}
	pid, ok := parseInt(bytes.TrimSpace(data[:open]))
	if !ok || pid <= 0 || pid > 1<<31-1 {
		return st, fmt.Errorf("parse stat: %w: bad pid %q", errStatFormat, truncate(data[:open]))
	}
	st.pid = int32(pid)
	st.comm = data[open+1 : closing]

	// Field numbers as in proc(5): 3 is state, the first after ')'.
	rest := data[closing+1:]
	for field := 3; field <= 24; field++ {
		var f []byte
		f, rest = nextField(rest)
		if len(f) == 0 {
			return st, fmt.Errorf("parse stat: %w: %d fields, want 24", errStatFormat, field-1)
		}
		var ok bool
		switch field {
		case 3:
			ok = len(f) == 1
			st.state = f[0]
		case 14:
			st.utime, ok = parseUint(f)
		case 15:
			st.stime, ok = parseUint(f)
		case 20:
			st.numThreads, ok = parseInt(f)
		case 22:
			st.starttime, ok = parseUint(f)
		case 23:
			st.vsize, ok = parseUint(f)
		case 24:
			st.rss, ok = parseInt(f)
		default:
			ok = true
		}
		if !ok {
			return st, fmt.Errorf("parse stat: %w: field %d %q", errStatFormat, field, truncate(f))
		}
	}
	return st, nil
}

// parseStatusUID returns the effective uid from /proc/<pid>/status (the second
// number of the "Uid:" line: real, effective, saved, filesystem), the uid
// ps(1) shows as the process's user.
func parseStatusUID(data []byte) (uint32, error) {
	for rest := data; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		v, ok := bytes.CutPrefix(line, []byte("Uid:"))
		if !ok {
			continue
		}
		_, v = nextField(v) // real
		f, _ := nextField(v)
		uid, ok := parseUint(f)
		if !ok || uid > 1<<32-1 {
			return 0, fmt.Errorf("parse status: bad Uid line %q", truncate(line))
		}
		return uint32(uid), nil
	}
	return 0, errors.New("parse status: no Uid line")
}

// pidPath writes "<pid>/<file>\x00" into buf: a path relative to the proc
// root's directory descriptor, NUL-terminated for openat(2).
func pidPath(buf []byte, pid int32, file string) []byte {
	buf = strconv.AppendInt(buf[:0], int64(pid), 10)
	buf = append(buf, '/')
	buf = append(buf, file...)
	return append(buf, 0)
}

// openAt opens the NUL-terminated relative path under directory dirfd. It
// calls openat(2) directly because syscall.Openat would copy the path into a
// new allocation on every one of a few hundred calls per cycle.
func openAt(dirfd int, path []byte, flags int) (int, error) {
	if len(path) == 0 || path[len(path)-1] != 0 {
		return -1, syscall.EINVAL
	}
	for {
		r, _, e := syscall.Syscall6(syscall.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(&path[0])),
			uintptr(flags|syscall.O_CLOEXEC), 0, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return -1, e
		}
		return int(r), nil
	}
}

// preadAll reads the whole of fd from offset 0 into buf, growing it as
// needed. procfs regenerates a per-process file on every read from offset 0,
// so a descriptor kept open is re-read with one pread(2) a cycle instead of
// openat, read, read-to-EOF and close; a single-record procfs file comes back
// whole from one read when the buffer is large enough.
func preadAll(fd int, buf []byte) ([]byte, error) {
	if cap(buf) == 0 {
		buf = make([]byte, 0, 4096)
	}
	for {
		buf = buf[:cap(buf)]
		n, err := syscall.Pread(fd, buf, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return buf[:0], err
		}
		if n < len(buf) {
			return buf[:n], nil
		}
		if len(buf) >= maxProcFileBytes {
			return buf[:0], syscall.EFBIG
		}
		buf = append(buf, make([]byte, len(buf))...)
	}
}

// readAt reads the NUL-terminated relative path under dirfd into buf (from
// its start) with openat, one pread and close. Errors are bare syscall.Errno
// values: the caller decides whether a vanished process matters.
func readAt(dirfd int, path, buf []byte) ([]byte, error) {
	fd, err := openAt(dirfd, path, syscall.O_RDONLY)
	if err != nil {
		return buf[:0], err
	}
	defer syscall.Close(fd)
	return preadAll(fd, buf)
}

// countFDs returns the number of open descriptors of the process whose fd
// directory is at the relative, NUL-terminated path under dirfd. Since Linux
// 6.2 procfs reports that number as the directory's size, so one fstatat
// answers instead of openat, a getdents per batch of descriptors and close;
// older kernels report 0 and the directory is listed. sizeOK is false when
// the tree is not procfs (test fixtures), whose directory sizes mean
// something else.
func countFDs(dirfd int, path, buf []byte, sizeOK bool) (int, error) {
	if len(path) == 0 || path[len(path)-1] != 0 {
		return 0, syscall.EINVAL
	}
	if sizeOK {
		var st unix.Stat_t
		if err := unix.Fstatat(dirfd, string(path[:len(path)-1]), &st, 0); err != nil {
			return 0, err
		}
		if st.Size > 0 {
			return int(st.Size), nil
		}
	}
	fd, err := openAt(dirfd, path, syscall.O_RDONLY|syscall.O_DIRECTORY)
	if err != nil {
		return 0, err
	}
	defer syscall.Close(fd)
	return countDirentsFD(fd, buf)
}

// procSuperMagic is procfs's statfs f_type.
const procSuperMagic = 0x9fa0

// isProcfs reports whether path is the root of a procfs mount.
func isProcfs(path string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(path, &st) == nil && st.Type == procSuperMagic
}

func countDirentsFD(fd int, buf []byte) (int, error) {
	buf = buf[:cap(buf)]
	n := 0
	for {
		got, err := syscall.ReadDirent(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if got <= 0 {
			return n, nil
		}
		walkDirents(buf[:got], func([]byte) { n++ })
	}
}
