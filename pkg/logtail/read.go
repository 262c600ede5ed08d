package logtail

import (
	"bytes"
	"errors"
	"io"
	"os"
	"unicode/utf8"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// span is one complete line found in the read buffer, newline excluded.
type span struct{ start, end int }

// firstReadBytesPerLine sizes a turn's first read to its quota, so that a file
// asked for a few lines is not read a whole chunk ahead (the unused rest
// is read again on the next turn). Later reads of the turn use full chunks.
const firstReadBytesPerLine = 256

// readLines reads up to quota complete lines of w's file from w.pos,
// emitting them and moving w.pos past them. eof reports that the file has
// no further complete line now; a draining file's unterminated last line is
// then emitted too, because nothing will complete it.
//
// All reads go through the tailer's one buffer of MaxLineBytes+1+chunk
// bytes: a partial line longer than MaxLineBytes is emitted truncated and
// the rest of it skipped, so no line makes the buffer grow.
func (r *pollRun) readLines(w *work, f *os.File, quota int) (emitted int, eof bool, err error) {
	t := r.t
	buf, limit, chunk := t.buf, t.opt.MaxLineBytes, t.opt.ReadChunkBytes
	id := w.pos.id
	base, skip := w.pos.off, w.pos.skip // buf[0] is the byte at base
	fill := 0
	size := chunk
	if quota < chunk/firstReadBytesPerLine {
		size = min(chunk, max(4096, quota*firstReadBytesPerLine))
	}
	for emitted < quota {
		n, rerr := f.ReadAt(buf[fill:fill+size], base+int64(fill))
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return emitted, false, rerr
		}
		short := n < size // a regular file reads short only at its end
		size = chunk
		fill += n
		start := 0
		if skip {
			i := bytes.IndexByte(buf[:fill], '\n')
			if i < 0 {
				base += int64(fill)
				fill = 0
				w.pos = pos{id: id, off: base, skip: true}
				if short {
					eof = true
					break
				}
				continue
			}
			start, skip = i+1, false
			w.pos = pos{id: id, off: base + int64(start)}
		}
		spans := t.spans[:0]
		for emitted+len(spans) < quota {
			i := bytes.IndexByte(buf[start:fill], '\n')
			if i < 0 {
				break
			}
			spans = append(spans, span{start, start + i})
			start += i + 1
		}
		t.spans = spans
		if len(spans) > 0 {
			r.emitSpans(w, buf, spans)
			emitted += len(spans)
			w.pos = pos{id: id, off: base + int64(start)}
			if emitted == quota {
				break
			}
		}
		part := buf[start:fill]
		if tooLong(part, limit) {
			r.emit(w, part[:cutUTF8(part, limit)], true)
			emitted++
			base += int64(fill)
			fill = 0
			skip = true
			w.pos = pos{id: id, off: base, skip: true}
		} else {
			// Keep the unfinished line and read on after it.
			copy(buf, part)
			base += int64(start)
			fill = len(part)
			w.pos = pos{id: id, off: base}
		}
		if short {
			eof = true
			break
		}
	}
	if eof && w.draining && fill > 0 {
		if emitted == quota {
			return emitted, false, nil
		}
		r.emit(w, trimCR(buf[:fill]), false)
		emitted++
		// Should the file still grow, the rest of this line is not a line.
		w.pos = pos{id: id, off: base + int64(fill), skip: true}
	}
	return emitted, eof, nil
}

// emitSpans emits complete lines with one string allocation for all of
// them: each message is a substring of one copy of the buffer.
func (r *pollRun) emitSpans(w *work, buf []byte, spans []span) {
	r0 := spans[0].start
	region := string(buf[r0:spans[len(spans)-1].end])
	for _, s := range spans {
		line := trimCR(buf[s.start:s.end])
		if !utf8.Valid(line) {
			r.emit(w, line, false)
			continue
		}
		trunc := len(line) > r.t.opt.MaxLineBytes
		if trunc {
			line = line[:cutUTF8(line, r.t.opt.MaxLineBytes)]
		}
		r.record(w, region[s.start-r0:s.start-r0+len(line)], trunc, detectLevel(line))
	}
}

// emit emits one line with its own copy. Lines that are not valid UTF-8
// (which the codec refuses) get U+FFFD for each bad sequence, and are cut
// again should the replacements make them longer than MaxLineBytes.
func (r *pollRun) emit(w *work, line []byte, trunc bool) {
	lv := detectLevel(line)
	if !utf8.Valid(line) {
		line = bytes.ToValidUTF8(line, []byte("\uFFFD"))
		if limit := r.t.opt.MaxLineBytes; len(line) > limit {
			line, trunc = line[:cutUTF8(line, limit)], true
		}
	}
	r.record(w, string(line), trunc, lv)
}

func (r *pollRun) record(w *work, msg string, trunc bool, lv level) {
	in := r.t.inputs[w.in]
	set := in.attrs[w.path]
	if set == nil {
		set = newAttrSet(in, w.path, r.t.opt.Hostname)
		in.attrs[w.path] = set
	}
	if r.out == nil {
		// Sized for a full Poll at once (up to a bound), but only once
		// there is a line: idle Polls allocate nothing here.
		r.out = make([]batch.LogRecord, 0, min(r.maxLines, 4096))
	}
	r.out = append(r.out, batch.LogRecord{
		TimeNs:    r.now,
		Source:    in.Source,
		Message:   msg,
		Truncated: trunc,
		Attrs:     set.byLevel[lv],
	})
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

// tooLong reports whether an unfinished line is already known to be longer
// than limit. One byte over may still be the '\r' of a "\r\n" ending.
func tooLong(part []byte, limit int) bool {
	n := len(part)
	return n > limit+1 || (n == limit+1 && part[n-1] != '\r')
}

// cutUTF8 is the length of the longest prefix of b of at most limit bytes
// that does not end inside a UTF-8 sequence. Invalid UTF-8 is cut at limit.
func cutUTF8(b []byte, limit int) int {
	if len(b) <= limit {
		return len(b)
	}
	c := limit
	for k := 0; k < utf8.UTFMax-1 && c > 0 && !utf8.RuneStart(b[c]); k++ {
		c--
	}
	if !utf8.RuneStart(b[c]) {
		return limit
	}
	return c
}
