// Command lightmetrics is the one Lightmetrics executable. It runs the agent
// or the collector depending on the name it was started under (lm-agent,
// lm-collector) or on its first argument, and nothing else: every behaviour
// lives in roles/ and pkg/.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/lightmetrics/lightmetrics/pkg/command"
	"github.com/lightmetrics/lightmetrics/pkg/version"
	"github.com/lightmetrics/lightmetrics/roles/agent"
	"github.com/lightmetrics/lightmetrics/roles/collector"
	"github.com/lightmetrics/lightmetrics/roles/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := command.Run(ctx, os.Args, os.Stdout, os.Stderr, command.Roles{
		CollectorRun:   collector.Run,
		CollectorCheck: collector.Check,
		AgentCheck:     agent.Check,
		AgentOnce:      agent.Once,
		AgentDaemon:    agent.Daemon,
		AgentFlush:     agent.Flush,
		Demo:           demo.Run,
		Version:        version.String(),
	})
	stop()
	os.Exit(code)
}
