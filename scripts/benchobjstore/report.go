package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// scrape is one reading of a /metrics page: each sample's value by its
// series as exposed, name and label set, e.g. `x_count{op="put"}`.
type scrape map[string]float64

// parseMetrics reads the Prometheus text exposition format; comments and
// timestamps are skipped.
func parseMetrics(r io.Reader) (scrape, error) {
	out := scrape{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		series, rest := line, ""
		if i := strings.IndexAny(line, "{ \t"); i >= 0 && line[i] == '{' {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				return nil, fmt.Errorf("metrics: unterminated label set in %q", line)
			}
			series, rest = line[:j+1], line[j+1:]
		} else if i >= 0 {
			series, rest = line[:i], line[i:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return nil, fmt.Errorf("metrics: no value in %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: %q: %w", line, err)
		}
		out[series] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return out, nil
}

// mean is sum/count of a histogram or summary series base (with an
// optional label set), and the count; 0, 0 when it has no observations.
func (s scrape) mean(base, labels string) (float64, float64) {
	n := s[base+"_count"+labels]
	if n == 0 {
		return 0, 0
	}
	return s[base+"_sum"+labels] / n, n
}

// loadSummary is the part of a benchingest JSON summary this report uses
// (see scripts/benchingest/report.go for the whole).
type loadSummary struct {
	Agents             int               `json:"agents"`
	SamplesPerBatch    int               `json:"samples_per_batch"`
	OfferedBatchesPerS float64           `json:"offered_batches_per_s"`
	DurationS          float64           `json:"duration_s"`
	WarmupS            float64           `json:"warmup_s"`
	Batches            uint64            `json:"batches"`
	BatchesPerS        float64           `json:"batches_per_s"`
	BytesSent          uint64            `json:"bytes_sent"`
	Requests           uint64            `json:"requests"`
	ErrorRequests      uint64            `json:"error_requests"`
	Errors             map[string]uint64 `json:"errors"`
	Latency            struct {
		P50  float64 `json:"p50"`
		P99  float64 `json:"p99"`
		Max  float64 `json:"max"`
		Mean float64 `json:"mean"`
	} `json:"ack_latency_ms"`
	ServerCPUCores float64 `json:"server_cpu_cores"`
	OtherCPUCores  float64 `json:"other_cpu_cores"`
}

// modeResult is one acceptance mode's run.
type modeResult struct {
	Mode mode
	Load *loadSummary // nil when the load did not run
	// Metrics is the collector's /metrics after the load (and, with
	// landing, after landing caught up); nil when unread.
	Metrics scrape
	// CatchUp is how long after the load landing took to reach the end of
	// the spool (landing mode only).
	CatchUp time.Duration
	// MinIOCores is MinIO's CPU use in the measured window.
	MinIOCores float64
	Err        error
}

// writeReport prints the acceptance table, what each mode's collector said
// about its own commits and uploads, and the landing phase.
func writeReport(w io.Writer, runs []*modeResult, land *landResult, landErr error, o landOptions) error {
	var base *loadSummary
	for _, r := range runs {
		if r.Mode.Name == modeLocal.Name && r.Load != nil {
			base = r.Load
			break
		}
	}
	ratio := func(v, b float64) string {
		if b <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.2fx", v/b)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tbatches acked\tbatches/s\terrors\tp50 ms\tp99 ms\tmax ms\tp50 vs local_spool\tp99 vs local_spool\tcollector cores\tMinIO cores\tother cores\t")
	for _, r := range runs {
		s := r.Load
		if s == nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t\n", r.Mode.Name)
			continue
		}
		p50, p99 := "-", "-"
		if base != nil {
			p50, p99 = ratio(s.Latency.P50, base.Latency.P50), ratio(s.Latency.P99, base.Latency.P99)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%d\t%.2f\t%.2f\t%.1f\t%s\t%s\t%.2f\t%.2f\t%.2f\t\n", r.Mode.Name, s.Batches, s.BatchesPerS,
			s.ErrorRequests, s.Latency.P50, s.Latency.P99, s.Latency.Max, p50, p99,
			s.ServerCPUCores, r.MinIOCores, max(0, s.OtherCPUCores-r.MinIOCores))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	for _, r := range runs {
		if r.Load != nil {
			s := r.Load
			fmt.Fprintf(w, "load: %d agents, %d samples per batch (%.1f KiB on the wire), paced at %.0f batches/s in all, %.0f s measured after %.0f s warm-up per mode\n",
				s.Agents, s.SamplesPerBatch, float64(s.BytesSent)/float64(max(s.Requests, 1))/1024, s.OfferedBatchesPerS, s.DurationS, s.WarmupS)
			break
		}
	}
	fmt.Fprintln(w, "latency: from when each batch was due to its ack; other cores: CPU used by neither the load generator, the collector nor MinIO (noise: trust a row only when it is small)")
	for _, r := range runs {
		for _, line := range modeDetails(r) {
			fmt.Fprintf(w, "  %s: %s\n", r.Mode.Name, line)
		}
	}

	fmt.Fprintln(w)
	seg := "8 MiB, the default"
	if o.MaxSegmentBytes > 0 {
		seg = fmt.Sprintf("%.1f MiB", float64(o.MaxSegmentBytes)/(1<<20))
	}
	switch {
	case landErr != nil:
		fmt.Fprintf(w, "landing throughput (in-process lander): FAILED: %v\n", landErr)
	case land != nil:
		fmt.Fprintf(w, "landing throughput (in-process lander, load stopped, segments up to %s): %.1f MB/s\n", seg, land.MBPerS())
		fmt.Fprintf(w, "  %d records, %.1f MB of bodies from %d agents (spool filled in %.1f s) -> %d segments, %.1f MB landed in %.2f s (%.1f ms per segment)\n",
			land.Records, float64(land.BodyBytes)/1e6, o.Agents, land.FillTook.Seconds(), land.Segments, float64(land.SegmentBytes)/1e6,
			land.Took.Seconds(), land.Took.Seconds()*1000/float64(max(land.Segments, 1)))
		fmt.Fprintf(w, "  while landing: lander %.2f cores, MinIO %.2f cores, other processes %.2f cores\n", land.CPU.Self, land.CPU.MinIO, land.CPU.Other())
	}
	for _, r := range runs {
		if r.Err != nil {
			fmt.Fprintf(w, "FAILED %s: %v\n", r.Mode.Name, r.Err)
		}
	}
	return nil
}

// modeDetails is what a mode's collector reported about its own work.
func modeDetails(r *modeResult) []string {
	m := r.Metrics
	if m == nil {
		return nil
	}
	var out []string
	if d, n := m.mean("lightmetrics_spool_commit_duration_seconds", ""); n > 0 {
		per, _ := m.mean("lightmetrics_spool_group_commit_entries", "")
		out = append(out, fmt.Sprintf("spool group commit %.2f ms mean (%.0f commits, %.1f records each)", d*1000, n, per))
	}
	if d, n := m.mean("lightmetrics_manifest_accept_seconds", `{outcome="accepted"}`); n > 0 {
		out = append(out, fmt.Sprintf("manifest entry create %.2f ms mean (%.0f entries)", d*1000, n))
	}
	if r.Mode.Landing {
		bytes, up := m["lightmetrics_landing_bytes_total"], m["lightmetrics_landing_upload_seconds_sum"]
		segs := m["lightmetrics_landing_segments_total"]
		line := fmt.Sprintf("landed %.0f segments, %.1f MB, %.2f s uploading and verifying", segs, bytes/1e6, up)
		if up > 0 {
			line += fmt.Sprintf(" = %.1f MB/s", bytes/1e6/up)
		}
		line += fmt.Sprintf("; caught up %.1f s after the load", r.CatchUp.Seconds())
		if f := m["lightmetrics_landing_failures_total"]; f > 0 {
			line += fmt.Sprintf("; %.0f failed passes", f)
		}
		out = append(out, line)
	}
	return out
}
