package dashboards

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

// TestBuiltinsUseCataloguedMetrics keeps the shipped dashboards in step with
// docs/metrics.md, the catalogue of what agents send: a renamed metric must
// not leave a built-in panel silently empty.
func TestBuiltinsUseCataloguedMetrics(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatalf("read the metrics catalogue: %v", err)
	}
	catalogued := map[string]bool{}
	for _, m := range regexp.MustCompile("`((?:host|agent)_[a-z0-9_]+)`").FindAllSubmatch(doc, -1) {
		catalogued[string(m[1])] = true
	}
	builtins, err := Builtins()
	if err != nil {
		t.Fatal(err)
	}
	ex, err := os.ReadFile(filepath.Join("..", "..", "configs", "dashboards.d", "example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	example, err := Parse("example.toml", ex)
	if err != nil {
		t.Fatal(err)
	}
	used := map[string][]string{}
	for _, d := range append(builtins, example) {
		for name, where := range metricNames(t, d) {
			used[name] = append(used[name], where...)
		}
	}
	var missing []string
	for name, where := range used {
		if !catalogued[name] {
			missing = append(missing, name+" (used by "+where[0]+")")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("metric %s is not in docs/metrics.md", m)
	}
	if len(used) < 20 {
		t.Errorf("found only %d metric names; is extraction broken?", len(used))
	}
}

// metricNames returns the metric names a dashboard's expressions and
// label_values queries select, each with where it is used.
func metricNames(t *testing.T, d Dashboard) map[string][]string {
	t.Helper()
	p := parser.NewParser(parser.Options{})
	vars := builtinVariables()
	for i := range d.Variables {
		vars[d.Variables[i].Name] = sampleValue(&d.Variables[i])
	}
	value := func(n string) string { return vars[n] }
	out := map[string][]string{}
	add := func(where, expr string) {
		e, err := p.ParseExpr(substitute(expr, scanRefs(expr, false), value))
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok && vs.Name != "" {
				out[vs.Name] = append(out[vs.Name], where)
			}
			return nil
		})
	}
	for _, v := range d.Variables {
		if m := regexp.MustCompile(`^label_values\((.+),[^,]+\)$`).FindStringSubmatch(v.Query); m != nil {
			add(d.ID+" variable "+v.Name, m[1])
		}
	}
	for _, pn := range d.Panels {
		for _, q := range pn.Queries {
			add(d.ID+" panel "+pn.ID, q.Expr)
		}
	}
	return out
}
