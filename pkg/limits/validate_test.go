package limits

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// small limits keep the boundary cases readable.
var small = Limits{
	MaxSeriesPerBatch:  5,
	MaxLabelsPerSeries: 3,
	MaxLabelKeyBytes:   8,
	MaxLabelValueBytes: 10,
	MaxLogMessageBytes: 20,
	MaxLogsPerBatch:    2,
	MaxAlertsPerBatch:  1,
}

// validBatch returns a batch that passes small: 2 heartbeat values, 1 series,
// 1 log record and no alert.
func validBatch() *batch.Batch {
	return &batch.Batch{
		AgentID: "web-1",
		Seq:     1,
		Heartbeat: &batch.Heartbeat{Values: []batch.Scalar{
			{Name: "up"}, {Name: "node:load1"},
		}},
		Series: []batch.Series{{
			Name:    "cpu_seconds_total",
			Labels:  batch.Labels{{Name: "cpu", Value: "0"}, {Name: "mode", Value: "idle"}},
			Samples: []batch.Sample{{TimestampMs: 1, Value: 2}},
		}},
		Logs: []batch.LogRecord{{Source: "syslog", Message: "hello", Attrs: batch.Labels{{Name: "path", Value: "/v/l"}}}},
	}
}

func series(name string, labels ...batch.Label) batch.Series {
	return batch.Series{Name: name, Labels: labels, Samples: []batch.Sample{{TimestampMs: 1}}}
}

func TestValidate(t *testing.T) {
	rep := strings.Repeat
	tests := []struct {
		name      string
		mutate    func(*batch.Batch)
		wantLimit string // "" = accepted
		wantValue int
		wantWhere string
	}{
		{"valid", func(*batch.Batch) {}, "", 0, ""},
		{"no heartbeat", func(b *batch.Batch) { b.Heartbeat = nil }, "", 0, ""},

		{"empty agent id", func(b *batch.Batch) { b.AgentID = "" }, RuleAgentID, 0, "batch"},

		// 2 heartbeat values + series: the limit counts both.
		{"series at limit", func(b *batch.Batch) {
			b.Series = append(b.Series, series("a"), series("b"))
		}, "", 0, ""},
		{"series over limit", func(b *batch.Batch) {
			b.Series = append(b.Series, series("a"), series("b"), series("c"))
		}, KeyMaxSeriesPerBatch, 6, "batch"},
		{"heartbeat values count as series", func(b *batch.Batch) {
			b.Heartbeat.Values = append(b.Heartbeat.Values, batch.Scalar{Name: "x"}, batch.Scalar{Name: "y"}, batch.Scalar{Name: "z"})
		}, KeyMaxSeriesPerBatch, 6, "batch"},

		{"labels at limit", func(b *batch.Batch) {
			b.Series[0].Labels = append(b.Series[0].Labels, batch.Label{Name: "x", Value: "1"})
		}, "", 0, ""},
		{"labels over limit", func(b *batch.Batch) {
			b.Series[0].Labels = append(b.Series[0].Labels, batch.Label{Name: "x"}, batch.Label{Name: "y"})
		}, KeyMaxLabelsPerSeries, 4, `series 0 "cpu_seconds_total"`},

		{"label key at limit", func(b *batch.Batch) { b.Series[0].Labels[0].Name = rep("k", 8) }, "", 0, ""},
		{"label key over limit", func(b *batch.Batch) { b.Series[0].Labels[0].Name = rep("k", 9) },
			KeyMaxLabelKeyBytes, 9, `series 0 "cpu_seconds_total" label "kkkkkkkkk"`},
		{"label value at limit", func(b *batch.Batch) { b.Series[0].Labels[0].Value = rep("v", 10) }, "", 0, ""},
		{"label value over limit", func(b *batch.Batch) { b.Series[0].Labels[0].Value = rep("v", 11) },
			KeyMaxLabelValueBytes, 11, `series 0 "cpu_seconds_total" label "cpu"`},
		{"label value bytes not runes", func(b *batch.Batch) { b.Series[0].Labels[0].Value = rep("é", 6) },
			KeyMaxLabelValueBytes, 12, `series 0 "cpu_seconds_total" label "cpu"`},
		{"label value not utf8", func(b *batch.Batch) { b.Series[0].Labels[0].Value = "\xff" },
			RuleLabelValueUTF8, 0, `series 0 "cpu_seconds_total" label "cpu"`},
		{"empty label value ok", func(b *batch.Batch) { b.Series[0].Labels[0].Value = "" }, "", 0, ""},

		{"log message at limit", func(b *batch.Batch) { b.Logs[0].Message = rep("m", 20) }, "", 0, ""},
		{"log message over limit", func(b *batch.Batch) { b.Logs[0].Message = rep("m", 21) },
			KeyMaxLogMessageBytes, 21, `log record 0 (source "syslog")`},
		{"logs at limit", func(b *batch.Batch) { b.Logs = append(b.Logs, batch.LogRecord{Source: "b"}) }, "", 0, ""},
		{"logs over limit", func(b *batch.Batch) {
			b.Logs = append(b.Logs, batch.LogRecord{Source: "b"}, batch.LogRecord{Source: "c"})
		}, KeyMaxLogsPerBatch, 3, "batch"},
		{"log attrs over label limit", func(b *batch.Batch) {
			b.Logs[0].Attrs = batch.Labels{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}}
		}, KeyMaxLabelsPerSeries, 4, `log record 0 (source "syslog")`},
		{"log attr key over limit", func(b *batch.Batch) { b.Logs[0].Attrs[0].Name = rep("a", 9) },
			KeyMaxLabelKeyBytes, 9, `log record 0 (source "syslog") label "aaaaaaaaa"`},
		{"log attr value over limit", func(b *batch.Batch) { b.Logs[0].Attrs[0].Value = rep("a", 11) },
			KeyMaxLabelValueBytes, 11, `log record 0 (source "syslog") label "path"`},
		{"log attr bad name", func(b *batch.Batch) { b.Logs[0].Attrs[0].Name = "f-name" },
			RuleLabelName, 0, `log record 0 (source "syslog") label "f-name"`},
		{"log attr duplicate", func(b *batch.Batch) { b.Logs[0].Attrs = batch.Labels{{Name: "a"}, {Name: "a"}} },
			RuleDuplicateLabel, 0, `log record 0 (source "syslog") label "a"`},

		{"alerts at limit", func(b *batch.Batch) { b.Alerts = []batch.Alert{{Name: "queue_drop"}} }, "", 0, ""},
		{"alerts over limit", func(b *batch.Batch) { b.Alerts = []batch.Alert{{Name: "a"}, {Name: "b"}} },
			KeyMaxAlertsPerBatch, 2, "batch"},
		{"alert message over limit", func(b *batch.Batch) {
			b.Alerts = []batch.Alert{{Name: "queue_drop", Message: rep("m", 21)}}
		}, KeyMaxLogMessageBytes, 21, `alert 0 "queue_drop"`},
		{"alert labels over limit", func(b *batch.Batch) {
			b.Alerts = []batch.Alert{{Name: "queue_drop", Labels: batch.Labels{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}}}}
		}, KeyMaxLabelsPerSeries, 4, `alert 0 "queue_drop"`},
		{"alert label value over limit", func(b *batch.Batch) {
			b.Alerts = []batch.Alert{{Name: "queue_drop", Labels: batch.Labels{{Name: "a", Value: rep("v", 11)}}}}
		}, KeyMaxLabelValueBytes, 11, `alert 0 "queue_drop" label "a"`},
		{"alert label reserved", func(b *batch.Batch) {
			b.Alerts = []batch.Alert{{Name: "queue_drop", Labels: batch.Labels{{Name: "__x"}}}}
		}, RuleLabelName, 0, `alert 0 "queue_drop" label "__x"`},

		{"metric name with colon", func(b *batch.Batch) { b.Series[0].Name = "job:cpu:rate5m" }, "", 0, ""},
		{"metric name leading underscore", func(b *batch.Batch) { b.Series[0].Name = "_x1" }, "", 0, ""},
		{"metric name empty", func(b *batch.Batch) { b.Series[0].Name = "" }, RuleMetricName, 0, `series 0 ""`},
		{"metric name leading digit", func(b *batch.Batch) { b.Series[0].Name = "1cpu" }, RuleMetricName, 0, `series 0 "1cpu"`},
		{"metric name dash", func(b *batch.Batch) { b.Series[0].Name = "cpu-total" }, RuleMetricName, 0, `series 0 "cpu-total"`},
		{"metric name reserved", func(b *batch.Batch) { b.Series[0].Name = "__name__" }, RuleMetricName, 0, `series 0 "__name__"`},
		{"metric name non-ascii", func(b *batch.Batch) { b.Series[0].Name = "cpü" }, RuleMetricName, 0, `series 0 "cpü"`},
		{"heartbeat name invalid", func(b *batch.Batch) { b.Heartbeat.Values[1].Name = "load 1" },
			RuleMetricName, 0, `heartbeat value 1 "load 1"`},

		{"label name with digit", func(b *batch.Batch) { b.Series[0].Labels[0].Name = "cpu0" }, "", 0, ""},
		{"label name single underscore", func(b *batch.Batch) { b.Series[0].Labels[0].Name = "_cpu" }, "", 0, ""},
		{"label name colon", func(b *batch.Batch) { b.Series[0].Labels[0].Name = "a:b" },
			RuleLabelName, 0, `series 0 "cpu_seconds_total" label "a:b"`},
		{"label name leading digit", func(b *batch.Batch) { b.Series[0].Labels[0].Name = "0cpu" },
			RuleLabelName, 0, `series 0 "cpu_seconds_total" label "0cpu"`},
		{"label name empty", func(b *batch.Batch) { b.Series[0].Labels[0].Name = "" },
			RuleLabelName, 0, `series 0 "cpu_seconds_total" label ""`},
		{"label name reserved", func(b *batch.Batch) { b.Series[0].Labels[0].Name = "__name__" },
			RuleLabelName, 0, `series 0 "cpu_seconds_total" label "__name__"`},
		{"duplicate label", func(b *batch.Batch) { b.Series[0].Labels[1].Name = "cpu" },
			RuleDuplicateLabel, 0, `series 0 "cpu_seconds_total" label "cpu"`},
		{"no samples", func(b *batch.Batch) { b.Series[0].Samples = nil }, RuleSamples, 0, `series 0 "cpu_seconds_total"`},
		{"where names the index", func(b *batch.Batch) {
			b.Series = append(b.Series, series("ok"), batch.Series{Name: "empty"})
		}, RuleSamples, 0, `series 2 "empty"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := validBatch()
			tt.mutate(b)
			err := small.Validate(b)
			if tt.wantLimit == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var v *Violation
			if !errors.As(err, &v) {
				t.Fatalf("Validate() = %v (%T), want *Violation", err, err)
			}
			if v.Limit != tt.wantLimit || v.Value != tt.wantValue || v.Where != tt.wantWhere {
				t.Fatalf("got {%q %d %d %q}, want limit %q value %d where %q",
					v.Limit, v.Value, v.Max, v.Where, tt.wantLimit, tt.wantValue, tt.wantWhere)
			}
			msg := v.Error()
			if !strings.HasPrefix(msg, tt.wantLimit+": ") || !strings.Contains(msg, tt.wantWhere) {
				t.Fatalf("Error() = %q does not start with the limit and name where", msg)
			}
		})
	}
}

// TestValidateDefaultBoundaries checks the shipped limits themselves at and
// one past each boundary.
func TestValidateDefaultBoundaries(t *testing.T) {
	d := Default()
	manyLabels := func(n int) batch.Labels {
		ls := make(batch.Labels, n)
		for i := range ls {
			ls[i] = batch.Label{Name: fmt.Sprintf("l%d", i), Value: "v"}
		}
		return ls
	}
	build := func(nSeries, nLabels, keyBytes, valueBytes, msgBytes, nLogs, nAlerts int) *batch.Batch {
		b := &batch.Batch{AgentID: "a", Heartbeat: &batch.Heartbeat{Values: make([]batch.Scalar, 100)}}
		for i := range b.Heartbeat.Values {
			b.Heartbeat.Values[i].Name = fmt.Sprintf("hb_%d", i)
		}
		for i := 0; i < nSeries-100; i++ {
			b.Series = append(b.Series, series(fmt.Sprintf("s_%d", i)))
		}
		b.Series[0].Labels = manyLabels(nLabels)
		b.Series[0].Labels[0].Name = "k" + strings.Repeat("x", keyBytes-1)
		b.Series[0].Labels[1].Value = strings.Repeat("v", valueBytes)
		for i := 0; i < nLogs; i++ {
			b.Logs = append(b.Logs, batch.LogRecord{Source: "s"})
		}
		b.Logs[0].Message = strings.Repeat("m", msgBytes)
		b.Alerts = make([]batch.Alert, nAlerts)
		return b
	}
	ok := []int{2048, 32, 128, 512, 16384, 1000, 16}
	if err := d.Validate(build(ok[0], ok[1], ok[2], ok[3], ok[4], ok[5], ok[6])); err != nil {
		t.Fatalf("batch exactly at every default limit refused: %v", err)
	}
	keys := []string{KeyMaxSeriesPerBatch, KeyMaxLabelsPerSeries, KeyMaxLabelKeyBytes,
		KeyMaxLabelValueBytes, KeyMaxLogMessageBytes, KeyMaxLogsPerBatch, KeyMaxAlertsPerBatch}
	for i, key := range keys {
		t.Run(key, func(t *testing.T) {
			v := append([]int(nil), ok...)
			v[i]++
			err := d.Validate(build(v[0], v[1], v[2], v[3], v[4], v[5], v[6]))
			var viol *Violation
			if !errors.As(err, &viol) || viol.Limit != key || viol.Value != v[i] || viol.Max != ok[i] {
				t.Fatalf("Validate() = %v, want %s violation %d > %d", err, key, v[i], ok[i])
			}
		})
	}
}

func TestViolationMessage(t *testing.T) {
	v := &Violation{Limit: KeyMaxLabelsPerSeries, Value: 40, Max: 32, Where: `series 3 "cpu_seconds_total"`}
	want := `max_labels_per_series: series 3 "cpu_seconds_total" has 40 labels, limit 32`
	if v.Error() != want {
		t.Fatalf("Error() = %q, want %q", v.Error(), want)
	}
}

func TestWhereIsBounded(t *testing.T) {
	b := validBatch()
	b.Series[0].Labels[0].Name = strings.Repeat("é", 10000)
	err := Limits{MaxSeriesPerBatch: 5, MaxLabelsPerSeries: 3, MaxLabelKeyBytes: 1 << 20, MaxLabelValueBytes: 10,
		MaxLogMessageBytes: 1, MaxLogsPerBatch: 5}.Validate(b)
	if err == nil {
		t.Fatal("want a label_name violation")
	}
	if n := len(err.Error()); n > 300 {
		t.Fatalf("message is %d bytes long; a hostile name must not be echoed whole", n)
	}
}

func TestDuplicateLongList(t *testing.T) {
	ls := make(batch.Labels, 40)
	for i := range ls {
		ls[i].Name = fmt.Sprintf("l%d", i)
	}
	if i := duplicateAt(ls); i != -1 {
		t.Fatalf("duplicateAt(unique) = %d", i)
	}
	ls[39].Name = "l7"
	if i := duplicateAt(ls); i != 39 {
		t.Fatalf("duplicateAt = %d, want 39", i)
	}
}

func BenchmarkValidate(b *testing.B) {
	bt := &batch.Batch{AgentID: "a", Heartbeat: &batch.Heartbeat{Values: make([]batch.Scalar, 107)}}
	for i := range bt.Heartbeat.Values {
		bt.Heartbeat.Values[i].Name = fmt.Sprintf("node_value_%d", i)
	}
	for i := 0; i < 1900; i++ {
		bt.Series = append(bt.Series, series("process_cpu_seconds_total",
			batch.Label{Name: "pid", Value: fmt.Sprint(i)}, batch.Label{Name: "comm", Value: "worker"},
			batch.Label{Name: "user", Value: "root"}))
	}
	l := Default()
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Validate(bt); err != nil {
			b.Fatal(err)
		}
	}
}
