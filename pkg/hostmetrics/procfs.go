package hostmetrics

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
)

// This file holds the allocation-free readers and parsers for the procfs
// files the package reads by hand. They work on byte slices from one reused
// buffer: the process walk reads a few hundred files per cycle, and going
// through os.ReadFile would cost an *os.File, a poller registration attempt
// and a fresh buffer for each.

// maxProcFileBytes caps any file read by hand. /proc/stat on a machine with
// thousands of CPUs and interrupts is the largest; anything bigger is not
// procfs as we know it.
const maxProcFileBytes = 8 << 20

// readFile reads path whole into the Collector's reused buffer. The result is
// valid until the next readFile.
func (c *Collector) readFile(path string) ([]byte, error) {
	data, err := readInto(path, c.buf[:0])
	c.buf = data[:0]
	return data, err
}

// readInto reads path into buf (from its start), growing it as needed.
func readInto(path string, buf []byte) ([]byte, error) {
	fd, err := open(path, syscall.O_RDONLY)
	if err != nil {
		return buf[:0], err
	}
	defer syscall.Close(fd)
	data, err := readFD(fd, buf)
	if err != nil {
		return data, &pathError{op: "read", path: path, err: err}
	}
	return data, nil
}

// readFD reads fd to its end into buf (from its start), growing it as needed.
func readFD(fd int, buf []byte) ([]byte, error) {
	buf = buf[:0]
	if cap(buf) == 0 {
		buf = make([]byte, 0, 4096)
	}
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= maxProcFileBytes {
				return buf, syscall.EFBIG
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return buf, err
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// open opens path with O_CLOEXEC, retrying on EINTR.
func open(path string, flags int) (int, error) {
	for {
		fd, err := syscall.Open(path, flags|syscall.O_CLOEXEC, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return -1, &pathError{op: "open", path: path, err: err}
		}
		return fd, nil
	}
}

// pathError is os.PathError without importing os's file machinery into the
// hot path; errors.Is(err, fs.ErrNotExist) works through syscall.Errno.
type pathError struct {
	op, path string
	err      error
}

func (e *pathError) Error() string { return e.op + " " + e.path + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

// walkDirents calls fn with the name of every linux_dirent64 record in buf,
// skipping "." and "..". A truncated or malformed record ends the walk; it
// never reads outside buf.
//
//	struct linux_dirent64 { u64 ino; s64 off; u16 reclen; u8 type; char name[]; }
func walkDirents(buf []byte, fn func(name []byte)) {
	const nameOff = 19
	for len(buf) >= nameOff {
		reclen := int(binary.NativeEndian.Uint16(buf[16:18]))
		if reclen < nameOff || reclen > len(buf) {
			return
		}
		name := buf[nameOff:reclen]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		buf = buf[reclen:]
		if len(name) == 0 || (name[0] == '.' && (len(name) == 1 || (len(name) == 2 && name[1] == '.'))) {
			continue
		}
		fn(name)
	}
}

// parseUint parses a decimal unsigned integer with no sign or spaces.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// parseInt parses a decimal integer with an optional leading '-'.
func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	u, ok := parseUint(b)
	if !ok || u > 1<<63 || (!neg && u == 1<<63) {
		return 0, false
	}
	if neg {
		return -int64(u), true
	}
	return int64(u), true
}

// nextField returns the first whitespace-separated field of b and the rest.
func nextField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	j := i
	for j < len(b) && !isSpace(b[j]) {
		j++
	}
	return b[i:j], b[j:]
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// nextLine returns the first line of b (without '\n') and the rest.
func nextLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// cpuModes are the /proc/stat cpu columns in file order.
var cpuModes = [...]string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice"}

const numCPUModes = len(cpuModes)

// maxCPUs bounds the N of a "cpuN" line; Linux's NR_CPUS tops out at 8192.
const maxCPUs = 1 << 16

// cpuTicks is one "cpu" line of /proc/stat in USER_HZ ticks.
type cpuTicks struct {
	// id is the N of "cpuN"; -1 for the aggregate line.
	id    int
	ticks [numCPUModes]uint64
	// modes is how many columns the kernel printed (older kernels print
	// fewer than ten).
	modes int
}

// procStat is the part of /proc/stat the package uses.
type procStat struct {
	total cpuTicks
	cpus  []cpuTicks
	// Counters present only when has* is set.
	ctxt, intr, forks, btime          uint64
	hasCtxt, hasIntr, hasForks, hasBt bool
}

// errNoCPULine is returned when /proc/stat has no aggregate cpu line.
var errNoCPULine = errors.New("no aggregate cpu line")

// parseProcStat parses /proc/stat into st, reusing st.cpus.
func parseProcStat(data []byte, st *procStat) error {
	*st = procStat{cpus: st.cpus[:0], total: cpuTicks{id: -2}}
	for rest := data; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		key, vals := nextField(line)
		switch {
		case bytes.HasPrefix(key, []byte("cpu")):
			t := cpuTicks{id: -1}
			if len(key) > 3 {
				id, ok := parseUint(key[3:])
				if !ok || id >= maxCPUs {
					return fmt.Errorf("parse /proc/stat: bad cpu line %q", truncate(line))
				}
				t.id = int(id)
			}
			for t.modes < numCPUModes {
				var f []byte
				f, vals = nextField(vals)
				if len(f) == 0 {
					break
				}
				v, ok := parseUint(f)
				if !ok {
					return fmt.Errorf("parse /proc/stat: bad value in %q", truncate(line))
				}
				t.ticks[t.modes] = v
				t.modes++
			}
			if t.modes < 4 { // user nice system idle: present since Linux 2.4
				return fmt.Errorf("parse /proc/stat: short cpu line %q", truncate(line))
			}
			if t.id == -1 {
				st.total = t
			} else {
				st.cpus = append(st.cpus, t)
			}
		case string(key) == "ctxt":
			st.ctxt, st.hasCtxt = firstUint(vals)
		case string(key) == "intr":
			st.intr, st.hasIntr = firstUint(vals)
		case string(key) == "processes":
			st.forks, st.hasForks = firstUint(vals)
		case string(key) == "btime":
			st.btime, st.hasBt = firstUint(vals)
		}
	}
	if st.total.id != -1 {
		return fmt.Errorf("parse /proc/stat: %w", errNoCPULine)
	}
	return nil
}

func firstUint(b []byte) (uint64, bool) {
	f, _ := nextField(b)
	return parseUint(f)
}

// truncate shortens a line quoted in an error.
func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// parseUptime returns the first field of /proc/uptime in seconds.
func parseUptime(data []byte) (float64, error) {
	f, _ := nextField(bytes.TrimSpace(data))
	// "12345.67": whole seconds, '.', hundredths.
	whole, frac, _ := bytes.Cut(f, []byte("."))
	w, ok := parseUint(whole)
	if !ok {
		return 0, fmt.Errorf("parse uptime %q: not a number", truncate(data))
	}
	v := float64(w)
	if len(frac) > 0 {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		fr, ok := parseUint(frac)
		if !ok {
			return 0, fmt.Errorf("parse uptime %q: not a number", truncate(data))
		}
		scale := 1.0
		for range frac {
			scale *= 10
		}
		v += float64(fr) / scale
	}
	return v, nil
}

// parseUintFields parses up to len(dst) leading whitespace-separated unsigned
// integers of data (a one-line procfs file such as file-nr) and returns how
// many it parsed.
func parseUintFields(data []byte, dst []uint64) (int, error) {
	rest := bytes.TrimSpace(data)
	for i := range dst {
		var f []byte
		f, rest = nextField(rest)
		if len(f) == 0 {
			return i, nil
		}
		v, ok := parseUint(f)
		if !ok {
			return i, fmt.Errorf("parse %q: not an unsigned integer", truncate(f))
		}
		dst[i] = v
	}
	return len(dst), nil
}
