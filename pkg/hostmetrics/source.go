package hostmetrics

import (
	"context"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shirou/gopsutil/v3/common"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// source is one group of metrics read from one place (/proc/stat,
// /proc/meminfo, the process table, ...).
type source interface {
	// name identifies the source in errors and in Options.Disabled.
	name() string
	// describe lists every metric the source can emit. It backs the
	// catalogue test against docs/metrics.md and the heartbeat budget test.
	describe() []*desc
	// collect adds the source's values to s. It returns ErrNoData when there
	// was nothing to report; values added before an error are kept.
	collect(ctx context.Context, s *sink) error
}

// desc describes one metric. Descriptors are package-level values that are
// never modified: they are the catalogue, not state.
type desc struct {
	name string
	kind batch.Kind
	// labels are the label names in sorted order; none for a heartbeat
	// scalar.
	labels []string
	unit   string
	// from says where the value is read (a /proc file or a gopsutil call).
	from string
	help string
}

func scalarDesc(name string, kind batch.Kind, unit, from, help string) *desc {
	return &desc{name: name, kind: kind, unit: unit, from: from, help: help}
}

func seriesDesc(name string, kind batch.Kind, labels []string, unit, from, help string) *desc {
	return &desc{name: name, kind: kind, labels: labels, unit: unit, from: from, help: help}
}

// sink accumulates one cycle's values. Samples and labels are carved out of
// chunked arenas so that a cycle makes a handful of allocations, not a few per
// series; the arrays belong to the returned Snapshot and are never reused.
type sink struct {
	c         *Collector
	ctx       context.Context
	gopsutil  context.Context // ctx carrying ProcRoot for gopsutil
	now       time.Time
	tsMs      int64
	heartbeat []batch.Scalar
	series    []batch.Series
	samples   []batch.Sample
	labels    []batch.Label
	// labelCount is the number of labels handed out, a size hint for the
	// next cycle.
	labelCount int

	statDone bool
	statErr  error
}

func (c *Collector) newSink(ctx context.Context, now time.Time) *sink {
	return &sink{
		c:         c,
		ctx:       ctx,
		gopsutil:  context.WithValue(ctx, common.EnvKey, common.EnvMap{common.HostProcEnvKey: c.procRoot}),
		now:       now,
		tsMs:      now.UnixMilli(),
		heartbeat: make([]batch.Scalar, 0, max(c.lastScalars, 64)),
		series:    make([]batch.Series, 0, max(c.lastSeries, 64)),
		samples:   make([]batch.Sample, 0, max(c.lastSeries, 64)),
		labels:    make([]batch.Label, 0, max(c.lastLabels, 128)),
	}
}

// scalar adds one heartbeat value.
func (s *sink) scalar(d *desc, v float64) {
	s.heartbeat = append(s.heartbeat, batch.Scalar{Name: d.name, Kind: d.kind, Value: v})
}

// add adds one series with one sample; values are given in the order of
// d.labels, which is sorted, so the series' labels come out sorted.
func (s *sink) add(d *desc, v float64, values ...string) {
	if len(s.samples) == cap(s.samples) {
		s.samples = make([]batch.Sample, 0, 2*cap(s.samples))
	}
	s.samples = append(s.samples, batch.Sample{TimestampMs: s.tsMs, Value: v})
	n := len(s.samples)
	samples := s.samples[n-1 : n : n]

	if len(s.labels)+len(values) > cap(s.labels) {
		s.labels = make([]batch.Label, 0, max(2*cap(s.labels), len(values)))
	}
	first := len(s.labels)
	for i, v := range values {
		s.labels = append(s.labels, batch.Label{Name: d.labels[i], Value: labelValue(v)})
	}
	last := len(s.labels)
	s.labelCount += len(values)
	s.series = append(s.series, batch.Series{
		Name:    d.name,
		Kind:    d.kind,
		Labels:  s.labels[first:last:last],
		Samples: samples,
	})
}

// procStat returns /proc/stat parsed once per cycle: the cpu and host sources
// both need it and the kernel regenerates it on every read.
func (s *sink) procStat() (*procStat, error) {
	if !s.statDone {
		s.statDone = true
		data, err := s.c.readFile(s.c.procRoot + "/stat")
		if err == nil {
			err = parseProcStat(data, &s.c.stat)
		}
		s.statErr = err
	}
	if s.statErr != nil {
		return nil, s.statErr
	}
	return &s.c.stat, nil
}

// labelValue makes v safe to send: valid UTF-8 and at most
// MaxLabelValueBytes long. A shortened value ends in "~" and 8 hex digits of
// the full value's FNV-1a hash, so two long values sharing a prefix stay
// distinct series.
func labelValue(v string) string {
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	if len(v) <= MaxLabelValueBytes {
		return v
	}
	h := fnv.New32a()
	h.Write([]byte(v))
	sum := strconv.FormatUint(uint64(h.Sum32()), 16)
	keep := MaxLabelValueBytes - 1 - 8
	for keep > 0 && !utf8.RuneStart(v[keep]) {
		keep--
	}
	return v[:keep] + "~" + strings.Repeat("0", 8-len(sum)) + sum
}
