package codec

import (
	"fmt"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// benchBatch is the realistic 2,000-sample batch the benchmarks share:
// 100 host series × 20 samples plus a 100-value heartbeat.
func benchBatch(b *testing.B) (*Encoder, *Decoder, []byte, int) {
	b.Helper()
	enc, err := NewEncoder()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(enc.Close)
	dec, err := NewDecoder(DefaultCaps())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(dec.Close)
	data, err := enc.Encode(hostBatch(1, 20))
	if err != nil {
		b.Fatal(err)
	}
	return enc, dec, data, hostBatch(1, 20).SampleCount()
}

func BenchmarkEncode(b *testing.B) {
	enc, _, data, samples := benchBatch(b)
	bt := hostBatch(1, 20)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := enc.Encode(bt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(samples), "ns/sample")
	b.ReportMetric(float64(len(data))/float64(samples), "bytes/sample")
}

func BenchmarkDecode(b *testing.B) {
	_, dec, data, samples := benchBatch(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := dec.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(samples), "ns/sample")
	b.ReportMetric(float64(len(data))/float64(samples), "bytes/sample")
}

// BenchmarkEncodeLevel compares zstd levels on the same batch; it is how
// encoderLevel was chosen.
func BenchmarkEncodeLevel(b *testing.B) {
	for _, lv := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault, zstd.SpeedBetterCompression} {
		for _, cycles := range []int{1, 20} {
			b.Run(fmt.Sprintf("%s/samples=%d", lv, hostBatch(1, cycles).SampleCount()), func(b *testing.B) {
				enc, err := newEncoder(lv, encoderOptions{})
				if err != nil {
					b.Fatal(err)
				}
				defer enc.Close()
				bt := hostBatch(1, cycles)
				samples := bt.SampleCount()
				var size int
				b.ReportAllocs()
				for b.Loop() {
					data, err := enc.Encode(bt)
					if err != nil {
						b.Fatal(err)
					}
					size = len(data)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(samples), "ns/sample")
				b.ReportMetric(float64(size)/float64(samples), "bytes/sample")
			})
		}
	}
}
