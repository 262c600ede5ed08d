package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/tlsutil"
	"github.com/lightmetrics/lightmetrics/pkg/tokens"

	"github.com/lightmetrics/lightmetrics/scripts/benchutil"
)

// benchQuery is the query the benchmark times.
const benchQuery = `sum by (cpu) (rate(x[5m]))`

// dataQuery checks that a system holds the generated samples: with no
// sample on a query step, each point sums each series' last sample before
// it, which the generator knows.
const dataQuery = `sum by (cpu) (x)`

// system is one server under test.
type system struct {
	name  string
	write writeTarget
	api   queryAPI
	pid   int
	// sameAs names the system whose server this row queries again with
	// other settings (VictoriaMetrics with its result cache): it is not
	// loaded or checked again.
	sameAs string

	load      loadResult
	queryable time.Duration // from the start of the load until all samples answer
	loadErr   error
	settled   time.Duration
	rssLoaded int64
	rssAfter  int64
	dataDiff  *diff
	dataErr   error
	times     map[string][]time.Duration // by range name
	cpu       map[string]time.Duration   // server CPU time over the timed runs, by range name
	last      map[string]map[string]map[int64]float64
	queryErr  error
}

// queryRange is a range the query is timed over, ending at the data's end.
type queryRange struct {
	name string
	span time.Duration
}

var queryRanges = []queryRange{{"1h", time.Hour}, {"24h", 24 * time.Hour}}

// runFlags are cmdRun's settings.
type runFlags struct {
	lmWrite, lmCA, lmToken, lmQuery, lmQueryToken string
	lmPID                                         int
	promURL, promName                             string
	promPID                                       int
	vmURL, vmName                                 string
	vmPID                                         int
	vmCacheRow                                    bool

	hosts, cpus          int
	span, interval, step time.Duration
	end                  int64 // unix seconds, 0 = now
	seriesPerReq         int
	samplesPerSeries     int
	maxSamplesPerReq     int
	senders              int
	runs                 int
	loadTimeout          time.Duration
	settleTimeout        time.Duration
}

func parseRunFlags(args []string, stderr io.Writer) (runFlags, error) {
	var f runFlags
	fs := flag.NewFlagSet("benchquery run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.lmWrite, "lm-write-url", "", "Lightmetrics remote-write URL, https://HOST:PORT/api/v1/write")
	fs.StringVar(&f.lmCA, "lm-ca-file", "", "PEM CA of the ingest listener")
	fs.StringVar(&f.lmToken, "lm-token-file", "", "file holding an agent (ingest) token")
	fs.StringVar(&f.lmQuery, "lm-query-url", "", "Lightmetrics private listener, http://HOST:PORT")
	fs.StringVar(&f.lmQueryToken, "lm-query-token-file", "", "file holding the query token")
	fs.IntVar(&f.lmPID, "lm-pid", 0, "collector process id (CPU and RSS)")
	fs.StringVar(&f.promURL, "prom-url", "", "Prometheus base URL with --web.enable-remote-write-receiver; empty skips it")
	fs.StringVar(&f.promName, "prom-name", "prometheus", "name in the table")
	fs.IntVar(&f.promPID, "prom-pid", 0, "Prometheus process id")
	fs.StringVar(&f.vmURL, "vm-url", "", "VictoriaMetrics base URL; empty skips it")
	fs.StringVar(&f.vmName, "vm-name", "victoria-metrics", "name in the table")
	fs.IntVar(&f.vmPID, "vm-pid", 0, "VictoriaMetrics process id")
	fs.BoolVar(&f.vmCacheRow, "vm-cache-row", true, "also time VictoriaMetrics with its rollup result cache on")
	fs.IntVar(&f.hosts, "hosts", 125, "hosts")
	fs.IntVar(&f.cpus, "cpus", 8, "CPUs per host (one series each)")
	fs.DurationVar(&f.span, "span", 24*time.Hour, "how far back the data goes")
	fs.DurationVar(&f.interval, "interval", 10*time.Second, "sample interval")
	fs.DurationVar(&f.step, "step", time.Minute, "query_range step")
	fs.Int64Var(&f.end, "end", 0, "end of the data and of the queries, unix seconds (a multiple of --step); 0 = two steps before now")
	fs.IntVar(&f.seriesPerReq, "series-per-request", 50, "series per remote-write request")
	fs.IntVar(&f.samplesPerSeries, "samples-per-series", 40, "samples per series per request")
	fs.IntVar(&f.maxSamplesPerReq, "max-samples-per-request", 2000, "refuse a layout with more samples per request")
	fs.IntVar(&f.senders, "senders", 4, "remote-write requests in flight")
	fs.IntVar(&f.runs, "runs", 10, "timed runs per system and range, after one warm-up")
	fs.DurationVar(&f.loadTimeout, "load-timeout", 10*time.Minute, "bound on loading one system and waiting for its data")
	fs.DurationVar(&f.settleTimeout, "settle-timeout", 3*time.Minute, "bound on waiting for a loaded server to go idle")
	if err := fs.Parse(args); err != nil {
		return f, usagef("%v", err)
	}
	switch {
	case fs.NArg() > 0:
		return f, usagef("run: unexpected argument %q", fs.Arg(0))
	case f.lmWrite == "" || f.lmToken == "" || f.lmQuery == "" || f.lmQueryToken == "":
		return f, usagef("run: --lm-write-url, --lm-token-file, --lm-query-url and --lm-query-token-file are required")
	case f.seriesPerReq*f.samplesPerSeries > f.maxSamplesPerReq:
		return f, usagef("run: %d series × %d samples is over %d samples per request", f.seriesPerReq, f.samplesPerSeries, f.maxSamplesPerReq)
	case f.interval < 10*time.Millisecond || f.step < f.interval || f.step%f.interval != 0 || f.span < f.step:
		return f, usagef("run: need interval ≥ 10ms, step a multiple of interval, span ≥ step")
	case f.runs < 1 || f.senders < 1 || f.hosts < 1 || f.cpus < 1:
		return f, usagef("run: --runs, --senders, --hosts and --cpus must be positive")
	case f.end != 0 && f.end*1000%f.step.Milliseconds() != 0:
		return f, usagef("run: --end must be a multiple of --step")
	}
	return f, nil
}

// cmdRun is the whole benchmark: generate, load, check, time, report.
func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseRunFlags(args, stderr)
	if err != nil {
		return err
	}
	systems, err := f.systems()
	if err != nil {
		return err
	}
	for _, s := range systems {
		defer s.api.client.CloseIdleConnections()
		if s.write.client != nil {
			defer s.write.client.CloseIdleConnections()
		}
	}
	stepMs := f.step.Milliseconds()
	endMs := f.end * 1000
	if f.end == 0 {
		endMs = (time.Now().UnixMilli()/stepMs - 2) * stepMs
	}
	d := dataset{hosts: f.hosts, cpus: f.cpus, samples: int(f.span / f.interval), stepMs: f.interval.Milliseconds(), endMs: endMs}
	l := layout{seriesPerReq: f.seriesPerReq, samplesPerSeries: f.samplesPerSeries}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "benchquery: "+format+"\n", a...) }

	t0 := time.Now()
	g, err := generate(d, l, stepMs)
	if err != nil {
		return err
	}
	var wire int
	for _, b := range g.bodies {
		wire += len(b)
	}
	logf("generated %d series × %d samples = %d samples ending %s in %d requests (≤ %d series, ≤ %d samples each; %.1f MB protobuf, %.1f MB snappy) in %s",
		d.seriesCount(), d.samples, g.samples, time.UnixMilli(endMs).UTC().Format(time.RFC3339), len(g.bodies),
		g.maxSeriesRq, g.maxPerReq, float64(g.rawBytes)/1e6, float64(wire)/1e6, time.Since(t0).Round(time.Millisecond))

	// Load one system at a time, so each has the machine to itself.
	for _, s := range systems {
		if s.sameAs != "" {
			continue
		}
		loadOne(ctx, s, g, d, f, logf)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	// The servers loaded first have been idle since; give the last ones
	// the same chance before anything is timed.
	for _, s := range systems {
		if s.sameAs == "" && s.pid > 0 && s.loadErr == nil {
			if _, err := settle(ctx, s.pid, f.settleTimeout); err != nil {
				logf("%s: %v", s.name, err)
			}
		}
	}

	// Same data everywhere? Compare sum by (cpu) (x) with the generator.
	for _, s := range systems {
		if s.sameAs != "" || s.loadErr != nil {
			continue
		}
		ss, _, err := s.api.rangeQuery(ctx, dataQuery, endMs-d.span(), endMs, stepMs)
		if err != nil {
			s.dataErr = err
			continue
		}
		df := compare(expectedByCPU(g, endMs-d.span(), endMs), byLabel(ss, "cpu"))
		s.dataDiff = &df
	}

	busy0, _ := benchutil.HostBusy()
	ours0 := ourCPU(systems)
	wall0 := time.Now()
	timeQueries(ctx, systems, endMs, stepMs, f.runs, logf)
	var others float64
	if busy1, err := benchutil.HostBusy(); err == nil && busy0 > 0 {
		others = max(float64(busy1-busy0-(ourCPU(systems)-ours0))/float64(time.Since(wall0)), 0)
	}
	for _, s := range systems {
		if s.pid > 0 && s.sameAs == "" {
			s.rssAfter, _ = benchutil.StatusBytes(strconv.Itoa(s.pid), "VmRSS")
		}
	}
	lmStore := lightmetricsStore(ctx, systems[0])
	return report(stdout, systems, d, g, f, lmStore, others)
}

// span is the time the data covers, in ms.
func (d dataset) span() int64 { return int64(d.samples) * d.stepMs }

func (d dataset) spanDuration() time.Duration { return time.Duration(d.span()) * time.Millisecond }

// loadOne sends the load to s and waits until s answers with all of it,
// then until s goes idle, and notes its RSS.
func loadOne(ctx context.Context, s *system, g *generated, d dataset, f runFlags, logf func(string, ...any)) {
	ctx, cancel := context.WithTimeout(ctx, f.loadTimeout)
	defer cancel()
	logf("%s: loading %d samples", s.name, g.samples)
	start := time.Now()
	s.load = sendAll(ctx, s.write, g.bodies, g.groups, f.senders)
	logf("%s: %d requests answered in %s (%d failed, %d retries)", s.name, len(g.bodies), s.load.acked.Round(time.Millisecond), s.load.failed, s.load.retries)
	if s.load.failed != 0 {
		logf("%s: first refusal: %s", s.name, s.load.firstErr)
	}
	// Queryable: every series and every sample answer a count over the
	// whole range (a window one step wider than the data).
	window := fmt.Sprintf("[%ds]", (d.span()+d.stepMs)/1000)
	var have, series float64
	var err error
	for {
		series, err = s.api.scalarAt(ctx, "count(count_over_time(x"+window+"))", d.endMs)
		if err == nil {
			have, err = s.api.scalarAt(ctx, "sum(count_over_time(x"+window+"))", d.endMs)
		}
		if err == nil && int(series) == d.seriesCount() && int(have) == g.samples {
			break
		}
		// A system that refused part of the load never gets there: wait
		// only until the count stops changing.
		if ctx.Err() != nil {
			s.loadErr = fmt.Errorf("after %s: %v series and %v of %d samples queryable (last error: %v)",
				time.Since(start).Round(time.Second), series, have, g.samples, err)
			logf("%s: %v", s.name, s.loadErr)
			return
		}
		if s.load.failed != 0 && err == nil && time.Since(start) > s.load.acked+30*time.Second {
			s.loadErr = fmt.Errorf("%v series and %v of %d samples queryable after %d refused requests", series, have, g.samples, s.load.failed)
			logf("%s: %v", s.name, s.loadErr)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.queryable = time.Since(start)
	logf("%s: all %d samples queryable %s after the load started", s.name, g.samples, s.queryable.Round(time.Millisecond))
	if s.pid > 0 {
		took, err := settle(ctx, s.pid, f.settleTimeout)
		s.settled = took
		if err != nil {
			logf("%s: %v", s.name, err)
		} else {
			logf("%s: idle after another %s", s.name, took.Round(time.Second))
		}
		s.rssLoaded, _ = benchutil.StatusBytes(strconv.Itoa(s.pid), "VmRSS")
	}
}

// timeQueries warms every system up once per range, then runs the query
// runs times on each, interleaved and in a rotating order, so that other
// work on the machine hits every system alike.
func timeQueries(ctx context.Context, systems []*system, endMs, stepMs int64, runs int, logf func(string, ...any)) {
	for _, s := range systems {
		s.times = make(map[string][]time.Duration)
		s.cpu = make(map[string]time.Duration)
		s.last = make(map[string]map[string]map[int64]float64)
	}
	for _, r := range queryRanges {
		start := endMs - r.span.Milliseconds()
		logf("timing %s over %s: 1 warm-up and %d runs per system", benchQuery, r.name, runs)
		for i := -1; i < runs; i++ {
			for j := range systems {
				s := systems[(j+max(i, 0))%len(systems)]
				if !s.ready(systems) || s.queryErr != nil {
					continue
				}
				pid := s.serverPID(systems)
				cpu0, _ := cpuTime(pid)
				ss, took, err := s.api.rangeQuery(ctx, benchQuery, start, endMs, stepMs)
				cpu1, _ := cpuTime(pid)
				if err != nil {
					s.queryErr = fmt.Errorf("%s: %w", r.name, err)
					logf("%s: %v", s.name, s.queryErr)
					continue
				}
				if i >= 0 {
					s.times[r.name] = append(s.times[r.name], took)
					s.cpu[r.name] += cpu1 - cpu0
				}
				s.last[r.name] = byLabel(ss, "cpu")
			}
		}
	}
}

// ready reports whether s was loaded (or its server was).
func (s *system) ready(all []*system) bool {
	if s.sameAs == "" {
		return s.loadErr == nil
	}
	for _, o := range all {
		if o.name == s.sameAs {
			return o.loadErr == nil
		}
	}
	return false
}

// serverPID is the process id of s's server, 0 when unknown.
func (s *system) serverPID(all []*system) int {
	if s.sameAs == "" {
		return s.pid
	}
	for _, o := range all {
		if o.name == s.sameAs {
			return o.pid
		}
	}
	return 0
}

// ourCPU is the CPU time used so far by the servers under test and by this
// process, to tell the rest of the machine's load apart.
func ourCPU(systems []*system) time.Duration {
	total, _ := cpuTime(os.Getpid())
	for _, s := range systems {
		if s.sameAs == "" && s.pid > 0 {
			c, _ := cpuTime(s.pid)
			total += c
		}
	}
	return total
}

// systems builds the systems under test from the flags, Lightmetrics
// first: it is the reference every ratio is taken against.
func (f runFlags) systems() ([]*system, error) {
	tlsCfg, err := tlsutil.ClientConfig(f.lmCA)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	agentTok, err := tokens.LoadSecret(f.lmToken)
	if err != nil {
		return nil, fmt.Errorf("run: agent token: %w", err)
	}
	queryTok, err := tokens.LoadSecret(f.lmQueryToken)
	if err != nil {
		return nil, fmt.Errorf("run: query token: %w", err)
	}
	newClient := func(tr *http.Transport) *http.Client {
		tr.MaxIdleConnsPerHost = 2 * f.senders
		return &http.Client{Timeout: 5 * time.Minute, Transport: tr}
	}
	out := []*system{{
		name:  "lightmetrics",
		write: writeTarget{url: f.lmWrite, token: agentTok.Value(), client: newClient(&http.Transport{TLSClientConfig: tlsCfg})},
		api:   queryAPI{base: strings.TrimRight(f.lmQuery, "/"), token: queryTok.Value(), client: newClient(&http.Transport{})},
		pid:   f.lmPID,
	}}
	if f.promURL != "" {
		base := strings.TrimRight(f.promURL, "/")
		out = append(out, &system{
			name:  f.promName,
			write: writeTarget{url: base + "/api/v1/write", client: newClient(&http.Transport{})},
			api:   queryAPI{base: base, client: newClient(&http.Transport{})},
			pid:   f.promPID,
		})
	}
	if f.vmURL != "" {
		base := strings.TrimRight(f.vmURL, "/")
		// nocache=1: VictoriaMetrics keeps range query results and would
		// otherwise answer every repeat of a query over past data from
		// that cache, which times the cache rather than the query.
		out = append(out, &system{
			name:  f.vmName + " (nocache=1)",
			write: writeTarget{url: base + "/api/v1/write", client: newClient(&http.Transport{})},
			api:   queryAPI{base: base, extra: url.Values{"nocache": {"1"}}, client: newClient(&http.Transport{})},
			pid:   f.vmPID,
		})
		if f.vmCacheRow {
			out = append(out, &system{
				name:   f.vmName + " (result cache)",
				api:    queryAPI{base: base, client: newClient(&http.Transport{})},
				sameAs: out[len(out)-1].name,
			})
		}
	}
	return out, nil
}
