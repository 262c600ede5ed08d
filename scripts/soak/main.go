// Command soak is Lightmetrics' fault and soak suite. It proves end to end,
// with figures, that nothing acknowledged is ever lost and nothing is
// stored twice, while collectors, agents and the object store are killed,
// stopped and starved under load.
//
// On 127.0.0.1 only, it starts a real MinIO (pkg/objstore/miniotest), builds
// lightmetrics once and runs three collectors as child processes — A and B
// with acceptance = "s3_manifest" on one bucket prefix, C with
// acceptance = "local_spool" landing to its own prefix, its spool on a
// small tmpfs — plus 50 simulated agents in-process, made of the real
// agent's queue, shipper and uplink, and 2 real `lightmetrics agent daemon`
// processes tailing log files that the soak writes and rotates. For
// --duration it injects a seeded schedule of faults (SIGKILL of every
// collector and daemon, MinIO stopped, the spool filesystem full, clock
// steps, slow and garbage clients). Then it stops the load, flushes every
// queue, waits for landing and the manifest followers, and checks from the
// outside — the bucket, the query API, the logs API, the processes' logs
// and /proc — before printing a one-screen report. It exits 1 on any loss,
// duplicate, panic or memory over the bound.
//
//	bash scripts/soak.sh [--duration 5m] [--keep] [--seed N]
//
// It needs root for the tmpfs (without it, that one fault is reported as not
// injected) and the MinIO binary from scripts/setup-minio.sh.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Exit codes, as the lightmetrics binary uses them.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// options are the command line.
type options struct {
	duration time.Duration
	keep     bool
	seed     int64
	rssBound int64
	repo     string
	bin      string
	tmpDir   string
	sims     int
	// selfCheck deletes stored data before verifying, to show the checks
	// catch a loss: such a run must fail.
	selfCheck bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 5*time.Minute, "length of the load and fault phase (30s..2h); verification comes after, bounded")
	fs.BoolVar(&o.keep, "keep", false, "keep the run directory (configs, logs, spools, queues, MinIO data)")
	fs.Int64Var(&o.seed, "seed", 0, "seed of the fault schedule and the rotations (0: from the clock; printed)")
	rss := fs.Int64("rss-bound-mib", 512, "peak resident memory each collector must stay under")
	fs.StringVar(&o.repo, "repo", ".", "the lightmetrics module to build")
	fs.StringVar(&o.bin, "bin", "", "use this lightmetrics binary instead of building one")
	fs.StringVar(&o.tmpDir, "tmpdir", os.TempDir(), "where the run directory is created")
	fs.IntVar(&o.sims, "agents", 50, "simulated agents (the first 30 use A and B, the rest C)")
	fs.BoolVar(&o.selfCheck, "self-check", false, "delete one acknowledged manifest entry and one landed segment before verifying: the run must then FAIL")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: soak [--duration 5m] [--keep] [--seed N] [--rss-bound-mib 512] [--bin FILE]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.duration < 30*time.Second || o.duration > 2*time.Hour {
		return o, fmt.Errorf("--duration %s: must be between 30s and 2h", o.duration)
	}
	if o.sims < 31 || o.sims > 200 {
		return o, fmt.Errorf("--agents %d: must be between 31 and 200", o.sims)
	}
	if o.seed == 0 {
		o.seed = time.Now().UnixNano() % 1_000_000
	}
	o.rssBound = *rss << 20
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "soak:", err)
		return exitUsage
	}
	r := &rig{o: o, out: stderr}
	rep, err := r.soak(ctx)
	if rep != nil {
		rep.print(stdout)
		if r.ws != nil && o.keep {
			if f, ferr := os.Create(r.ws.dir + "/report.txt"); ferr == nil {
				rep.print(f)
				f.Close()
			}
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "soak:", err)
		return exitFailure
	}
	if len(rep.Failures) > 0 {
		return exitFailure
	}
	return exitOK
}
