package hostmetrics

import (
	"flag"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the generated tables in docs/metrics.md")

const docsPath = "../../docs/metrics.md"

// reservedAgentScalars are the heartbeat names the agent adds itself
// (17 at most, so that 90 + 17 stays within the collector's floor of 107).
var reservedAgentScalars = []string{
	"agent_queue_batches", "agent_queue_bytes", "agent_dropped_batches_total", "agent_dropped_bytes_total",
	"agent_upload_errors_total", "agent_last_upload_timestamp_seconds", "agent_collection_duration_seconds",
	"agent_resident_memory_bytes", "agent_cpu_seconds_total", "agent_uptime_seconds", "agent_log_lines_total",
	"agent_log_truncated_total", "agent_moved_aside_batches_total", "agent_info",
	"agent_collection_errors_total", "agent_batches_queued_total",
}

func TestCatalogueRules(t *testing.T) {
	cat := catalogueByName(t) // fails on duplicates
	scalars := 0
	for name, d := range cat {
		if len(d.labels) == 0 {
			scalars++
		}
		if !metricNameRE.MatchString(name) || !strings.HasPrefix(name, "host_") {
			t.Errorf("%s: want a valid name starting with host_", name)
		}
		if d.kind != batch.KindCounter && d.kind != batch.KindGauge {
			t.Errorf("%s: kind %v", name, d.kind)
		}
		if (d.kind == batch.KindCounter) != strings.HasSuffix(name, "_total") {
			t.Errorf("%s: counters and only counters end in _total", name)
		}
		if d.unit == "bytes" && !strings.Contains(name, "_bytes") ||
			d.unit == "seconds" && !strings.Contains(name, "_seconds") {
			t.Errorf("%s: unit %s not in the name", name, d.unit)
		}
		if d.unit == "" || d.from == "" || d.help == "" {
			t.Errorf("%s: unit, source and help are all needed for the docs", name)
		}
		limit := 2
		if strings.HasPrefix(name, "host_process_") {
			limit = 3
		}
		if len(d.labels) > limit {
			t.Errorf("%s: %d labels, limit %d", name, len(d.labels), limit)
		}
		if !slices.IsSorted(d.labels) {
			t.Errorf("%s: labels %v not sorted; series labels must come out sorted", name, d.labels)
		}
		for _, l := range d.labels {
			// 14 bytes is the collector's floor for max_label_key_bytes.
			if !labelNameRE.MatchString(l) || strings.HasPrefix(l, "__") || len(l) > 14 {
				t.Errorf("%s: label name %q", name, l)
			}
		}
	}
	if scalars > MaxHeartbeatScalars {
		t.Errorf("%d heartbeat scalars catalogued, budget %d", scalars, MaxHeartbeatScalars)
	}
	if len(reservedAgentScalars) > 17 || MaxHeartbeatScalars+17 > 107 {
		t.Errorf("agent scalars %d + %d exceed the collector floor of 107", len(reservedAgentScalars), MaxHeartbeatScalars)
	}
	t.Logf("%d heartbeat scalars, %d labelled metrics", scalars, len(cat)-scalars)
}

// TestDocsListEveryMetric checks docs/metrics.md both ways: every metric the
// collector can emit is documented with its kind, and every host_ metric the
// document names exists.
func TestDocsListEveryMetric(t *testing.T) {
	if *updateDocs {
		writeDocs(t)
	}
	raw, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatalf("read docs: %v", err)
	}
	doc := string(raw)
	cat := catalogueByName(t)
	for name, d := range cat {
		row := "| `" + name + "` | " + d.kind.String() + " |"
		if !strings.Contains(doc, row) {
			t.Errorf("docs/metrics.md has no row starting %q", row)
		}
	}
	for _, name := range regexp.MustCompile("`(host_[a-z0-9_]+)`").FindAllStringSubmatch(doc, -1) {
		if cat[name[1]] == nil {
			t.Errorf("docs/metrics.md names %s, which the collector does not emit", name[1])
		}
	}
	for _, name := range reservedAgentScalars {
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("docs/metrics.md does not reserve %s", name)
		}
	}
	if !strings.Contains(doc, generatedTables()) {
		t.Errorf("generated tables in docs/metrics.md are stale: run go test ./pkg/hostmetrics -run TestDocsListEveryMetric -update-docs")
	}
}

const (
	beginMarker = "<!-- BEGIN GENERATED: go test ./pkg/hostmetrics -run TestDocsListEveryMetric -update-docs -->\n"
	endMarker   = "<!-- END GENERATED -->\n"
)

// generatedTables renders the catalogue as the Markdown tables of the doc,
// one heartbeat table and one series table, grouped by source.
func generatedTables() string {
	var hb, series strings.Builder
	head := "| Name | Type | Unit | Labels | Read from | Meaning |\n|---|---|---|---|---|---|\n"
	hb.WriteString("### Heartbeat values\n\n" + head)
	series.WriteString("### Labelled series\n\n" + head)
	for _, src := range (&Collector{}).all() {
		for _, d := range src.describe() {
			labels := "—"
			if len(d.labels) > 0 {
				labels = "`" + strings.Join(d.labels, "`, `") + "`"
			}
			row := "| `" + d.name + "` | " + d.kind.String() + " | " + d.unit + " | " + labels + " | " +
				strings.ReplaceAll(d.from, "|", "\\|") + " (" + src.name() + ".go) | " + d.help + " |\n"
			if len(d.labels) == 0 {
				hb.WriteString(row)
			} else {
				series.WriteString(row)
			}
		}
	}
	return beginMarker + hb.String() + "\n" + series.String() + endMarker
}

func writeDocs(t *testing.T) {
	t.Helper()
	raw, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatalf("read docs: %v", err)
	}
	doc := string(raw)
	i, j := strings.Index(doc, beginMarker), strings.Index(doc, endMarker)
	if i < 0 || j < i {
		t.Fatalf("docs/metrics.md lacks the generated-section markers")
	}
	doc = doc[:i] + generatedTables() + doc[j+len(endMarker):]
	if err := os.WriteFile(docsPath, []byte(doc), 0o644); err != nil {
		t.Fatalf("write docs: %v", err)
	}
}
