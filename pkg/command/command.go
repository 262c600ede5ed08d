// Package command is the lightmetrics command line: one urfave/cli
// application with the collector, agent, demo and version commands, and the
// multi-call spellings of the install guide (lm-collector, lm-agent) mapped
// onto the same actions. The roles are passed in as functions so this package
// never imports role internals.
package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/lightmetrics/lightmetrics/pkg/exitcode"
)

// DemoOptions are the flags of `lightmetrics demo`.
type DemoOptions struct {
	Dir         string
	PrepareOnly bool
	IngestAddr  string
	QueryAddr   string
}

// AgentCheckOptions are the flags of the agent's dry run.
type AgentCheckOptions struct {
	// CollectorConfig, when set, is a server.toml whose limits the agent's
	// must not exceed.
	CollectorConfig string
}

// Roles holds what each command runs. Every function gets the config path
// and writes user-facing output to out; errors marked with exitcode.Config
// end the process with exit code 2, others with 1.
type Roles struct {
	CollectorRun func(ctx context.Context, path string, out io.Writer) error
	// CollectorCheck's checkObjectStore (--check-object-store) also
	// contacts the [object_store] bucket; check-config stays local without it.
	CollectorCheck func(ctx context.Context, path string, checkObjectStore bool, out io.Writer) error
	AgentCheck     func(ctx context.Context, path string, o AgentCheckOptions, out io.Writer) error
	AgentOnce      func(ctx context.Context, path string, out io.Writer) error
	AgentDaemon    func(ctx context.Context, path string, out io.Writer) error
	AgentFlush     func(ctx context.Context, path string, out io.Writer) error
	Demo           func(ctx context.Context, o DemoOptions, out io.Writer) error
	Version        string
}

// Run executes the command line args (args[0] is the program name) and
// returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, r Roles) int {
	if len(args) == 0 {
		args = []string{"lightmetrics"}
	}
	var app *cli.App
	switch filepath.Base(args[0]) {
	case "lm-collector":
		app = collectorAlias(r)
	case "lm-agent":
		app = agentAlias(r)
	default:
		app = mainApp(r)
	}
	app.Writer = stdout
	app.ErrWriter = stderr
	// The exit code is ours to decide; urfave must not call os.Exit.
	app.ExitErrHandler = func(*cli.Context, error) {}
	err := app.RunContext(ctx, args)
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "%s: %v\n", filepath.Base(args[0]), err)
	}
	return exitcode.Of(err)
}

// usageError reports bad command-line use (exit 2).
func usageError(format string, a ...any) error {
	return exitcode.Config(fmt.Errorf(format, a...))
}

func onUsageError(_ *cli.Context, err error, _ bool) error {
	return exitcode.Config(err)
}

// oneFile returns the single positional FILE argument.
func oneFile(c *cli.Context) (string, error) {
	switch c.NArg() {
	case 1:
		return c.Args().First(), nil
	case 0:
		return "", usageError("missing config FILE (see --help)")
	default:
		return "", usageError("expected one config FILE, got %d arguments: %s", c.NArg(), strings.Join(c.Args().Slice(), " "))
	}
}

func fileAction(fn func(ctx context.Context, path string, out io.Writer) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		path, err := oneFile(c)
		if err != nil {
			return err
		}
		if fn == nil {
			return fmt.Errorf("%s is not available in this build", c.Command.FullName())
		}
		return fn(c.Context, path, c.App.Writer)
	}
}

func agentCheckAction(r Roles) cli.ActionFunc {
	return func(c *cli.Context) error {
		path, err := oneFile(c)
		if err != nil {
			return err
		}
		return r.AgentCheck(c.Context, path, AgentCheckOptions{CollectorConfig: c.String("collector-config")}, c.App.Writer)
	}
}

func collectorCheckAction(r Roles) cli.ActionFunc {
	return func(c *cli.Context) error {
		path, err := oneFile(c)
		if err != nil {
			return err
		}
		return r.CollectorCheck(c.Context, path, c.Bool("check-object-store"), c.App.Writer)
	}
}

var checkObjectStoreFlag = &cli.BoolFlag{
	Name:  "check-object-store",
	Usage: "also write, read and delete a probe object in the [object_store] bucket",
}

var collectorConfigFlag = &cli.StringFlag{
	Name:  "collector-config",
	Usage: "also check that the agent's limits fit the collector's server.toml `FILE`",
}

func commandNotFound(c *cli.Context, name string) {
	fmt.Fprintf(c.App.ErrWriter, "%s: unknown command %q (see --help)\n", c.App.Name, name)
}

func mainApp(r Roles) *cli.App {
	app := &cli.App{
		Name:                 "lightmetrics",
		Usage:                "lightweight self-hosted host monitoring: agent and collector in one binary",
		Version:              r.Version,
		HideHelpCommand:      true,
		EnableBashCompletion: false,
		OnUsageError:         onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError("unknown command %q (see --help)", c.Args().First())
			}
			return usageError("a command is required: collector, agent, demo or version (see --help)")
		},
		Commands: []*cli.Command{
			{
				Name:            "collector",
				Usage:           "run or check the collector (ingest, query API, live stream, console)",
				HideHelpCommand: true,
				OnUsageError:    onUsageError,
				Action: func(c *cli.Context) error {
					return usageError("collector needs a subcommand: run or check-config (see --help)")
				},
				Subcommands: []*cli.Command{
					{
						Name:         "run",
						Usage:        "run every configured listener in the foreground until SIGINT/SIGTERM",
						ArgsUsage:    "FILE",
						OnUsageError: onUsageError,
						Action:       fileAction(r.CollectorRun),
					},
					{
						Name:         "check-config",
						Usage:        "validate server.toml and every file it names, without listening",
						ArgsUsage:    "FILE",
						Flags:        []cli.Flag{checkObjectStoreFlag},
						OnUsageError: onUsageError,
						Action:       collectorCheckAction(r),
					},
				},
			},
			{
				Name:            "agent",
				Usage:           "collect host metrics and logs and ship them to a collector",
				HideHelpCommand: true,
				OnUsageError:    onUsageError,
				Action: func(c *cli.Context) error {
					return usageError("agent needs a subcommand: check, once, daemon or flush (see --help)")
				},
				Subcommands: []*cli.Command{
					{
						Name:         "check",
						Usage:        "dry run: parse the config, collect once and encode a batch; no queue, no network",
						ArgsUsage:    "FILE",
						Flags:        []cli.Flag{collectorConfigFlag},
						OnUsageError: onUsageError,
						Action:       agentCheckAction(r),
					},
					{
						Name:         "once",
						Usage:        "one collect + queue + upload cycle, then exit",
						ArgsUsage:    "FILE",
						OnUsageError: onUsageError,
						Action:       fileAction(r.AgentOnce),
					},
					{
						Name:         "daemon",
						Usage:        "repeat collect + upload cycles in the foreground until SIGINT/SIGTERM",
						ArgsUsage:    "FILE",
						OnUsageError: onUsageError,
						Action:       fileAction(r.AgentDaemon),
					},
					{
						Name:         "flush",
						Usage:        "upload already-queued batches only; collect nothing",
						ArgsUsage:    "FILE",
						OnUsageError: onUsageError,
						Action:       fileAction(r.AgentFlush),
					},
				},
			},
			{
				Name:         "demo",
				Usage:        "lab demo: dev certificates, tokens and configs in a directory, then collector and agent in one process",
				OnUsageError: onUsageError,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "dir", Value: "/tmp/lightmetrics-demo", Usage: "directory for the demo's configs, certificates, tokens and state"},
					&cli.BoolFlag{Name: "prepare-only", Usage: "write the config set and exit without running anything"},
					&cli.StringFlag{Name: "ingest-addr", Value: "127.0.0.1:8443", Usage: "ingest listener `HOST:PORT`"},
					&cli.StringFlag{Name: "query-addr", Value: "127.0.0.1:9099", Usage: "private query/console listener `HOST:PORT`"},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return usageError("demo takes no arguments, got %q", c.Args().First())
					}
					return r.Demo(c.Context, DemoOptions{
						Dir:         c.String("dir"),
						PrepareOnly: c.Bool("prepare-only"),
						IngestAddr:  c.String("ingest-addr"),
						QueryAddr:   c.String("query-addr"),
					}, c.App.Writer)
				},
			},
			{
				Name:  "version",
				Usage: "print the version",
				Action: func(c *cli.Context) error {
					fmt.Fprintf(c.App.Writer, "lightmetrics %s\n", r.Version)
					return nil
				},
			},
		},
		CommandNotFound: commandNotFound,
	}
	return app
}

// collectorAlias is the install guide's spelling: lm-collector [--check-config] FILE.
func collectorAlias(r Roles) *cli.App {
	return &cli.App{
		Name:            "lm-collector",
		Usage:           "the lightmetrics collector (same as `lightmetrics collector run|check-config`)",
		UsageText:       "lm-collector [--check-config [--check-object-store]] FILE",
		Version:         r.Version,
		HideHelpCommand: true,
		OnUsageError:    onUsageError,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "check-config", Usage: "validate FILE and what it names, without listening"},
			checkObjectStoreFlag,
		},
		Action: func(c *cli.Context) error {
			if c.Bool("check-config") {
				return collectorCheckAction(r)(c)
			}
			if c.Bool("check-object-store") {
				return usageError("--check-object-store goes with --check-config")
			}
			return fileAction(r.CollectorRun)(c)
		},
	}
}

// agentAlias is the install guide's spelling: lm-agent [--once|--daemon|--flush] FILE.
func agentAlias(r Roles) *cli.App {
	return &cli.App{
		Name:            "lm-agent",
		Usage:           "the lightmetrics agent (same as `lightmetrics agent check|once|daemon|flush`)",
		UsageText:       "lm-agent [--once | --daemon | --flush] [--collector-config FILE] FILE",
		Version:         r.Version,
		HideHelpCommand: true,
		OnUsageError:    onUsageError,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "once", Usage: "one collect + queue + upload cycle"},
			&cli.BoolFlag{Name: "daemon", Usage: "repeated cycles in the foreground until SIGINT/SIGTERM"},
			&cli.BoolFlag{Name: "flush", Usage: "upload already-queued batches only"},
			collectorConfigFlag,
		},
		Action: func(c *cli.Context) error {
			var modes []string
			for _, m := range []string{"once", "daemon", "flush"} {
				if c.Bool(m) {
					modes = append(modes, "--"+m)
				}
			}
			if len(modes) > 1 {
				return usageError("choose one of --once, --daemon, --flush (got %s)", strings.Join(modes, " "))
			}
			if len(modes) == 1 && c.IsSet("collector-config") {
				return usageError("--collector-config only applies to the dry run")
			}
			switch {
			case c.Bool("once"):
				return fileAction(r.AgentOnce)(c)
			case c.Bool("daemon"):
				return fileAction(r.AgentDaemon)(c)
			case c.Bool("flush"):
				return fileAction(r.AgentFlush)(c)
			default:
				return agentCheckAction(r)(c)
			}
		},
	}
}
