package codec

import (
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// rleFrame hand-builds a zstd frame of RLE blocks: each 4-byte block
// regenerates blockSize copies of 'A', so the frame inflates about
// 32768-fold. contentSize < 0 builds a frame without a content size (and
// so not single-segment), with an 8 MiB window.
func rleFrame(contentSize int64, blockSize, blocks int) []byte {
	out := []byte{0x28, 0xb5, 0x2f, 0xfd}
	if contentSize < 0 {
		out = append(out, 0x00, (23-10)<<3) // no FCS, window 2^23
	} else {
		out = append(out, 2<<6|1<<5) // 4-byte FCS, single segment
		out = binary.LittleEndian.AppendUint32(out, uint32(contentSize))
	}
	for i := 0; i < blocks; i++ {
		h := uint32(blockSize)<<3 | 1<<1 // RLE block
		if i == blocks-1 {
			h |= 1
		}
		out = append(out, byte(h), byte(h>>8), byte(h>>16), 'A')
	}
	return out
}

// TestZstdBombIsRefusedWithBoundedMemory feeds frames that inflate to
// 256 MiB or 1 GiB from at most 32 KiB and shows each is refused having allocated no more than
// the header's (capped) decoded length plus the decoder's fixed buffers.
func TestZstdBombIsRefusedWithBoundedMemory(t *testing.T) {
	const (
		kib = 1 << 10
		mib = 1 << 20
		gib = 1 << 30
	)
	caps := DefaultCaps()
	caps.MaxDecodedBytes = 4 * mib
	for _, tc := range []struct {
		name     string
		data     []byte
		want     string
		maxAlloc uint64 // bytes per Decode
	}{
		// The control proves the construction is valid zstd: it inflates
		// in full and fails only in the body parser (0x41 is no valid
		// heartbeat flag).
		{"control", assemble(rleFrame(256*kib, 64*kib, 4), 256*kib), "heartbeat flag 65", 256*kib + mib},
		{"frame inflates past honest small header", assemble(rleFrame(64*kib, 64*kib, gib/4/(64*kib)), 64*kib), "payload", 64*kib + mib},
		{"frame inflates past header at the cap", assemble(rleFrame(4*mib, 128*kib, gib/(128*kib)), 4*mib), "payload", 4*mib + mib},
		{"frame content size exceeds header", assemble(rleFrame(gib, 128*kib, gib/(128*kib)), 64*kib), "does not match the header's decoded length", 64 * kib},
		{"frame without content size", assemble(rleFrame(-1, 128*kib, gib/(128*kib)), 64*kib), "not a single-segment", 64 * kib},
		{"header declares beyond MaxDecodedBytes", assemble(rleFrame(gib, 128*kib, gib/(128*kib)), gib), "MaxDecodedBytes exceeded", 64 * kib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, dec := newPair(t, caps)
			// Warm the decoder's reusable block buffers so that only what a
			// Decode itself allocates is measured.
			_, _ = dec.Decode(assemble(rleFrame(256*kib, 64*kib, 4), 256*kib))
			if len(tc.data) > 33*kib {
				t.Fatalf("bomb is %d bytes; it should be small", len(tc.data))
			}

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := dec.Decode(tc.data)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an ErrMalformed containing %q", err, tc.want)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d-byte input: refused after allocating %d bytes: %v", len(tc.data), alloc, err)
			if alloc > tc.maxAlloc {
				t.Fatalf("allocated %d bytes, bound is %d", alloc, tc.maxAlloc)
			}
		})
	}
}

// TestOversizedDeclarationsAllocateNothing checks that the cheap refusals
// (caps, header cross-checks, checksum) happen before any buffer is made.
func TestOversizedDeclarationsAllocateNothing(t *testing.T) {
	_, dec := newPair(t, DefaultCaps())
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"decoded beyond cap", assemble(rleFrame(1<<30, 128<<10, 8192), 1<<30)},
		{"frame size mismatch", assemble(rleFrame(1<<30, 128<<10, 8192), 1<<20)},
		{"checksum mismatch", func() []byte {
			d := assemble(rleFrame(1<<20, 128<<10, 8), 1<<20)
			d[len(d)-1] ^= 1
			return d
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refuse := func() {
				if _, err := dec.Decode(tc.data); err == nil {
					t.Fatal("bomb accepted")
				}
			}
			// Only the error values may be allocated: a handful of small
			// objects (a few more under the race detector), no buffer.
			if allocs := testing.AllocsPerRun(20, refuse); allocs > 16 {
				t.Fatalf("%v allocations per refused Decode", allocs)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for i := 0; i < 20; i++ {
				refuse()
			}
			runtime.ReadMemStats(&after)
			if per := (after.TotalAlloc - before.TotalAlloc) / 20; per > 4<<10 {
				t.Fatalf("%d bytes allocated per refused Decode", per)
			}
		})
	}
}
