// Package codec is the wire format of a batch: what an agent queues and
// uploads and what a collector checks, spools and decodes. Encode is
// deterministic (one batch, one encoding, for a given build of zstd), and
// the agent queues the encoded bytes, so every retry of a batch is
// byte-identical.
//
// The format is built for a hostile network. An ingest listener can read
// the small uncompressed header with PeekHeader to authorise the agent and
// answer duplicates before it decompresses anything, and Decode checks every
// size and count the input declares against its Caps and against the bytes
// actually present before it allocates for them. Decompression is bounded by
// the header's decoded length, which is itself capped.
//
// # Format versions
//
// This comment is the reference for the layout. Version 1 is described
// below. A change that an existing decoder would misread gets a new version
// number; decoders refuse versions they do not know (ErrMalformed), so an
// old collector never half-reads a newer agent's batch. A decoder that
// learns a new version keeps reading the older ones, so collectors are
// upgraded before agents. Reserved flag bits must be zero for the same
// reason. The first five bytes, magic and version, mean the same in every
// version, so any decoder can tell which layout it was handed.
//
// # Header (uncompressed, big-endian)
//
//	offset  size  field
//	0       4     magic 0x89 'L' 'M' 'B' (the high first byte catches
//	              channels that strip the 8th bit or treat bytes as text)
//	4       1     format version, 1
//	5       1     flags: bit 0 = payload is zstd (always set in version 1);
//	              bits 1-7 reserved, must be 0
//	6       1     n = agent id length (0..255)
//	7       n     agent id, UTF-8
//	7+n     8     seq, uint64
//	15+n    8     created, int64 nanoseconds since the Unix epoch
//	23+n    4     P = payload length in bytes, uint32
//	27+n    4     D = decoded payload length in bytes, uint32
//	31+n    4     CRC-32C (Castagnoli) of the P payload bytes
//	35+n    P     payload
//
// The input must end exactly after the payload: fewer bytes is a truncated
// payload, more is trailing garbage. D may not exceed 32768·P, more than
// zstd can expand. The checksum covers only the payload; the header is
// checked field by field and, on the ingest path, by authorisation (agent
// id) and deduplication (agent id, seq).
//
// # Payload
//
// The payload is exactly one zstd frame (RFC 8878) in single-segment mode,
// without dictionary or frame checksum, whose Frame_Content_Size equals D.
// The decoder checks this from the frame header before decompressing, then
// decompresses into a buffer of D bytes (plus one block of slack) that zstd
// may not grow: a frame that would inflate further fails after at most one
// extra block.
//
// # Body (the D decompressed bytes)
//
// Notation: uvarint and varint are encoding/binary's unsigned and zigzag
// signed LEB128 varints; str is a uvarint byte length followed by that many
// bytes of valid UTF-8; u8 is one byte; f64 is 8 bytes big-endian. A list
// count is a uvarint. All timestamp differences use wrapping int64
// arithmetic, so every int64 value survives.
//
//	heartbeat flag   u8: 0 absent, 1 present
//	heartbeat        (only if present)
//	  timestamp ms   varint
//	  hostname       str
//	  agent version  str
//	  os             str
//	  value count    uvarint k
//	  k × (name str, kind u8)
//	  k × value      f64, the float64 bits unchanged
//	series count     uvarint
//	each series
//	  name           str
//	  kind           u8: 0 unknown, 1 gauge, 2 counter
//	  label count    uvarint
//	  each label     name str, value str; sorted by name, then value
//	  sample count   uvarint m
//	  m × timestamp  varint: the first is the difference from the previous
//	                 series' first timestamp (from 0 for the first series);
//	                 each later one is the change in the difference between
//	                 consecutive timestamps (delta of delta), so a steady
//	                 interval encodes as zeros
//	  m × value      f64 of (bits XOR previous sample's bits), the first
//	                 XOR 0; NaN payloads, infinities and -0 are exact
//	log count        uvarint
//	each log record
//	  time ns        varint, difference from the previous record's (from 0)
//	  source         str
//	  message        str
//	  flags          u8: bit 0 = truncated; bits 1-7 reserved, must be 0
//	  attribute count uvarint, then each: name str, value str (order kept)
//	alert count      uvarint
//	each alert
//	  time ns        varint, difference from the previous alert's (from 0)
//	  name           str
//	  severity       u8: 0 info, 1 warning, 2 critical
//	  message        str
//	  label count    uvarint, then each: name str, value str (order kept)
//
// The body must end exactly after the last alert. Empty lists decode as nil.
// Only series labels are sorted, because they are the series' identity;
// Encode sorts a copy and Decode refuses unsorted ones, so a decoded batch
// re-encodes to the same bytes.
//
// Why this shape (measured on a 2,000-sample host batch under zstd's default
// level): per-series columns (all timestamps, then all values) compress
// about 15% better than interleaved pairs; XOR against the previous value
// about 8% better than raw bits; delta of delta about 1% better than plain
// deltas. A per-batch string table made the output 1-5% larger (zstd already
// removes the repetition), so strings are inline and Decode shares repeated
// short strings instead. Columns spanning all series would save another 2%
// at the price of a two-pass decoder; not worth it.
//
// # Bounds
//
// Decode refuses, before allocating, a body count or length beyond its Caps
// (a *CapError naming the field) or beyond what the remaining bytes could
// hold at the element's minimum encoded size (ErrMalformed). Heartbeat
// values count against both MaxSeries and MaxSamples, as batch.SeriesCount
// and batch.SampleCount count them.
package codec
