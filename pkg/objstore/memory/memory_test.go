package memory

import (
	"context"
	"testing"

	"github.com/lightmetrics/lightmetrics/pkg/objstore"
	"github.com/lightmetrics/lightmetrics/pkg/objstore/objstoretest"
)

func TestAcceptance(t *testing.T) {
	objstoretest.Run(t, func(*testing.T) objstore.Bucket { return New() })
}

// TestCopies: callers may reuse their buffers; the bucket keeps its own.
func TestCopies(t *testing.T) {
	ctx := context.Background()
	b := New()
	for _, tc := range []struct {
		name  string
		store func(context.Context, string, []byte) (objstore.ObjectInfo, error)
	}{
		{"put", b.Put},
		{"create", b.Create},
	} {
		in := []byte("original")
		if _, err := tc.store(ctx, tc.name, in); err != nil {
			t.Fatal(err)
		}
		in[0] = 'X'
		out, err := b.Get(ctx, tc.name, 0)
		if err != nil || string(out) != "original" {
			t.Fatalf("%s: after changing the caller's buffer: %q, %v", tc.name, out, err)
		}
		out[0] = 'Y'
		if again, _ := b.Get(ctx, tc.name, 0); string(again) != "original" {
			t.Fatalf("%s: after changing a returned slice: %q", tc.name, again)
		}
	}
}
