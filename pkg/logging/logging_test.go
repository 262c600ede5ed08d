package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		level, format string
		debugShown    bool
		infoShown     bool
		json          bool
	}{
		{"info", "text", false, true, false},
		{"debug", "json", true, true, true},
		{"error", "text", false, false, false},
		{"", "", false, true, false},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		l := New(&buf, tt.level, tt.format)
		l.Debug("dbg")
		if got := strings.Contains(buf.String(), "dbg"); got != tt.debugShown {
			t.Errorf("%s/%s: debug shown = %v", tt.level, tt.format, got)
		}
		buf.Reset()
		l.Info("inf", "k", "v")
		if got := strings.Contains(buf.String(), "inf"); got != tt.infoShown {
			t.Errorf("%s/%s: info shown = %v", tt.level, tt.format, got)
		}
		if tt.json && tt.infoShown {
			var m map[string]any
			if err := json.Unmarshal(buf.Bytes(), &m); err != nil || m["k"] != "v" {
				t.Errorf("%s/%s: not JSON: %q", tt.level, tt.format, buf.String())
			}
		}
	}
}
