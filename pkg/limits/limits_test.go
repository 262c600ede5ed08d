package limits

import (
	"errors"
	"strings"
	"testing"
)

func TestDefault(t *testing.T) {
	want := Limits{2048, 32, 128, 512, 16384, 1000, 16}
	if got := Default(); got != want {
		t.Fatalf("Default() = %+v, want %+v", got, want)
	}
	if err := Default().CheckFloors(); err != nil {
		t.Fatalf("Default().CheckFloors() = %v", err)
	}
	wantAgent := AgentLimits{2048, 16384, 1000, 1}
	if got := DefaultAgent(); got != wantAgent {
		t.Fatalf("DefaultAgent() = %+v, want %+v", got, wantAgent)
	}
	if err := CheckAlignment(DefaultAgent(), Default()); err != nil {
		t.Fatalf("defaults are not aligned: %v", err)
	}
}

// limitErrors flattens an errors.Join of *Error into a slice.
func limitErrors(t *testing.T, err error) []*Error {
	t.Helper()
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %v (%T) is not a join", err, err)
	}
	var out []*Error
	for _, e := range j.Unwrap() {
		var le *Error
		if !errors.As(e, &le) {
			t.Fatalf("joined error %v (%T) is not *Error", e, e)
		}
		out = append(out, le)
	}
	return out
}

func TestCheckFloors(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Limits)
		wantKey string // "" = accepted
		wantMsg string
	}{
		{"series at floor", func(l *Limits) { l.MaxSeriesPerBatch = 107 }, "", ""},
		{"series below floor", func(l *Limits) { l.MaxSeriesPerBatch = 106 }, KeyMaxSeriesPerBatch, "106 is below the floor of 107"},
		{"series 100", func(l *Limits) { l.MaxSeriesPerBatch = 100 }, KeyMaxSeriesPerBatch, "100 is below the floor of 107"},
		{"labels at floor", func(l *Limits) { l.MaxLabelsPerSeries = 4 }, "", ""},
		{"labels below floor", func(l *Limits) { l.MaxLabelsPerSeries = 3 }, KeyMaxLabelsPerSeries, "3 is below the floor of 4"},
		{"key bytes at floor", func(l *Limits) { l.MaxLabelKeyBytes = 14 }, "", ""},
		{"key bytes below floor", func(l *Limits) { l.MaxLabelKeyBytes = 13 }, KeyMaxLabelKeyBytes, "13 is below the floor of 14"},
		{"value bytes at floor", func(l *Limits) { l.MaxLabelValueBytes = 64 }, "", ""},
		{"value bytes below floor", func(l *Limits) { l.MaxLabelValueBytes = 63 }, KeyMaxLabelValueBytes, "63 is below the floor of 64"},
		{"message bytes 1", func(l *Limits) { l.MaxLogMessageBytes = 1 }, "", ""},
		{"message bytes 0", func(l *Limits) { l.MaxLogMessageBytes = 0 }, KeyMaxLogMessageBytes, "0 must be at least 1"},
		{"logs 1", func(l *Limits) { l.MaxLogsPerBatch = 1 }, "", ""},
		{"logs 0", func(l *Limits) { l.MaxLogsPerBatch = 0 }, KeyMaxLogsPerBatch, "0 must be at least 1"},
		{"logs negative", func(l *Limits) { l.MaxLogsPerBatch = -5 }, KeyMaxLogsPerBatch, "-5 must be at least 1"},
		{"alerts 0 allowed", func(l *Limits) { l.MaxAlertsPerBatch = 0 }, "", ""},
		{"alerts negative", func(l *Limits) { l.MaxAlertsPerBatch = -1 }, KeyMaxAlertsPerBatch, "-1 must be at least 0"},
		{"series negative", func(l *Limits) { l.MaxSeriesPerBatch = -1 }, KeyMaxSeriesPerBatch, "-1 is below the floor of 107"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := Default()
			tt.mutate(&l)
			errs := limitErrors(t, l.CheckFloors())
			if tt.wantKey == "" {
				if len(errs) != 0 {
					t.Fatalf("CheckFloors() = %v, want nil", errs)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("CheckFloors() gave %d errors %v, want 1", len(errs), errs)
			}
			e := errs[0]
			if e.Key != tt.wantKey || e.Msg != tt.wantMsg {
				t.Fatalf("got key %q msg %q, want %q %q", e.Key, e.Msg, tt.wantKey, tt.wantMsg)
			}
			if want := tt.wantKey + ": " + tt.wantMsg; e.Error() != want {
				t.Fatalf("Error() = %q, want %q", e.Error(), want)
			}
		})
	}
}

func TestCheckFloorsReportsEveryKey(t *testing.T) {
	errs := limitErrors(t, Limits{}.CheckFloors())
	var keys []string
	for _, e := range errs {
		keys = append(keys, e.Key)
	}
	want := []string{KeyMaxSeriesPerBatch, KeyMaxLabelsPerSeries, KeyMaxLabelKeyBytes,
		KeyMaxLabelValueBytes, KeyMaxLogMessageBytes, KeyMaxLogsPerBatch}
	if strings.Join(keys, ",") != strings.Join(want, ",") {
		t.Fatalf("keys = %v, want %v", keys, want)
	}
}

func TestCheckAlignment(t *testing.T) {
	tests := []struct {
		name     string
		agent    func(*AgentLimits)
		coll     func(*Limits)
		wantKeys []string
	}{
		{"defaults", func(*AgentLimits) {}, func(*Limits) {}, nil},
		{"series equal", func(a *AgentLimits) { a.MaxSeriesPerBatch = 500 }, func(c *Limits) { c.MaxSeriesPerBatch = 500 }, nil},
		{"series above", func(a *AgentLimits) { a.MaxSeriesPerBatch = 501 }, func(c *Limits) { c.MaxSeriesPerBatch = 500 }, []string{KeyMaxSeriesPerBatch}},
		{"message bytes above", func(a *AgentLimits) { a.MaxLogMessageBytes = 16385 }, func(*Limits) {}, []string{KeyMaxLogMessageBytes}},
		{"logs equal", func(a *AgentLimits) { a.MaxLogsPerBatch = 1000 }, func(*Limits) {}, nil},
		{"logs above", func(a *AgentLimits) { a.MaxLogsPerBatch = 1001 }, func(*Limits) {}, []string{KeyMaxLogsPerBatch}},
		{"alerts off on both", func(a *AgentLimits) { a.MaxAlertsPerBatch = 0 }, func(c *Limits) { c.MaxAlertsPerBatch = 0 }, nil},
		{"alerts on, collector refuses them", func(*AgentLimits) {}, func(c *Limits) { c.MaxAlertsPerBatch = 0 }, []string{KeyMaxAlertsPerBatch}},
		{"several", func(a *AgentLimits) { a.MaxLogsPerBatch = 5000; a.MaxAlertsPerBatch = 20 }, func(*Limits) {},
			[]string{KeyMaxLogsPerBatch, KeyMaxAlertsPerBatch}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, c := DefaultAgent(), Default()
			tt.agent(&a)
			tt.coll(&c)
			errs := limitErrors(t, CheckAlignment(a, c))
			var keys []string
			for _, e := range errs {
				keys = append(keys, e.Key)
				if !strings.Contains(e.Error(), "ingest."+e.Key) {
					t.Errorf("message %q does not name the collector key", e.Error())
				}
			}
			if strings.Join(keys, ",") != strings.Join(tt.wantKeys, ",") {
				t.Fatalf("keys = %v, want %v", keys, tt.wantKeys)
			}
		})
	}
}
