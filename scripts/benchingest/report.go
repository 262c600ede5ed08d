package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// summary is the outcome of one run, printed as one JSON line so that
// bench-ingest.sh can collect the runs and `benchingest report` can put
// them side by side.
type summary struct {
	System            string `json:"system"`
	Target            string `json:"target"`
	URL               string `json:"url"`
	Agents            int    `json:"agents"`
	SeriesPerBatch    int    `json:"series_per_batch"`
	SamplesPerSeries  int    `json:"samples_per_series"`
	SamplesPerBatch   int    `json:"samples_per_batch"`
	MaxSamplesPerSend int    `json:"max_samples_per_send,omitempty"`
	RequestsPerBatch  int    `json:"requests_per_batch"`
	// OfferedBatchesPerS is the paced rate asked for; 0 for a closed loop.
	OfferedBatchesPerS float64 `json:"offered_batches_per_s"`
	DurationS          float64 `json:"duration_s"`
	WarmupS            float64 `json:"warmup_s"`
	ElapsedS           float64 `json:"elapsed_s"`
	Requests           uint64  `json:"requests"`
	Batches            uint64  `json:"batches"`
	Samples            uint64  `json:"samples_accepted"`
	Duplicates         uint64  `json:"duplicates"`
	// SamplesAckedTotal counts every acknowledged sample, warm-up and
	// requests finishing after the window included: what the receiver must
	// end up holding.
	SamplesAckedTotal uint64 `json:"samples_acked_total"`
	// IndexCatchupS is how long after the load ended Lightmetrics' query
	// store held every acknowledged sample (set by `benchingest catchup`);
	// absent for receivers that index before they answer.
	IndexCatchupS        *float64          `json:"index_catchup_s,omitempty"`
	SamplesPerS          float64           `json:"samples_per_s"`
	BatchesPerS          float64           `json:"batches_per_s"`
	RequestsPerS         float64           `json:"requests_per_s"`
	BytesSent            uint64            `json:"bytes_sent"`
	BytesPerSample       float64           `json:"bytes_per_sample"`
	Latency              latencySummary    `json:"ack_latency_ms"`
	ErrorRequests        uint64            `json:"error_requests"`
	Errors               map[string]uint64 `json:"errors"`
	ClientCPUCores       float64           `json:"client_cpu_cores"`
	ServerCPUCores       float64           `json:"server_cpu_cores,omitempty"`
	ServerCPUUsPerSample float64           `json:"server_cpu_us_per_sample,omitempty"`
	ServerPeakRSSMiB     float64           `json:"server_peak_rss_mib,omitempty"`
	// HostBusyCores is the whole machine's CPU use during the window;
	// OtherCPUCores what of it was neither the server nor the load
	// generator: other work disturbing the measurement.
	HostBusyCores float64 `json:"host_busy_cores"`
	OtherCPUCores float64 `json:"other_cpu_cores"`

	// errSample holds the first answer of each error class, for stderr.
	errSample map[string]string
}

type latencySummary struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// human renders the summary as one line for people.
func (s *summary) human() string {
	var b strings.Builder
	name := s.System
	if name == "" {
		name = s.Target
	}
	fmt.Fprintf(&b, "%s: %s samples/s, %.1f batches/s, ack p50 %.2f ms p99 %.2f ms max %.1f ms, errors: %s",
		name, grouped(s.SamplesPerS), s.BatchesPerS, s.Latency.P50, s.Latency.P99, s.Latency.Max, errorText(s.Errors))
	if s.Duplicates > 0 {
		fmt.Fprintf(&b, ", %d duplicates", s.Duplicates)
	}
	fmt.Fprintf(&b, " (%d agents x %d samples/batch", s.Agents, s.SamplesPerBatch)
	if s.OfferedBatchesPerS > 0 {
		fmt.Fprintf(&b, " paced at %.0f batches/s", s.OfferedBatchesPerS)
	} else {
		b.WriteString(" closed loop")
	}
	fmt.Fprintf(&b, ", %.1f s; client %.2f cores", s.ElapsedS, s.ClientCPUCores)
	if s.ServerCPUCores > 0 {
		fmt.Fprintf(&b, "; server %.2f cores, %.2f us CPU/sample, peak RSS %.0f MiB", s.ServerCPUCores, s.ServerCPUUsPerSample, s.ServerPeakRSSMiB)
	}
	fmt.Fprintf(&b, "; other processes %.2f cores", s.OtherCPUCores)
	b.WriteString(")")
	return b.String()
}

func errorText(errs map[string]uint64) string {
	if len(errs) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(errs)) {
		parts = append(parts, fmt.Sprintf("%s x%d", k, errs[k]))
	}
	return strings.Join(parts, " ")
}

// grouped formats a rate with thousands separators and no decimals.
func grouped(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// readSummaries reads the JSON lines written with --json-out; other lines
// are skipped, so a captured stdout works as well.
func readSummaries(r io.Reader) ([]summary, error) {
	var out []summary
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var s summary
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return out, nil
}

// writeTable prints the runs side by side, and the median of each system's
// runs when there are several. Ratios compare a run with a Lightmetrics
// agent-protocol run (the baseline): above 1 means more samples/s, or a
// longer p99, than Lightmetrics.
func writeTable(w io.Writer, runs []summary) error {
	med := medians(runs)
	if len(med) < len(runs) {
		fmt.Fprintln(w, "each run:")
		if err := writeRows(w, runs); err != nil {
			return err
		}
		fmt.Fprintln(w, "\nmedian per system:")
		runs = med
	}
	if err := writeRows(w, runs); err != nil {
		return err
	}
	writeFooter(w, runs)
	return nil
}

// medians folds repeated runs of one system (same label) into one row of
// per-column medians, in order of first appearance.
func medians(runs []summary) []summary {
	var order []string
	groups := map[string][]summary{}
	for _, r := range runs {
		if _, ok := groups[r.System]; !ok {
			order = append(order, r.System)
		}
		groups[r.System] = append(groups[r.System], r)
	}
	out := make([]summary, 0, len(order))
	for _, name := range order {
		g := groups[name]
		m := g[0]
		med := func(f func(*summary) float64) float64 {
			v := make([]float64, len(g))
			for i := range g {
				v[i] = f(&g[i])
			}
			slices.Sort(v)
			if len(v)%2 == 1 {
				return v[len(v)/2]
			}
			return (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		m.SamplesPerS = med(func(s *summary) float64 { return s.SamplesPerS })
		m.BatchesPerS = med(func(s *summary) float64 { return s.BatchesPerS })
		m.Latency.P50 = med(func(s *summary) float64 { return s.Latency.P50 })
		m.Latency.P99 = med(func(s *summary) float64 { return s.Latency.P99 })
		m.Latency.Max = med(func(s *summary) float64 { return s.Latency.Max })
		m.ServerCPUCores = med(func(s *summary) float64 { return s.ServerCPUCores })
		m.ServerCPUUsPerSample = med(func(s *summary) float64 { return s.ServerCPUUsPerSample })
		m.ServerPeakRSSMiB = med(func(s *summary) float64 { return s.ServerPeakRSSMiB })
		m.ClientCPUCores = med(func(s *summary) float64 { return s.ClientCPUCores })
		m.OtherCPUCores = med(func(s *summary) float64 { return s.OtherCPUCores })
		m.Errors, m.ErrorRequests = map[string]uint64{}, 0
		var catchups []float64
		for _, r := range g {
			m.ErrorRequests += r.ErrorRequests
			for k, v := range r.Errors {
				m.Errors[k] += v
			}
			if r.IndexCatchupS != nil {
				catchups = append(catchups, *r.IndexCatchupS)
			}
		}
		m.IndexCatchupS = nil
		if len(catchups) > 0 {
			c := slices.Max(catchups)
			m.IndexCatchupS = &c
		}
		out = append(out, m)
	}
	return out
}

// writeRows prints one table row per run. Each run is compared with the
// nearest Lightmetrics agent-protocol run before it (the one of its round
// when the script repeats), or the first one when none precedes it.
func writeRows(w io.Writer, runs []summary) error {
	var base *summary
	for i := range runs {
		if runs[i].Target == targetLightmetrics {
			base = &runs[i]
			break
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "system\tsamples/s\tbatches/s\tp50 ms\tp99 ms\tmax ms\terrors\tserver cores\tserver us/sample\tpeak RSS MiB\tclient cores\tother cores\tqueryable after s\tsamples/s vs LM\tp99 vs LM\t")
	for i := range runs {
		s := &runs[i]
		if s.Target == targetLightmetrics {
			base = s
		}
		name := s.System
		if name == "" {
			name = s.Target
		}
		rate, p99 := "-", "-"
		if base != nil && base.SamplesPerS > 0 {
			rate = fmt.Sprintf("%.2fx", s.SamplesPerS/base.SamplesPerS)
		}
		if base != nil && base.Latency.P99 > 0 {
			p99 = fmt.Sprintf("%.2fx", s.Latency.P99/base.Latency.P99)
		}
		srvCores, srvUs, rss := "-", "-", "-"
		if s.ServerCPUCores > 0 {
			srvCores = fmt.Sprintf("%.2f", s.ServerCPUCores)
			srvUs = fmt.Sprintf("%.2f", s.ServerCPUUsPerSample)
			rss = fmt.Sprintf("%.0f", s.ServerPeakRSSMiB)
		}
		catchup := "-"
		if s.IndexCatchupS != nil {
			catchup = fmt.Sprintf("%.1f", *s.IndexCatchupS)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.2f\t%.2f\t%.1f\t%d\t%s\t%s\t%s\t%.2f\t%.2f\t%s\t%s\t%s\t\n",
			name, grouped(s.SamplesPerS), s.BatchesPerS, s.Latency.P50, s.Latency.P99, s.Latency.Max,
			s.ErrorRequests, srvCores, srvUs, rss, s.ClientCPUCores, s.OtherCPUCores, catchup, rate, p99)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// writeFooter says what load the table is about and what went wrong.
func writeFooter(w io.Writer, runs []summary) {
	if len(runs) > 0 {
		s := runs[0]
		fmt.Fprintf(w, "load: %d agents, %d series x %d samples per batch (%d samples)", s.Agents, s.SeriesPerBatch, s.SamplesPerSeries, s.SamplesPerBatch)
		for _, r := range runs {
			if r.MaxSamplesPerSend > 0 {
				fmt.Fprintf(w, ", remote write max %d samples per request", r.MaxSamplesPerSend)
				break
			}
		}
		if s.OfferedBatchesPerS > 0 {
			fmt.Fprintf(w, ", paced at %.0f batches/s (%s samples/s) in all", s.OfferedBatchesPerS, grouped(s.OfferedBatchesPerS*float64(s.SamplesPerBatch)))
		} else {
			fmt.Fprint(w, ", closed loop")
		}
		fmt.Fprintf(w, ", %.0f s measured after %.0f s warm-up per system\n", s.DurationS, s.WarmupS)
		fmt.Fprintln(w, "server cores, us/sample: the receiver's CPU in the window; client cores: the load generator's; other cores: the rest of the machine (noise)")
		fmt.Fprintln(w, "queryable after: seconds after the load until Lightmetrics' query store held every acknowledged sample (it indexes after the ack; the peers before); the largest of the runs")
	}
	for _, s := range runs {
		if len(s.Errors) > 0 {
			fmt.Fprintf(w, "errors %s: %s\n", s.System, errorText(s.Errors))
		}
	}
}
