package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// runLoad drives scripts/benchingest against the collector listening on
// ingestAddr with the mode's config set in dir, and returns its summary.
// benchingest records every request's ack latency in its histogram; the
// summary carries p50, p99 and the maximum.
func runLoad(ctx context.Context, o *options, m mode, ingestAddr, dir, serverPID string, stderr io.Writer) (*loadSummary, error) {
	jsonOut := filepath.Join(dir, "load.json")
	args := []string{
		"--target", "lightmetrics", "--url", "https://" + ingestAddr,
		"--ca-file", filepath.Join(dir, "ca.pem"), "--tokens-file", filepath.Join(dir, "ingest-tokens.toml"),
		"--agents", strconv.Itoa(o.agents), "--rate", strconv.FormatFloat(o.rate, 'g', -1, 64),
		"--duration", o.duration.String(), "--warmup", o.warmup.String(),
		"--series-per-batch", strconv.Itoa(o.seriesPerBatch), "--samples-per-series", strconv.Itoa(o.samplesPerSeries),
		"--label", m.Name, "--server-pid", serverPID, "--json-out", jsonOut,
	}
	// benchingest bounds its own run (duration + warm-up + one request
	// timeout); this is the backstop.
	ctx, cancel := context.WithTimeout(ctx, o.warmup+o.duration+2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.benchingestBin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, stderr
	runErr := cmd.Run()
	// benchingest prints its JSON line, then one for people.
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) > 0 && lines[len(lines)-1] != "" {
		fmt.Fprintf(stderr, "  %s\n", lines[len(lines)-1])
	}
	if runErr != nil {
		return nil, fmt.Errorf("load: benchingest: %w", runErr)
	}
	data, err := os.ReadFile(jsonOut)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	var s loadSummary
	if err := json.Unmarshal(bytes.TrimSpace(data), &s); err != nil {
		return nil, fmt.Errorf("load: %s: %w", jsonOut, err)
	}
	return &s, nil
}
