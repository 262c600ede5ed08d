package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// ContentType is the media type of an encoded batch in an HTTP request.
const ContentType = "application/x-lightmetrics-batch"

// formatVersion is the wire layout this package writes and the only one it
// reads. Any incompatible change to doc.go's layout bumps it.
const formatVersion uint8 = 1

// magic opens every encoded batch. The high first byte (as in PNG) makes a
// batch mangled by a 7-bit or text-mode channel fail at once.
const magic = "\x89LMB"

// flagZstd marks a zstd-compressed payload. Version 1 always sets it; the
// other bits are reserved and must be zero so that a future writer's feature
// is refused rather than misread.
const flagZstd = 0x01

// Fixed header offsets (see doc.go). The agent id sits between the fixed
// prefix and the fixed suffix.
const (
	prefixLen   = 7  // magic, version, flags, agent id length
	suffixLen   = 28 // seq, created, payload length, decoded length, crc
	minHeader   = prefixLen + suffixLen
	maxAgentID  = math.MaxUint8
	maxZstdGain = 32768 // no zstd frame decodes to more than this many bytes per input byte
)

// ErrMalformed is matched (errors.Is) by every error Decode and PeekHeader
// return for input that is not an acceptable batch. The wrapping error says
// why, e.g. "checksum mismatch". A *CapError matches it too, so that a
// caller who only checks ErrMalformed still answers "bad request" rather than
// retrying; check for *CapError first to name the cap.
var ErrMalformed = errors.New("malformed batch")

// CapError reports a declared size or count beyond one of the decoder's Caps.
// It is returned wrapped; use errors.As.
type CapError struct {
	Cap   string // the Caps field, e.g. "MaxSeries"
	Value int    // what the input declared (saturated at math.MaxInt)
	Max   int    // the cap
}

// Error names the cap and both values.
func (e *CapError) Error() string {
	return fmt.Sprintf("%s exceeded: batch declares %d, cap is %d", e.Cap, e.Value, e.Max)
}

// Is makes a *CapError match ErrMalformed.
func (e *CapError) Is(target error) bool { return target == ErrMalformed }

// Caps bound what a Decoder accepts. Every count and size the input declares
// is checked against them before anything is allocated for it, so they also
// bound the memory one Decode can use: at most about 2×MaxDecodedBytes (the
// decompressed payload and the strings copied out of it) plus 16 bytes per
// sample and 32 bytes per label.
type Caps struct {
	MaxEncodedBytes int // whole encoded batch, header included
	MaxDecodedBytes int // decompressed payload
	MaxSeries       int // heartbeat values + series
	MaxSamples      int // total samples, heartbeat values included
	MaxLabels       int // per series, log record or alert
	MaxStringBytes  int // any single string
	MaxLogs         int
	MaxAlerts       int
}

// DefaultCaps returns caps that admit any batch a default-configured agent
// sends: they mirror the collector's default ingest limits where one exists
// (body 16 MiB, decoded 64 MiB, 2048 series, 32 labels, 1000 logs, 16
// alerts), allow 2^20 samples and 16 KiB strings, and keep one Decode under
// about 150 MiB.
func DefaultCaps() Caps {
	return Caps{
		MaxEncodedBytes: 16 << 20,
		MaxDecodedBytes: 64 << 20,
		MaxSeries:       2048,
		MaxSamples:      1 << 20,
		MaxLabels:       32,
		MaxStringBytes:  16384,
		MaxLogs:         1000,
		MaxAlerts:       16,
	}
}

func (c Caps) validate() error {
	for _, f := range []struct {
		name string
		v    int
		min  int
	}{
		// Zero byte caps would refuse everything, so they are taken as a
		// forgotten field; zero counts are legitimate (e.g. no alerts).
		{"MaxEncodedBytes", c.MaxEncodedBytes, 1}, {"MaxDecodedBytes", c.MaxDecodedBytes, 1},
		{"MaxSeries", c.MaxSeries, 0}, {"MaxSamples", c.MaxSamples, 0}, {"MaxLabels", c.MaxLabels, 0},
		{"MaxStringBytes", c.MaxStringBytes, 0}, {"MaxLogs", c.MaxLogs, 0}, {"MaxAlerts", c.MaxAlerts, 0},
	} {
		if f.v < f.min {
			return fmt.Errorf("codec: caps: %s must be at least %d, got %d", f.name, f.min, f.v)
		}
	}
	return nil
}

// Header is the uncompressed prefix of an encoded batch.
type Header struct {
	Version      uint8
	AgentID      string
	Seq          uint64
	CreatedNs    int64
	PayloadBytes uint32 // compressed payload following the header
	DecodedBytes uint32 // payload once decompressed
	Checksum     uint32 // CRC-32C (Castagnoli) of the compressed payload
}

// PeekHeader parses and checks the header of an encoded batch without
// touching the payload beyond its length, so that ingest can authorise the
// agent and answer duplicates before paying for decompression. data must be
// the whole encoded batch: a payload shorter or longer than the header
// declares is malformed. The checksum is reported, not verified; Decode
// verifies it.
func PeekHeader(data []byte) (Header, error) {
	h, _, err := parseHeader(data)
	if err != nil {
		return Header{}, fmt.Errorf("codec: peek header: %w", err)
	}
	return h, nil
}

// parseHeader returns the header and the payload it frames.
func parseHeader(data []byte) (Header, []byte, error) {
	if len(data) < minHeader {
		return Header{}, nil, malformed("short header: %d bytes", len(data))
	}
	if string(data[:4]) != magic {
		return Header{}, nil, malformed("bad magic %q", data[:4])
	}
	h := Header{Version: data[4]}
	if h.Version != formatVersion {
		return Header{}, nil, malformed("unsupported format version %d (this decoder reads %d)", h.Version, formatVersion)
	}
	if data[5] != flagZstd {
		return Header{}, nil, malformed("unknown flags %#02x", data[5])
	}
	idLen := int(data[6])
	hdrLen := minHeader + idLen
	if len(data) < hdrLen {
		return Header{}, nil, malformed("short header: %d bytes, agent id needs %d", len(data), hdrLen)
	}
	id := data[prefixLen : prefixLen+idLen]
	if !utf8.Valid(id) {
		return Header{}, nil, malformed("agent id is not valid UTF-8")
	}
	h.AgentID = string(id)
	s := data[prefixLen+idLen : hdrLen]
	h.Seq = binary.BigEndian.Uint64(s[0:])
	h.CreatedNs = int64(binary.BigEndian.Uint64(s[8:]))
	h.PayloadBytes = binary.BigEndian.Uint32(s[16:])
	h.DecodedBytes = binary.BigEndian.Uint32(s[20:])
	h.Checksum = binary.BigEndian.Uint32(s[24:])
	payload := data[hdrLen:]
	switch {
	case uint64(len(payload)) < uint64(h.PayloadBytes):
		return Header{}, nil, malformed("truncated payload: header declares %d bytes, %d present", h.PayloadBytes, len(payload))
	case uint64(len(payload)) > uint64(h.PayloadBytes):
		return Header{}, nil, malformed("trailing garbage: %d bytes after the declared payload", uint64(len(payload))-uint64(h.PayloadBytes))
	}
	if uint64(h.DecodedBytes) > uint64(h.PayloadBytes)*maxZstdGain {
		return Header{}, nil, malformed("decoded length %d is impossible for a %d-byte payload", h.DecodedBytes, h.PayloadBytes)
	}
	return h, payload, nil
}

// appendHeader writes h (with a zero checksum and payload length, filled in
// by the caller once the payload exists) and returns where the payload
// length field starts.
func appendHeader(dst []byte, h *Header) ([]byte, int) {
	dst = append(dst, magic...)
	dst = append(dst, formatVersion, flagZstd, byte(len(h.AgentID)))
	dst = append(dst, h.AgentID...)
	dst = binary.BigEndian.AppendUint64(dst, h.Seq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.CreatedNs))
	at := len(dst)
	dst = append(dst, make([]byte, 12)...)
	return dst, at
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// capError builds a *CapError from a declared value that may not fit an int.
func capError(name string, value uint64, max int) error {
	v := math.MaxInt
	if value < math.MaxInt {
		v = int(value)
	}
	return &CapError{Cap: name, Value: v, Max: max}
}
