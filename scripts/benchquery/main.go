// Command benchquery is Lightmetrics' query benchmark against its peers.
// It generates 1,000 CPU-seconds counters x{cpu, host} (125 hosts × 8 CPUs)
// over the last 24 h at 10 s (8.64 M samples), sends the same samples as
// Prometheus remote write 1.0 requests of at most 2,000 samples to each
// system in turn, waits until each has them all queryable and has gone
// quiet, checks that all of them hold the same data, then times
// sum by (cpu) (rate(x[5m])) over the last 1 h and 24 h at a 60 s step on
// each (interleaved, after a warm-up) and prints a side-by-side table.
//
// scripts/bench-query.sh starts the servers and runs it:
//
//	benchquery run --lm-write-url https://127.0.0.1:P/api/v1/write --lm-ca-file D/ca.pem \
//	    --lm-token-file D/token --lm-query-url http://127.0.0.1:Q --lm-query-token-file D/query-token \
//	    --lm-pid PID [--prom-url http://127.0.0.1:R --prom-pid PID] [--vm-url http://127.0.0.1:S --vm-pid PID]
//
// Helper subcommands for the script:
//
//	benchquery freeport N                     print N free TCP ports on 127.0.0.1
//	benchquery wait --url URL [--ca-file F]   wait until URL answers 200
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

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

// usageError is a bad command line: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var err error
	switch {
	case len(args) > 0 && args[0] == "freeport":
		err = cmdFreeport(args[1:], stdout)
	case len(args) > 0 && args[0] == "wait":
		err = cmdWait(ctx, args[1:], stderr)
	case len(args) > 0 && args[0] == "run":
		err = cmdRun(ctx, args[1:], stdout, stderr)
	default:
		err = usagef("usage: benchquery run|freeport|wait [flags] (see the package comment)")
	}
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "benchquery:", err)
		return exitUsage
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "benchquery: interrupted")
		return exitFailure
	default:
		fmt.Fprintln(stderr, "benchquery:", err)
		return exitFailure
	}
}

// cmdFreeport prints n distinct TCP ports free on 127.0.0.1 right now. All
// are held open together while choosing, so they differ from each other.
func cmdFreeport(args []string, stdout io.Writer) error {
	n := 1
	if len(args) > 1 {
		return usagef("usage: benchquery freeport [N]")
	}
	if len(args) == 1 {
		v, err := strconv.Atoi(args[0])
		if err != nil || v < 1 || v > 100 {
			return usagef("freeport: N must be 1 to 100")
		}
		n = v
	}
	ports, err := benchutil.FreePorts(n)
	if err != nil {
		return fmt.Errorf("freeport: %w", err)
	}
	fmt.Fprintln(stdout, strings.Join(ports, " "))
	return nil
}

// cmdWait polls a URL with GET until it answers 200, for a bounded time.
func cmdWait(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchquery wait", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rawURL := fs.String("url", "", "URL that answers 200 once the server is ready")
	caFile := fs.String("ca-file", "", "PEM CA for https")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	if *rawURL == "" || fs.NArg() > 0 {
		return usagef("usage: benchquery wait --url URL [--ca-file FILE] [--timeout 60s]")
	}
	return benchutil.WaitOK(ctx, *rawURL, *caFile, *timeout)
}
