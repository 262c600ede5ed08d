package queue

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"

	bolt "go.etcd.io/bbolt"
)

// On-disk layout (format 1). All integers are big-endian so bbolt's byte
// order is numeric order.
//
//	records     seq -> record value (see encodeRecord)
//	meta        "format", "seq" (last assigned), "records", "bytes", "dead"
//	dedupe      caller's key -> seq
//	dedupe_seq  seq -> caller's key (lets retention prune dedupe in seq order)
//	dead        seq -> dead value (see encodeDead)
//	state       one nested bucket per caller-named state bucket, so a
//	            caller's name can never collide with ours
const (
	bucketRecords   = "records"
	bucketMeta      = "meta"
	bucketDedupe    = "dedupe"
	bucketDedupeSeq = "dedupe_seq"
	bucketDead      = "dead"
	bucketState     = "state"

	metaFormat  = "format"
	metaSeq     = "seq"
	metaRecords = "records"
	metaBytes   = "bytes"
	metaDead    = "dead"

	formatVersion = 1
)

// A record value is a 9-byte header then the data:
//
//	[0]    record format (1)
//	[1:5]  data length
//	[5:9]  CRC32C over seq (8 bytes), header bytes [0:5] and the data
//
// Covering the seq means a value that ends up under the wrong key is caught
// as well as flipped bits and truncation.
const (
	recordFormat = 1
	recordHeader = 9
	// maxData keeps header+data within bbolt's value limit.
	maxData = bolt.MaxValueSize - recordHeader
)

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

func keySeq(k []byte) (uint64, bool) {
	if len(k) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k), true
}

func recordCRC(seq uint64, head, data []byte) uint32 {
	tab := crc32.MakeTable(crc32.Castagnoli) // cached by hash/crc32
	c := crc32.Update(0, tab, seqKey(seq))
	c = crc32.Update(c, tab, head)
	return crc32.Update(c, tab, data)
}

func encodeRecord(seq uint64, data []byte) []byte {
	v := make([]byte, recordHeader+len(data))
	v[0] = recordFormat
	binary.BigEndian.PutUint32(v[1:5], uint32(len(data)))
	copy(v[recordHeader:], data)
	binary.BigEndian.PutUint32(v[5:9], recordCRC(seq, v[:5], data))
	return v
}

// decodeRecord checks v and returns its data, a sub-slice of v.
func decodeRecord(seq uint64, v []byte) ([]byte, error) {
	if len(v) < recordHeader {
		return nil, &CorruptError{Seq: seq, Reason: fmt.Sprintf("value of %d bytes is shorter than the header", len(v))}
	}
	if v[0] != recordFormat {
		return nil, &CorruptError{Seq: seq, Reason: fmt.Sprintf("unknown record format %d", v[0])}
	}
	n := binary.BigEndian.Uint32(v[1:5])
	data := v[recordHeader:]
	if uint64(n) != uint64(len(data)) {
		return nil, &CorruptError{Seq: seq, Reason: fmt.Sprintf("header says %d bytes, value holds %d", n, len(data))}
	}
	if want, got := binary.BigEndian.Uint32(v[5:9]), recordCRC(seq, v[:5], data); want != got {
		return nil, &CorruptError{Seq: seq, Reason: fmt.Sprintf("checksum %08x, want %08x", got, want)}
	}
	return data, nil
}

// payloadSize is what a stored value counts towards Stats.Bytes.
func payloadSize(v []byte) int64 {
	if len(v) < recordHeader {
		return 0
	}
	return int64(len(v) - recordHeader)
}

// maxReason bounds the reason kept with a dead record.
const maxReason = 1024

// A dead value keeps the original record value (header and all, even if it is
// corrupt) behind why and when it was moved aside:
//
//	[0]     dead format (1)
//	[1:9]   moved-at, Unix nanoseconds
//	[9:11]  reason length
//	[11:]   reason, then the original record value
func encodeDead(now time.Time, reason string, record []byte) []byte {
	if len(reason) > maxReason {
		reason = reason[:maxReason]
	}
	v := make([]byte, 11+len(reason)+len(record))
	v[0] = 1
	binary.BigEndian.PutUint64(v[1:9], uint64(now.UnixNano()))
	binary.BigEndian.PutUint16(v[9:11], uint16(len(reason)))
	copy(v[11:], reason)
	copy(v[11+len(reason):], record)
	return v
}

func initLayout(tx *bolt.Tx, firstSeq uint64) error {
	for _, name := range []string{bucketRecords, bucketMeta, bucketDedupe, bucketDedupeSeq, bucketDead, bucketState} {
		if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket([]byte(bucketMeta))
	v := meta.Get([]byte(metaFormat))
	switch {
	case v == nil:
		// A new file: sequence numbers start after firstSeq.
		if firstSeq > 0 {
			if err := meta.Put([]byte(metaSeq), seqKey(firstSeq)); err != nil {
				return err
			}
		}
		return meta.Put([]byte(metaFormat), seqKey(formatVersion))
	case len(v) != 8:
		return fmt.Errorf("%w: meta format value of %d bytes", ErrCorrupt, len(v))
	case binary.BigEndian.Uint64(v) != formatVersion:
		return fmt.Errorf("unsupported queue format %d (this build reads %d)", binary.BigEndian.Uint64(v), formatVersion)
	}
	return nil
}

// counters mirror the meta bucket during a write transaction.
type counters struct {
	seq     uint64
	records int64
	bytes   int64
	dead    int64
}

// writeTx bundles the buckets and counters of one write transaction.
type writeTx struct {
	tx                                               *bolt.Tx
	records, meta, dedupe, dedupeSeq, dead, stateBkt *bolt.Bucket
	c                                                counters
}

func beginWrite(tx *bolt.Tx) (*writeTx, error) {
	w := &writeTx{
		tx:        tx,
		records:   tx.Bucket([]byte(bucketRecords)),
		meta:      tx.Bucket([]byte(bucketMeta)),
		dedupe:    tx.Bucket([]byte(bucketDedupe)),
		dedupeSeq: tx.Bucket([]byte(bucketDedupeSeq)),
		dead:      tx.Bucket([]byte(bucketDead)),
		stateBkt:  tx.Bucket([]byte(bucketState)),
	}
	if w.records == nil || w.meta == nil || w.dedupe == nil || w.dedupeSeq == nil || w.dead == nil || w.stateBkt == nil {
		return nil, fmt.Errorf("%w: missing bucket", ErrCorrupt)
	}
	var err error
	read := func(name string) int64 {
		v := w.meta.Get([]byte(name))
		if v == nil {
			return 0
		}
		if len(v) != 8 {
			err = fmt.Errorf("%w: meta %s value of %d bytes", ErrCorrupt, name, len(v))
			return 0
		}
		return int64(binary.BigEndian.Uint64(v))
	}
	w.c.seq = uint64(read(metaSeq))
	w.c.records = read(metaRecords)
	w.c.bytes = read(metaBytes)
	w.c.dead = read(metaDead)
	return w, err
}

func (w *writeTx) saveCounters() error {
	for _, kv := range []struct {
		k string
		v uint64
	}{
		{metaSeq, w.c.seq},
		{metaRecords, uint64(max(w.c.records, 0))},
		{metaBytes, uint64(max(w.c.bytes, 0))},
		{metaDead, uint64(max(w.c.dead, 0))},
	} {
		if err := w.meta.Put([]byte(kv.k), seqKey(kv.v)); err != nil {
			return fmt.Errorf("save counter %s: %w", kv.k, err)
		}
	}
	return nil
}

// snapshot is what a committed write transaction publishes to Stats.
type snapshot struct {
	c     counters
	first uint64
}

func (w *writeTx) snapshot() snapshot {
	s := snapshot{c: w.c}
	if k, _ := w.records.Cursor().First(); k != nil {
		s.first, _ = keySeq(k)
	}
	return s
}

// removeRecord deletes one stored record of payload size n and keeps the
// counters right.
func (w *writeTx) removeRecord(seq uint64, n int64) error {
	if err := w.records.Delete(seqKey(seq)); err != nil {
		return err
	}
	w.c.records--
	w.c.bytes -= n
	// Only a corrupt value (whose size is unknowable) can make the byte
	// total drift; an empty queue resets it.
	if w.c.records <= 0 {
		w.c.records, w.c.bytes = 0, 0
	}
	w.c.bytes = max(w.c.bytes, 0)
	return nil
}

// deleteThrough removes every record with seq <= through, oldest first, while
// keepGoing (nil means always) says so.
func (w *writeTx) deleteThrough(through uint64, keepGoing func() bool) (Dropped, error) {
	var d Dropped
	c := w.records.Cursor()
	for {
		if keepGoing != nil && !keepGoing() {
			break
		}
		k, v := c.First()
		if k == nil {
			break
		}
		seq, ok := keySeq(k)
		if !ok {
			return d, fmt.Errorf("%w: record key of %d bytes", ErrCorrupt, len(k))
		}
		if seq > through {
			break
		}
		n := payloadSize(v)
		if err := w.removeRecord(seq, n); err != nil {
			return d, fmt.Errorf("delete record %d: %w", seq, err)
		}
		if d.Records == 0 {
			d.FirstSeq = seq
		}
		d.Records++
		d.Bytes += n
		d.LastSeq = seq
	}
	return d, nil
}

// pruneDedupe forgets dedupe keys of records with seq <= through. Dedupe
// entries outlive Delete and MoveAside (a retry of an uploaded batch is still
// a duplicate) but not retention or oldest-first dropping, which would
// otherwise let the dedupe bucket grow without bound.
func (w *writeTx) pruneDedupe(through uint64) error {
	c := w.dedupeSeq.Cursor()
	for k, key := c.First(); k != nil; k, key = c.First() {
		seq, ok := keySeq(k)
		if !ok || seq > through {
			return nil
		}
		// Only drop the forward entry if it still points here.
		if v := w.dedupe.Get(key); v != nil {
			if s, _ := keySeq(v); s == seq {
				if err := w.dedupe.Delete(append([]byte(nil), key...)); err != nil {
					return fmt.Errorf("prune dedupe: %w", err)
				}
			}
		}
		if err := w.dedupeSeq.Delete(seqKey(seq)); err != nil {
			return fmt.Errorf("prune dedupe: %w", err)
		}
	}
	return nil
}

// pruneDead removes dead records with seq <= through.
func (w *writeTx) pruneDead(through uint64) error {
	c := w.dead.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.First() {
		seq, ok := keySeq(k)
		if !ok || seq > through {
			return nil
		}
		if err := w.dead.Delete(seqKey(seq)); err != nil {
			return fmt.Errorf("prune dead %d: %w", seq, err)
		}
		w.c.dead--
	}
	return nil
}

// applyState writes or deletes caller KVs; they have been validated.
func (w *writeTx) applyState(kvs []KV) error {
	for _, kv := range kvs {
		if kv.Value == nil {
			b := w.stateBkt.Bucket(kv.Bucket)
			if b == nil {
				continue
			}
			if err := b.Delete(kv.Key); err != nil {
				return fmt.Errorf("state %q: delete %q: %w", kv.Bucket, kv.Key, err)
			}
			continue
		}
		b, err := w.stateBkt.CreateBucketIfNotExists(kv.Bucket)
		if err != nil {
			return fmt.Errorf("state %q: %w", kv.Bucket, err)
		}
		if err := b.Put(kv.Key, kv.Value); err != nil {
			return fmt.Errorf("state %q: put %q: %w", kv.Bucket, kv.Key, err)
		}
	}
	return nil
}
