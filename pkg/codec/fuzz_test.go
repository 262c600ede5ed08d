package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// fuzzCaps are small enough that the fuzzer reaches every cap and that a
// worker never spends its time inflating large payloads.
func fuzzCaps() Caps {
	return Caps{MaxEncodedBytes: 1 << 20, MaxDecodedBytes: 4 << 20, MaxSeries: 300, MaxSamples: 20000,
		MaxLabels: 16, MaxStringBytes: 4096, MaxLogs: 50, MaxAlerts: 8}
}

// FuzzDecode asserts that Decode never panics, that it refuses only with
// ErrMalformed, and that anything it accepts is within its caps, canonical,
// and survives Encode and Decode unchanged.
func FuzzDecode(f *testing.F) {
	for _, s := range corpusSeeds(f) {
		f.Add(s.data)
	}
	caps := fuzzCaps()
	enc, dec := newPair(f, caps)
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := dec.Decode(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("refused with an error that is not ErrMalformed: %v", err)
			}
			return
		}
		h, err := PeekHeader(data)
		if err != nil {
			t.Fatalf("Decode accepted what PeekHeader refuses: %v", err)
		}
		if h.AgentID != b.AgentID || h.Seq != b.Seq || h.CreatedNs != b.CreatedNs {
			t.Fatalf("header %+v disagrees with batch", h)
		}
		if b.SeriesCount() > caps.MaxSeries || b.SampleCount() > caps.MaxSamples ||
			len(b.Logs) > caps.MaxLogs || len(b.Alerts) > caps.MaxAlerts {
			t.Fatalf("accepted a batch beyond its caps: %d series, %d samples, %d logs, %d alerts",
				b.SeriesCount(), b.SampleCount(), len(b.Logs), len(b.Alerts))
		}
		re, err := enc.Encode(b)
		if err != nil {
			t.Fatalf("accepted batch does not re-encode: %v", err)
		}
		b2, err := dec.Decode(re)
		if err != nil {
			t.Fatalf("re-encoded batch does not decode: %v", err)
		}
		sameBatch(t, b2, b)
		sameBatch(t, b, canonical(b))
	})
}

// FuzzPeekHeader asserts that PeekHeader never panics, refuses only with
// ErrMalformed, and that a header it accepts describes the input exactly:
// writing it back reproduces the input's header bytes and length.
func FuzzPeekHeader(f *testing.F) {
	for _, s := range corpusSeeds(f) {
		f.Add(s.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := PeekHeader(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("refused with an error that is not ErrMalformed: %v", err)
			}
			return
		}
		hdr, at := appendHeader(nil, &h)
		binary.BigEndian.PutUint32(hdr[at:], h.PayloadBytes)
		binary.BigEndian.PutUint32(hdr[at+4:], h.DecodedBytes)
		binary.BigEndian.PutUint32(hdr[at+8:], h.Checksum)
		if len(data) != len(hdr)+int(h.PayloadBytes) {
			t.Fatalf("accepted %d bytes for a %d-byte header and %d-byte payload", len(data), len(hdr), h.PayloadBytes)
		}
		if !bytes.Equal(hdr, data[:len(hdr)]) {
			t.Fatalf("header %+v does not reproduce the input's header bytes", h)
		}
		if h.Version != formatVersion {
			t.Fatalf("accepted version %d", h.Version)
		}
	})
}
