package records

import (
	"bytes"
	"fmt"
	"math"
	"testing"
)

// BenchmarkValidateProduce: one uncompressed batch of about 1 MiB, as
// franz-go sends them, of 100 B or 1 KiB records without keys.
func BenchmarkValidateProduce(b *testing.B) {
	for _, size := range []int{100, 1024} {
		b.Run(fmt.Sprintf("record=%dB", size), func(b *testing.B) {
			n := (1 << 20) / (size + 8)
			recs := make([]Record, n)
			val := bytes.Repeat([]byte("x"), size)
			for i := range recs {
				recs[i] = Record{OffsetDelta: int32(i), TimestampDelta: int64(i % 3), Value: val}
			}
			data, err := AppendBatch(nil, producerHeader(), CodecNone, recs)
			if err != nil {
				b.Fatal(err)
			}
			o := ValidateOptions{MaxBatchBytes: 2 << 20, BeforeMaxMs: math.MaxInt64, AfterMaxMs: math.MaxInt64}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := ValidateProduce(data, &o, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
