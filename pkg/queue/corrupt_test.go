package queue

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// rawUpdate edits the closed queue file with bbolt directly, as a disk or a
// bug would, behind the queue's back.
func rawUpdate(t *testing.T, path string, fn func(records *bolt.Bucket) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return fn(tx.Bucket([]byte(bucketRecords))) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestCorruptRecordIsDetected(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(v, next []byte) []byte // returns the new value of record 2
	}{
		{"flipped data bit", func(v, _ []byte) []byte { v[recordHeader+3] ^= 0x10; return v }},
		{"flipped checksum", func(v, _ []byte) []byte { v[6] ^= 0xff; return v }},
		{"wrong length", func(v, _ []byte) []byte { v[4]++; return v }},
		{"truncated value", func(v, _ []byte) []byte { return v[:len(v)-1] }},
		{"shorter than header", func(v, _ []byte) []byte { return v[:5] }},
		{"unknown format", func(v, _ []byte) []byte { v[0] = 9; return v }},
		{"value of another seq", func(_, next []byte) []byte { return next }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			q, path := openTest(t, Options{NoSync: true})
			for _, s := range []string{"first record", "second record", "third record"} {
				mustAppend(t, q, Entry{Data: []byte(s)})
			}
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			rawUpdate(t, path, func(b *bolt.Bucket) error {
				v := append([]byte(nil), b.Get(seqKey(2))...)
				next := append([]byte(nil), b.Get(seqKey(3))...)
				return b.Put(seqKey(2), tc.mutate(v, next))
			})
			q = openAt(t, path, Options{NoSync: true})

			data, err := q.Get(2)
			var ce *CorruptError
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.Seq != 2 || data != nil {
				t.Fatalf("Get(2) = %q, %v; want ErrCorrupt for seq 2", data, err)
			}
			for _, seq := range []uint64{1, 3} {
				if _, err := q.Get(seq); err != nil {
					t.Errorf("Get(%d): %v", seq, err)
				}
			}
			var seen []uint64
			err = q.Scan(ctx, 0, func(seq uint64, data []byte) error {
				seen = append(seen, seq)
				return nil
			})
			if !errors.As(err, &ce) || ce.Seq != 2 || !slices.Equal(seen, []uint64{1}) {
				t.Fatalf("Scan saw %v then %v; want [1] then ErrCorrupt for seq 2", seen, err)
			}
			// The way out: move it aside and carry on.
			if err := q.MoveAside(ctx, ce.Seq, ce.Error()); err != nil {
				t.Fatal(err)
			}
			if order, _ := scanAll(t, q, 0); !slices.Equal(order, []uint64{1, 3}) {
				t.Errorf("Scan after MoveAside = %v", order)
			}
			if st := q.Stats(); st.Records != 2 || st.Dead != 1 {
				t.Errorf("Stats = %+v, want 2 records and 1 dead", st)
			}
			// The size of a corrupt value is unknowable, so the byte total
			// may be off while records remain; it is exact again once empty.
			if err := q.Delete(ctx, 1, 3); err != nil {
				t.Fatal(err)
			}
			if st := q.Stats(); st.Records != 0 || st.Bytes != 0 {
				t.Errorf("Stats of emptied queue = %+v", st)
			}
		})
	}
}
