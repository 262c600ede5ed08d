package objstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
)

// Probe proves b reachable, writable and honouring create-only writes: it
// creates a probe object, reads it back, creates it again expecting
// ErrExists (s3_manifest depends on that), and deletes it.
func Probe(ctx context.Context, b Bucket) error {
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return err
	}
	key := "probe/" + hex.EncodeToString(r[:])
	want := []byte("lightmetrics probe " + key)
	if _, err := b.Create(ctx, key, want); err != nil {
		return fmt.Errorf("object store %s: write probe object %s: %w", b, key, err)
	}
	defer b.Delete(context.WithoutCancel(ctx), key)
	got, err := b.Get(ctx, key, 1<<10)
	if err != nil {
		return fmt.Errorf("object store %s: read probe object back: %w", b, err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("object store %s: probe object read back differs from what was written", b)
	}
	if _, err := b.Create(ctx, key, want); !errors.Is(err, ErrExists) {
		return fmt.Errorf("object store %s: conditional create not honoured (If-None-Match: *), which s3_manifest needs: second create answered %v", b, err)
	}
	if err := b.Delete(ctx, key); err != nil {
		return fmt.Errorf("object store %s: delete probe object: %w", b, err)
	}
	return nil
}
