package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addSeeds feeds every TOML fixture of dir (and the shipped sample) to f.
func addSeeds(f *testing.F, dir, sample string) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.toml"))
	files = append(files, sample)
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// checkFuzzError asserts the promise every config error keeps, whatever the
// input: *Error values naming the file, one per message line.
func checkFuzzError(t *testing.T, err error, name string) {
	t.Helper()
	parts := joined(err)
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(parts) {
		t.Fatalf("%d errors printed on %d lines: %q", len(parts), len(lines), err)
	}
	for _, e := range parts {
		var ce *Error
		if !errors.As(e, &ce) || ce.File != name {
			t.Fatalf("error %q (%T) does not carry the file name %q", e, e, name)
		}
		if ce.Line < 0 {
			t.Fatalf("negative line in %q", e)
		}
		if !strings.HasPrefix(e.Error(), name+":") {
			t.Fatalf("error %q does not start with %q", e, name)
		}
	}
}

func FuzzParseServer(f *testing.F) {
	addSeeds(f, "testdata/server", "../../configs/server.toml")
	const name = "fuzz/server.toml"
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseServer(name, bytes.NewReader(data))
		if err != nil {
			if s != nil {
				t.Fatal("a config returned with an error")
			}
			checkFuzzError(t, err, name)
			return
		}
		if s.Path != name {
			t.Fatalf("Path = %q", s.Path)
		}
		// What loads must stay valid: validation is a pure function of it.
		if err := s.Validate(); err != nil {
			t.Fatalf("loaded config fails Validate: %v", err)
		}
		if err := s.Limits().CheckFloors(); err != nil {
			t.Fatalf("loaded config below the floors: %v", err)
		}
	})
}

func FuzzParseAgent(f *testing.F) {
	addSeeds(f, "testdata/agent", "../../configs/agent.toml")
	const name = "fuzz/agent.toml"
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseAgent(name, bytes.NewReader(data))
		if err != nil {
			if a != nil {
				t.Fatal("a config returned with an error")
			}
			checkFuzzError(t, err, name)
			return
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("loaded config fails Validate: %v", err)
		}
		if a.AgentID == "" || len(a.Endpoints) == 0 {
			t.Fatal("loaded an agent without id or endpoints")
		}
	})
}
