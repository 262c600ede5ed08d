package codec

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// encoderLevel trades agent CPU and memory for upload bytes. Measured with
// BenchmarkEncodeLevel on host batches: SpeedDefault writes 13.0
// bytes/sample for one collection cycle (200 samples, the usual batch)
// against 13.5 for SpeedFastest, and 4.80 against 4.83 for 2,100 samples,
// for a few microseconds more per batch and about 2 MiB more encoder state
// (3 MiB against 1 MiB). SpeedBetterCompression gains under 1% more at 25 MiB
// of state.
const encoderLevel = zstd.SpeedDefault

// Encoder turns batches into their wire form. It is safe for concurrent use.
type Encoder struct {
	zw     *zstd.Encoder
	crc    *crc32.Table
	bodies sync.Pool // *[]byte scratch for uncompressed bodies
}

// NewEncoder returns an Encoder. Close it to release its zstd state.
func NewEncoder(opts ...EncoderOption) (*Encoder, error) {
	var o encoderOptions
	for _, opt := range opts {
		opt(&o)
	}
	return newEncoder(encoderLevel, o)
}

// EncoderOption tunes an Encoder without changing the bytes it writes.
type EncoderOption func(*encoderOptions)

type encoderOptions struct {
	lowMemory bool
}

// LowMemory makes the Encoder keep one zstd state with smaller buffers
// instead of one per CPU: right for the agent, which encodes one batch at a
// time and whose resident memory is mostly this state otherwise (about
// 1.25 MiB per CPU). The output is byte-identical; concurrent Encode calls
// wait for each other.
func LowMemory() EncoderOption { return func(o *encoderOptions) { o.lowMemory = true } }

// newEncoder lets the benchmarks compare levels.
func newEncoder(level zstd.EncoderLevel, o encoderOptions) (*Encoder, error) {
	zopts := []zstd.EOption{}
	if o.lowMemory {
		zopts = append(zopts, zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
	}
	zw, err := zstd.NewWriter(nil, append(zopts,
		zstd.WithEncoderLevel(level),
		// The header's CRC-32C already covers the payload; zstd's own
		// checksum would cost 4 bytes and a second hash for nothing.
		zstd.WithEncoderCRC(false),
		// Single-segment frames always carry their content size, which the
		// decoder cross-checks against the header before decompressing.
		zstd.WithSingleSegment(true),
	)...)
	if err != nil {
		return nil, fmt.Errorf("codec: new encoder: %w", err)
	}
	return &Encoder{zw: zw, crc: crc32.MakeTable(crc32.Castagnoli)}, nil
}

// Close releases the encoder's resources. The Encoder must not be used after.
func (e *Encoder) Close() {
	_ = e.zw.Close()
}

// Encode returns the wire form of b. The same batch always encodes to the
// same bytes. Series labels are written sorted by name then value; b itself
// is not modified. Encode refuses batches the decoder would refuse, such as
// strings that are not valid UTF-8, so that a queued batch can never be
// rejected as malformed later.
func (e *Encoder) Encode(b *batch.Batch) ([]byte, error) {
	if b == nil {
		return nil, errors.New("codec: encode: nil batch")
	}
	if len(b.AgentID) > maxAgentID {
		return nil, fmt.Errorf("codec: encode: agent id is %d bytes, at most %d fit the header", len(b.AgentID), maxAgentID)
	}
	if !utf8.ValidString(b.AgentID) {
		return nil, errors.New("codec: encode: agent id is not valid UTF-8")
	}

	bp, _ := e.bodies.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	w := bodyWriter{buf: (*bp)[:0]}
	err := w.batch(b)
	if *bp = w.buf; cap(w.buf) <= poolMax {
		defer e.bodies.Put(bp) // after EncodeAll has read the body
	}
	if err != nil {
		return nil, fmt.Errorf("codec: encode: %w", err)
	}
	body := w.buf
	if uint64(len(body)) > math.MaxUint32 {
		return nil, fmt.Errorf("codec: encode: body of %d bytes exceeds the format's 4 GiB", len(body))
	}

	h := Header{AgentID: b.AgentID, Seq: b.Seq, CreatedNs: b.CreatedNs}
	out := make([]byte, 0, minHeader+len(b.AgentID)+len(body)/2+64)
	out, at := appendHeader(out, &h)
	out = e.zw.EncodeAll(body, out)
	payload := out[at+12:]
	if uint64(len(payload)) > math.MaxUint32 {
		return nil, fmt.Errorf("codec: encode: payload of %d bytes exceeds the format's 4 GiB", len(payload))
	}
	binary.BigEndian.PutUint32(out[at:], uint32(len(payload)))
	binary.BigEndian.PutUint32(out[at+4:], uint32(len(body)))
	binary.BigEndian.PutUint32(out[at+8:], crc32.Checksum(payload, e.crc))
	return out, nil
}

// bodyWriter appends the uncompressed payload described in doc.go.
type bodyWriter struct {
	buf    []byte
	labels batch.Labels // scratch for sorting a series' labels
}

func (w *bodyWriter) batch(b *batch.Batch) error {
	if hb := b.Heartbeat; hb != nil {
		w.buf = append(w.buf, 1)
		if err := w.heartbeat(hb); err != nil {
			return fmt.Errorf("heartbeat: %w", err)
		}
	} else {
		w.buf = append(w.buf, 0)
	}

	w.uvarint(len(b.Series))
	var prevFirst int64
	for i := range b.Series {
		if err := w.series(&b.Series[i], &prevFirst); err != nil {
			return fmt.Errorf("series %d: %w", i, err)
		}
	}

	w.uvarint(len(b.Logs))
	var prevTime int64
	for i := range b.Logs {
		l := &b.Logs[i]
		w.buf = binary.AppendVarint(w.buf, l.TimeNs-prevTime)
		prevTime = l.TimeNs
		if err := w.str("source", l.Source); err != nil {
			return fmt.Errorf("log %d: %w", i, err)
		}
		if err := w.str("message", l.Message); err != nil {
			return fmt.Errorf("log %d: %w", i, err)
		}
		var flags byte
		if l.Truncated {
			flags |= logTruncated
		}
		w.buf = append(w.buf, flags)
		if err := w.labelList(logAttrs, l.Attrs); err != nil {
			return fmt.Errorf("log %d: %w", i, err)
		}
	}

	w.uvarint(len(b.Alerts))
	prevTime = 0
	for i := range b.Alerts {
		a := &b.Alerts[i]
		w.buf = binary.AppendVarint(w.buf, a.TimeNs-prevTime)
		prevTime = a.TimeNs
		if err := w.str("name", a.Name); err != nil {
			return fmt.Errorf("alert %d: %w", i, err)
		}
		if a.Severity > maxSeverity {
			return fmt.Errorf("alert %d: unknown severity %d", i, a.Severity)
		}
		w.buf = append(w.buf, byte(a.Severity))
		if err := w.str("message", a.Message); err != nil {
			return fmt.Errorf("alert %d: %w", i, err)
		}
		if err := w.labelList(alertLabels, a.Labels); err != nil {
			return fmt.Errorf("alert %d: %w", i, err)
		}
	}
	return nil
}

func (w *bodyWriter) heartbeat(hb *batch.Heartbeat) error {
	w.buf = binary.AppendVarint(w.buf, hb.TimestampMs)
	for _, s := range []struct{ what, v string }{
		{"hostname", hb.Hostname}, {"agent version", hb.AgentVersion}, {"os", hb.OS},
	} {
		if err := w.str(s.what, s.v); err != nil {
			return err
		}
	}
	w.uvarint(len(hb.Values))
	for i := range hb.Values {
		v := &hb.Values[i]
		if err := w.str("value name", v.Name); err != nil {
			return fmt.Errorf("value %d: %w", i, err)
		}
		if v.Kind > maxKind {
			return fmt.Errorf("value %d: unknown kind %d", i, v.Kind)
		}
		w.buf = append(w.buf, byte(v.Kind))
	}
	// Values apart from names: unrelated gauges gain nothing from XOR, but
	// a run of 8-byte fields is what zstd handles best.
	for i := range hb.Values {
		w.buf = binary.BigEndian.AppendUint64(w.buf, math.Float64bits(hb.Values[i].Value))
	}
	return nil
}

func (w *bodyWriter) series(s *batch.Series, prevFirst *int64) error {
	if err := w.str("name", s.Name); err != nil {
		return err
	}
	if s.Kind > maxKind {
		return fmt.Errorf("unknown kind %d", s.Kind)
	}
	w.buf = append(w.buf, byte(s.Kind))
	ls := s.Labels
	if !slices.IsSortedFunc(ls, compareLabels) {
		w.labels = append(w.labels[:0], ls...)
		slices.SortFunc(w.labels, compareLabels)
		ls = w.labels
	}
	if err := w.labelList(seriesLabels, ls); err != nil {
		return err
	}

	// Timestamps first, then values: each column on its own compresses
	// better than interleaved pairs (measured ~15%).
	w.uvarint(len(s.Samples))
	var prev, prevDelta int64
	for i := range s.Samples {
		t := s.Samples[i].TimestampMs
		if i == 0 {
			// Series of one batch share collection instants, so the
			// first timestamp is usually equal to the previous series'.
			w.buf = binary.AppendVarint(w.buf, t-*prevFirst)
			*prevFirst = t
		} else {
			// Delta of deltas: a steady interval encodes as zeros.
			d := t - prev
			w.buf = binary.AppendVarint(w.buf, d-prevDelta)
			prevDelta = d
		}
		prev = t
	}
	// XOR with the previous value leaves leading zero bytes for slowly
	// moving series, which zstd compresses; bits are kept exactly, NaN
	// payloads included.
	var prevBits uint64
	for i := range s.Samples {
		bits := math.Float64bits(s.Samples[i].Value)
		w.buf = binary.BigEndian.AppendUint64(w.buf, bits^prevBits)
		prevBits = bits
	}
	return nil
}

func (w *bodyWriter) labelList(what labelWords, ls batch.Labels) error {
	w.uvarint(len(ls))
	for j := range ls {
		if err := w.str(what.name(), ls[j].Name); err != nil {
			return fmt.Errorf("%s %d: %w", what.one(), j, err)
		}
		if err := w.str(what.value(), ls[j].Value); err != nil {
			return fmt.Errorf("%s %d: %w", what.one(), j, err)
		}
	}
	return nil
}

// labelWords names a label list in errors without building strings on the
// hot path.
type labelWords uint8

const (
	seriesLabels labelWords = iota
	logAttrs
	alertLabels
)

func (w labelWords) one() string {
	if w == logAttrs {
		return "attribute"
	}
	return "label"
}

func (w labelWords) list() string {
	if w == logAttrs {
		return "attributes"
	}
	return "labels"
}

func (w labelWords) name() string {
	if w == logAttrs {
		return "attribute name"
	}
	return "label name"
}

func (w labelWords) value() string {
	if w == logAttrs {
		return "attribute value"
	}
	return "label value"
}

func (w *bodyWriter) str(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	w.uvarint(len(s))
	w.buf = append(w.buf, s...)
	return nil
}

func (w *bodyWriter) uvarint(n int) {
	w.buf = binary.AppendUvarint(w.buf, uint64(n))
}

// compareLabels is the canonical series label order: name, then value
// (the order batch.Labels.Sort produces).
func compareLabels(a, b batch.Label) int {
	if c := cmp.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return cmp.Compare(a.Value, b.Value)
}

const (
	maxKind      = batch.KindCounter
	maxSeverity  = batch.SeverityCritical
	logTruncated = 0x01
)
