// Command benchobjstore measures, on this machine, what the object store
// costs the collector. Against one MinIO server (pkg/objstore/miniotest) it
// runs the same paced load (scripts/benchingest) against a fresh collector
// in each acceptance mode:
//
//	local_spool          ack once the batch is fsynced in the spool; no store
//	local_spool+landing  the same, with the lander copying the spool to the store
//	s3_manifest          ack once the manifest entry is created in the store
//
// and prints each mode's ack latency (p50, p99, max, and the ratios against
// local_spool), what the landing collector's own metrics say it uploaded,
// and then, with the load stopped, the throughput of an in-process lander
// emptying a spool filled with --land-mb of batches into the store.
//
//	go run ./scripts/benchobjstore --dir D --lightmetrics-bin B --benchingest-bin I
//
// scripts/bench-objstore.sh builds the two binaries and runs it. It is a
// measurement, not a test: nothing is asserted about time. It exits 1 when a
// phase failed (a collector that did not start, a failed request, landing
// that did not catch up), 2 on a bad command line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/objstore/miniotest"

	"github.com/lightmetrics/lightmetrics/scripts/benchutil"
)

// Exit codes, as the lightmetrics binary uses them.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the command line.
type options struct {
	dir, lightmetricsBin, benchingestBin string
	modes                                string
	agents, seriesPerBatch               int
	samplesPerSeries, landMB             int
	rate, segmentMiB                     float64
	duration, warmup                     time.Duration
	landingInterval, landTimeout         time.Duration
}

// errUsage marks a bad command line (exit 2).
var errUsage = errors.New("usage")

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("benchobjstore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dir, "dir", "", "work directory (required): MinIO's data, one config set per mode, the landing phase's spool")
	fs.StringVar(&o.lightmetricsBin, "lightmetrics-bin", "", "lightmetrics binary (required)")
	fs.StringVar(&o.benchingestBin, "benchingest-bin", "", "benchingest binary, built from scripts/benchingest (required)")
	fs.StringVar(&o.modes, "modes", "local_spool,local_spool+landing,s3_manifest", "acceptance modes to run, in order")
	fs.IntVar(&o.agents, "agents", 20, "simulated agents")
	fs.Float64Var(&o.rate, "rate", 100, "batches per second offered by all agents together (paced, so every mode gets the same load)")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "measured duration per mode")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured warm-up per mode")
	fs.IntVar(&o.seriesPerBatch, "series-per-batch", 200, "series in each batch")
	fs.IntVar(&o.samplesPerSeries, "samples-per-series", 10, "samples of each series in each batch")
	fs.DurationVar(&o.landingInterval, "landing-interval", time.Second, "object_landing_interval_ms of the local_spool+landing collector")
	fs.IntVar(&o.landMB, "land-mb", 128, "landing phase: MB of batches to fill the spool with (0 skips the phase)")
	fs.Float64Var(&o.segmentMiB, "segment-mib", 0, "landing phase: largest segment in MiB (0: the lander's default, 8)")
	fs.DurationVar(&o.landTimeout, "land-timeout", 10*time.Minute, "landing phase: longest the landing may take")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
	}
	switch {
	case fs.NArg() > 0:
		return nil, bad("unexpected argument %q", fs.Arg(0))
	case o.dir == "" || o.lightmetricsBin == "" || o.benchingestBin == "":
		return nil, bad("--dir, --lightmetrics-bin and --benchingest-bin are required")
	case o.agents < 1:
		return nil, bad("--agents %d: want at least 1", o.agents)
	case o.rate <= 0:
		return nil, bad("--rate %g: want more than 0 (the modes are compared at one paced load)", o.rate)
	case o.duration <= 0 || o.warmup < 0:
		return nil, bad("--duration must be more than 0 and --warmup 0 or more")
	case o.seriesPerBatch < 1 || o.samplesPerSeries < 1:
		return nil, bad("--series-per-batch and --samples-per-series must be at least 1")
	case o.landingInterval < time.Millisecond:
		return nil, bad("--landing-interval %s: want at least 1ms", o.landingInterval)
	case o.landMB < 0 || o.segmentMiB < 0 || o.landTimeout <= 0:
		return nil, bad("--land-mb and --segment-mib must be 0 or more, --land-timeout more than 0")
	}
	if _, err := selectModes(o.modes); err != nil {
		return nil, bad("%v", err)
	}
	return o, nil
}

// selectModes parses --modes.
func selectModes(list string) ([]mode, error) {
	var out []mode
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		i := -1
		for j, m := range allModes {
			if m.Name == name {
				i = j
			}
		}
		if i < 0 {
			return nil, fmt.Errorf("--modes: unknown mode %q (want local_spool, local_spool+landing, s3_manifest)", name)
		}
		out = append(out, allModes[i])
	}
	return out, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case err != nil:
		fmt.Fprintln(stderr, "benchobjstore:", err)
		return exitUsage
	}
	if err := bench(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "benchobjstore:", err)
		return exitFailure
	}
	return exitOK
}

// bench runs every phase and prints the report; it returns an error when
// any phase failed, after reporting what the others measured.
func bench(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "benchobjstore: "+format+"\n", a...) }
	modes, _ := selectModes(o.modes)

	minioDir := filepath.Join(o.dir, "minio")
	if err := os.MkdirAll(minioDir, 0o755); err != nil {
		return err
	}
	minioLog, err := os.Create(filepath.Join(o.dir, "minio.log"))
	if err != nil {
		return err
	}
	defer minioLog.Close()
	launchCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
	srv, err := miniotest.Launch(launchCtx, minioDir, minioLog)
	cancel()
	if err != nil {
		return fmt.Errorf("start MinIO (log in %s): %w", minioLog.Name(), err)
	}
	defer srv.Close()
	logf("MinIO listening on %s, data in %s", srv.Endpoint(), minioDir)

	var runs []*modeResult
	var failed []string
	for _, m := range modes {
		if ctx.Err() != nil {
			break
		}
		r := runMode(ctx, o, srv, m, logf, stderr)
		if r.Err != nil {
			logf("%s: %v", m.Name, r.Err)
			failed = append(failed, m.Name)
		}
		runs = append(runs, r)
	}

	lo := landOptions{
		TargetBytes: int64(o.landMB) * 1e6, Agents: o.agents,
		SeriesPerBatch: o.seriesPerBatch, SamplesPerSeries: o.samplesPerSeries,
		MaxSegmentBytes: int(o.segmentMiB * (1 << 20)), Timeout: o.landTimeout,
	}
	var land *landResult
	var landErr error
	if o.landMB > 0 && ctx.Err() == nil {
		logf("landing phase: filling a spool with %d MB of batches, then landing all of it", o.landMB)
		if land, landErr = runLandPhase(ctx, srv.Config(), strconv.Itoa(srv.Pid()), filepath.Join(o.dir, "land"), lo); landErr != nil {
			logf("%v", landErr)
			failed = append(failed, "landing phase")
		}
	}

	fmt.Fprintln(stdout)
	if err := writeReport(stdout, runs, land, landErr, lo); err != nil {
		return err
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("interrupted: %w", ctx.Err())
	case len(failed) > 0:
		return fmt.Errorf("failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

// runMode starts a fresh collector in mode m, loads it, and reads its
// metrics; the collector is stopped before it returns.
func runMode(ctx context.Context, o *options, srv *miniotest.Server, m mode, logf func(string, ...any), stderr io.Writer) *modeResult {
	r := &modeResult{Mode: m}
	slug := strings.ReplaceAll(m.Name, "+", "-")
	dir := filepath.Join(o.dir, slug)
	fail := func(err error) *modeResult { r.Err = err; return r }
	if err := os.RemoveAll(dir); err != nil {
		return fail(err)
	}
	ports, err := benchutil.FreePorts(2)
	if err != nil {
		return fail(err)
	}
	ingestAddr, privateAddr := "127.0.0.1:"+ports[0], "127.0.0.1:"+ports[1]
	if err := runQuiet(ctx, o.lightmetricsBin, "demo", "--prepare-only", "--dir", dir, "--ingest-addr", ingestAddr, "--query-addr", privateAddr); err != nil {
		return fail(err)
	}
	// Written before the collector starts, so no reload is needed.
	if err := runQuiet(ctx, o.benchingestBin, "tokens", "--agents", strconv.Itoa(o.agents), "--out", filepath.Join(dir, "ingest-tokens.toml")); err != nil {
		return fail(err)
	}
	serverToml := filepath.Join(dir, "server.toml")
	data, err := os.ReadFile(serverToml)
	if err != nil {
		return fail(err)
	}
	sc := srv.Config()
	data, err = rewriteServerConfig(data, m, storeSettings{
		Endpoint: sc.Endpoint, Bucket: sc.Bucket, Prefix: "bench-" + slug + "-" + randomHex(4),
		AccessKeyFile: sc.AccessKeyFile, SecretKeyFile: sc.SecretKeyFile, LandingInterval: o.landingInterval,
	})
	if err != nil {
		return fail(err)
	}
	if err := os.WriteFile(serverToml, data, 0o600); err != nil {
		return fail(err)
	}
	check := []string{"collector", "check-config", serverToml}
	if m.Store {
		// Proves the store honours conditional creates before s3_manifest
		// leans on them.
		check = []string{"collector", "check-config", "--check-object-store", serverToml}
	}
	if err := runQuiet(ctx, o.lightmetricsBin, check...); err != nil {
		return fail(err)
	}

	logPath := filepath.Join(dir, "collector.log")
	p, err := startProcess(logPath, o.lightmetricsBin, "collector", "run", serverToml)
	if err != nil {
		return fail(err)
	}
	defer p.stop(15 * time.Second)
	if err := benchutil.WaitOK(ctx, "https://"+ingestAddr+"/healthz", filepath.Join(dir, "ca.pem"), 30*time.Second); err != nil {
		return fail(fmt.Errorf("collector did not start (log in %s): %w", logPath, err))
	}

	logf("%s: %d agents, %g batches/s in all, %s after %s warm-up", m.Name, o.agents, o.rate, o.duration, o.warmup)
	// MinIO's share, sampled over benchingest's measured window (which
	// starts after the warm-up), is taken out of its "other" CPU.
	var win atomic.Pointer[cpuWindow]
	t := time.AfterFunc(o.warmup, func() { win.Store(startCPUWindow(strconv.Itoa(srv.Pid()))) })
	r.Load, err = runLoad(ctx, o, m, ingestAddr, dir, p.pid(), stderr)
	t.Stop()
	if w := win.Load(); w != nil {
		r.MinIOCores = w.end().MinIO
	}
	if err != nil {
		return fail(err)
	}
	mc, err := newMetricsClient(privateAddr, filepath.Join(dir, "query-token"))
	if err != nil {
		return fail(err)
	}
	if m.Landing {
		r.Metrics, r.CatchUp, err = mc.waitLanded(ctx, 2*time.Minute)
	} else {
		r.Metrics, err = mc.read(ctx)
	}
	switch {
	case err != nil:
		return fail(err)
	case p.exited():
		return fail(fmt.Errorf("the collector exited during the run (log in %s)", logPath))
	case r.Load.ErrorRequests > 0:
		return fail(fmt.Errorf("%d of %d requests failed (%s): its latencies leave them out; collector log in %s",
			r.Load.ErrorRequests, r.Load.Requests, errorText(r.Load.Errors), logPath))
	case r.Load.Batches == 0:
		return fail(errors.New("no batch was acknowledged in the measured window"))
	}
	return r
}

// errorText lists error classes and counts.
func errorText(errs map[string]uint64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(errs)) {
		parts = append(parts, fmt.Sprintf("%s x%d", k, errs[k]))
	}
	return strings.Join(parts, ", ")
}

// runQuiet runs a setup command, keeping its output for the error.
func runQuiet(ctx context.Context, bin string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args[:min(len(args), 2)], " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
