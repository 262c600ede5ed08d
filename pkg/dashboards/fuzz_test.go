package dashboards

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary documents to Parse. Seeds live in
// testdata/fuzz/FuzzParse (the built-ins, the good and the bad fixtures).
// Properties: no panic; an error names the file on every line and is made of
// *Error values carrying it; a success satisfies the validated invariants.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`id = "x"`))
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz.toml"
		d, err := Parse(name, data)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, name+":") {
					t.Fatalf("error line %q does not start with %s", line, name)
				}
			}
			var joined interface{ Unwrap() []error }
			if !errors.As(err, &joined) {
				t.Fatalf("error is not joined: %T", err)
			}
			for _, e := range joined.Unwrap() {
				var de *Error
				if !errors.As(e, &de) || de.File != name {
					t.Fatalf("error %q is not a *Error naming %s", e, name)
				}
			}
			return
		}
		if !slugRE.MatchString(d.ID) || len(d.Panels) == 0 || d.Source != name {
			t.Fatalf("accepted an invalid dashboard: %+v", d)
		}
		ids := map[string]bool{}
		for _, p := range d.Panels {
			if ids[p.ID] {
				t.Fatalf("accepted duplicate panel id %q", p.ID)
			}
			ids[p.ID] = true
			if p.Layout.W < 1 || p.Layout.H < 1 || p.Layout.X < 0 || p.Layout.X+p.Layout.W > GridColumns {
				t.Fatalf("accepted layout %+v", p.Layout)
			}
			if (p.Type == PanelLogs) != (p.Logs != nil) || (p.Type == PanelLogs) == (len(p.Queries) > 0) {
				t.Fatalf("accepted panel %q of type %q with logs %v and %d queries", p.ID, p.Type, p.Logs != nil, len(p.Queries))
			}
		}
	})
}

// TestFuzzSeeds keeps the FuzzParse seed corpus equal to the fixtures it is
// made from; run go test -update after changing a fixture or a built-in.
func TestFuzzSeeds(t *testing.T) {
	seeds := map[string][]byte{}
	builtins, err := fs.Glob(builtinFS, "builtin/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range builtins {
		data, err := builtinFS.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		seeds["builtin-"+path.Base(p)] = data
	}
	for _, kind := range []string{"good", "bad"} {
		files, err := filepath.Glob(filepath.Join("testdata", kind, "*.toml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range files {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			seeds[kind+"-"+filepath.Base(p)] = data
		}
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzParse")
	if *update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range seeds {
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		p := filepath.Join(dir, name)
		if *update {
			if err := os.WriteFile(p, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != want {
			t.Errorf("seed %s is missing or stale (run go test -run TestFuzzSeeds -update)", p)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(seeds) {
		t.Errorf("%s holds %d files, want %d", dir, len(entries), len(seeds))
	}
}
