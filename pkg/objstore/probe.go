package objstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Probe proves b reachable, writable and honouring create-only writes, the
// way a collector checks its store at start-up: it creates an object under
// probe/<random hex>, reads it back, creates it again expecting ErrExists
// (the s3_manifest mode depends on that), and deletes it. The error says
// which step failed.
func Probe(ctx context.Context, b Bucket) error {
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return fmt.Errorf("object store %s: probe: random key: %w", b, err)
	}
	key := "probe/" + hex.EncodeToString(r[:])
	want := []byte("lightmetrics probe " + key)

	if _, err := b.Create(ctx, key, want); err != nil {
		return fmt.Errorf("object store %s: write probe object %s: %w", b, key, err)
	}
	deleted := false
	defer func() {
		if !deleted {
			// Best effort, bounded even when ctx is done: the step that
			// failed is the news, and a stray probe object is harmless.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			_ = b.Delete(dctx, key)
		}
	}()

	got, err := b.Get(ctx, key, int64(len(want))+1)
	if err != nil {
		return fmt.Errorf("object store %s: read probe object %s back: %w", b, key, err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("object store %s: probe object %s read back differs from what was written (%d bytes, wrote %d)", b, key, len(got), len(want))
	}

	switch _, err := b.Create(ctx, key, []byte("second writer")); {
	case err == nil:
		return fmt.Errorf("object store %s: conditional create not honoured (If-None-Match: *): s3_manifest needs it; a second create of %s replaced the object", b, key)
	case !errors.Is(err, ErrExists):
		return fmt.Errorf("object store %s: conditional create (If-None-Match: *) of existing %s failed instead of reporting it exists: s3_manifest needs it: %w", b, key, err)
	}

	if err := b.Delete(ctx, key); err != nil {
		return fmt.Errorf("object store %s: delete probe object %s: %w", b, key, err)
	}
	deleted = true
	return nil
}
