// Package segment is the format of the objects Lightmetrics writes to an
// object store: a run of accepted spool records, each with its identity
// (kind, agent, agent sequence), spool sequence, receive time and the codec
// body exactly as the agent sent it, closed by a CRC-32C of everything
// before it.
//
// Background landing writes one segment per run of records; the s3_manifest
// path writes a segment of one record as the accepted-manifest entry. Both
// are read back by the same bounded decoder, so a truncated or corrupted
// object is refused rather than half-imported.
//
// Layout (integers big-endian, uvarint where marked):
//
//	magic "LMSG" | version 1 | collector (uvarint len + bytes) | count (uvarint)
//	count × { kind byte | agent (uvarint len + bytes) | seq u64 | spool seq u64 |
//	          received ns i64 | body (uvarint len + bytes) }
//	crc32c u32 over every byte before it
package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

const (
	magic   = "LMSG"
	version = 1
	// Ext is the file extension of segment objects.
	Ext = ".lmb"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Record is one accepted record inside a segment.
type Record struct {
	// Kind is the spool's record kind ('a' agent batch, 'r' remote write).
	Kind     byte
	AgentID  string
	Seq      uint64
	SpoolSeq uint64
	// ReceivedNs is when the accepting collector received the record.
	ReceivedNs int64
	// Body is the codec-encoded batch. Decode returns it as a sub-slice of
	// the input.
	Body []byte
}

// Segment is a decoded segment object.
type Segment struct {
	// Collector is the id of the collector that wrote the object.
	Collector string
	Records   []Record
}

// Caps bound what Decode accepts, so an object from a misbehaving store or
// writer cannot make a reader allocate without limit.
type Caps struct {
	MaxRecords     int
	MaxStringBytes int // agent and collector ids
	MaxBodyBytes   int
}

// DefaultCaps fit what the collector writes: ids are at most 128 bytes, a
// body at most ingest.max_body_bytes.
func DefaultCaps() Caps {
	return Caps{MaxRecords: 1 << 20, MaxStringBytes: 256, MaxBodyBytes: 256 << 20}
}

// ErrCorrupt is wrapped by every Decode error about the bytes themselves.
var ErrCorrupt = errors.New("segment: corrupt object")

// Encode appends the segment to dst and returns it.
func Encode(dst []byte, s *Segment) []byte {
	start := len(dst)
	dst = append(dst, magic...)
	dst = append(dst, version)
	dst = appendString(dst, s.Collector)
	dst = binary.AppendUvarint(dst, uint64(len(s.Records)))
	for i := range s.Records {
		r := &s.Records[i]
		dst = append(dst, r.Kind)
		dst = appendString(dst, r.AgentID)
		dst = binary.BigEndian.AppendUint64(dst, r.Seq)
		dst = binary.BigEndian.AppendUint64(dst, r.SpoolSeq)
		dst = binary.BigEndian.AppendUint64(dst, uint64(r.ReceivedNs))
		dst = binary.AppendUvarint(dst, uint64(len(r.Body)))
		dst = append(dst, r.Body...)
	}
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// EncodedSize is the exact size Encode will produce for s, so callers can cut
// segments at a byte budget.
func EncodedSize(s *Segment) int {
	n := len(magic) + 1 + uvarintLen(uint64(len(s.Collector))) + len(s.Collector) + uvarintLen(uint64(len(s.Records))) + 4
	for i := range s.Records {
		n += RecordSize(&s.Records[i])
	}
	return n
}

// RecordSize is the bytes one record adds to a segment.
func RecordSize(r *Record) int {
	return 1 + uvarintLen(uint64(len(r.AgentID))) + len(r.AgentID) + 8 + 8 + 8 + uvarintLen(uint64(len(r.Body))) + len(r.Body)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// Decode parses a whole segment object within caps. Record bodies alias b.
func Decode(b []byte, caps Caps) (*Segment, error) {
	if len(b) < len(magic)+1+4 {
		return nil, fmt.Errorf("%w: %d bytes is shorter than any segment", ErrCorrupt, len(b))
	}
	if string(b[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: not a segment (bad magic)", ErrCorrupt)
	}
	if v := b[len(magic)]; v != version {
		return nil, fmt.Errorf("%w: version %d, this build reads %d", ErrCorrupt, v, version)
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return nil, fmt.Errorf("%w: checksum %08x, want %08x", ErrCorrupt, got, sum)
	}
	d := decoder{b: body[len(magic)+1:], caps: caps}
	s := &Segment{}
	s.Collector = d.string("collector")
	n := d.uvarint("record count")
	if d.err == nil && n > uint64(caps.MaxRecords) {
		return nil, fmt.Errorf("%w: %d records, cap %d", ErrCorrupt, n, caps.MaxRecords)
	}
	// Every record takes at least 27 bytes, so the count cannot claim more
	// than the bytes left can hold: no allocation beyond the input's size.
	if d.err == nil && n > uint64(len(d.b)/27+1) {
		return nil, fmt.Errorf("%w: %d records cannot fit in %d bytes", ErrCorrupt, n, len(d.b))
	}
	if d.err == nil {
		s.Records = make([]Record, 0, n)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		var r Record
		r.Kind = d.byte("kind")
		r.AgentID = d.string("agent id")
		r.Seq = d.u64("seq")
		r.SpoolSeq = d.u64("spool seq")
		r.ReceivedNs = int64(d.u64("received time"))
		r.Body = d.bytes("body", caps.MaxBodyBytes)
		if d.err == nil {
			s.Records = append(s.Records, r)
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last record", ErrCorrupt, len(d.b))
	}
	return s, nil
}

// decoder reads fields in order and keeps the first error, so the caller
// checks once.
type decoder struct {
	b    []byte
	caps Caps
	err  error
}

func (d *decoder) fail(what, why string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s: %s", ErrCorrupt, what, why)
	}
}

func (d *decoder) byte(what string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail(what, "truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) u64(what string) uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.fail(what, "truncated")
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what, "bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(what string, max int) []byte {
	n := d.uvarint(what + " length")
	if d.err != nil {
		return nil
	}
	if n > uint64(max) {
		d.fail(what, fmt.Sprintf("%d bytes, cap %d", n, max))
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(what, "truncated")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string(what string) string {
	return string(d.bytes(what, d.caps.MaxStringBytes))
}
