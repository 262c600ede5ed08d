// Command benchingest is Lightmetrics' ingest load generator. N simulated
// agents, each on its own keep-alive connection, post host-like batches for
// a fixed duration, either as Lightmetrics agent batches to POST /v1/batches
// or as the same samples in Prometheus remote write 1.0 requests, so one
// load can be run against Lightmetrics, Prometheus and VictoriaMetrics and
// compared. By default every agent sends its next batch as soon as the
// previous one is answered (closed loop: the receiver's ceiling); --rate
// paces them instead, to compare latency at one load. It prints one JSON
// summary line and one line for people.
//
//	go run ./scripts/benchingest --target lightmetrics --url https://127.0.0.1:8443 \
//	    --ca-file D/ca.pem --tokens-file D/ingest-tokens.toml --agents 100
//	go run ./scripts/benchingest --target remote-write --url http://127.0.0.1:8428/api/v1/write
//
// Helper subcommands used by scripts/bench-ingest.sh:
//
//	benchingest tokens --agents N --out FILE   write an ingest token table for bench-000…
//	benchingest freeport N                     print N free TCP ports on 127.0.0.1
//	benchingest wait --url URL [--ca-file F]   wait until URL answers 200
//	benchingest catchup --url U --query-token-file F --results FILE
//	                                           wait until the query store holds every acked sample
//	benchingest report FILE                    side-by-side table of JSON summaries
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/lightmetrics/lightmetrics/pkg/tlsutil"
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

// parseFlags parses args, turning a bad flag into a usage error and leaving
// -help as flag.ErrHelp (exit 0).
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usagef("%v", err)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var err error
	switch {
	case len(args) > 0 && args[0] == "tokens":
		err = cmdTokens(args[1:], stdout, stderr)
	case len(args) > 0 && args[0] == "freeport":
		err = cmdFreeport(args[1:], stdout)
	case len(args) > 0 && args[0] == "wait":
		err = cmdWait(ctx, args[1:], stderr)
	case len(args) > 0 && args[0] == "catchup":
		err = cmdCatchup(ctx, args[1:], stdout, stderr)
	case len(args) > 0 && args[0] == "report":
		err = cmdReport(args[1:], stdout)
	default:
		err = cmdLoad(ctx, args, stdout, stderr)
	}
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "benchingest:", err)
		return exitUsage
	default:
		fmt.Fprintln(stderr, "benchingest:", err)
		return exitFailure
	}
}

// loadFlags are the command-line options of a load run.
type loadFlags struct {
	target, rawURL, caFile, tokensFile, token, agentID string
	label, jsonOut, serverPID, cpuProfile              string
	agents, seriesPerBatch, samplesPerSeries           int
	maxPerSend                                         int
	duration, warmup, timeout, step                    time.Duration
	seqStart                                           uint64
	rate                                               float64
	insecure, http1                                    bool
}

// newLoadFlagSet defines the load run's flags on f.
func newLoadFlagSet(f *loadFlags, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("benchingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.target, "target", targetLightmetrics, "protocol: lightmetrics (POST /v1/batches) or remote-write (Prometheus remote write 1.0)")
	fs.StringVar(&f.rawURL, "url", "", "receiver URL; a bare https://host:port gets /v1/batches (lightmetrics) or /api/v1/write (remote-write)")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM CA to trust for https (the demo's ca.pem); empty means the system roots")
	fs.StringVar(&f.tokensFile, "tokens-file", "", "ingest-tokens.toml to take the agents' ids and tokens from, one agent per [[tokens]] entry")
	fs.StringVar(&f.token, "token", "", "one bearer token for every agent (prefer --tokens-file: the token shows in the process list)")
	fs.StringVar(&f.agentID, "agent-id", "", "with --token and --target lightmetrics: the token's agent id, shared by every simulated agent")
	fs.IntVar(&f.agents, "agents", 100, "concurrent simulated agents")
	fs.DurationVar(&f.duration, "duration", 20*time.Second, "measured duration")
	fs.DurationVar(&f.warmup, "warmup", time.Second, "unmeasured run before the measured duration (connections, TLS, series creation)")
	fs.IntVar(&f.seriesPerBatch, "series-per-batch", 200, "series in each batch")
	fs.IntVar(&f.samplesPerSeries, "samples-per-series", 10, "samples of each series in each batch")
	fs.IntVar(&f.maxPerSend, "max-samples-per-send", 2000, "remote write: most samples in one request (Prometheus's max_samples_per_send default)")
	fs.DurationVar(&f.step, "sample-step", 10*time.Millisecond, "spacing of consecutive samples on the simulated clock")
	fs.Uint64Var(&f.seqStart, "seq-start", 1, "sequence number of every agent's first batch (raise it to rerun against a collector that kept its spool)")
	fs.Float64Var(&f.rate, "rate", 0, "pace the agents to this many batches per second in all, latency counted from when each batch was due (0: closed loop, each agent sends as fast as acks return)")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.BoolVar(&f.insecure, "insecure-skip-verify", false, "remote-write only: do not verify an https peer's certificate (the peers in bench-ingest.sh run plain http)")
	fs.BoolVar(&f.http1, "http1", false, "use HTTP/1.1 even where HTTP/2 is offered")
	fs.StringVar(&f.label, "label", "", "system name for the summary (default: the target)")
	fs.StringVar(&f.jsonOut, "json-out", "", "also append the JSON summary line to this file")
	fs.StringVar(&f.serverPID, "server-pid", "", "pid of the receiving process: report its CPU use and peak RSS (Linux /proc)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the load generator itself to this file")
	return fs
}

func cmdLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f loadFlags
	fs := newLoadFlagSet(&f, stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	sum, err := runLoad(ctx, cfg)
	if err != nil {
		return err
	}
	line, err := json.Marshal(sum)
	if err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	fmt.Fprintf(stdout, "%s\n%s\n", line, sum.human())
	for k, v := range sum.errSample {
		fmt.Fprintf(stderr, "benchingest: first %s answer: %s\n", k, v)
	}
	if f.jsonOut != "" {
		jf, err := os.OpenFile(f.jsonOut, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("json out: %w", err)
		}
		if _, err := fmt.Fprintf(jf, "%s\n", line); err != nil {
			jf.Close()
			return fmt.Errorf("json out: %w", err)
		}
		if err := jf.Close(); err != nil {
			return fmt.Errorf("json out: %w", err)
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	if sum.Samples == 0 {
		return errors.New("no samples were accepted")
	}
	return nil
}

// config checks the flags and builds the run.
func (f *loadFlags) config() (*loadConfig, error) {
	cfg := &loadConfig{
		Target: f.target, Label: f.label, MaxPerSend: f.maxPerSend,
		Duration: f.duration, Warmup: f.warmup, Timeout: f.timeout,
		HTTP1: f.http1, ServerPID: f.serverPID, Rate: f.rate,
		Gen: benchutil.GenOptions{
			SeriesPerBatch: f.seriesPerBatch, SamplesPerSeries: f.samplesPerSeries,
			StepMs: f.step.Milliseconds(), FirstSeq: f.seqStart,
			// A quarter of an hour in the past: a run at any plausible rate
			// stays inside every receiver's window for fresh samples
			// (Prometheus refuses samples an hour older than its newest).
			StartMs: time.Now().Add(-15 * time.Minute).UnixMilli(),
		},
	}
	if cfg.Label == "" {
		cfg.Label = f.target
	}
	switch {
	case f.target != targetLightmetrics && f.target != targetRemoteWrite:
		return nil, usagef("--target %q: want %s or %s", f.target, targetLightmetrics, targetRemoteWrite)
	case f.rawURL == "":
		return nil, usagef("--url is required")
	case f.agents < 1:
		return nil, usagef("--agents %d: want at least 1", f.agents)
	case f.duration <= 0:
		return nil, usagef("--duration %s: want more than 0", f.duration)
	case f.warmup < 0:
		return nil, usagef("--warmup %s: want 0 or more", f.warmup)
	case f.timeout <= 0:
		return nil, usagef("--timeout %s: want more than 0", f.timeout)
	case f.seriesPerBatch < 1 || f.samplesPerSeries < 1:
		return nil, usagef("--series-per-batch and --samples-per-series must be at least 1")
	case f.maxPerSend < 1:
		return nil, usagef("--max-samples-per-send %d: want at least 1", f.maxPerSend)
	case f.rate < 0:
		return nil, usagef("--rate %g: want 0 (closed loop) or more", f.rate)
	case f.step < time.Millisecond:
		return nil, usagef("--sample-step %s: want at least 1ms", f.step)
	case f.tokensFile != "" && f.token != "":
		return nil, usagef("--tokens-file and --token are exclusive")
	case f.insecure && f.target != targetRemoteWrite:
		return nil, usagef("--insecure-skip-verify is for remote-write peers only; give Lightmetrics its CA with --ca-file")
	case f.agentID != "" && f.token == "":
		return nil, usagef("--agent-id goes with --token")
	}

	u, err := url.Parse(f.rawURL)
	if err != nil || u.Host == "" {
		return nil, usagef("--url %q: not an absolute URL", f.rawURL)
	}
	if u.User != nil {
		return nil, usagef("--url: credentials in the URL are not supported")
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/batches"
		if f.target == targetRemoteWrite {
			u.Path = "/api/v1/write"
		}
	}
	switch {
	case f.target == targetLightmetrics && u.Scheme != "https":
		return nil, usagef("--url: Lightmetrics ingest is TLS only, want https://")
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, usagef("--url: scheme %q: want http or https", u.Scheme)
	}
	cfg.URL = u.String()
	if u.Scheme == "https" {
		if cfg.TLS, err = tlsutil.ClientConfig(f.caFile); err != nil {
			return nil, err
		}
		cfg.TLS.InsecureSkipVerify = f.insecure
	}

	switch {
	case f.tokensFile != "":
		creds, err := readTokens(f.tokensFile)
		if err != nil {
			return nil, err
		}
		if len(creds) < f.agents {
			return nil, usagef("--agents %d: %s has only %d [[tokens]] entries (one agent per token)", f.agents, f.tokensFile, len(creds))
		}
		cfg.Agents = creds[:f.agents]
	case f.target == targetLightmetrics && f.token == "":
		return nil, usagef("--target lightmetrics needs --tokens-file or --token")
	case f.target == targetLightmetrics:
		if f.agentID == "" {
			return nil, usagef("--token with --target lightmetrics needs --agent-id, the agent the token belongs to")
		}
		// One agent id for everyone: give each simulated agent its own
		// range of sequence numbers so no batch is taken for another's
		// duplicate.
		for i := range f.agents {
			cfg.Agents = append(cfg.Agents, agentCred{ID: f.agentID, Token: f.token, SeqBase: uint64(i) << 32})
		}
	default:
		for i := range f.agents {
			cfg.Agents = append(cfg.Agents, agentCred{ID: benchAgentID(i), Token: f.token})
		}
	}
	return cfg, nil
}

func benchAgentID(i int) string { return fmt.Sprintf("bench-%03d", i) }

// readTokens reads agent ids and tokens from an ingest token table, in file
// order. The tokens never leave this process except in Authorization
// headers.
func readTokens(path string) ([]agentCred, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokens file: %w", err)
	}
	var tf struct {
		Tokens []struct {
			AgentID string `toml:"agent_id"`
			Token   string `toml:"token"`
		} `toml:"tokens"`
	}
	if err := toml.Unmarshal(data, &tf); err != nil {
		// go-toml may quote the offending text, which could be a token.
		return nil, fmt.Errorf("tokens file %s: not a valid token table", path)
	}
	out := make([]agentCred, 0, len(tf.Tokens))
	for i, t := range tf.Tokens {
		if t.AgentID == "" || strings.TrimSpace(t.Token) == "" {
			return nil, fmt.Errorf("tokens file %s: tokens[%d] lacks agent_id or token", path, i)
		}
		out = append(out, agentCred{ID: t.AgentID, Token: strings.TrimSpace(t.Token)})
	}
	return out, nil
}
