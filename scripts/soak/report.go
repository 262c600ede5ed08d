package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// daemonResult is one `lightmetrics agent daemon` process' batches.
type daemonResult struct {
	ID, Group string
	Stored    int            // distinct batches stored in the group's bucket area
	Dups      int            // stored more than once (landed segments)
	Gaps      int            // seq numbers missing between the first and last stored
	Queryable map[string]int // collector → agent_info samples (one per batch)
	Spool     map[string]int // collector → batches its spool holds
	Left      int            // still queued after agent flush (-1 unknown)
	Flush     string         // agent flush's summary line
}

// logRow is one (daemon agent, collector) log check.
type logRow struct {
	Agent, Collector string
	V                logVerdict
}

// report is everything the final screen shows.
type report struct {
	Seed        int64
	Load, Total time.Duration
	Dir         string
	Kept        bool
	Interrupted bool
	RSSBound    int64

	Groups   []groupTally
	Queries  []queryTally
	Daemons  []daemonResult
	Logs     []logRow
	Rotation []string // writer notes (skipped rotations, write errors)
	Faults   []faultResult
	Procs    []procStats
	Waits    []string
	Bad      *badStats

	// Failures are the reasons for a non-zero exit; Notes are worth
	// reading but fail nothing.
	Failures []string
	Notes    []string
}

func (r *report) fail(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

// judge turns the findings into failures.
func (r *report) judge() {
	for _, g := range r.Groups {
		if g.Lost+g.Duplicated+g.Unsent > 0 {
			r.fail("%s: %d acknowledged batches lost, %d stored twice, %d stored but never sent", g.Name, g.Lost, g.Duplicated, g.Unsent)
		}
		if g.Unacked > 0 {
			r.fail("%s: %d queued batches were never acknowledged (the final flush could not deliver them)", g.Name, g.Unacked)
		}
		if g.Aside > 0 || g.Dropped > 0 {
			r.fail("%s: %d batches refused for good (moved aside), %d dropped from full queues", g.Name, g.Aside, g.Dropped)
		}
		for _, s := range g.Samples {
			r.Notes = append(r.Notes, s)
		}
	}
	for _, q := range r.Queries {
		if q.Missing+q.Unsent > 0 {
			r.fail("query on %s: %d acknowledged batches not queryable, %d queryable but never sent", q.Collector, q.Missing, q.Unsent)
			r.Notes = append(r.Notes, q.Samples...)
		}
	}
	for _, d := range r.Daemons {
		if d.Dups > 0 || d.Gaps > 0 || d.Left != 0 || d.Stored == 0 {
			r.fail("%s: %d batches stored, %d stored twice, %d seq gaps, %d left queued after flush", d.ID, d.Stored, d.Dups, d.Gaps, d.Left)
		}
		for _, c := range sortedKeys(d.Queryable) {
			if d.Queryable[c] != d.Stored {
				r.fail("%s: %d batches stored, %d queryable on collector %s", d.ID, d.Stored, d.Queryable[c], c)
			}
		}
	}
	for _, l := range r.Logs {
		if l.V.Lost+l.V.Duplicated+l.V.Unknown > 0 {
			r.fail("logs of %s on %s: %d lines lost (outside copytruncate windows), %d found twice, %d records of lines never written; lost e.g. %v, doubled e.g. %v",
				l.Agent, l.Collector, l.V.Lost, l.V.Duplicated, l.V.Unknown, l.V.LostLines, l.V.DupLines)
		}
	}
	for _, p := range r.Procs {
		if len(p.Panics) > 0 {
			r.fail("%s: panic or fatal error in its log: %v", p.Name, p.Panics)
		}
		for _, u := range p.Unexpected {
			r.fail("%s", u)
		}
		if p.Bounded && p.PeakRSS > r.RSSBound {
			r.fail("%s: peak RSS %s over the bound of %s", p.Name, mib(p.PeakRSS), mib(r.RSSBound))
		}
		r.Notes = append(r.Notes, p.StartFailures...)
	}
	if r.Bad != nil {
		_, _, notCut, _ := r.Bad.slowSummary()
		for _, s := range notCut {
			r.fail("%s", s)
		}
		_, _, accepted, unexpected := r.Bad.garbageSummary()
		for _, s := range accepted {
			r.fail("garbage accepted: %s", s)
		}
		r.Notes = append(r.Notes, unexpected...)
	}
	if r.Interrupted {
		r.fail("interrupted: the run did not complete")
	}
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// print writes the one-screen report.
func (r *report) print(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("==== Lightmetrics soak report ====")
	where := r.Dir + " (removed; --keep keeps it)"
	if r.Kept {
		where = r.Dir + " (kept)"
	}
	p("seed %d · load+faults %s · total %s · %s", r.Seed, r.Load.Round(time.Second), r.Total.Round(time.Second), where)
	p("")
	p("Batches of the simulated agents (real queue, shipper and uplink code):")
	p("  %-22s %6s %7s %7s %7s %5s %5s %7s %8s", "group", "agents", "sent", "acked", "stored", "lost", "dup", "unsent", "unacked")
	for _, g := range r.Groups {
		p("  %-22s %6d %7d %7d %7d %5d %5d %7d %8d", g.Name, g.Agents, g.Queued, g.Acked, g.Stored, g.Lost, g.Duplicated, g.Unsent, g.Unacked)
	}
	var qs []string
	for _, q := range r.Queries {
		qs = append(qs, fmt.Sprintf("%s %d/%d", q.Collector, q.Expected-q.Missing, q.Expected))
	}
	p("  sent: appended to an agent queue; acked: a collector answered accepted/duplicate for that seq;")
	p("  stored: distinct batches in the manifest (A+B) or in landed segments (C); unsent: stored, never sent")
	p("  queryable (seq stamps via /api/v1/query): %s", strings.Join(qs, ", "))
	p("")
	p("Daemon agents (lightmetrics agent daemon, then agent flush):")
	for _, d := range r.Daemons {
		var q []string
		for _, c := range sortedKeys(d.Queryable) {
			q = append(q, fmt.Sprintf("%s %d", c, d.Queryable[c]))
		}
		p("  %-10s stored %d, dup %d, seq gaps %d, left queued %d; queryable: %s", d.ID, d.Stored, d.Dups, d.Gaps, d.Left, strings.Join(q, ", "))
	}
	p("")
	p("Log lines (written by the soak, read back through /api/v1/logs):")
	p("  %-22s %7s %7s %5s %5s %10s %9s %8s", "agent@collector", "written", "found", "lost", "dup", "ct-window", "rotations", "widest")
	for _, l := range r.Logs {
		p("  %-22s %7d %7d %5d %5d %10d %4d+%-4d %8s", l.Agent+"@"+l.Collector, l.V.Written, l.V.Found, l.V.Lost, l.V.Duplicated,
			l.V.WindowLost, l.V.Renames, l.V.CopyTruncates, l.V.WidestWindow.Round(time.Millisecond))
	}
	p("  ct-window: lines missing inside a copytruncate window (written after the agent's last read before")
	p("  the truncation or between copy and truncation; capped at one interval + %s gap + 1 s); rotations: rename+copytruncate", copyTruncateGap)
	for _, s := range r.Rotation {
		p("  note: %s", s)
	}
	p("")
	counts, missing := faultCounts(r.Faults)
	total := 0
	for _, k := range kindOrder {
		total += counts[k]
	}
	p("Faults injected: %d", total)
	for _, k := range kindOrder {
		p("  %-42s %3d%s", k, counts[k], faultTargets(r.Faults, k))
	}
	for _, m := range missing {
		p("  NOT INJECTED: %s", m)
	}
	if r.Bad != nil {
		n, worst, notCut, down := r.Bad.slowSummary()
		var ws []string
		for _, m := range sortedKeys(worst) {
			ws = append(ws, fmt.Sprintf("%s ≤%s", m, worst[m].Round(100*time.Millisecond)))
		}
		p("  slow clients: %d, cut off by the collector: %s; not cut: %d; collector down at connect: %d", n, strings.Join(ws, ", "), len(notCut), down)
		gn, by, acc, _ := r.Bad.garbageSummary()
		p("  garbage requests: %d, answers %s; accepted: %d", gn, strings.Join(by, " "), len(acc))
	}
	p("")
	p("Processes (peak RSS sampled each second; bound %s for collectors):", mib(r.RSSBound))
	for _, pr := range r.Procs {
		p("  %-16s peak %8s  starts %2d  SIGKILLs %2d  panics %d  unexpected exits %d", pr.Name, mib(pr.PeakRSS), pr.Starts, pr.Kills, len(pr.Panics), len(pr.Unexpected))
	}
	for _, s := range r.Waits {
		p("  %s", s)
	}
	if len(r.Notes) > 0 {
		p("")
		p("Notes:")
		for i, n := range r.Notes {
			if i == 12 {
				p("  … %d more (soak.log in the run directory, kept with --keep)", len(r.Notes)-i)
				break
			}
			p("  %s", n)
		}
	}
	p("")
	if len(r.Failures) == 0 {
		p("RESULT: PASS — nothing acknowledged was lost, nothing was stored twice")
		return
	}
	p("RESULT: FAIL (%d)", len(r.Failures))
	for _, f := range r.Failures {
		p("  - %s", f)
	}
}

// faultCounts counts injected faults per kind and lists those not injected.
func faultCounts(rs []faultResult) (map[string]int, []string) {
	counts := map[string]int{}
	var missing []string
	for _, f := range rs {
		if f.Injected {
			counts[f.Kind]++
		} else {
			missing = append(missing, fmt.Sprintf("%s %s at %s: %s", f.Kind, f.Target, f.At.Round(time.Second), f.Reason))
		}
	}
	return counts, missing
}

// faultTargets lists, for kinds with targets, how many hit each.
func faultTargets(rs []faultResult, kind string) string {
	per := map[string]int{}
	for _, f := range rs {
		if f.Injected && f.Kind == kind && f.Target != "" {
			per[f.Target]++
		}
	}
	if len(per) == 0 {
		return ""
	}
	var parts []string
	for _, t := range sortedKeys(per) {
		parts = append(parts, fmt.Sprintf("%s×%d", t, per[t]))
	}
	return "  (" + strings.Join(parts, ", ") + ")"
}
