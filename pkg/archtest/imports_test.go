package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/lightmetrics/lightmetrics"

// TestImportRules keeps the package picture of DESIGN.md and STYLE.md true:
// data flows one way, packages never reach up into roles, roles never reach
// into each other, and the pure layers stay pure.
func TestImportRules(t *testing.T) {
	cmd := exec.Command("go", "list", "-json=ImportPath,Deps", "./...")
	cmd.Dir = "../.." // the module root
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	dec := json.NewDecoder(out)
	for {
		var p struct {
			ImportPath string
			Deps       []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list: %v", err)
		}
		deps[p.ImportPath] = p.Deps
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	if len(deps) < 5 {
		t.Fatalf("go list found only %d packages", len(deps))
	}

	ours := func(p string) (string, bool) {
		if !strings.HasPrefix(p, module+"/") {
			return "", false
		}
		return strings.TrimPrefix(p, module+"/"), true
	}
	// pure lists the packages that may import nothing of ours but these.
	pure := map[string][]string{
		"pkg/batch":  {},
		"pkg/codec":  {"pkg/batch"},
		"pkg/limits": {"pkg/batch"},
		"pkg/queue":  {},
	}
	checked := 0
	for pkg, ds := range deps {
		rel, ok := ours(pkg)
		if !ok {
			continue
		}
		checked++
		for _, d := range ds {
			drel, ok := ours(d)
			if !ok {
				continue
			}
			switch {
			case strings.HasPrefix(rel, "pkg/") && strings.HasPrefix(drel, "roles/"):
				t.Errorf("%s imports role %s: packages never import roles", rel, drel)
			case rel != "roles/demo" && strings.HasPrefix(rel, "roles/") && strings.HasPrefix(drel, "roles/") && !strings.HasPrefix(drel, rel):
				// The demo is the lab box that runs both roles in one process;
				// the two real roles never reach into each other.
				t.Errorf("%s imports %s: roles never import each other", rel, drel)
			case strings.HasPrefix(drel, "console") && !strings.HasPrefix(rel, "roles/") && rel != "console":
				t.Errorf("%s imports the console: only roles serve it", rel)
			}
			if allowed, isPure := pure[rel]; isPure {
				ok := false
				for _, a := range allowed {
					if drel == a {
						ok = true
					}
				}
				if !ok {
					t.Errorf("%s must import nothing of ours but %v, yet imports %s", rel, allowed, drel)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no packages of this module were checked")
	}
}
