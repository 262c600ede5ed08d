package dashboards

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestBuiltins(t *testing.T) {
	got, err := Builtins()
	if err != nil {
		t.Fatalf("Builtins: %v", err)
	}
	var ids []string
	for _, d := range got {
		ids = append(ids, d.ID)
		if !d.Builtin || d.Override {
			t.Errorf("%s: Builtin %v Override %v, want true false", d.ID, d.Builtin, d.Override)
		}
		if len(d.Panels) == 0 {
			t.Errorf("%s: no panels", d.ID)
		}
	}
	want := []string{"fleet-overview", "host-detail", "processes", "agent-health", "logs"}
	if !reflect.DeepEqual(ids, want) {
		t.Errorf("built-in ids %v, want %v", ids, want)
	}
}

// TestBuiltinFilesListed keeps the embedded files and the listing order in
// step: a file added without an order entry would never be served.
func TestBuiltinFilesListed(t *testing.T) {
	entries, err := fs.ReadDir(builtinFS, "builtin")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		files = append(files, strings.TrimSuffix(e.Name(), ".toml"))
	}
	order := builtinOrder()
	sort.Strings(order)
	if !reflect.DeepEqual(files, order) {
		t.Errorf("embedded files %v, listed ids %v", files, order)
	}
}

// TestBuiltinsUseKnownVariables checks what the console relies on: host-detail
// and logs are parameterised by an agent variable.
func TestBuiltinsUseKnownVariables(t *testing.T) {
	got, err := Builtins()
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]Dashboard{}
	for _, d := range got {
		byID[d.ID] = d
	}
	for _, id := range []string{"host-detail", "logs"} {
		d := byID[id]
		if len(d.Variables) == 0 || d.Variables[0].Name != "agent" || d.Variables[0].Kind != VariableAgent {
			t.Errorf("%s: first variable %+v, want agent of kind agent", id, d.Variables)
		}
	}
	hasLogsPanel := false
	for _, p := range byID["logs"].Panels {
		hasLogsPanel = hasLogsPanel || p.Type == PanelLogs
	}
	if !hasLogsPanel {
		t.Error("logs dashboard has no logs panel")
	}
}

// writeDef writes a minimal valid definition with the given id and extra
// top-level lines.
func writeDef(t *testing.T, dir, name, id, extra string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	body := "id = \"" + id + "\"\ntitle = \"T " + id + "\"\n" + extra + `
[[panels]]
id = "load"
title = "Load"
type = "timeseries"
layout = { x = 0, y = 0, w = 12, h = 8 }
queries = [{ expr = "host_load1" }]
`
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	builtinIDs := []string{"fleet-overview", "host-detail", "processes", "agent-health", "logs"}
	tests := []struct {
		name string
		// setup writes files into dir and returns the Load arguments.
		setup   func(t *testing.T, dir string) (files, dirs []string)
		wantErr []string
		wantIDs []string
		check   func(t *testing.T, s *Set)
	}{
		{
			name:    "nothing configured",
			setup:   func(t *testing.T, dir string) ([]string, []string) { return nil, nil },
			wantIDs: builtinIDs,
		},
		{
			name: "files then sorted dir entries, skipping others",
			setup: func(t *testing.T, dir string) ([]string, []string) {
				d := filepath.Join(dir, "d")
				mustMkdir(t, filepath.Join(d, "sub.toml"))
				writeDef(t, d, "b.toml", "bee", "")
				writeDef(t, d, "a.toml", "ay", "")
				writeDef(t, d, ".hidden.toml", "hidden", "")
				writeDef(t, d, "notes.txt", "txt", "")
				writeDef(t, filepath.Join(d, "sub.toml"), "c.toml", "nested", "")
				f := writeDef(t, dir, "single.toml", "single", "")
				return []string{f}, []string{d}
			},
			wantIDs: append(append([]string{}, builtinIDs...), "single", "ay", "bee"),
			check: func(t *testing.T, s *Set) {
				d, ok := s.Get("ay")
				if !ok || d.Builtin || !strings.HasSuffix(d.Source, "a.toml") {
					t.Errorf("Get(ay) = %+v, %v", d, ok)
				}
			},
		},
		{
			name: "same file as file and in dir is read once",
			setup: func(t *testing.T, dir string) ([]string, []string) {
				f := writeDef(t, dir, "one.toml", "one", "")
				return []string{f}, []string{dir}
			},
			wantIDs: append(append([]string{}, builtinIDs...), "one"),
		},
		{
			name: "duplicate custom ids name both files",
			setup: func(t *testing.T, dir string) ([]string, []string) {
				writeDef(t, dir, "a.toml", "web", "")
				writeDef(t, dir, "b.toml", "web", "\n\n")
				return nil, []string{dir}
			},
			wantErr: []string{`b.toml:1: id: duplicate dashboard id "web": also defined in `, `a.toml:1`},
		},
		{
			name: "implicit built-in override refused",
			setup: func(t *testing.T, dir string) ([]string, []string) {
				return []string{writeDef(t, dir, "mine.toml", "host-detail", "")}, nil
			},
			wantErr: []string{`mine.toml:1: id: id "host-detail" is a built-in dashboard; set override = true`},
		},
		{
			name: "explicit built-in override replaces it in place",
			setup: func(t *testing.T, dir string) ([]string, []string) {
				return []string{writeDef(t, dir, "mine.toml", "host-detail", "override = true")}, nil
			},
			wantIDs: builtinIDs,
			check: func(t *testing.T, s *Set) {
				d, ok := s.Get("host-detail")
				if !ok || d.Builtin || d.Title != "T host-detail" {
					t.Errorf("Get(host-detail) = %q builtin %v, want the custom one", d.Title, d.Builtin)
				}
				if l := s.List()[1]; l.ID != "host-detail" || l.Builtin {
					t.Errorf("List()[1] = %+v", l)
				}
			},
		},
		{
			name: "override without a built-in to replace",
			setup: func(t *testing.T, dir string) ([]string, []string) {
				return []string{writeDef(t, dir, "mine.toml", "my-host", "override = true")}, nil
			},
			wantErr: []string{`mine.toml:3: override: override = true but there is no built-in dashboard "my-host"`},
		},
		{
			name: "missing dir and file are named",
			setup: func(t *testing.T, dir string) ([]string, []string) {
				return []string{filepath.Join(dir, "gone.toml")}, []string{filepath.Join(dir, "nodir")}
			},
			wantErr: []string{"gone.toml: read definition: does not exist", "nodir: read definition directory: does not exist"},
		},
		{
			name: "every problem is reported at once",
			setup: func(t *testing.T, dir string) ([]string, []string) {
				writeDef(t, dir, "a.toml", "web", "")
				writeDef(t, dir, "b.toml", "web", "")
				writeDef(t, dir, "c.toml", "logs", "")
				writeDef(t, dir, "d.toml", "broken", "colour = 1")
				return nil, []string{dir}
			},
			wantErr: []string{`b.toml:1: id: duplicate dashboard id "web"`, `c.toml:1: id: id "logs" is a built-in`, "d.toml:3: colour: unknown key"},
		},
		{
			name: "oversized file refused",
			setup: func(t *testing.T, dir string) ([]string, []string) {
				p := filepath.Join(dir, "big.toml")
				big := "# " + strings.Repeat("x", MaxFileBytes) + "\n"
				if err := os.WriteFile(p, []byte(big), 0o644); err != nil {
					t.Fatal(err)
				}
				return []string{p}, nil
			},
			wantErr: []string{"big.toml: definition larger than"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, dirs := tt.setup(t, t.TempDir())
			s, err := Load(files, dirs)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Load succeeded, want error containing %q", tt.wantErr)
				}
				for _, sub := range tt.wantErr {
					if !strings.Contains(err.Error(), sub) {
						t.Errorf("error\n%v\ndoes not contain %q", err, sub)
					}
				}
				var e *Error
				if !errors.As(err, &e) {
					t.Errorf("no *Error in %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var ids []string
			for _, sum := range s.List() {
				ids = append(ids, sum.ID)
			}
			if !reflect.DeepEqual(ids, tt.wantIDs) {
				t.Errorf("ids %v, want %v", ids, tt.wantIDs)
			}
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

func mustMkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestExampleConfigLoads(t *testing.T) {
	dir := filepath.Join("..", "..", "configs", "dashboards.d")
	s, err := Load(nil, []string{dir})
	if err != nil {
		t.Fatalf("Load(%s): %v", dir, err)
	}
	list := s.List()
	last := list[len(list)-1]
	if last.Builtin {
		t.Fatalf("no custom dashboard loaded from %s: %+v", dir, list)
	}
	d, _ := s.Get(last.ID)
	if !strings.HasSuffix(d.Source, "example.toml") {
		t.Errorf("custom dashboard came from %q, want example.toml", d.Source)
	}
}

func TestGetReturnsCopy(t *testing.T) {
	s, err := Load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := s.Get("host-detail")
	if !ok {
		t.Fatal("host-detail missing")
	}
	orig := d.Panels[0].Queries[0].Expr
	d.Panels[0].Queries[0].Expr = "changed"
	d.Variables[0].Name = "changed"
	d.Tags = append(d.Tags[:0], "changed")
	again, _ := s.Get("host-detail")
	if again.Panels[0].Queries[0].Expr != orig || again.Variables[0].Name != "agent" {
		t.Error("mutating a Get result changed the Set")
	}
	if _, ok := s.Get("no-such"); ok {
		t.Error("Get(no-such) found something")
	}
}
