package codec

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// body builds raw payload bytes for tests that need input the encoder would
// never produce. Every method returns a fresh slice, so a shared prefix can
// start several cases.
type body []byte

func (b body) own() []byte             { return b[:len(b):len(b)] }
func (b body) u(v uint64) body         { return binary.AppendUvarint(b.own(), v) }
func (b body) v(v int64) body          { return binary.AppendVarint(b.own(), v) }
func (b body) s(s string) body         { return append(b.u(uint64(len(s))), s...) }
func (b body) raw(p ...byte) body      { return append(b.own(), p...) }
func (b body) f(bits uint64) body      { return binary.BigEndian.AppendUint64(b.own(), bits) }
func (b body) series(name string) body { return b.s(name).raw(byte(batch.KindGauge)) }

// Header field offsets for agent id "a" (see doc.go).
const (
	offVersion = 4
	offFlags   = 5
	offIDLen   = 6
	offPayLen  = 7 + 1 + 16
	offDecLen  = offPayLen + 4
	offCRC     = offDecLen + 4
	offPayload = offCRC + 4
)

// frame wraps an arbitrary body in a valid header and zstd frame.
func frame(t testing.TB, b []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil, zstd.WithEncoderCRC(false), zstd.WithSingleSegment(true))
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	return assemble(zw.EncodeAll(b, nil), len(b))
}

// assemble puts a header for agent "a" in front of payload, with a correct
// length and checksum and the given decoded length.
func assemble(payload []byte, decoded int) []byte {
	out, at := appendHeader(nil, &Header{AgentID: "a", Seq: 7, CreatedNs: 9})
	out = append(out, payload...)
	binary.BigEndian.PutUint32(out[at:], uint32(len(payload)))
	binary.BigEndian.PutUint32(out[at+4:], uint32(decoded))
	binary.BigEndian.PutUint32(out[at+8:], crc32.Checksum(payload, crc32.MakeTable(crc32.Castagnoli)))
	return out
}

// fixCRC recomputes the checksum after a test changed the payload.
func fixCRC(data []byte) []byte {
	off := prefixLen + int(data[offIDLen]) + 24
	binary.BigEndian.PutUint32(data[off:], crc32.Checksum(data[off+4:], crc32.MakeTable(crc32.Castagnoli)))
	return data
}

func valid(t testing.TB) []byte {
	t.Helper()
	enc, err := NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	data, err := enc.Encode(&batch.Batch{AgentID: "a", Seq: 7, CreatedNs: 9, Series: []batch.Series{
		{Name: "up", Samples: []batch.Sample{{TimestampMs: 1, Value: 1}}}}})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func edit(data []byte, f func(d []byte) []byte) []byte {
	return f(append([]byte(nil), data...))
}

func TestDecodeRefusesMalformedHeader(t *testing.T) {
	good := valid(t)
	put32 := func(off int, v uint32) func([]byte) []byte {
		return func(d []byte) []byte { binary.BigEndian.PutUint32(d[off:], v); return d }
	}
	payLen := binary.BigEndian.Uint32(good[offPayLen:])
	decLen := binary.BigEndian.Uint32(good[offDecLen:])
	notSingle := func() []byte {
		zw, err := zstd.NewWriter(nil, zstd.WithSingleSegment(false), zstd.WithEncoderCRC(false))
		if err != nil {
			t.Fatal(err)
		}
		defer zw.Close()
		b := body{}.raw(0).u(0).u(0).u(0)
		return assemble(zw.EncodeAll(b, nil), len(b))
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
		peek bool // PeekHeader must refuse it too
	}{
		{"empty", nil, "short header: 0 bytes", true},
		{"short header", good[:10], "short header: 10 bytes", true},
		{"one byte short of fixed header", good[:minHeader-1], "short header", true},
		{"agent id beyond data", edit(good[:minHeader+1], func(d []byte) []byte { d[offIDLen] = 200; return d }), "agent id needs 235", true},
		{"bad magic", edit(good, func(d []byte) []byte { d[1] = 'X'; return d }), "bad magic", true},
		{"version 0", edit(good, func(d []byte) []byte { d[offVersion] = 0; return d }), "unsupported format version 0", true},
		{"version 2", edit(good, func(d []byte) []byte { d[offVersion] = 2; return d }), "unsupported format version 2", true},
		{"no compression flag", edit(good, func(d []byte) []byte { d[offFlags] = 0; return d }), "unknown flags", true},
		{"reserved flag", edit(good, func(d []byte) []byte { d[offFlags] = 0x81; return d }), "unknown flags 0x81", true},
		{"agent id not utf8", edit(good, func(d []byte) []byte { d[7] = 0xff; return d }), "agent id is not valid UTF-8", true},
		{"truncated payload", good[:len(good)-1], "truncated payload", true},
		{"trailing garbage", append(append([]byte(nil), good...), 0), "trailing garbage: 1 bytes", true},
		{"payload length too big", edit(good, put32(offPayLen, payLen+1)), "truncated payload", true},
		{"payload length too small", edit(good, put32(offPayLen, payLen-1)), "trailing garbage", true},
		{"payload length huge", edit(good, put32(offPayLen, math.MaxUint32)), "truncated payload", true},
		{"decoded length impossible", edit(good, put32(offDecLen, payLen*maxZstdGain+1)), "impossible", true},
		{"decoded length too big", edit(good, put32(offDecLen, decLen+1)), "does not match the header's decoded length", false},
		{"decoded length too small", edit(good, put32(offDecLen, decLen-1)), "does not match the header's decoded length", false},
		{"payload byte flipped", edit(good, func(d []byte) []byte { d[len(d)-1] ^= 1; return d }), "checksum mismatch", false},
		{"checksum flipped", edit(good, func(d []byte) []byte { d[offCRC] ^= 0x80; return d }), "checksum mismatch", false},
		{"payload not zstd", assemble([]byte("definitely not zstd"), 4), "zstd frame header", false},
		{"payload empty", assemble(nil, 0), "zstd frame header", false},
		{"skippable frame", assemble([]byte{0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 0, 0, 0, 0}, 4), "not a single-segment", false},
		{"frame not single segment", notSingle(), "not a single-segment", false},
		{"corrupt zstd block", edit(good, func(d []byte) []byte { d[len(d)-1] ^= 0xff; return fixCRC(d) }), "", false},
		{"two frames", func() []byte {
			p := good[offPayload:]
			return assemble(append(append([]byte(nil), p...), p...), int(decLen))
		}(), "payload", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, dec := newPair(t, DefaultCaps())
			_, err := dec.Decode(tc.data)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode: got %v, want ErrMalformed containing %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "codec: decode: ") {
				t.Errorf("error %q does not say what was being done", err)
			}
			_, perr := PeekHeader(tc.data)
			if tc.peek && (!errors.Is(perr, ErrMalformed) || !strings.Contains(perr.Error(), tc.want)) {
				t.Fatalf("PeekHeader: got %v, want ErrMalformed containing %q", perr, tc.want)
			}
			if !tc.peek && perr != nil {
				t.Fatalf("PeekHeader refused a well-formed header: %v", perr)
			}
		})
	}
}

func TestDecodeRefusesMalformedBody(t *testing.T) {
	empty := body{}.raw(0).u(0).u(0).u(0)
	oneSeries := body{}.raw(0).u(1)
	for _, tc := range []struct {
		name string
		body body
		want string
	}{
		{"empty body", body{}, "heartbeat flag: unexpected end"},
		{"heartbeat flag", body{}.raw(2), "heartbeat flag 2"},
		{"missing series count", body{}.raw(0), "series: unexpected end"},
		{"missing alerts", body{}.raw(0).u(0).u(0), "alerts: unexpected end"},
		{"trailing bytes", append(empty, 0xff), "1 trailing bytes"},
		{"varint overflow", body{}.raw(0).raw(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), "overflows 64 bits"},
		{"unknown series kind", oneSeries.s("up").raw(5).u(0).u(0).u(0).u(0), "series 0: unknown kind 5"},
		{"unknown heartbeat kind", body{}.raw(1).v(0).s("").s("").s("").u(1).s("v").raw(3).f(0).u(0).u(0).u(0), "heartbeat: value 0: unknown kind 3"},
		{"labels unsorted", oneSeries.series("up").u(2).s("b").s("1").s("a").s("1").u(0).u(0).u(0), "labels not in canonical order"},
		{"labels same name unsorted values", oneSeries.series("up").u(2).s("a").s("2").s("a").s("1").u(0).u(0).u(0), "labels not in canonical order"},
		{"series name not utf8", oneSeries.s("u\xffp").raw(1).u(0).u(0).u(0).u(0), "series 0: name is not valid UTF-8"},
		{"label value not utf8", oneSeries.series("up").u(1).s("a").s("\xc3").u(0).u(0).u(0), "label 0: label value is not valid UTF-8"},
		{"hostname not utf8", body{}.raw(1).v(0).s("\xed\xa0\x80").s("").s("").u(0).u(0).u(0).u(0), "heartbeat: hostname is not valid UTF-8"},
		{"log message not utf8", body{}.raw(0).u(0).u(1).v(0).s("src").s("bad\xff").raw(0).u(0).u(0), "log 0: message is not valid UTF-8"},
		{"log attr not utf8", body{}.raw(0).u(0).u(1).v(0).s("src").s("m").raw(0).u(1).s("\xff").s("").u(0), "log 0: attribute 0: attribute name is not valid UTF-8"},
		{"alert name not utf8", body{}.raw(0).u(0).u(0).u(1).v(0).s("\xff").raw(0).s("").u(0), "alert 0: name is not valid UTF-8"},
		{"unknown log flags", body{}.raw(0).u(0).u(1).v(0).s("s").s("m").raw(2).u(0).u(0), "unknown log flags 0x02"},
		{"unknown severity", body{}.raw(0).u(0).u(0).u(1).v(0).s("n").raw(3).s("").u(0), "unknown severity 3"},
		{"string beyond remaining", oneSeries.u(50).raw('a', 'b', 'c', 'd'), "series 0: name: need 50 bytes, 4 left"},
		{"series count beyond remaining", body{}.raw(0).u(1000).raw(0, 0, 0, 0), "series count 1000 exceeds what the remaining 4 bytes can hold"},
		{"sample count beyond remaining", oneSeries.series("up").u(0).u(100).v(1).f(0), "samples count 100 exceeds"},
		{"label count beyond remaining", oneSeries.series("up").u(20).s("a").s("b"), "labels count 20 exceeds"},
		{"log count beyond remaining", body{}.raw(0).u(0).u(10).raw(0, 0, 0, 0, 0), "logs count 10 exceeds"},
		{"heartbeat values truncated", body{}.raw(1).v(0).s("").s("").s("").u(2).s("aaaa").raw(1).s("bbbb").raw(1).f(0).raw(0, 0), "heartbeat: values: need 16 bytes, 10 left"},
		{"sample values truncated", oneSeries.series("up").u(0).u(2).v(1<<40).v(0).f(0).raw(1, 2, 3, 4, 5, 6), "series 0: values: need 16 bytes, 14 left"},
		{"timestamp cut short", oneSeries.series("up").u(0).u(1).raw(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80), "series 0: sample 0: timestamp: unexpected end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, dec := newPair(t, DefaultCaps())
			_, err := dec.Decode(frame(t, tc.body))
			var ce *CapError
			if !errors.Is(err, ErrMalformed) || errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrMalformed (not a cap) containing %q", err, tc.want)
			}
		})
	}
}

func TestDecodeEnforcesCaps(t *testing.T) {
	small := Caps{MaxEncodedBytes: 1 << 20, MaxDecodedBytes: 1 << 20, MaxSeries: 2, MaxSamples: 5,
		MaxLabels: 2, MaxStringBytes: 10, MaxLogs: 2, MaxAlerts: 1}
	hb := func(n int) body {
		b := body{}.raw(1).v(0).s("").s("").s("").u(uint64(n))
		for i := 0; i < n; i++ {
			b = b.s("v").raw(1)
		}
		for i := 0; i < n; i++ {
			b = b.f(0)
		}
		return b
	}
	samples := func(b body, n int) body {
		b = b.u(uint64(n))
		for i := 0; i < n; i++ {
			b = b.v(0)
		}
		for i := 0; i < n; i++ {
			b = b.f(0)
		}
		return b
	}
	ser := func(b body, n int) body { return samples(b.series("s").u(0), n) }
	long := strings.Repeat("x", 11)
	for _, tc := range []struct {
		name  string
		caps  func(c *Caps)
		data  func(t *testing.T) []byte
		cap   string
		value int
		max   int
	}{
		{"encoded bytes", func(c *Caps) { c.MaxEncodedBytes = 20 }, func(t *testing.T) []byte { return valid(t) }, "MaxEncodedBytes", len(valid(t)), 20},
		{"decoded bytes", func(c *Caps) { c.MaxDecodedBytes = 3 }, func(t *testing.T) []byte { return frame(t, body{}.raw(0).u(0).u(0).u(0)) }, "MaxDecodedBytes", 4, 3},
		{"series", nil, func(t *testing.T) []byte { return frame(t, body{}.raw(0).u(3)) }, "MaxSeries", 3, 2},
		{"huge series count", nil, func(t *testing.T) []byte { return frame(t, body{}.raw(0).u(math.MaxUint64)) }, "MaxSeries", math.MaxInt, 2},
		{"heartbeat values", nil, func(t *testing.T) []byte { return frame(t, body{}.raw(1).v(0).s("").s("").s("").u(3)) }, "MaxSeries", 3, 2},
		{"heartbeat values plus series", nil, func(t *testing.T) []byte { return frame(t, hb(2).u(1)) }, "MaxSeries", 3, 2},
		{"heartbeat values as samples", func(c *Caps) { c.MaxSamples = 1 }, func(t *testing.T) []byte { return frame(t, hb(2)) }, "MaxSamples", 2, 1},
		{"samples in one series", nil, func(t *testing.T) []byte { return frame(t, body{}.raw(0).u(1).series("s").u(0).u(6)) }, "MaxSamples", 6, 5},
		{"samples across series", nil, func(t *testing.T) []byte { return frame(t, ser(ser(body{}.raw(0).u(2), 3), 3)) }, "MaxSamples", 6, 5},
		{"samples after heartbeat", nil, func(t *testing.T) []byte { return frame(t, ser(hb(1).u(1), 5)) }, "MaxSamples", 6, 5},
		{"series labels", nil, func(t *testing.T) []byte { return frame(t, body{}.raw(0).u(1).series("s").u(3)) }, "MaxLabels", 3, 2},
		{"log attributes", nil, func(t *testing.T) []byte { return frame(t, body{}.raw(0).u(0).u(1).v(0).s("").s("").raw(0).u(3)) }, "MaxLabels", 3, 2},
		{"alert labels", nil, func(t *testing.T) []byte { return frame(t, body{}.raw(0).u(0).u(0).u(1).v(0).s("").raw(0).s("").u(3)) }, "MaxLabels", 3, 2},
		{"logs", nil, func(t *testing.T) []byte { return frame(t, body{}.raw(0).u(0).u(3)) }, "MaxLogs", 3, 2},
		{"alerts", nil, func(t *testing.T) []byte { return frame(t, body{}.raw(0).u(0).u(0).u(2)) }, "MaxAlerts", 2, 1},
		{"series name", nil, func(t *testing.T) []byte { return frame(t, body{}.raw(0).u(1).s(long)) }, "MaxStringBytes", 11, 10},
		{"hostname", nil, func(t *testing.T) []byte { return frame(t, body{}.raw(1).v(0).s(long)) }, "MaxStringBytes", 11, 10},
		{"log message", nil, func(t *testing.T) []byte { return frame(t, body{}.raw(0).u(0).u(1).v(0).s("").s(long)) }, "MaxStringBytes", 11, 10},
		{"huge string length", nil, func(t *testing.T) []byte { return frame(t, body{}.raw(0).u(1).u(1<<62)) }, "MaxStringBytes", 1 << 62, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := small
			if tc.caps != nil {
				tc.caps(&c)
			}
			_, dec := newPair(t, c)
			_, err := dec.Decode(tc.data(t))
			var ce *CapError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a *CapError", err)
			}
			if ce.Cap != tc.cap || ce.Value != tc.value || ce.Max != tc.max {
				t.Fatalf("got %+v, want {%s %d %d}", *ce, tc.cap, tc.value, tc.max)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("a CapError must also match ErrMalformed: %v", err)
			}
			if !strings.Contains(err.Error(), tc.cap) {
				t.Errorf("error %q does not name the cap", err)
			}
		})
	}
}

// TestHugeCountsDoNotAllocate proves counts are checked against the
// remaining bytes before allocation: with caps that admit anything, a tiny
// body declaring 2^40 series, labels, samples or a 2^40-byte string must be
// refused having allocated almost nothing.
func TestHugeCountsDoNotAllocate(t *testing.T) {
	huge := Caps{MaxEncodedBytes: 1 << 20, MaxDecodedBytes: 1 << 20, MaxSeries: math.MaxInt, MaxSamples: math.MaxInt,
		MaxLabels: math.MaxInt, MaxStringBytes: math.MaxInt, MaxLogs: math.MaxInt, MaxAlerts: math.MaxInt}
	const n = 1 << 40
	for _, tc := range []struct {
		name string
		body body
	}{
		{"series", body{}.raw(0).u(n)},
		{"heartbeat values", body{}.raw(1).v(0).s("").s("").s("").u(n)},
		{"labels", body{}.raw(0).u(1).series("s").u(n)},
		{"samples", body{}.raw(0).u(1).series("s").u(0).u(n)},
		{"logs", body{}.raw(0).u(0).u(n)},
		{"alerts", body{}.raw(0).u(0).u(0).u(n)},
		{"string", body{}.raw(0).u(1).u(n)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, dec := newPair(t, huge)
			data := frame(t, tc.body)
			if _, err := dec.Decode(data); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "remaining") && !strings.Contains(err.Error(), "need") {
				t.Fatalf("got %v, want a malformed error about the remaining bytes", err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for i := 0; i < 10; i++ {
				_, _ = dec.Decode(data)
			}
			runtime.ReadMemStats(&after)
			// The decode buffer (body plus one zstd block of slack, usually
			// recycled) is all; the declared count would need terabytes.
			if per := (after.TotalAlloc - before.TotalAlloc) / 10; per > frameSlack+16<<10 {
				t.Fatalf("refusing a %d-element count allocated %d bytes per decode", uint64(n), per)
			}
		})
	}
}
