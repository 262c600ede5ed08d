package main

import (
	"time"
)

// logVerdict compares the lines a writer wrote with the records a
// collector returns for them.
type logVerdict struct {
	Written    int
	Found      int // distinct lines found (once or more)
	Lost       int // written, not found, outside every copytruncate window
	Duplicated int // lines found more than once
	// WindowLost are lines not found that fall in a copytruncate window;
	// WindowFound are window lines the agent still read.
	WindowLost, WindowFound int
	Unknown                 int // records naming a line never written
	Renames, CopyTruncates  int
	// WidestWindow is the longest copytruncate window (its start to the
	// truncation).
	WidestWindow time.Duration
	LostLines    []int // the first few
	DupLines     []int
}

const sampleCap = 8

// classifyLines decides, for each line written, whether it was found once,
// found more than once, or lost — and whether a loss is inside a
// copytruncate window, which the product documents as unavoidable.
//
// A copytruncate rotation's window holds the lines of the ending
// generation that
//   - were written between the copy and the truncation (they are in
//     neither the copy nor the truncated file), or
//   - were written at or after the agent's last read of that generation
//     before the truncation, but no earlier than maxWindow before the
//     truncation.
//
// "The agent's last read" is the newest record time among the
// generation's lines found that is before the truncation: a record's time
// is when the agent's collection cycle started, and that cycle read the
// file to its end, so every line written before it was readable by it. A
// line written earlier than that and still missing is a loss. maxWindow
// caps the window at what docs/limitations.md promises (up to one
// interval_ms; the caller adds the copy gap and collection slack), so an
// agent that stalls longer shows as loss.
//
// writtenNs[n-1] is when line n was written; found maps a line number to
// the record times (ns) of the records carrying it.
func classifyLines(writtenNs []int64, rots []rotation, found map[int][]int64, maxWindow time.Duration) logVerdict {
	v := logVerdict{Written: len(writtenNs)}
	inWindow := make([]bool, len(writtenNs)+1)
	for _, r := range rots {
		if r.Kind == rotRename {
			v.Renames++
			continue
		}
		v.CopyTruncates++
		var lastRead int64
		for n := max(r.FirstLine, 1); n <= r.LastLine && n <= len(writtenNs); n++ {
			for _, t := range found[n] {
				if t < r.AtNs && t > lastRead {
					lastRead = t
				}
			}
		}
		start := max(lastRead, r.AtNs-int64(maxWindow))
		if d := time.Duration(r.AtNs - start); d > v.WidestWindow {
			v.WidestWindow = d
		}
		for n := max(r.FirstLine, 1); n <= r.LastLine && n <= len(writtenNs); n++ {
			if n > r.CopyLast || writtenNs[n-1] >= start {
				inWindow[n] = true
			}
		}
	}
	for n := 1; n <= len(writtenNs); n++ {
		c := len(found[n])
		switch {
		case c == 0 && inWindow[n]:
			v.WindowLost++
		case c == 0:
			v.Lost++
			if len(v.LostLines) < sampleCap {
				v.LostLines = append(v.LostLines, n)
			}
		default:
			v.Found++
			if inWindow[n] {
				v.WindowFound++
			}
			if c > 1 {
				v.Duplicated++
				if len(v.DupLines) < sampleCap {
					v.DupLines = append(v.DupLines, n)
				}
			}
		}
	}
	for n, ts := range found {
		if n < 1 || n > len(writtenNs) {
			v.Unknown += len(ts)
		}
	}
	return v
}
