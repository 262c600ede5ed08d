package hostmetrics

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/shirou/gopsutil/v3/disk"
)

func TestParseStat(t *testing.T) {
	full := func(comm, rest string) string { return "123 (" + comm + ") " + rest }
	const tail = "S 1 123 123 0 -1 4194560 10 0 0 0 150 50 0 0 20 0 4 0 777 123456789 2500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
	tests := []struct {
		name    string
		in      string
		want    pidStat
		wantErr bool
	}{
		{name: "plain", in: full("bash", tail),
			want: pidStat{pid: 123, comm: []byte("bash"), state: 'S', utime: 150, stime: 50, numThreads: 4, starttime: 777, vsize: 123456789, rss: 2500}},
		{name: "comm with spaces and parens", in: full("a) (b c)", tail),
			want: pidStat{pid: 123, comm: []byte("a) (b c)"), state: 'S', utime: 150, stime: 50, numThreads: 4, starttime: 777, vsize: 123456789, rss: 2500}},
		{name: "empty comm", in: full("", tail),
			want: pidStat{pid: 123, comm: []byte(""), state: 'S', utime: 150, stime: 50, numThreads: 4, starttime: 777, vsize: 123456789, rss: 2500}},
		{name: "exactly 24 fields, trailing newline", in: full("x", "R 1 1 1 0 -1 0 0 0 0 0 7 8 0 0 20 0 1 0 9 10 11\n"),
			want: pidStat{pid: 123, comm: []byte("x"), state: 'R', utime: 7, stime: 8, numThreads: 1, starttime: 9, vsize: 10, rss: 11}},
		{name: "negative rss", in: full("x", "R 1 1 1 0 -1 0 0 0 0 0 7 8 0 0 20 0 1 0 9 10 -3"),
			want: pidStat{pid: 123, comm: []byte("x"), state: 'R', utime: 7, stime: 8, numThreads: 1, starttime: 9, vsize: 10, rss: -3}},
		{name: "truncated", in: full("x", "S 1 123"), wantErr: true},
		{name: "23 fields", in: full("x", "R 1 1 1 0 -1 0 0 0 0 0 7 8 0 0 20 0 1 0 9 10"), wantErr: true},
		{name: "no parens", in: "123 bash S 1", wantErr: true},
		{name: "no pid", in: "(bash) " + tail, wantErr: true},
		{name: "pid zero", in: "0 (bash) " + tail, wantErr: true},
		{name: "pid too large", in: "99999999999 (bash) " + tail, wantErr: true},
		{name: "bad utime", in: full("x", strings.Replace(tail, " 150 ", " 1x0 ", 1)), wantErr: true},
		{name: "two-letter state", in: full("x", "SS"+tail[1:]), wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.in))
			if tt.wantErr {
				if err == nil || !errors.Is(err, errStatFormat) {
					t.Fatalf("parseStat(%q) = %+v, %v; want errStatFormat", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseStat(%q): %v", tt.in, err)
			}
			if string(got.comm) != string(tt.want.comm) {
				t.Errorf("comm %q, want %q", got.comm, tt.want.comm)
			}
			got.comm, tt.want.comm = nil, nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseStat = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseStatusUID(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    uint32
		wantErr bool
	}{
		{name: "effective differs", in: "Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t1\t1\t1\t1\n", want: 0},
		{name: "ordinary", in: "Name:\tx\nState:\tS\nUid:\t1000\t1000\t1000\t1000\n", want: 1000},
		{name: "spaces", in: "Uid: 5 6 7 8", want: 6},
		{name: "max uid", in: "Uid:\t4294967295\t4294967295\t0\t0\n", want: 4294967295},
		{name: "overflow", in: "Uid:\t1\t4294967296\t0\t0\n", wantErr: true},
		{name: "one field", in: "Uid:\t1\n", wantErr: true},
		{name: "missing", in: "Name:\tx\nGid:\t0\t0\t0\t0\n", wantErr: true},
		{name: "not at line start", in: "XUid:\t1\t2\n", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatusUID([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("parseStatusUID(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		check   func(t *testing.T, st *procStat)
		wantErr bool
	}{
		{
			name: "modern kernel",
			in:   "cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 2 3 4 5 6 7 8 9 10\ncpu3 0 0 0 1 0 0 0 0 0 0\nintr 99 1 2\nctxt 5\nbtime 1600000000\nprocesses 77\n",
			check: func(t *testing.T, st *procStat) {
				if st.total.ticks != [numCPUModes]uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10} || st.total.modes != 10 {
					t.Errorf("total %+v", st.total)
				}
				if len(st.cpus) != 2 || st.cpus[0].id != 0 || st.cpus[1].id != 3 {
					t.Errorf("cpus %+v, want ids 0 and 3 (offline CPUs are missing)", st.cpus)
				}
				if !st.hasIntr || st.intr != 99 || !st.hasCtxt || st.ctxt != 5 || !st.hasBt || st.btime != 1600000000 ||
					!st.hasForks || st.forks != 77 {
					t.Errorf("counters %+v", st)
				}
			},
		},
		{
			name: "old kernel, four columns, no counters",
			in:   "cpu 1 2 3 4\ncpu0 1 2 3 4\n",
			check: func(t *testing.T, st *procStat) {
				if st.total.modes != 4 || st.hasCtxt || st.hasBt || st.hasIntr || st.hasForks {
					t.Errorf("got %+v", st)
				}
			},
		},
		{name: "no aggregate line", in: "cpu0 1 2 3 4\nctxt 1\n", wantErr: true},
		{name: "short cpu line", in: "cpu 1 2 3\n", wantErr: true},
		{name: "bad number", in: "cpu 1 2 x 4\n", wantErr: true},
		{name: "bad cpu id", in: "cpu 1 2 3 4\ncpuX 1 2 3 4\n", wantErr: true},
		{name: "huge cpu id", in: "cpu 1 2 3 4\ncpu99999999 1 2 3 4\n", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st procStat
			err := parseProcStat([]byte(tt.in), &st)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseProcStat: %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				tt.check(t, &st)
			}
		})
	}
}

func TestParseProcStatReusesCPUs(t *testing.T) {
	st := procStat{cpus: make([]cpuTicks, 0, 8)}
	backing := &st.cpus[:1][0]
	for i := 0; i < 3; i++ {
		if err := parseProcStat([]byte("cpu 1 2 3 4\ncpu0 1 2 3 4\ncpu1 1 2 3 4\n"), &st); err != nil {
			t.Fatal(err)
		}
	}
	if len(st.cpus) != 2 || &st.cpus[0] != backing {
		t.Errorf("cpus reallocated or accumulated: len %d", len(st.cpus))
	}
}

func TestParseUptime(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr bool
	}{
		{in: "12345.67 23456.78\n", want: 12345.67},
		{in: "5 6", want: 5},
		{in: "0.5", want: 0.5},
		{in: "1.123456789123 0", want: 1.123456789},
		{in: "", wantErr: true},
		{in: "-1.0 2", wantErr: true},
		{in: "1.x 2", wantErr: true},
		{in: ".5 2", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseUptime([]byte(tt.in))
		if (err != nil) != tt.wantErr || (!tt.wantErr && !approxEqual(got, tt.want)) {
			t.Errorf("parseUptime(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseUintFields(t *testing.T) {
	tests := []struct {
		in      string
		want    []uint64
		wantErr bool
	}{
		{in: "2048\t0\t100000\n", want: []uint64{2048, 0, 100000}},
		{in: "256\n", want: []uint64{256}},
		{in: "1 2 3 4 5", want: []uint64{1, 2, 3}},
		{in: "", want: []uint64{}},
		{in: "1 x 3", want: []uint64{1}, wantErr: true},
		{in: "18446744073709551616", want: []uint64{}, wantErr: true},
	}
	for _, tt := range tests {
		var dst [3]uint64
		n, err := parseUintFields([]byte(tt.in), dst[:])
		if (err != nil) != tt.wantErr || n != len(tt.want) {
			t.Errorf("parseUintFields(%q) = %d, %v; want %d, error %v", tt.in, n, err, len(tt.want), tt.wantErr)
			continue
		}
		for i, w := range tt.want {
			if dst[i] != w {
				t.Errorf("parseUintFields(%q)[%d] = %d, want %d", tt.in, i, dst[i], w)
			}
		}
	}
}

func TestParseInts(t *testing.T) {
	for _, tt := range []struct {
		in string
		u  uint64
		uo bool
		i  int64
		io bool
	}{
		{"0", 0, true, 0, true},
		{"18446744073709551615", 1<<64 - 1, true, 0, false},
		{"18446744073709551616", 0, false, 0, false},
		{"9223372036854775807", 1<<63 - 1, true, 1<<63 - 1, true},
		{"-9223372036854775808", 0, false, -1 << 63, true},
		{"-9223372036854775809", 0, false, 0, false},
		{"-", 0, false, 0, false},
		{"", 0, false, 0, false},
		{"+1", 0, false, 0, false},
		{" 1", 0, false, 0, false},
	} {
		if u, ok := parseUint([]byte(tt.in)); ok != tt.uo || u != tt.u {
			t.Errorf("parseUint(%q) = %d, %v", tt.in, u, ok)
		}
		if i, ok := parseInt([]byte(tt.in)); ok != tt.io || i != tt.i {
			t.Errorf("parseInt(%q) = %d, %v", tt.in, i, ok)
		}
	}
}

// dirent builds one linux_dirent64 record, padded to 8 bytes as the kernel
// does.
func dirent(name string) []byte {
	reclen := (19 + len(name) + 1 + 7) &^ 7
	b := make([]byte, reclen)
	binary.NativeEndian.PutUint16(b[16:18], uint16(reclen))
	copy(b[19:], name)
	return b
}

func TestWalkDirents(t *testing.T) {
	var buf []byte
	for _, n := range []string{".", "..", "1", "42", "self", "a-much-longer-name"} {
		buf = append(buf, dirent(n)...)
	}
	tests := []struct {
		name string
		buf  []byte
		want string
	}{
		{name: "all", buf: buf, want: "1,42,self,a-much-longer-name"},
		{name: "truncated record", buf: buf[:len(buf)-3], want: "1,42,self"},
		{name: "zero reclen", buf: append(dirent("7"), make([]byte, 24)...), want: "7"},
		{name: "short", buf: buf[:10], want: ""},
		{name: "empty", buf: nil, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			walkDirents(tt.buf, func(n []byte) { got = append(got, string(n)) })
			if strings.Join(got, ",") != tt.want {
				t.Errorf("names %q, want %q", strings.Join(got, ","), tt.want)
			}
		})
	}
}

func TestCountFDsOnDirectory(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"0", "1", "2", "10"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	root, err := open(filepath.Dir(dir), syscall.O_RDONLY|syscall.O_DIRECTORY)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(root)
	path := append([]byte(filepath.Base(dir)), 0)
	n, err := countFDs(root, path, make([]byte, 0, 64), false) // tiny buffer: several getdents calls
	if err != nil || n != 4 {
		t.Fatalf("countFDs = %d, %v; want 4", n, err)
	}
	if _, err := countFDs(root, []byte("missing\x00"), make([]byte, 0, 64), false); err == nil {
		t.Errorf("countFDs on a missing directory: no error")
	}
}

func TestCountFDsOnProcfs(t *testing.T) {
	if !isProcfs("/proc") {
		t.Skip("no procfs at /proc")
	}
	root, err := open("/proc", syscall.O_RDONLY|syscall.O_DIRECTORY)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(root)
	path := pidPath(nil, int32(os.Getpid()), "fd")
	buf := make([]byte, 0, 32<<10)
	fast, err1 := countFDs(root, path, buf, true)
	listed, err2 := countFDs(root, path, buf, false)
	// Both ways count the same descriptors (the listing holds one more
	// open: the directory it reads).
	if err1 != nil || err2 != nil || fast < 3 || listed < fast || listed > fast+1 {
		t.Fatalf("fstat count %d (%v), listed count %d (%v)", fast, err1, listed, err2)
	}
}

func TestPreadAllGrows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	want := strings.Repeat("0123456789", 1000)
	if err := os.WriteFile(path, []byte(want), 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := open(path, syscall.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	for i := 0; i < 2; i++ { // the second read starts from offset 0 again
		got, err := preadAll(fd, make([]byte, 0, 16))
		if err != nil || string(got) != want {
			t.Fatalf("read %d: %d bytes, %v", i, len(got), err)
		}
	}
}

func TestLabelValue(t *testing.T) {
	long := "/var/lib/kubelet/pods/0b5f3c1e-aaaa-bbbb-cccc-1234567890ab/volumes/kubernetes.io~csi/pvc-1/mount"
	long2 := long[:len(long)-5] + "other"
	tests := []struct {
		name, in string
		check    func(t *testing.T, got string)
	}{
		{name: "short kept", in: "eth0", check: func(t *testing.T, got string) {
			if got != "eth0" {
				t.Errorf("got %q", got)
			}
		}},
		{name: "exactly the limit", in: strings.Repeat("a", MaxLabelValueBytes), check: func(t *testing.T, got string) {
			if got != strings.Repeat("a", MaxLabelValueBytes) {
				t.Errorf("got %q", got)
			}
		}},
		{name: "long shortened with hash", in: long, check: func(t *testing.T, got string) {
			if len(got) != MaxLabelValueBytes || !strings.HasPrefix(got, long[:MaxLabelValueBytes-9]+"~") {
				t.Errorf("got %q (%d bytes)", got, len(got))
			}
			if got == labelValue(long2) {
				t.Errorf("two long values sharing a prefix collide: %q", got)
			}
			if got != labelValue(long) {
				t.Errorf("not deterministic")
			}
		}},
		{name: "invalid utf8 replaced", in: "a\xffb", check: func(t *testing.T, got string) {
			if got != "a\uFFFDb" {
				t.Errorf("got %q", got)
			}
		}},
		{name: "multibyte not split", in: strings.Repeat("é", 40), check: func(t *testing.T, got string) {
			if len(got) > MaxLabelValueBytes || !strings.HasSuffix(got[:strings.IndexByte(got, '~')], "é") {
				t.Errorf("got %q", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, labelValue(tt.in)) })
	}
}

func TestBlockDeviceFilters(t *testing.T) {
	tests := []struct {
		name          string
		skip, stacked bool
	}{
		{name: "sda"}, {name: "vdb"}, {name: "xvda"}, {name: "nvme0n1"}, {name: "mmcblk0"}, {name: "sr0"},
		{name: "sdaa"}, {name: "nbd0"},
		{name: "sda1", skip: true}, {name: "vdb12", skip: true}, {name: "xvda3", skip: true}, {name: "hdc1", skip: true},
		{name: "sdaa2", skip: true},
		{name: "nvme0n1p1", skip: true}, {name: "nvme10n2p15", skip: true}, {name: "mmcblk0p2", skip: true},
		{name: "loop0", skip: true}, {name: "loop12", skip: true}, {name: "ram0", skip: true},
		{name: "zram0", skip: true}, {name: "fd0", skip: true},
		{name: "loop"}, {name: "ramdisk"},
		{name: "dm-0", stacked: true}, {name: "md127", stacked: true},
	}
	for _, tt := range tests {
		if got := skipBlockDevice(tt.name); got != tt.skip {
			t.Errorf("skipBlockDevice(%q) = %v, want %v", tt.name, got, tt.skip)
		}
		if got := stackedBlockDevice(tt.name); got != tt.stacked {
			t.Errorf("stackedBlockDevice(%q) = %v, want %v", tt.name, got, tt.stacked)
		}
	}
}

func TestProcessName(t *testing.T) {
	for in, want := range map[string]string{
		"bash":                         "bash",
		"kworker/u8:0-events_unbound":  "kworker/u8:0",
		"kworker/1:1H-kblockd":         "kworker/1:1H",
		"kworker/0:2+events":           "kworker/0:2",
		"kworker/R-rcu_gp":             "kworker/R",
		"kworker/3:0":                  "kworker/3:0",
		"my-kworker/x-y":               "my-kworker/x-y",
		"systemd-journald":             "systemd-journald",
		"pool_workqueue_release":       "pool_workqueue_release",
		"kworker/u16:3-flush-253:0xyz": "kworker/u16:3",
	} {
		if got := string(processName([]byte(in))); got != want {
			t.Errorf("processName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRealMounts(t *testing.T) {
	parts := []disk.PartitionStat{
		{Device: "proc", Mountpoint: "/proc", Fstype: "proc"},
		{Device: "/dev/sda1", Mountpoint: "/", Fstype: "ext4", Opts: []string{"rw"}},
		{Device: "/dev/sda1", Mountpoint: "/etc/hosts", Fstype: "ext4", Opts: []string{"rw", "bind"}},
		{Device: "tmpfs", Mountpoint: "/run", Fstype: "tmpfs"},
		{Device: "overlay", Mountpoint: "/var/lib/docker/overlay2/abc/merged", Fstype: "overlay"},
		{Device: "overlay", Mountpoint: "/mnt/overlay", Fstype: "overlay"},
		{Device: "/dev/loop3", Mountpoint: "/snap/core/1", Fstype: "squashfs"},
		{Device: "/dev/sdb1", Mountpoint: "/data", Fstype: "xfs"},
		{Device: "/dev/sdc1", Mountpoint: "/data", Fstype: "btrfs"}, // mounted over /data
		{Device: "nfs:/export", Mountpoint: "/srv/nfs", Fstype: "nfs4"},
		{Device: "devpts", Mountpoint: "/dev/pts", Fstype: "devpts"},
		{Device: "/dev/sdd1", Mountpoint: "/devices", Fstype: "ext4"}, // not under /dev
		{Device: "cgroup2", Mountpoint: "/sys/fs/cgroup", Fstype: "cgroup2"},
	}
	tests := []struct {
		name  string
		tmpfs bool
		want  string
	}{
		{name: "default", want: "/,/mnt/overlay,/data:btrfs,/srv/nfs,/devices"},
		{name: "with tmpfs", tmpfs: true, want: "/,/run,/mnt/overlay,/data:btrfs,/srv/nfs,/devices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFilesystemSource(tt.tmpfs, DefaultStatfsTimeout)
			var got []string
			for _, p := range f.realMounts(append([]disk.PartitionStat(nil), parts...)) {
				s := p.Mountpoint
				if s == "/data" {
					s += ":" + p.Fstype
				}
				got = append(got, s)
			}
			if strings.Join(got, ",") != tt.want {
				t.Errorf("mounts %v, want %s", got, tt.want)
			}
		})
	}
}

func TestParseMeminfo(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    meminfo
		wantErr bool
	}{
		{name: "modern", in: "MemTotal:  100 kB\nMemFree: 10 kB\nMemAvailable: 50 kB\nBuffers: 5 kB\nCached: 20 kB\nSReclaimable: 2 kB\nSwapTotal: 8 kB\nSwapFree: 6 kB\nHugePages_Total: 0\n",
			want: meminfo{total: 102400, free: 10240, available: 51200, buffers: 5120, cached: 20480, sReclaimable: 2048,
				swapTotal: 8192, swapFree: 6144, hasAvailable: true}},
		{name: "old kernel without MemAvailable", in: "MemTotal: 1 kB\nMemFree: 1 kB\n",
			want: meminfo{total: 1024, free: 1024}},
		{name: "no MemTotal", in: "MemFree: 1 kB\n", wantErr: true},
		{name: "zero MemTotal", in: "MemTotal: 0 kB\n", wantErr: true},
		{name: "bad number", in: "MemTotal: 1x kB\n", wantErr: true},
		{name: "bad unit", in: "MemTotal: 1 MB\n", wantErr: true},
		{name: "overflow", in: "MemTotal: 18446744073709551615 kB\n", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMeminfo([]byte(tt.in))
			if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
				t.Fatalf("parseMeminfo = %+v, %v; want %+v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseVmstatSwap(t *testing.T) {
	tests := []struct {
		in        string
		wantIn    uint64
		wantOut   uint64
		wantError bool
	}{
		{in: "nr_free_pages 1\npswpin 10\npswpout 20\npgfault 3\n", wantIn: 10, wantOut: 20},
		{in: "pswpout 2\npswpin 1", wantIn: 1, wantOut: 2},
		{in: "pswpin 1\n", wantError: true},
		{in: "pswpin x\npswpout 1\n", wantError: true},
		{in: "", wantError: true},
	}
	for _, tt := range tests {
		in, out, err := parseVmstatSwap([]byte(tt.in))
		if (err != nil) != tt.wantError || in != tt.wantIn || out != tt.wantOut {
			t.Errorf("parseVmstatSwap(%q) = %d, %d, %v", tt.in, in, out, err)
		}
	}
}

func TestParseDiskstatsLine(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantName string
		want     diskStats
		wantErr  bool
	}{
		{name: "kernel 5.5+ with discard and flush columns", in: " 254       0 vda 13971 5190 1156466 6473 2244 18497 1219328 2822 0 3332 9933 4108 42 100600 636 3 1",
			wantName: "vda", want: diskStats{reads: 13971, readSectors: 1156466, writes: 2244, writtenSectors: 1219328, ioMillis: 3332}},
		{name: "old kernel, 14 fields", in: "8 0 sda 1 2 3 4 5 6 7 8 9 10 11",
			wantName: "sda", want: diskStats{reads: 1, readSectors: 3, writes: 5, writtenSectors: 7, ioMillis: 10}},
		{name: "too few columns", in: "8 0 sda 1 2 3 4 5 6 7 8 9", wantErr: true},
		{name: "bad number", in: "8 0 sda 1 2 x 4 5 6 7 8 9 10 11", wantErr: true},
		{name: "name only", in: "8 0 sda", wantErr: true},
		{name: "short", in: "8", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, st, err := parseDiskstatsLine([]byte(tt.in))
			if (err != nil) != tt.wantErr || string(name) != tt.wantName || st != tt.want {
				t.Fatalf("parseDiskstatsLine = %q, %+v, %v", name, st, err)
			}
		})
	}
}
