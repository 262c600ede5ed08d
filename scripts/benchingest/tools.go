package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/tokens"

	"github.com/lightmetrics/lightmetrics/scripts/benchutil"
)

// cmdTokens writes an ingest token table with one fresh random token per
// simulated agent (bench-000, bench-001, …), mode 0600, without printing
// any token.
func cmdTokens(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchingest tokens", flag.ContinueOnError)
	fs.SetOutput(stderr)
	agents := fs.Int("agents", 100, "number of agents")
	out := fs.String("out", "", "token table to write (replaced)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" || *agents < 1 || fs.NArg() > 0 {
		return usagef("usage: benchingest tokens --agents N --out FILE")
	}
	var b strings.Builder
	b.WriteString("# Written by benchingest tokens: one entry per simulated agent.\n")
	buf := make([]byte, 16)
	for i := range *agents {
		if _, err := rand.Read(buf); err != nil {
			return fmt.Errorf("tokens: %w", err)
		}
		fmt.Fprintf(&b, "\n[[tokens]]\nagent_id = '%s'\ntoken = '%s'\n", benchAgentID(i), hex.EncodeToString(buf))
	}
	// Written beside the target and renamed, so a collector never reads a
	// half-written table.
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".tokens-*")
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("tokens: %w", err)
	}
	if _, err := io.WriteString(tmp, b.String()); err != nil {
		tmp.Close()
		return fmt.Errorf("tokens: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %d agent tokens to %s\n", *agents, *out)
	return nil
}

// cmdFreeport prints n distinct TCP ports free on 127.0.0.1 right now. All
// are held open together while choosing, so they differ from each other.
func cmdFreeport(args []string, stdout io.Writer) error {
	n := 1
	if len(args) > 1 {
		return usagef("usage: benchingest freeport [N]")
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
	fs := flag.NewFlagSet("benchingest wait", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rawURL := fs.String("url", "", "URL that answers 200 once the server is ready")
	caFile := fs.String("ca-file", "", "PEM CA for https")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *rawURL == "" || fs.NArg() > 0 {
		return usagef("usage: benchingest wait --url URL [--ca-file FILE] [--timeout 30s]")
	}
	return benchutil.WaitOK(ctx, *rawURL, *caFile, *timeout)
}

// cmdReport prints the side-by-side table of the JSON summaries in the
// files named (or stdin).
func cmdReport(args []string, stdout io.Writer) error {
	var runs []summary
	if len(args) == 0 {
		args = []string{"-"}
	}
	for _, name := range args {
		var r io.Reader = os.Stdin
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				return fmt.Errorf("report: %w", err)
			}
			defer f.Close()
			r = f
		}
		s, err := readSummaries(r)
		if err != nil {
			return err
		}
		runs = append(runs, s...)
	}
	if len(runs) == 0 {
		return fmt.Errorf("report: no summaries found")
	}
	return writeTable(stdout, runs)
}

// cmdCatchup waits until a Lightmetrics collector's query side holds every
// sample the last run in a results file had acknowledged, and records how
// long that took in that run's summary. The collector acknowledges once a
// batch is durable and indexes it afterwards, so its throughput only counts
// if the index keeps up; this is the check.
func cmdCatchup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchingest catchup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rawURL := fs.String("url", "", "the collector's private listener, e.g. http://127.0.0.1:9099")
	tokenFile := fs.String("query-token-file", "", "file holding the query token")
	results := fs.String("results", "", "JSON summaries file; the last run's samples_acked_total is the target, and gets index_catchup_s")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *rawURL == "" || *tokenFile == "" || *results == "" || fs.NArg() > 0 {
		return usagef("usage: benchingest catchup --url URL --query-token-file FILE --results FILE [--timeout 2m]")
	}
	tok, err := tokens.LoadSecret(*tokenFile)
	if err != nil {
		return fmt.Errorf("catchup: %w", err)
	}
	data, err := os.ReadFile(*results)
	if err != nil {
		return fmt.Errorf("catchup: %w", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	var last summary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		return fmt.Errorf("catchup: last line of %s: %w", *results, err)
	}

	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	var have uint64
	for {
		have, err = indexedSamples(ctx, client, strings.TrimRight(*rawURL, "/")+"/api/v1/agents", tok.Value())
		if err == nil && have >= last.SamplesAckedTotal {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("catchup: after %s the query store holds %d of %d acknowledged samples (last error: %v)",
				*timeout, have, last.SamplesAckedTotal, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	took := time.Since(start).Seconds()
	last.IndexCatchupS = &took
	line, err := json.Marshal(last)
	if err != nil {
		return fmt.Errorf("catchup: %w", err)
	}
	lines[len(lines)-1] = string(line)
	if err := os.WriteFile(*results, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return fmt.Errorf("catchup: %w", err)
	}
	fmt.Fprintf(stdout, "  queryable: all %d acknowledged samples in the query store %.1f s after the load ended\n", have, took)
	return nil
}

// indexedSamples sums the samples /api/v1/agents reports for every agent.
func indexedSamples(ctx context.Context, client *http.Client, agentsURL, token string) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, agentsURL, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", agentsURL, resp.Status)
	}
	var body struct {
		Data struct {
			Agents []struct {
				Samples uint64 `json:"samples"`
			} `json:"agents"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&body); err != nil {
		return 0, fmt.Errorf("%s: %w", agentsURL, err)
	}
	var n uint64
	for _, a := range body.Data.Agents {
		n += a.Samples
	}
	return n, nil
}
