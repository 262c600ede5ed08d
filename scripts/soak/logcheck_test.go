package main

import (
	"reflect"
	"testing"
	"time"
)

func TestClassifyLines(t *testing.T) {
	const s = int64(time.Second)
	// Ten lines, one a second from t=1s.
	written := []int64{1 * s, 2 * s, 3 * s, 4 * s, 5 * s, 6 * s, 7 * s, 8 * s, 9 * s, 10 * s}
	all := func(except ...int) map[int][]int64 {
		m := map[int][]int64{}
		for n := 1; n <= 10; n++ {
			m[n] = []int64{written[n-1] + s/2}
		}
		for _, n := range except {
			delete(m, n)
		}
		return m
	}
	// A copytruncate of lines 1..6: copy after line 5 (5.2s), truncation at
	// 6.5s; the agent last read the generation at 5.5s.
	ct := []rotation{{Kind: rotCopyTruncate, FirstLine: 1, LastLine: 6, CopyLast: 5, CopyNs: 5*s + s/5, AtNs: 6*s + s/2}}
	tests := []struct {
		name  string
		rots  []rotation
		found map[int][]int64
		want  logVerdict
	}{
		{"all found", nil, all(), logVerdict{Written: 10, Found: 10}},
		{"lost without rotation", nil, all(3, 9),
			logVerdict{Written: 10, Found: 8, Lost: 2, LostLines: []int{3, 9}}},
		{"found twice", nil, func() map[int][]int64 { m := all(); m[4] = append(m[4], 5*s); return m }(),
			logVerdict{Written: 10, Found: 10, Duplicated: 1, DupLines: []int{4}}},
		{"record of a line never written", nil, func() map[int][]int64 { m := all(); m[11] = []int64{s}; m[0] = []int64{s}; return m }(),
			logVerdict{Written: 10, Found: 10, Unknown: 2}},
		{"between copy and truncation", ct, all(6),
			logVerdict{Written: 10, Found: 9, WindowLost: 1, CopyTruncates: 1, WidestWindow: time.Second}},
		// Line 5 was written at 5s, after the last read stamped 4.5s (line 4's
		// record): the agent could not have read it.
		{"after the agent's last read", ct, all(5, 6),
			logVerdict{Written: 10, Found: 8, WindowLost: 2, CopyTruncates: 1, WidestWindow: 2 * time.Second}},
		// Line 3 was written before a read that found line 4: a loss.
		{"before the agent's last read", ct, all(3, 6),
			logVerdict{Written: 10, Found: 8, Lost: 1, WindowLost: 1, CopyTruncates: 1, WidestWindow: time.Second, LostLines: []int{3}}},
		// Nothing of the generation read: the window is capped at maxWindow
		// (2s before the truncation at 6.5s), so lines 1–4 are lost.
		{"window capped", ct, all(1, 2, 3, 4, 5, 6),
			logVerdict{Written: 10, Found: 4, Lost: 4, WindowLost: 2, CopyTruncates: 1, WidestWindow: 2 * time.Second, LostLines: []int{1, 2, 3, 4}}},
		{"rename loses nothing it may", []rotation{{Kind: rotRename, FirstLine: 1, LastLine: 6, AtNs: 6*s + s/2}}, all(6),
			logVerdict{Written: 10, Found: 9, Lost: 1, Renames: 1, LostLines: []int{6}}},
		{"window line still read", ct, all(),
			logVerdict{Written: 10, Found: 10, WindowFound: 1, CopyTruncates: 1, WidestWindow: time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := classifyLines(written, tc.rots, tc.found, 2*time.Second)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
