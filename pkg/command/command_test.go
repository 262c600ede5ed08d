package command

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/lightmetrics/lightmetrics/pkg/exitcode"
)

// recorder builds Roles whose functions record what they were called with.
type recorder struct {
	called string
	path   string
	check  AgentCheckOptions
	demo   DemoOptions
	err    error
	probe  bool
}

func (r *recorder) roles() Roles {
	file := func(name string) func(context.Context, string, io.Writer) error {
		return func(_ context.Context, path string, out io.Writer) error {
			r.called, r.path = name, path
			return r.err
		}
	}
	return Roles{
		CollectorRun: file("collector run"),
		CollectorCheck: func(_ context.Context, path string, probe bool, _ io.Writer) error {
			r.called, r.path, r.probe = "collector check-config", path, probe
			return r.err
		},
		AgentCheck: func(_ context.Context, path string, o AgentCheckOptions, _ io.Writer) error {
			r.called, r.path, r.check = "agent check", path, o
			return r.err
		},
		AgentOnce:   file("agent once"),
		AgentDaemon: file("agent daemon"),
		AgentFlush:  file("agent flush"),
		Demo: func(_ context.Context, o DemoOptions, _ io.Writer) error {
			r.called, r.demo = "demo", o
			return r.err
		},
		Version: "1.2.3-test",
	}
}

func TestSpellingsShareOneAction(t *testing.T) {
	tests := []struct {
		args       []string
		wantCalled string
		wantPath   string
	}{
		{[]string{"lm-collector", "/etc/s.toml"}, "collector run", "/etc/s.toml"},
		{[]string{"/usr/local/bin/lm-collector", "/etc/s.toml"}, "collector run", "/etc/s.toml"},
		{[]string{"lightmetrics", "collector", "run", "/etc/s.toml"}, "collector run", "/etc/s.toml"},
		{[]string{"lm-collector", "--check-config", "/etc/s.toml"}, "collector check-config", "/etc/s.toml"},
		{[]string{"lightmetrics", "collector", "check-config", "/etc/s.toml"}, "collector check-config", "/etc/s.toml"},
		{[]string{"lm-agent", "/etc/a.toml"}, "agent check", "/etc/a.toml"},
		{[]string{"lightmetrics", "agent", "check", "/etc/a.toml"}, "agent check", "/etc/a.toml"},
		{[]string{"lm-agent", "--once", "/etc/a.toml"}, "agent once", "/etc/a.toml"},
		{[]string{"lightmetrics", "agent", "once", "/etc/a.toml"}, "agent once", "/etc/a.toml"},
		{[]string{"lm-agent", "--daemon", "/etc/a.toml"}, "agent daemon", "/etc/a.toml"},
		{[]string{"lightmetrics", "agent", "daemon", "/etc/a.toml"}, "agent daemon", "/etc/a.toml"},
		{[]string{"lm-agent", "--flush", "/etc/a.toml"}, "agent flush", "/etc/a.toml"},
		{[]string{"lightmetrics", "agent", "flush", "/etc/a.toml"}, "agent flush", "/etc/a.toml"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var rec recorder
			var out, errOut bytes.Buffer
			code := Run(context.Background(), tt.args, &out, &errOut, rec.roles())
			if code != exitcode.OK {
				t.Fatalf("exit %d, stderr %q", code, errOut.String())
			}
			if rec.called != tt.wantCalled || rec.path != tt.wantPath {
				t.Fatalf("called %q with %q, want %q with %q", rec.called, rec.path, tt.wantCalled, tt.wantPath)
			}
		})
	}
}

func TestAgentCheckCollectorConfig(t *testing.T) {
	for _, args := range [][]string{
		{"lm-agent", "--collector-config", "/etc/s.toml", "/etc/a.toml"},
		{"lightmetrics", "agent", "check", "--collector-config", "/etc/s.toml", "/etc/a.toml"},
	} {
		var rec recorder
		if code := Run(context.Background(), args, io.Discard, io.Discard, rec.roles()); code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		if rec.check.CollectorConfig != "/etc/s.toml" || rec.path != "/etc/a.toml" {
			t.Fatalf("%v: got %+v path %q", args, rec.check, rec.path)
		}
	}
}

func TestCheckObjectStoreFlag(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		probe bool
	}{
		{[]string{"lm-collector", "--check-config", "--check-object-store", "/etc/s.toml"}, true},
		{[]string{"lightmetrics", "collector", "check-config", "--check-object-store", "/etc/s.toml"}, true},
		{[]string{"lightmetrics", "collector", "check-config", "/etc/s.toml"}, false},
	} {
		var rec recorder
		if code := Run(context.Background(), tc.args, io.Discard, io.Discard, rec.roles()); code != 0 {
			t.Fatalf("%v: exit %d", tc.args, code)
		}
		if rec.called != "collector check-config" || rec.probe != tc.probe {
			t.Fatalf("%v: called %q probe=%v, want probe=%v", tc.args, rec.called, rec.probe, tc.probe)
		}
	}
	var rec recorder
	var errOut bytes.Buffer
	if code := Run(context.Background(), []string{"lm-collector", "--check-object-store", "/etc/s.toml"}, io.Discard, &errOut, rec.roles()); code != exitcode.Usage || rec.called != "" {
		t.Fatalf("--check-object-store without --check-config: exit %d, called %q", code, rec.called)
	}
}

func TestDemoFlags(t *testing.T) {
	var rec recorder
	args := []string{"lightmetrics", "demo", "--dir", "/tmp/d", "--prepare-only", "--ingest-addr", "127.0.0.1:1", "--query-addr", "127.0.0.1:2"}
	if code := Run(context.Background(), args, io.Discard, io.Discard, rec.roles()); code != 0 {
		t.Fatalf("exit %d", code)
	}
	want := DemoOptions{Dir: "/tmp/d", PrepareOnly: true, IngestAddr: "127.0.0.1:1", QueryAddr: "127.0.0.1:2"}
	if rec.demo != want {
		t.Fatalf("demo options %+v, want %+v", rec.demo, want)
	}
	rec = recorder{}
	if code := Run(context.Background(), []string{"lightmetrics", "demo"}, io.Discard, io.Discard, rec.roles()); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if rec.demo.Dir != "/tmp/lightmetrics-demo" || rec.demo.PrepareOnly {
		t.Fatalf("defaults: %+v", rec.demo)
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		roleErr error
		want    int
		wantErr string
	}{
		{"no command", []string{"lightmetrics"}, nil, 2, "a command is required"},
		{"unknown command", []string{"lightmetrics", "frobnicate"}, nil, 2, "unknown command"},
		{"missing file", []string{"lightmetrics", "collector", "run"}, nil, 2, "missing config FILE"},
		{"two files", []string{"lm-agent", "a.toml", "b.toml"}, nil, 2, "expected one config FILE"},
		{"two modes", []string{"lm-agent", "--once", "--flush", "a.toml"}, nil, 2, "choose one of"},
		{"unknown flag", []string{"lm-collector", "--bogus", "s.toml"}, nil, 2, "bogus"},
		{"collector without sub", []string{"lightmetrics", "collector"}, nil, 2, "needs a subcommand"},
		{"config error", []string{"lm-collector", "--check-config", "s.toml"}, exitcode.Config(errors.New("s.toml:3: ingest.x: unknown key")), 2, "s.toml:3"},
		{"runtime error", []string{"lm-agent", "--once", "a.toml"}, errors.New("upload failed"), 1, "upload failed"},
		{"ctrl-c is clean", []string{"lm-agent", "--daemon", "a.toml"}, context.Canceled, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := recorder{err: tt.roleErr}
			var errOut bytes.Buffer
			code := Run(context.Background(), tt.args, io.Discard, &errOut, rec.roles())
			if code != tt.want {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.want, errOut.String())
			}
			if tt.wantErr != "" && !strings.Contains(errOut.String(), tt.wantErr) {
				t.Fatalf("stderr %q does not mention %q", errOut.String(), tt.wantErr)
			}
			if tt.wantErr == "" && errOut.Len() != 0 {
				t.Fatalf("unexpected stderr %q", errOut.String())
			}
		})
	}
}

func TestHelpEverywhere(t *testing.T) {
	for _, args := range [][]string{
		{"lightmetrics", "--help"},
		{"lightmetrics", "collector", "--help"},
		{"lightmetrics", "collector", "run", "--help"},
		{"lightmetrics", "collector", "check-config", "--help"},
		{"lightmetrics", "agent", "--help"},
		{"lightmetrics", "agent", "check", "--help"},
		{"lightmetrics", "agent", "once", "--help"},
		{"lightmetrics", "agent", "daemon", "--help"},
		{"lightmetrics", "agent", "flush", "--help"},
		{"lightmetrics", "demo", "--help"},
		{"lm-collector", "--help"},
		{"lm-agent", "--help"},
	} {
		var rec recorder
		var out bytes.Buffer
		code := Run(context.Background(), args, &out, io.Discard, rec.roles())
		if code != 0 || !strings.Contains(strings.ToUpper(out.String()), "USAGE") {
			t.Fatalf("%v: exit %d, output %q", args, code, out.String())
		}
		if rec.called != "" {
			t.Fatalf("%v: help must not run %s", args, rec.called)
		}
	}
}

func TestVersion(t *testing.T) {
	var rec recorder
	var out bytes.Buffer
	if code := Run(context.Background(), []string{"lightmetrics", "version"}, &out, io.Discard, rec.roles()); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got := out.String(); got != "lightmetrics 1.2.3-test\n" {
		t.Fatalf("version output %q", got)
	}
}
