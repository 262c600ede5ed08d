// Package demo is the lab box: it prepares a throw-away config set (dev CA,
// certificates, tokens, configs) and runs the collector and an agent daemon
// in one process, with a log file the demo itself appends to, so a first
// look at Lightmetrics needs one command.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/command"
	"github.com/lightmetrics/lightmetrics/pkg/config"
	"github.com/lightmetrics/lightmetrics/pkg/demoprep"
	"github.com/lightmetrics/lightmetrics/pkg/exitcode"
	"github.com/lightmetrics/lightmetrics/pkg/logging"
	"github.com/lightmetrics/lightmetrics/roles/agent"
	"github.com/lightmetrics/lightmetrics/roles/collector"
)

// Run prepares o.Dir and, unless o.PrepareOnly, runs both roles until ctx
// ends.
func Run(ctx context.Context, o command.DemoOptions, out io.Writer) error {
	res, err := demoprep.Prepare(demoprep.Options{Dir: o.Dir, IngestAddr: o.IngestAddr, QueryAddr: o.QueryAddr})
	if err != nil {
		return exitcode.Config(fmt.Errorf("prepare demo: %w", err))
	}
	renewed := ""
	if res.Renewed {
		renewed = " (certificates renewed)"
	}
	fmt.Fprintf(out, "demo config set in %s%s\n", res.Dir, renewed)
	fmt.Fprintf(out, "  collector config: %s\n  agent config:     %s\n  query token file: %s\n", res.ServerConfig, res.AgentConfig, res.QueryTokenFile)
	if o.PrepareOnly {
		fmt.Fprintf(out, "check it with: lightmetrics collector check-config %s && lightmetrics agent check %s\n", res.ServerConfig, res.AgentConfig)
		return nil
	}

	srvCfg, err := config.LoadServer(res.ServerConfig)
	if err != nil {
		return exitcode.Config(err)
	}
	agentCfg, err := config.LoadAgent(res.AgentConfig)
	if err != nil {
		return exitcode.Config(err)
	}
	log := logging.New(os.Stderr, "info", "text")

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	ready := make(chan net.Addr, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := collector.Serve(ctx, srvCfg, collector.Options{
			Logger: log.With("role", "collector"),
			Ready:  func(_, query net.Addr) { ready <- query },
		})
		if err != nil {
			errc <- fmt.Errorf("collector: %w", err)
		}
		cancel()
	}()
	var queryAddr net.Addr
	select {
	case queryAddr = <-ready:
	case err := <-errc:
		wg.Wait()
		return err
	case <-ctx.Done():
		wg.Wait()
		return nil
	}

	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := agent.RunDaemon(ctx, agentCfg, log.With("role", "agent")); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("agent: %w", err)
			cancel()
		}
	}()
	go func() {
		defer wg.Done()
		writeDemoLog(ctx, res.LogFile, log)
	}()

	fmt.Fprintf(out, "console: http://%s/  (sign in with the token in %s)\n", queryAddr, res.QueryTokenFile)
	fmt.Fprintf(out, "the agent tails %s, which the demo appends to; stop with Ctrl-C\n", res.LogFile)
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// writeDemoLog appends an application-looking line to path every second so
// the logs page has something live to show.
func writeDemoLog(ctx context.Context, path string, log *slog.Logger) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		log.Error("open demo log", "err", err)
		return
	}
	defer f.Close()
	paths := []string{"/", "/api/orders", "/api/users", "/healthz", "/static/app.js"}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			level, status := "INFO", 200
			switch r := rand.IntN(20); {
			case r == 0:
				level, status = "ERROR", 500
			case r < 3:
				level, status = "WARN", 404
			}
			line := fmt.Sprintf("%s %s request=%d method=GET path=%s status=%d duration_ms=%d\n",
				now.UTC().Format(time.RFC3339Nano), level, n, paths[rand.IntN(len(paths))], status, 2+rand.IntN(120))
			if _, err := f.WriteString(line); err != nil {
				log.Error("append demo log", "err", err)
				return
			}
		}
	}
}
