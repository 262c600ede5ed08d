package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"sync"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// Decoder turns wire bytes back into batches, refusing anything beyond its
// Caps before allocating for it. It is safe for concurrent use.
type Decoder struct {
	caps Caps
	zr   *zstd.Decoder
	crc  *crc32.Table
	// bufs recycles decompression buffers of up to poolMax bytes: the
	// batch copies everything it keeps out of them.
	bufs sync.Pool
}

const poolMax = 1 << 20

// NewDecoder returns a Decoder bounded by c. The byte caps must be positive
// and the others not negative. Close it to release its zstd state.
func NewDecoder(c Caps) (*Decoder, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	limit := uint64(c.MaxDecodedBytes)
	zr, err := zstd.NewReader(nil,
		// Belt and braces: the header's decoded length (itself capped)
		// sizes the output buffer and WithDecodeAllCapLimit stops zstd at
		// it; this bounds anything that slips past.
		zstd.WithDecoderMaxMemory(limit),
		zstd.WithDecoderMaxWindow(max(limit, zstd.MinWindowSize)),
		zstd.WithDecodeAllCapLimit(true),
		zstd.WithDecoderConcurrency(0),
	)
	if err != nil {
		return nil, fmt.Errorf("codec: new decoder: %w", err)
	}
	return &Decoder{caps: c, zr: zr, crc: crc32.MakeTable(crc32.Castagnoli)}, nil
}

// Close releases the decoder's resources. Call it once every Decode has
// returned; the Decoder must not be used after.
func (d *Decoder) Close() {
	d.zr.Close()
}

// Decode checks and decodes one encoded batch. Input errors match
// ErrMalformed; a declared size or count beyond the Caps is a *CapError.
// Zero-length lists decode as nil.
func (d *Decoder) Decode(data []byte) (*batch.Batch, error) {
	b, err := d.decode(data)
	if err != nil {
		return nil, fmt.Errorf("codec: decode: %w", err)
	}
	return b, nil
}

func (d *Decoder) decode(data []byte) (*batch.Batch, error) {
	if len(data) > d.caps.MaxEncodedBytes {
		return nil, capError("MaxEncodedBytes", uint64(len(data)), d.caps.MaxEncodedBytes)
	}
	h, payload, err := parseHeader(data)
	if err != nil {
		return nil, err
	}
	if uint64(h.DecodedBytes) > uint64(d.caps.MaxDecodedBytes) {
		return nil, capError("MaxDecodedBytes", uint64(h.DecodedBytes), d.caps.MaxDecodedBytes)
	}
	if crc32.Checksum(payload, d.crc) != h.Checksum {
		return nil, malformed("checksum mismatch")
	}
	size := int(h.DecodedBytes)
	if err := checkFrame(payload, size); err != nil {
		return nil, err
	}
	// The header's length (capped above and matched against the zstd
	// frame) bounds this buffer. The slack holds the one block zstd
	// decodes before noticing it overran, so a bomb fails without the
	// buffer being reallocated.
	need := size + frameSlack
	bp, _ := d.bufs.Get().(*[]byte)
	if bp == nil || cap(*bp) < need {
		bp = new([]byte)
		*bp = make([]byte, 0, need)
	}
	if cap(*bp) <= poolMax {
		defer d.bufs.Put(bp)
	}
	body, err := d.decompress(payload, (*bp)[:0:need], size)
	if err != nil {
		return nil, err
	}
	b := &batch.Batch{AgentID: h.AgentID, Seq: h.Seq, CreatedNs: h.CreatedNs}
	r := bodyReader{buf: body, caps: &d.caps}
	if err := r.batch(b); err != nil {
		var ce *CapError
		if errors.As(err, &ce) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return b, nil
}

// checkFrame reads the zstd frame header so that a frame which could inflate
// past the batch header's decoded length is refused before any buffer
// exists: it must be one plain single-segment frame whose content size is
// that length.
func checkFrame(payload []byte, size int) error {
	var zh zstd.Header
	if err := zh.Decode(payload); err != nil {
		return malformed("payload: zstd frame header: %v", err)
	}
	switch {
	case zh.Skippable || zh.DictionaryID != 0 || !zh.SingleSegment:
		return malformed("payload: not a single-segment zstd frame without dictionary")
	case !zh.HasFCS || zh.FrameContentSize != uint64(size):
		return malformed("payload: zstd content size %d does not match the header's decoded length %d", zh.FrameContentSize, size)
	}
	return nil
}

// frameSlack is one maximum zstd block (128 KiB) plus the decoder's
// over-allocation margin.
const frameSlack = 128<<10 + 64

// decompress inflates payload into dst, which must not grow: with
// WithDecodeAllCapLimit, zstd stops at cap(dst), and the frame's content
// size (checked equal to size) stops it one block earlier.
func (d *Decoder) decompress(payload, dst []byte, size int) ([]byte, error) {
	body, err := d.zr.DecodeAll(payload, dst)
	if err != nil {
		if errors.Is(err, zstd.ErrDecoderClosed) {
			return nil, err
		}
		return nil, malformed("payload: %v", err)
	}
	if len(body) != size {
		return nil, malformed("payload: decoded to %d bytes, header declares %d", len(body), size)
	}
	return body, nil
}

// Minimum encoded sizes, used to refuse a count the remaining bytes cannot
// hold before allocating for it.
const (
	minScalar = 1 + 1 + 8 // name length, kind, value
	minSeries = 1 + 1 + 1 + 1
	minSample = 1 + 8
	minLabel  = 1 + 1
	minLog    = 1 + 1 + 1 + 1 + 1
	minAlert  = 1 + 1 + 1 + 1 + 1
)

// bodyReader parses the uncompressed payload described in doc.go. Its
// errors carry where in the batch they arose; Decode marks them malformed.
type bodyReader struct {
	buf     []byte
	off     int
	caps    *Caps
	series  int // heartbeat values + series so far
	samples int
	// interned shares one copy of each short string (label names, metric
	// names, label values repeat across series) between the batch's fields.
	interned map[string]string
}

// internMax is the longest string worth interning; longer ones (log
// messages) rarely repeat.
const internMax = 64

func (r *bodyReader) batch(b *batch.Batch) error {
	flag, err := r.byte("heartbeat flag")
	if err != nil {
		return err
	}
	switch flag {
	case 0:
	case 1:
		b.Heartbeat = new(batch.Heartbeat)
		if err := r.heartbeat(b.Heartbeat); err != nil {
			return fmt.Errorf("heartbeat: %w", err)
		}
	default:
		return fmt.Errorf("heartbeat flag %d", flag)
	}

	n, err := r.count("series", "MaxSeries", r.caps.MaxSeries, r.series, minSeries)
	if err != nil {
		return err
	}
	r.series += n
	if n > 0 {
		b.Series = make([]batch.Series, n)
	}
	var prevFirst int64
	for i := range b.Series {
		if err := r.oneSeries(&b.Series[i], &prevFirst); err != nil {
			return fmt.Errorf("series %d: %w", i, err)
		}
	}

	if n, err = r.count("logs", "MaxLogs", r.caps.MaxLogs, 0, minLog); err != nil {
		return err
	}
	if n > 0 {
		b.Logs = make([]batch.LogRecord, n)
	}
	var prevTime int64
	for i := range b.Logs {
		if err := r.log(&b.Logs[i], &prevTime); err != nil {
			return fmt.Errorf("log %d: %w", i, err)
		}
	}

	if n, err = r.count("alerts", "MaxAlerts", r.caps.MaxAlerts, 0, minAlert); err != nil {
		return err
	}
	if n > 0 {
		b.Alerts = make([]batch.Alert, n)
	}
	prevTime = 0
	for i := range b.Alerts {
		if err := r.alert(&b.Alerts[i], &prevTime); err != nil {
			return fmt.Errorf("alert %d: %w", i, err)
		}
	}
	if rest := len(r.buf) - r.off; rest != 0 {
		return fmt.Errorf("%d trailing bytes after the last section", rest)
	}
	return nil
}

func (r *bodyReader) heartbeat(hb *batch.Heartbeat) error {
	var err error
	if hb.TimestampMs, err = r.varint("timestamp"); err != nil {
		return err
	}
	if hb.Hostname, err = r.str("hostname"); err != nil {
		return err
	}
	if hb.AgentVersion, err = r.str("agent version"); err != nil {
		return err
	}
	if hb.OS, err = r.str("os"); err != nil {
		return err
	}
	n, err := r.count("values", "MaxSeries", r.caps.MaxSeries, r.series, minScalar)
	if err != nil {
		return err
	}
	// Heartbeat values count as samples too (batch.SampleCount does).
	if n > r.caps.MaxSamples {
		return capError("MaxSamples", uint64(n), r.caps.MaxSamples)
	}
	r.series += n
	r.samples += n
	if n == 0 {
		return nil
	}
	hb.Values = make([]batch.Scalar, n)
	for i := range hb.Values {
		v := &hb.Values[i]
		if v.Name, err = r.str("value name"); err != nil {
			return fmt.Errorf("value %d: %w", i, err)
		}
		if v.Kind, err = r.kind(); err != nil {
			return fmt.Errorf("value %d: %w", i, err)
		}
	}
	if err := r.need("values", 8*n); err != nil {
		return err
	}
	for i := range hb.Values {
		hb.Values[i].Value = math.Float64frombits(binary.BigEndian.Uint64(r.buf[r.off:]))
		r.off += 8
	}
	return nil
}

func (r *bodyReader) oneSeries(s *batch.Series, prevFirst *int64) error {
	var err error
	if s.Name, err = r.str("name"); err != nil {
		return err
	}
	if s.Kind, err = r.kind(); err != nil {
		return err
	}
	if s.Labels, err = r.labelList(seriesLabels); err != nil {
		return err
	}
	for j := 1; j < len(s.Labels); j++ {
		if compareLabels(s.Labels[j-1], s.Labels[j]) > 0 {
			return fmt.Errorf("labels not in canonical order at label %d", j)
		}
	}
	n, err := r.count("samples", "MaxSamples", r.caps.MaxSamples, r.samples, minSample)
	if err != nil {
		return err
	}
	r.samples += n
	if n == 0 {
		return nil
	}
	s.Samples = make([]batch.Sample, n)
	var prev, prevDelta int64
	for i := range s.Samples {
		v, err := r.varint("timestamp")
		if err != nil {
			return fmt.Errorf("sample %d: %w", i, err)
		}
		// Wrapping arithmetic mirrors the encoder's, so any int64 survives.
		if i == 0 {
			prev = *prevFirst + v
			*prevFirst = prev
		} else {
			prevDelta += v
			prev += prevDelta
		}
		s.Samples[i].TimestampMs = prev
	}
	if err := r.need("values", 8*n); err != nil {
		return err
	}
	var bits uint64
	for i := range s.Samples {
		bits ^= binary.BigEndian.Uint64(r.buf[r.off:])
		r.off += 8
		s.Samples[i].Value = math.Float64frombits(bits)
	}
	return nil
}

func (r *bodyReader) log(l *batch.LogRecord, prevTime *int64) error {
	d, err := r.varint("time")
	if err != nil {
		return err
	}
	*prevTime += d
	l.TimeNs = *prevTime
	if l.Source, err = r.str("source"); err != nil {
		return err
	}
	if l.Message, err = r.str("message"); err != nil {
		return err
	}
	flags, err := r.byte("flags")
	if err != nil {
		return err
	}
	if flags&^logTruncated != 0 {
		return fmt.Errorf("unknown log flags %#02x", flags)
	}
	l.Truncated = flags&logTruncated != 0
	l.Attrs, err = r.labelList(logAttrs)
	return err
}

func (r *bodyReader) alert(a *batch.Alert, prevTime *int64) error {
	d, err := r.varint("time")
	if err != nil {
		return err
	}
	*prevTime += d
	a.TimeNs = *prevTime
	if a.Name, err = r.str("name"); err != nil {
		return err
	}
	sev, err := r.byte("severity")
	if err != nil {
		return err
	}
	if batch.Severity(sev) > maxSeverity {
		return fmt.Errorf("unknown severity %d", sev)
	}
	a.Severity = batch.Severity(sev)
	if a.Message, err = r.str("message"); err != nil {
		return err
	}
	a.Labels, err = r.labelList(alertLabels)
	return err
}

func (r *bodyReader) labelList(what labelWords) (batch.Labels, error) {
	n, err := r.count(what.list(), "MaxLabels", r.caps.MaxLabels, 0, minLabel)
	if err != nil || n == 0 {
		return nil, err
	}
	ls := make(batch.Labels, n)
	for j := range ls {
		if ls[j].Name, err = r.str(what.name()); err != nil {
			return nil, fmt.Errorf("%s %d: %w", what.one(), j, err)
		}
		if ls[j].Value, err = r.str(what.value()); err != nil {
			return nil, fmt.Errorf("%s %d: %w", what.one(), j, err)
		}
	}
	return ls, nil
}

// count reads a list length and checks it against its cap (given how many
// the batch already holds) and against the bytes left, at minEach bytes per
// element, before the caller allocates.
func (r *bodyReader) count(what, capName string, capMax, already, minEach int) (int, error) {
	v, err := r.uvarint(what)
	if err != nil {
		return 0, err
	}
	if v > uint64(capMax-already) {
		total := v + uint64(already)
		if total < v { // saturate rather than wrap in the report
			total = math.MaxUint64
		}
		return 0, capError(capName, total, capMax)
	}
	n := int(v)
	if rest := len(r.buf) - r.off; n > rest/minEach {
		return 0, fmt.Errorf("%s count %d exceeds what the remaining %d bytes can hold", what, n, rest)
	}
	return n, nil
}

func (r *bodyReader) str(what string) (string, error) {
	v, err := r.uvarint(what)
	if err != nil {
		return "", err
	}
	if v > uint64(r.caps.MaxStringBytes) {
		return "", fmt.Errorf("%s: %w", what, capError("MaxStringBytes", v, r.caps.MaxStringBytes))
	}
	n := int(v)
	if err := r.need(what, n); err != nil {
		return "", err
	}
	raw := r.buf[r.off : r.off+n]
	if !utf8.Valid(raw) {
		return "", fmt.Errorf("%s is not valid UTF-8", what)
	}
	r.off += n
	if n > internMax {
		return string(raw), nil
	}
	if s, ok := r.interned[string(raw)]; ok {
		return s, nil
	}
	if r.interned == nil {
		r.interned = make(map[string]string, 64)
	}
	s := string(raw)
	r.interned[s] = s
	return s, nil
}

func (r *bodyReader) kind() (batch.Kind, error) {
	k, err := r.byte("kind")
	if err != nil {
		return 0, err
	}
	if batch.Kind(k) > maxKind {
		return 0, fmt.Errorf("unknown kind %d", k)
	}
	return batch.Kind(k), nil
}

func (r *bodyReader) need(what string, n int) error {
	if rest := len(r.buf) - r.off; n > rest {
		return fmt.Errorf("%s: need %d bytes, %d left", what, n, rest)
	}
	return nil
}

func (r *bodyReader) byte(what string) (byte, error) {
	if r.off >= len(r.buf) {
		return 0, fmt.Errorf("%s: unexpected end of payload", what)
	}
	c := r.buf[r.off]
	r.off++
	return c, nil
}

func (r *bodyReader) uvarint(what string) (uint64, error) {
	v, n := binary.Uvarint(r.buf[r.off:])
	if n <= 0 {
		return 0, r.varintErr(what, n)
	}
	r.off += n
	return v, nil
}

func (r *bodyReader) varint(what string) (int64, error) {
	v, n := binary.Varint(r.buf[r.off:])
	if n <= 0 {
		return 0, r.varintErr(what, n)
	}
	r.off += n
	return v, nil
}

func (r *bodyReader) varintErr(what string, n int) error {
	if n == 0 {
		return fmt.Errorf("%s: unexpected end of payload", what)
	}
	return fmt.Errorf("%s: varint overflows 64 bits", what)
}
