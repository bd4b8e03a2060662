package records

import (
	"fmt"
	"math"
	"testing"
)

// BenchmarkValidateProduce: one batch of about 1 MiB of records (before
// compression), as franz-go sends them, of 100 B or 1 KiB records without
// keys, uncompressed or lz4 (franz-go's frame: 4 MiB blocks, content
// checksum).
func BenchmarkValidateProduce(b *testing.B) {
	for _, codec := range []Codec{CodecNone, CodecLZ4} {
		for _, size := range []int{100, 1024} {
			b.Run(fmt.Sprintf("codec=%v/record=%dB", codec, size), func(b *testing.B) {
				n := (1 << 20) / (size + 8)
				recs := make([]Record, n)
				val := make([]byte, size)
				const text = "a record value that compresses about as logs do: "
				for i := range val {
					val[i] = text[i%len(text)] + byte(i/len(text))
				}
				for i := range recs {
					recs[i] = Record{OffsetDelta: int32(i), TimestampDelta: int64(i % 3), Value: val}
				}
				data, err := AppendBatch(nil, producerHeader(), codec, recs)
				if err != nil {
					b.Fatal(err)
				}
				o := ValidateOptions{MaxBatchBytes: 2 << 20, BeforeMaxMs: math.MaxInt64, AfterMaxMs: math.MaxInt64}
				var scratch []byte
				b.SetBytes(int64(n * size)) // record values, as the broker benchmark counts
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					var verr *Error
					if _, scratch, verr = ValidateProduce(data, &o, scratch[:0]); verr != nil {
						b.Fatal(verr)
					}
				}
			})
		}
	}
}
