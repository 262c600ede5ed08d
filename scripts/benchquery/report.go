package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Tolerances of the checks. The data check sums the same float64 samples
// in another order (a few ulps). Rate answers are compared with
// Lightmetrics': Prometheus runs the same algorithm; VictoriaMetrics'
// rate() is its own (no extrapolation, the sample before the window
// counted), so a difference there is reported, not failed.
const (
	dataTolerance = 1e-9
	rateTolerance = 1e-6
)

// storeStats is what the collector's /metrics says about its query store.
type storeStats struct {
	bytes, samples float64
	ok             bool
}

// lightmetricsStore reads the query store gauges from the collector's
// /metrics (private listener, query token).
func lightmetricsStore(ctx context.Context, s *system) storeStats {
	body, _, err := s.api.get(ctx, "/metrics", nil)
	if err != nil {
		return storeStats{}
	}
	var st storeStats
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch name {
		case "lightmetrics_query_store_bytes":
			st.bytes, st.ok = v, true
		case "lightmetrics_query_samples":
			st.samples = v
		}
	}
	return st
}

// report prints the tables and returns an error when a check failed.
func report(w io.Writer, systems []*system, d dataset, g *generated, f runFlags, lm storeStats, others float64) error {
	var problems []string
	ref := systems[0]
	refMed := make(map[string]time.Duration)
	for _, r := range queryRanges {
		refMed[r.name] = quantile(ref.times[r.name], 0.5)
	}

	fmt.Fprintf(w, "\nQuery %s, step %s, over the last 1 h and 24 h of %d series × %d samples (%s at %s)\n",
		benchQuery, f.step, d.seriesCount(), d.samples, f.span, f.interval)
	fmt.Fprintf(w, "%d timed runs per system after 1 warm-up, systems interleaved; latency is request sent to last byte read\n\n", f.runs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "system\t1h median\t1h p90\t24h median\t24h p90\t1h ÷ LM\t24h ÷ LM\t1h CPU\t24h CPU\t")
	for _, s := range systems {
		row := []string{s.name}
		for _, r := range queryRanges {
			ts := append([]time.Duration(nil), s.times[r.name]...)
			row = append(row, fmtDur(quantile(ts, 0.5)), fmtDur(quantile(ts, 0.9)))
		}
		for _, r := range queryRanges {
			med := quantile(append([]time.Duration(nil), s.times[r.name]...), 0.5)
			row = append(row, ratio(med, refMed[r.name]))
		}
		for _, r := range queryRanges {
			if n := len(s.times[r.name]); n > 0 && s.serverPID(systems) > 0 {
				row = append(row, fmtDur(s.cpu[r.name]/time.Duration(n)))
			} else {
				row = append(row, "-")
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
	fmt.Fprintln(w, "÷ LM: the system's median over Lightmetrics' (above 1: Lightmetrics answers faster);")
	fmt.Fprintln(w, "CPU: the server's CPU time per timed query (mean, /proc, 10 ms ticks), less sensitive to a busy machine than latency")
	fmt.Fprintf(w, "the rest of the machine kept %.2f of %d CPUs busy on average while the queries were timed\n", others, runtime.NumCPU())

	fmt.Fprintf(w, "\nLoad: %d remote-write requests (≤ %d series, ≤ %d samples each), %d in flight, sent to one system at a time\n\n",
		len(g.bodies), g.maxSeriesRq, g.maxPerReq, f.senders)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "system\tanswered in\tsamples/s\trefused\tall queryable after\tidle after\tRSS loaded\tRSS after queries\t")
	for _, s := range systems {
		if s.sameAs != "" {
			continue
		}
		rate := "-"
		if s.load.acked > 0 {
			rate = fmt.Sprintf("%.0f k", float64(g.samples)/s.load.acked.Seconds()/1e3)
		}
		q := "-"
		if s.queryable > 0 {
			q = s.queryable.Round(10 * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t\n", s.name, s.load.acked.Round(10*time.Millisecond), rate, s.load.failed, q,
			s.settled.Round(time.Second), fmtBytes(s.rssLoaded), fmtBytes(s.rssAfter))
		if s.loadErr != nil {
			problems = append(problems, fmt.Sprintf("%s: load: %v", s.name, s.loadErr))
		}
		if s.load.failed != 0 {
			problems = append(problems, fmt.Sprintf("%s: %d requests refused, first: %s", s.name, s.load.failed, s.load.firstErr))
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "answered in: first request sent to last answer (Lightmetrics answers once a request is fsynced in its spool);")
	fmt.Fprintln(w, "all queryable after: from the first request until every sample counts in count_over_time")
	if lm.ok {
		fmt.Fprintf(w, "lightmetrics query store: %.0f samples, %s by its own estimate (%.2f bytes/sample)\n",
			lm.samples, fmtBytes(int64(lm.bytes)), lm.bytes/max(lm.samples, 1))
	}

	fmt.Fprintf(w, "\nChecks\n")
	for _, s := range systems {
		switch {
		case s.sameAs != "":
		case s.dataErr != nil:
			fmt.Fprintf(w, "  data   %s: %v\n", s.name, s.dataErr)
			problems = append(problems, fmt.Sprintf("%s: data check: %v", s.name, s.dataErr))
		case s.dataDiff != nil:
			verdict := "same samples as generated"
			if !s.dataDiff.ok(d.cpus, dataTolerance) {
				verdict = "DIFFERENT from what was generated"
				problems = append(problems, fmt.Sprintf("%s: %s holds other data than generated: %v", s.name, dataQuery, *s.dataDiff))
			}
			fmt.Fprintf(w, "  data   %s: %s over 24 h vs the generator: %v: %s\n", s.name, dataQuery, *s.dataDiff, verdict)
		}
	}
	for _, r := range queryRanges {
		want := ref.last[r.name]
		if want == nil {
			continue
		}
		if len(want) != d.cpus {
			problems = append(problems, fmt.Sprintf("lightmetrics: %s answers %d series, want %d", r.name, len(want), d.cpus))
		}
		for _, s := range systems[1:] {
			got := s.last[r.name]
			if got == nil {
				continue
			}
			vm := strings.HasPrefix(s.name, f.vmName)
			if vm {
				// Where the window reaches before the data, Prometheus
				// extrapolates less and VictoriaMetrics not at all:
				// compare where the whole window holds data.
				from := d.endMs - d.span() + 5*60_000 + f.step.Milliseconds()
				want, got = since(want, from), since(got, from)
			}
			df := compare(want, got)
			verdict := "agrees"
			if !df.ok(d.cpus, rateTolerance) {
				if vm {
					verdict = "differs, as expected: VictoriaMetrics' rate() is its own (no extrapolation; the window starts at the sample before it)"
					if r.span == d.spanDuration() {
						verdict += "; the first 6 minutes of data left out"
					}
				} else {
					verdict = "DIFFERS"
					problems = append(problems, fmt.Sprintf("%s: %s over %s differs from lightmetrics: %v", s.name, benchQuery, r.name, df))
				}
			}
			fmt.Fprintf(w, "  rate   %s vs lightmetrics, %s: %v: %s\n", s.name, r.name, df, verdict)
		}
	}
	for _, s := range systems {
		if s.queryErr != nil {
			problems = append(problems, fmt.Sprintf("%s: query: %v", s.name, s.queryErr))
		}
	}
	if len(problems) > 0 {
		fmt.Fprintln(w, "\nProblems:")
		for _, p := range problems {
			fmt.Fprintln(w, "  "+p)
		}
		return errors.New("run: some checks failed (see Problems)")
	}
	return nil
}

// since keeps the points at or after from.
func since(m map[string]map[int64]float64, from int64) map[string]map[int64]float64 {
	out := make(map[string]map[int64]float64, len(m))
	for k, pts := range m {
		o := make(map[int64]float64, len(pts))
		for t, v := range pts {
			if t >= from {
				o[t] = v
			}
		}
		out[k] = o
	}
	return out
}

// ok reports whether the two sides have the same series (cpus of them),
// the same points, and values within tol.
func (d diff) ok(cpus int, tol float64) bool {
	return d.seriesA == cpus && d.seriesB == cpus && d.onlyOne == 0 && d.compared > 0 && d.maxRel <= tol
}

func ratio(d, ref time.Duration) string {
	if d == 0 || ref == 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(d)/float64(ref), 'f', 2, 64)
}

func fmtBytes(b int64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}
