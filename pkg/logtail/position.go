package logtail

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
)

// A stored position is, in order:
//
//	version  1 byte (positionVersion)
//	flags    1 byte (flagSkip; other bits must be zero)
//	dev      uvarint
//	ino      uvarint
//	offset   uvarint (<= MaxInt64)
//	pathLen  uvarint (<= maxPathBytes), then pathLen bytes of path
//
// Varints must be minimal, and nothing may follow the path, so a value has
// exactly one encoding: decode(encode(p)) == p and encode(decode(b)) == b.
// A file's position is typically 15-60 bytes.
const (
	positionVersion = 1
	flagSkip        = 1 << 0
	maxPathBytes    = 4096
)

// fileID identifies a file independently of its name.
type fileID struct{ dev, ino uint64 }

// pos is where reading of one file resumes.
type pos struct {
	id  fileID
	off int64
	// skip says the bytes from off up to the next newline belong to a line
	// already emitted truncated, so they are skipped rather than emitted
	// as a line of their own.
	skip bool
}

// savedPos is a pos with the path it was stored for.
type savedPos struct {
	path string
	pos
}

func encodePosition(p savedPos) []byte {
	b := make([]byte, 0, 2+3*binary.MaxVarintLen64+binary.MaxVarintLen16+len(p.path))
	var flags byte
	if p.skip {
		flags |= flagSkip
	}
	b = append(b, positionVersion, flags)
	b = binary.AppendUvarint(b, p.id.dev)
	b = binary.AppendUvarint(b, p.id.ino)
	b = binary.AppendUvarint(b, uint64(p.off))
	b = binary.AppendUvarint(b, uint64(len(p.path)))
	return append(b, p.path...)
}

var errShort = errors.New("truncated")

func decodePosition(b []byte) (savedPos, error) {
	var p savedPos
	if len(b) < 2 {
		return p, fmt.Errorf("%w: %d bytes", ErrBadState, len(b))
	}
	if b[0] != positionVersion {
		return p, fmt.Errorf("%w: version %d, want %d", ErrBadState, b[0], positionVersion)
	}
	if b[1]&^flagSkip != 0 {
		return p, fmt.Errorf("%w: unknown flags %#x", ErrBadState, b[1])
	}
	p.skip = b[1]&flagSkip != 0
	rest := b[2:]
	var vals [4]uint64
	names := [4]string{"device", "inode", "offset", "path length"}
	for i := range vals {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			return p, fmt.Errorf("%w: %s: bad varint", ErrBadState, names[i])
		}
		if n != uvarintLen(v) {
			return p, fmt.Errorf("%w: %s: non-minimal varint", ErrBadState, names[i])
		}
		vals[i] = v
		rest = rest[n:]
	}
	p.id = fileID{dev: vals[0], ino: vals[1]}
	if vals[2] > math.MaxInt64 {
		return p, fmt.Errorf("%w: offset %d out of range", ErrBadState, vals[2])
	}
	p.off = int64(vals[2])
	if vals[3] > maxPathBytes {
		return p, fmt.Errorf("%w: path length %d over %d", ErrBadState, vals[3], maxPathBytes)
	}
	if uint64(len(rest)) != vals[3] {
		return p, fmt.Errorf("%w: path length %d, %d bytes left", ErrBadState, vals[3], len(rest))
	}
	p.path = string(rest)
	if strings.IndexByte(p.path, 0) >= 0 {
		return p, fmt.Errorf("%w: path contains NUL", ErrBadState)
	}
	return p, nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// markerPosition is the value stored under an input's marker key (the key
// with an empty path): its presence says the input has started before, so
// files without a position are new and are read from their beginning.
func markerPosition() []byte { return encodePosition(savedPos{}) }
