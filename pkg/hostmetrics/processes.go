package hostmetrics

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os/user"
	"slices"
	"strconv"
	"syscall"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// processSource walks the process table: state counts for the heartbeat in
// every mode, plus per-process series in "top" and "all" modes.
//
// It reads /proc/[pid]/stat by hand rather than through gopsutil's process
// API, which reads status, stat and statm separately per accessor and
// re-derives the boot time per process (BenchmarkProcessWalk: about ten times
// the CPU). One stat read gives state, CPU ticks, threads, start time, virtual
// and resident size; status (for the uid) and the fd directory are read only
// for the processes reported.
//
// The walk is the bulk of a cycle's cost, and most of it is system calls, so
// each process's stat file is opened once and kept open: later cycles re-read
// it with a single pread(2). A kept descriptor belongs to its task, so a
// reused pid is never confused with the old process (the read fails and the
// file is reopened). At most maxStatFDs descriptors are kept; processes beyond
// that are read with open/read/close. Collector.Close releases them.
type processSource struct {
	opts ProcessOptions
	// maxStatFDs bounds the stat descriptors kept open between cycles.
	maxStatFDs int
	// keptFDs counts the descriptors held in prev and cur.
	keptFDs int
	// procfs is false for fixture trees: see countFDs.
	procfs bool
	cycle  uint64

	// prev maps pid to what the last cycle saw; cur is filled during a walk.
	// Entries move from prev to cur as their pid is read; what is left in
	// prev afterwards has exited and its descriptor is closed.
	prev, cur map[int32]pidState
	// users caches uid -> user name (or the number when the lookup fails).
	users map[uint32]string

	// Buffers reused every cycle.
	pids    []int32
	cands   []candidate
	path    []byte
	fileBuf []byte
	dirBuf  []byte
}

// pidState is what is kept about a process between cycles. comm and pidStr
// are kept so that a long-lived process costs no allocation per cycle.
type pidState struct {
	start, ticks uint64
	comm, pidStr string
	// statFD is the process's stat file kept open, or -1.
	statFD int
	// uid was read from status in cycle uidCycle (0: never).
	uid      uint32
	uidCycle uint64
}

// candidate is a process that may be reported this cycle.
type candidate struct {
	pid        int32
	rank       uint64 // CPU ticks since the previous cycle, or RSS pages
	ticks      uint64
	start      uint64
	vsize      uint64
	rss        int64
	numThreads int64
	comm       string
	pidStr     string
}

const (
	// ctxCheckEvery is how many processes are read between looks at ctx.
	ctxCheckEvery = 64
	// uidRefreshCycles is how often a reported process's uid is re-read. A
	// process changes user at most a few times, nearly always right after it
	// starts; status is the most expensive per-process file.
	uidRefreshCycles = 6
	// maxKeptStatFDs caps maxStatFDs whatever the descriptor limit.
	maxKeptStatFDs = 4096
)

const fromPidStat = "/proc/[pid]/stat"

var (
	descProcs = scalarDesc("host_processes", batch.KindGauge, "processes", fromPidStat,
		"Processes (thread groups) in the process table.")
	descProcsRunning = scalarDesc("host_processes_running", batch.KindGauge, "processes", fromPidStat,
		"Processes running or runnable (state R).")
	descProcsSleeping = scalarDesc("host_processes_sleeping", batch.KindGauge, "processes", fromPidStat,
		"Processes in interruptible sleep or idle kernel threads (states S, I).")
	descProcsBlocked = scalarDesc("host_processes_blocked", batch.KindGauge, "processes", fromPidStat,
		"Processes in uninterruptible sleep, usually waiting on I/O (state D).")
	descProcsZombie = scalarDesc("host_processes_zombie", batch.KindGauge, "processes", fromPidStat,
		"Processes that exited but were not reaped by their parent (state Z).")
	descProcsStopped = scalarDesc("host_processes_stopped", batch.KindGauge, "processes", fromPidStat,
		"Processes stopped by a signal or a tracer (states T, t).")
	descThreads = scalarDesc("host_threads", batch.KindGauge, "threads", fromPidStat,
		"Threads across all processes.")

	procLabels = []string{"name", "pid", "user"}

	descProcCPU = seriesDesc("host_process_cpu_seconds_total", batch.KindCounter, procLabels, "seconds",
		fromPidStat+" utime+stime", "User and system CPU time one process used.")
	descProcRSS = seriesDesc("host_process_resident_memory_bytes", batch.KindGauge, procLabels, "bytes",
		fromPidStat+" rss", "Resident memory of one process.")
	descProcVirt = seriesDesc("host_process_virtual_memory_bytes", batch.KindGauge, procLabels, "bytes",
		fromPidStat+" vsize", "Virtual address space size of one process.")
	descProcThreads = seriesDesc("host_process_threads", batch.KindGauge, procLabels, "threads",
		fromPidStat+" num_threads", "Threads in one process.")
	descProcFDs = seriesDesc("host_process_open_fds", batch.KindGauge, procLabels, "descriptors",
		"/proc/[pid]/fd (its size, or its entries before Linux 6.2)",
		"Open file descriptors of one process (absent when the agent may not look).")
	descProcStart = seriesDesc("host_process_start_time_seconds", batch.KindGauge, procLabels, "seconds",
		fromPidStat+" starttime + /proc/stat btime", "Unix time one process started.")
)

func newProcessSource(o ProcessOptions, procfs bool) *processSource {
	// Keep a quarter of the descriptor limit at most: the agent needs the
	// rest for its queue, log files and connections.
	limit := 256
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil {
		limit = int(min(rl.Cur/4, maxKeptStatFDs))
	}
	return &processSource{
		opts:       o,
		maxStatFDs: limit,
		procfs:     procfs,
		prev:       map[int32]pidState{},
		cur:        map[int32]pidState{},
		users:      map[uint32]string{},
		fileBuf:    make([]byte, 0, 4096),
		dirBuf:     make([]byte, 0, 32<<10),
	}
}

func (*processSource) name() string { return "processes" }

func (*processSource) describe() []*desc {
	return []*desc{descProcs, descProcsRunning, descProcsSleeping, descProcsBlocked, descProcsZombie,
		descProcsStopped, descThreads,
		descProcCPU, descProcRSS, descProcVirt, descProcThreads, descProcFDs, descProcStart}
}

// close releases every kept descriptor.
func (p *processSource) close() {
	for _, m := range []map[int32]pidState{p.prev, p.cur} {
		for pid, ps := range m {
			p.closeStat(&ps)
			delete(m, pid)
		}
	}
}

func (p *processSource) closeStat(ps *pidState) {
	if ps.statFD >= 0 {
		syscall.Close(ps.statFD)
		ps.statFD = -1
		p.keptFDs--
	}
}

func (p *processSource) collect(ctx context.Context, s *sink) error {
	root, err := open(s.c.procRoot, syscall.O_RDONLY|syscall.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer syscall.Close(root)
	if err := p.listPids(root); err != nil {
		return err
	}
	p.cycle++

	var counts struct{ total, running, sleeping, blocked, zombie, stopped, threads int64 }
	var parseErrs int
	var firstParseErr error
	keep := p.opts.Mode != ProcessModeOff
	p.cands = p.cands[:0]
	for i, pid := range p.pids {
		if i%ctxCheckEvery == 0 && ctx.Err() != nil {
			p.abortWalk()
			return ctx.Err()
		}
		ps, seen := p.prev[pid]
		if seen {
			delete(p.prev, pid)
		} else {
			ps = pidState{statFD: -1}
		}
		data, err := p.readStat(root, pid, &ps)
		if err != nil {
			continue // exited since the directory was listed
		}
		st, err := parseStat(data)
		if err != nil {
			p.closeStat(&ps)
			if parseErrs++; firstParseErr == nil {
				firstParseErr = fmt.Errorf("pid %d: %w", pid, err)
			}
			continue
		}
		counts.total++
		counts.threads += st.numThreads
		switch st.state {
		case 'R':
			counts.running++
		case 'S', 'I':
			counts.sleeping++
		case 'D':
			counts.blocked++
		case 'Z':
			counts.zombie++
		case 'T', 't':
			counts.stopped++
		}

		ticks := st.utime + st.stime
		if !seen || ps.start != st.starttime { // new process, or a reused pid
			ps = pidState{start: st.starttime, statFD: ps.statFD, pidStr: strconv.FormatInt(int64(pid), 10)}
			seen = false
		}
		delta := ticks // a process new since the last cycle used all of it since
		if seen && ps.ticks <= ticks {
			delta = ticks - ps.ticks
		}
		if name := processName(st.comm); string(name) != ps.comm { // comparison does not allocate
			ps.comm = string(name)
		}
		ps.ticks = ticks
		p.cur[pid] = ps

		if keep {
			rank := delta
			if p.opts.SortBy == SortByRSS {
				rank = uint64(max(st.rss, 0))
			}
			p.cands = append(p.cands, candidate{pid: pid, rank: rank, ticks: ticks, start: st.starttime,
				vsize: st.vsize, rss: st.rss, numThreads: st.numThreads, comm: ps.comm, pidStr: ps.pidStr})
		}
	}
	// What is left in prev has exited.
	for pid, ps := range p.prev {
		p.closeStat(&ps)
		delete(p.prev, pid)
	}
	p.prev, p.cur = p.cur, p.prev

	s.scalar(descProcs, float64(counts.total))
	s.scalar(descProcsRunning, float64(counts.running))
	s.scalar(descProcsSleeping, float64(counts.sleeping))
	s.scalar(descProcsBlocked, float64(counts.blocked))
	s.scalar(descProcsZombie, float64(counts.zombie))
	s.scalar(descProcsStopped, float64(counts.stopped))
	s.scalar(descThreads, float64(counts.threads))

	var errs []error
	if parseErrs > 0 {
		errs = append(errs, fmt.Errorf("%d unparseable stat files, first: %w", parseErrs, firstParseErr))
	}
	if keep {
		if err := p.emit(ctx, s, root); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// abortWalk puts back what a cancelled walk moved to cur, so that no kept
// descriptor is lost and the next cycle starts from a consistent prev.
func (p *processSource) abortWalk() {
	for pid, ps := range p.cur {
		p.prev[pid] = ps
		delete(p.cur, pid)
	}
}

// readStat returns the content of pid's stat file, through its kept
// descriptor when there is one. On success ps.statFD is the descriptor to keep
// (or -1); on error the process is gone and ps.statFD is -1.
func (p *processSource) readStat(root int, pid int32, ps *pidState) ([]byte, error) {
	if ps.statFD >= 0 {
		data, err := preadAll(ps.statFD, p.fileBuf)
		if err == nil && len(data) > 0 {
			p.fileBuf = data
			return data, nil
		}
		// The task behind the descriptor exited (ESRCH); the pid listed
		// now may be a new process: open afresh.
		p.closeStat(ps)
	}
	p.path = pidPath(p.path, pid, "stat")
	fd, err := openAt(root, p.path, syscall.O_RDONLY)
	if err != nil {
		return nil, err
	}
	data, err := preadAll(fd, p.fileBuf)
	if err != nil || len(data) == 0 {
		syscall.Close(fd)
		return nil, cmp.Or(err, error(syscall.ESRCH))
	}
	p.fileBuf = data
	if p.keptFDs < p.maxStatFDs {
		ps.statFD = fd
		p.keptFDs++
	} else {
		syscall.Close(fd)
	}
	return data, nil
}

// listPids reads the numeric entries of the proc root into p.pids.
func (p *processSource) listPids(root int) error {
	p.pids = p.pids[:0]
	buf := p.dirBuf[:cap(p.dirBuf)]
	for {
		n, err := syscall.ReadDirent(root, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("list processes: %w", err)
		}
		if n <= 0 {
			return nil
		}
		walkDirents(buf[:n], func(name []byte) {
			if pid, ok := parseUint(name); ok && pid > 0 && pid < 1<<31 {
				p.pids = append(p.pids, int32(pid))
			}
		})
	}
}

// emit adds the series of the processes to report: the TopN best ranked in
// "top" mode, all of them in "all" mode.
func (p *processSource) emit(ctx context.Context, s *sink, root int) error {
	cands := p.cands
	if p.opts.Mode == ProcessModeTop {
		slices.SortFunc(cands, func(a, b candidate) int {
			if c := cmp.Compare(b.rank, a.rank); c != 0 {
				return c
			}
			return cmp.Compare(a.pid, b.pid)
		})
		cands = cands[:min(len(cands), p.opts.TopN)]
	}
	var bootTime float64
	var haveBoot bool
	if st, err := s.procStat(); err == nil && st.hasBt {
		bootTime, haveBoot = float64(st.btime), true
	}
	hz := s.c.clkTck
	for i := range cands {
		if i%ctxCheckEvery == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		c := &cands[i]
		uid, ok := p.uid(root, c.pid)
		if !ok {
			continue // exited since its stat was read
		}
		name, pid, usr := c.comm, c.pidStr, p.userName(uid)
		s.add(descProcCPU, float64(c.ticks)/hz, name, pid, usr)
		s.add(descProcRSS, float64(c.rss)*s.c.pageSize, name, pid, usr)
		s.add(descProcVirt, float64(c.vsize), name, pid, usr)
		s.add(descProcThreads, float64(c.numThreads), name, pid, usr)
		if haveBoot {
			s.add(descProcStart, bootTime+float64(c.start)/hz, name, pid, usr)
		}
		// Other users' fd directories are closed to an unprivileged agent:
		// the series is left out rather than reported as 0.
		p.path = pidPath(p.path, c.pid, "fd")
		if n, err := countFDs(root, p.path, p.dirBuf, p.procfs); err == nil {
			s.add(descProcFDs, float64(n), name, pid, usr)
		}
	}
	return nil
}

// uid returns the effective uid of pid, read from its status file at most
// every uidRefreshCycles cycles. ok is false when the process is gone.
func (p *processSource) uid(root int, pid int32) (uid uint32, ok bool) {
	ps, known := p.prev[pid] // prev holds this cycle's walk after the swap
	if known && ps.uidCycle != 0 && p.cycle-ps.uidCycle < uidRefreshCycles {
		return ps.uid, true
	}
	p.path = pidPath(p.path, pid, "status")
	var err error
	if p.fileBuf, err = readAt(root, p.path, p.fileBuf); err != nil {
		return 0, false
	}
	if uid, err = parseStatusUID(p.fileBuf); err != nil {
		return 0, false
	}
	if known {
		ps.uid, ps.uidCycle = uid, p.cycle
		p.prev[pid] = ps
	}
	return uid, true
}

// processName is the name label for a command name. A kernel workqueue
// worker's name carries the workqueue it is serving right now
// ("kworker/u8:0-events_unbound"); that suffix is cut so that the worker
// stays one series instead of a new one each time it changes queue.
func processName(comm []byte) []byte {
	if rest, ok := bytes.CutPrefix(comm, []byte("kworker/")); ok {
		if i := bytes.IndexAny(rest, "-+"); i >= 0 {
			return comm[:len("kworker/")+i]
		}
	}
	return comm
}

// userName returns the name for uid, looked up once per uid for the
// Collector's lifetime; a uid without a name is shown as its number.
func (p *processSource) userName(uid uint32) string {
	if n, ok := p.users[uid]; ok {
		return n
	}
	id := strconv.FormatUint(uint64(uid), 10)
	n := id
	if u, err := user.LookupId(id); err == nil && u.Username != "" {
		n = u.Username
	}
	p.users[uid] = n
	return n
}
