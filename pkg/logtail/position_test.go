package logtail

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestPositionRoundTrip(t *testing.T) {
	for _, p := range []savedPos{
		{},
		{path: "/var/log/app.log", pos: pos{id: fileID{dev: 2049, ino: 131}, off: 12345}},
		{path: "/l", pos: pos{id: fileID{dev: math.MaxUint64, ino: math.MaxUint64}, off: math.MaxInt64, skip: true}},
		{path: strings.Repeat("p", maxPathBytes), pos: pos{off: 1}},
	} {
		b := encodePosition(p)
		got, err := decodePosition(b)
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", p, err)
		}
		if got != p {
			t.Fatalf("round trip: got %+v, want %+v", got, p)
		}
	}
	// The common case stays small.
	if n := len(encodePosition(savedPos{path: "/var/log/app.log", pos: pos{id: fileID{2049, 1 << 20}, off: 1 << 30}})); n > 32 {
		t.Fatalf("typical position is %d bytes", n)
	}
}

func TestDecodePositionRejects(t *testing.T) {
	valid := encodePosition(savedPos{path: "/a", pos: pos{id: fileID{1, 2}, off: 3}})
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "0 bytes"},
		{"version", append([]byte{2}, valid[1:]...), "version 2"},
		{"flags", append([]byte{1, 0x80}, valid[2:]...), "unknown flags"},
		{"short varint", []byte{1, 0, 0x80}, "bad varint"},
		{"non-minimal varint", []byte{1, 0, 0x80, 0x00, 0, 0, 0}, "non-minimal"},
		{"offset overflow", []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0}, "out of range"},
		{"path too long", []byte{1, 0, 0, 0, 0, 0x81, 0x20}, "over 4096"},
		{"path truncated", valid[:len(valid)-1], "path length"},
		{"trailing bytes", append(bytes.Clone(valid), 'x'), "path length"},
		{"NUL in path", []byte{1, 0, 0, 0, 0, 1, 0}, "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodePosition(tt.b)
			if err == nil || !errors.Is(err, ErrBadState) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("decode(%x) = %v, want ErrBadState mentioning %q", tt.b, err, tt.want)
			}
		})
	}
}

// FuzzDecodePosition: no input panics, and whatever decodes has exactly one
// encoding, so a stored value read back and written again is unchanged.
func FuzzDecodePosition(f *testing.F) {
	f.Add(encodePosition(savedPos{path: "/var/log/app.log", pos: pos{id: fileID{2049, 131}, off: 4096}}))
	f.Add(markerPosition())
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePosition(b)
		if err != nil {
			if !errors.Is(err, ErrBadState) {
				t.Fatalf("error %v is not ErrBadState", err)
			}
			return
		}
		if p.off < 0 || len(p.path) > maxPathBytes {
			t.Fatalf("decoded out-of-range position %+v", p)
		}
		if again := encodePosition(p); !bytes.Equal(again, b) {
			t.Fatalf("encode(decode(%x)) = %x", b, again)
		}
	})
}
