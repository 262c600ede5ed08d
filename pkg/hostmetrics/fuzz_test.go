package hostmetrics

import (
	"bytes"
	"math"
	"testing"
	"unicode/utf8"
)

// Fuzz targets for every parser of kernel text written by hand. Seed corpora
// live in testdata/fuzz/<target>/; `go test` runs them as regression cases,
// `go test -fuzz=FuzzParseStat` explores further.

func FuzzParseStat(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := parseStat(data)
		if err != nil {
			return
		}
		if st.pid <= 0 {
			t.Fatalf("accepted pid %d", st.pid)
		}
		// comm must be a slice of the input, between the parentheses.
		if len(st.comm) > 0 && !bytes.Contains(data, st.comm) {
			t.Fatalf("comm %q not from input", st.comm)
		}
		if st.state == 0 || st.state == ' ' {
			t.Fatalf("accepted empty state")
		}
	})
}

func FuzzParseStatusUID(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := parseStatusUID(data); err == nil && !bytes.Contains(data, []byte("Uid:")) {
			t.Fatalf("uid parsed from input without a Uid line")
		}
	})
}

func FuzzParseProcStat(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var st procStat
		if err := parseProcStat(data, &st); err != nil {
			return
		}
		if st.total.id != -1 || st.total.modes < 4 || st.total.modes > numCPUModes {
			t.Fatalf("bad aggregate %+v", st.total)
		}
		for _, c := range st.cpus {
			if c.id < 0 || c.id >= maxCPUs || c.modes < 4 {
				t.Fatalf("bad cpu %+v", c)
			}
		}
	})
}

func FuzzWalkDirents(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		walkDirents(data, func(name []byte) {
			if len(name) == 0 || bytes.IndexByte(name, 0) >= 0 {
				t.Fatalf("bad name %q", name)
			}
			if string(name) == "." || string(name) == ".." {
				t.Fatalf("dot entry reported")
			}
		})
	})
}

func FuzzParseUptime(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := parseUptime(data)
		if err == nil && (v < 0 || math.IsNaN(v) || math.IsInf(v, 0)) {
			t.Fatalf("parseUptime(%q) = %v", data, v)
		}
	})
}

func FuzzLabelValue(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		v := labelValue(s)
		if len(v) > MaxLabelValueBytes || !utf8.ValidString(v) {
			t.Fatalf("labelValue(%q) = %q", s, v)
		}
		if utf8.ValidString(s) && len(s) <= MaxLabelValueBytes && v != s {
			t.Fatalf("short valid value changed: %q -> %q", s, v)
		}
	})
}

func FuzzParseMeminfo(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseMeminfo(data)
		if err == nil && m.total == 0 {
			t.Fatalf("accepted meminfo without MemTotal")
		}
	})
}

func FuzzParseDiskstatsLine(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		name, _, err := parseDiskstatsLine(data)
		if err == nil && (len(name) == 0 || !bytes.Contains(data, name)) {
			t.Fatalf("bad name %q", name)
		}
	})
}
