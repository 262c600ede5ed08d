package logtail

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/limits"
)

// Whatever the files hold, the records must pass the strictest collector a
// valid config allows (all limits at their floors) and the codec, which
// refuses strings that are not UTF-8: one bad line must never make a batch
// unsendable.
func TestRecordsAcceptedByStrictestCollector(t *testing.T) {
	const maxLine = 40
	deep := filepath.Join(t.TempDir(), strings.Repeat("d", 50), strings.Repeat("\u00e9", 20)+"-application.log")
	if err := mkdirAll(filepath.Dir(deep)); err != nil {
		t.Fatal(err)
	}
	writeFile(t, deep, strings.Join([]string{
		"ERROR plain",
		"latin-1 caf\xe9 au lait",
		"\xff\xfe\xfd" + strings.Repeat("\xff\x41", 30), // replacements grow it past the limit
		strings.Repeat("\u20ac", 30),                    // cut on a rune boundary
		"bad tail \xe2\x82",
	}, "\n")+"\n"+strings.Repeat("\xc3", 100)) // an unfinished invalid line, emitted truncated
	h := newHarness(t, []Input{{Source: "s", Paths: []string{deep}, FromStart: true, Attrs: map[string]string{"team": "ops"}}},
		Options{MaxLineBytes: maxLine, Hostname: strings.Repeat("h", 100)})
	recs := h.poll(100)
	if len(recs) != 6 {
		t.Fatalf("got %d records, want 6", len(recs))
	}
	for i, r := range recs {
		if !utf8.ValidString(r.Message) || len(r.Message) > maxLine {
			t.Errorf("record %d: message %q is not valid UTF-8 of at most %d bytes", i, r.Message, maxLine)
		}
	}
	if got := recs[1].Message; got != "latin-1 caf\uFFFD au lait" {
		t.Errorf("latin-1 line became %q", got)
	}
	if p := recs[0].Attrs.Get("path"); !strings.HasPrefix(p, "\u2026") || !strings.HasSuffix(p, "-application.log") || len(p) > 64 {
		t.Errorf("long path attribute %q: want its end behind an ellipsis, at most 64 bytes", p)
	}
	floor := limits.Limits{
		MaxSeriesPerBatch:  limits.FloorSeriesPerBatch,
		MaxLabelsPerSeries: limits.FloorLabelsPerSeries,
		MaxLabelKeyBytes:   limits.FloorLabelKeyBytes,
		MaxLabelValueBytes: limits.FloorLabelValueBytes,
		MaxLogMessageBytes: maxLine,
		MaxLogsPerBatch:    100,
		MaxAlertsPerBatch:  1,
	}
	b := &batch.Batch{AgentID: "a", Seq: 1, CreatedNs: 1, Logs: recs}
	if err := floor.Validate(b); err != nil {
		t.Fatalf("strictest collector refuses: %v", err)
	}
	enc, err := codec.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	if _, err := enc.Encode(b); err != nil {
		t.Fatalf("codec refuses: %v", err)
	}
}
