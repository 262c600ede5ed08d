// Package hostmetrics collects host and process metrics on Linux for the
// agent: an unlabelled heartbeat of host-wide values plus labelled series per
// CPU, network interface, block device, filesystem and (optionally) process.
//
// Every metric follows Prometheus naming (base units, _total for counters) and
// is listed in docs/metrics.md. Collection reads the live /proc (or a fixture
// tree given by Options.ProcRoot), partly through gopsutil and partly with
// small allocation-free parsers where gopsutil re-reads or over-reads files:
// the agent's budget is a few milliseconds of CPU per cycle.
//
// Sources are independent: one that fails is reported in Snapshot.Errors and
// the others still contribute.
package hostmetrics

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v3/cpu"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// MaxHeartbeatScalars is the most unlabelled values a Snapshot's heartbeat
// ever holds. The agent adds up to 17 health scalars of its own, so a
// heartbeat never exceeds the collector's floor of 107 series per batch.
const MaxHeartbeatScalars = 90

// MaxLabelValueBytes is the longest label value the collector emits. It equals
// the collector's floor for max_label_value_bytes, so no setting a collector
// accepts can reject a host series; longer values (deep mountpoints, long
// kernel thread names) are shortened with a hash suffix that keeps them
// distinct.
const MaxLabelValueBytes = 64

// Process modes accepted in ProcessOptions.Mode.
const (
	ProcessModeTop = "top" // the TopN processes ranked by SortBy
	ProcessModeAll = "all" // every process: six series each
	ProcessModeOff = "off" // no per-process series
)

// Process rankings accepted in ProcessOptions.SortBy.
const (
	SortByCPU = "cpu" // CPU time used since the previous Collect
	SortByRSS = "rss" // resident memory
)

// DefaultTopN is the number of processes reported in "top" mode when
// ProcessOptions.TopN is zero.
const DefaultTopN = 25

// DefaultStatfsTimeout bounds one statfs call on a mountpoint. A mount whose
// statfs outlives it (a dead NFS server) is skipped until that call returns.
const DefaultStatfsTimeout = 2 * time.Second

// ErrNoData is returned by a source that found nothing to report (no block
// devices, no real filesystems). It is not a failure and never appears in
// Snapshot.Errors.
var ErrNoData = errors.New("hostmetrics: no data")

// ErrClosed is returned by Collect after Close.
var ErrClosed = errors.New("hostmetrics: collector closed")

// ProcessOptions selects which per-process series are emitted.
type ProcessOptions struct {
	// Mode is "top" (default), "all" or "off". Process counts in the
	// heartbeat are reported in every mode.
	Mode string
	// TopN is how many processes "top" reports; 0 means DefaultTopN.
	TopN int
	// SortBy ranks processes for "top": "cpu" (default) or "rss".
	SortBy string
}

// Options configures a Collector. The zero value is usable.
type Options struct {
	Processes ProcessOptions
	// ProcRoot is where procfs is mounted; default "/proc". Tests point it
	// at a fixture tree. gopsutil calls see it through their context.
	ProcRoot string
	// IncludeTmpfs reports tmpfs mounts as filesystems. They are left out by
	// default: their size is RAM, already counted by the memory metrics.
	IncludeTmpfs bool
	// StatfsTimeout bounds statfs per mountpoint; 0 means DefaultStatfsTimeout.
	StatfsTimeout time.Duration
	// Disabled names sources to skip (see Sources), e.g. "filesystem".
	Disabled []string
}

// Snapshot is the result of one Collect.
type Snapshot struct {
	// Heartbeat holds at most MaxHeartbeatScalars unlabelled values with
	// unique names.
	Heartbeat []batch.Scalar
	// Series holds the labelled series, each with one sample stamped with the
	// time passed to Collect. Labels are sorted by name.
	Series []batch.Series
	// Errors holds one *SourceError per source that failed; the values the
	// other sources produced are still present.
	Errors []error
	// Took is the wall time Collect spent.
	Took time.Duration
}

// SourceError reports the failure of one source during Collect.
type SourceError struct {
	Source string
	Err    error
}

// Error implements error.
func (e *SourceError) Error() string {
	return fmt.Sprintf("hostmetrics: source %s: %v", e.Source, e.Err)
}

// Unwrap returns the underlying error.
func (e *SourceError) Unwrap() error { return e.Err }

// Collector gathers host metrics. It keeps state between calls (previous
// per-process CPU totals for ranking, a uid→user cache, the processes' stat
// files held open, buffers reused across cycles), so one Collector should be
// kept for the agent's lifetime and closed at its end. Collect calls are
// serialised; the Collector is safe for concurrent use.
type Collector struct {
	mu       sync.Mutex
	opts     Options
	procRoot string
	sources  []source
	// stat is the parse target for /proc/stat, reused every cycle.
	stat procStat
	// buf is the read buffer shared by every hand-parsed file.
	buf []byte
	// clkTck converts the kernel's USER_HZ ticks to seconds; pageSize
	// converts pages to bytes.
	clkTck   float64
	pageSize float64
	// procfs is false when ProcRoot is a plain directory tree (fixtures).
	procfs bool
	closed bool
	// Size hints from the previous cycle, so that one cycle allocates its
	// result arrays once.
	lastScalars, lastSeries, lastLabels int
}

// Sources returns the names of every source, in collection order. These are
// the names Options.Disabled accepts.
func Sources() []string {
	c := &Collector{}
	all := c.all()
	names := make([]string, len(all))
	for i, s := range all {
		names[i] = s.name()
	}
	return names
}

// New validates o, fills in defaults and returns a Collector.
func New(o Options) (*Collector, error) {
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if fi, err := os.Stat(o.ProcRoot); err != nil {
		return nil, fmt.Errorf("hostmetrics: proc root: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("hostmetrics: proc root %s: not a directory", o.ProcRoot)
	}
	p := &o.Processes
	switch p.Mode {
	case "":
		p.Mode = ProcessModeTop
	case ProcessModeTop, ProcessModeAll, ProcessModeOff:
	default:
		return nil, fmt.Errorf("hostmetrics: processes mode %q: want %q, %q or %q", p.Mode, ProcessModeTop, ProcessModeAll, ProcessModeOff)
	}
	switch p.SortBy {
	case "":
		p.SortBy = SortByCPU
	case SortByCPU, SortByRSS:
	default:
		return nil, fmt.Errorf("hostmetrics: processes sort_by %q: want %q or %q", p.SortBy, SortByCPU, SortByRSS)
	}
	if p.TopN < 0 {
		return nil, fmt.Errorf("hostmetrics: processes top_n %d: must not be negative", p.TopN)
	}
	if p.TopN == 0 {
		p.TopN = DefaultTopN
	}
	if o.StatfsTimeout < 0 {
		return nil, fmt.Errorf("hostmetrics: statfs timeout %v: must not be negative", o.StatfsTimeout)
	}
	if o.StatfsTimeout == 0 {
		o.StatfsTimeout = DefaultStatfsTimeout
	}
	c := &Collector{
		opts:     o,
		procRoot: o.ProcRoot,
		buf:      make([]byte, 0, 16<<10),
		// gopsutil sets ClocksPerSec from sysconf(_SC_CLK_TCK) when loaded.
		clkTck:   cpu.ClocksPerSec,
		pageSize: float64(os.Getpagesize()),
		procfs:   isProcfs(o.ProcRoot),
	}
	known := Sources()
	for _, d := range o.Disabled {
		if !slices.Contains(known, d) {
			return nil, fmt.Errorf("hostmetrics: disabled source %q: unknown, want one of %v", d, known)
		}
	}
	for _, s := range c.all() {
		if !slices.Contains(o.Disabled, s.name()) {
			c.sources = append(c.sources, s)
		}
	}
	return c, nil
}

// all builds the full, ordered list of sources. It is the one place a new
// source is added; there is no registration.
func (c *Collector) all() []source {
	o := c.opts
	return []source{
		&hostSource{},
		&loadSource{},
		&cpuSource{},
		&memorySource{},
		&diskSource{},
		newFilesystemSource(o.IncludeTmpfs, o.StatfsTimeout),
		&networkSource{},
		newProcessSource(o.Processes, c.procfs),
	}
}

// Close releases what the Collector holds between cycles: the descriptors of
// the process stat files it keeps open. The Collector must not be used after.
func (c *Collector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.sources {
		if cl, ok := s.(interface{ close() }); ok {
			cl.close()
		}
	}
	c.sources = nil
	c.closed = true
	return nil
}

// Collect reads every enabled source once. Series samples are stamped with
// now (milliseconds). The error is non-nil only when ctx ends before the cycle
// completes (the Snapshot then holds what was gathered so far) or when every
// source failed; a single source's failure is reported in Snapshot.Errors.
func (c *Collector) Collect(ctx context.Context, now time.Time) (Snapshot, error) {
	start := time.Now()
	if err := ctx.Err(); err != nil {
		return Snapshot{}, fmt.Errorf("hostmetrics: collect: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return Snapshot{}, ErrClosed
	}

	s := c.newSink(ctx, now)
	var snap Snapshot
	failed := 0
	for _, src := range c.sources {
		if err := ctx.Err(); err != nil {
			return c.finish(s, snap, start), fmt.Errorf("hostmetrics: collect: %w", err)
		}
		err := runSource(ctx, src, s)
		switch {
		case err == nil, errors.Is(err, ErrNoData):
		case ctx.Err() != nil:
			return c.finish(s, snap, start), fmt.Errorf("hostmetrics: collect %s: %w", src.name(), ctx.Err())
		default:
			failed++
			snap.Errors = append(snap.Errors, &SourceError{Source: src.name(), Err: err})
		}
	}
	snap = c.finish(s, snap, start)
	if failed > 0 && failed == len(c.sources) {
		return snap, fmt.Errorf("hostmetrics: collect: every source failed: %w", errors.Join(snap.Errors...))
	}
	return snap, nil
}

// finish moves the sink's results into snap and records size hints.
func (c *Collector) finish(s *sink, snap Snapshot, start time.Time) Snapshot {
	snap.Heartbeat = s.heartbeat
	snap.Series = s.series
	snap.Took = time.Since(start)
	c.lastScalars, c.lastSeries, c.lastLabels = len(s.heartbeat), len(s.series), s.labelCount
	return snap
}

// runSource runs one source, turning a panic inside it (gopsutil indexes
// fields of kernel files without bounds checks) into that source's error so
// that the agent keeps running and the other sources still report.
func runSource(ctx context.Context, src source, s *sink) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return src.collect(ctx, s)
}
