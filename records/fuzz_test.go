package records

import (
	"math"
	"testing"
)

func FuzzValidateProduce(f *testing.F) {
	for _, c := range allCodecs {
		b, _ := AppendBatch(nil, producerHeader(), c, testRecords(3))
		f.Add(b)
	}
	f.Add(AppendControlBatch(nil, 1, 0, false, 0, 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		o := ValidateOptions{MaxBatchBytes: 1 << 20, AllowZstd: true, RequireKeys: len(data)%2 == 0,
			BeforeMaxMs: math.MaxInt64, AfterMaxMs: 1000, MaxDecompressed: 1 << 20}
		v, _, err := ValidateProduce(data, &o, nil)
		if err == nil && (!v.Batch.ValidCRC() || len(v.Batch) < HeaderSize) {
			t.Fatal("accepted an invalid batch")
		}
	})
}

func FuzzDecompress(f *testing.F) {
	for _, c := range allCodecs {
		comp, _ := Compress(c, []byte("some records to compress, compress, compress"), nil)
		f.Add(int8(c), comp)
	}
	f.Fuzz(func(t *testing.T, codec int8, data []byte) {
		var out []byte
		var err error
		// Allocation is measured too: a bomb must be cut off at the
		// limit, not found out after expanding (the codecs' own state,
		// such as lz4's 4 MiB block buffer, is the rest).
		n := allocated(func() { out, err = Decompress(Codec(codec&7), data, nil, 1<<16) })
		if err == nil && len(out) > 1<<16 {
			t.Fatalf("limit exceeded: %d", len(out))
		}
		if n > 16<<20 {
			t.Fatalf("%d bytes allocated to decompress %d bytes under a limit of 64 KiB", n, len(data))
		}
	})
}

func FuzzRecordReader(f *testing.F) {
	b, _ := AppendBatch(nil, producerHeader(), CodecNone, testRecords(4))
	f.Add(Batch(b).Records(), int32(4))
	f.Fuzz(func(t *testing.T, data []byte, n int32) {
		r := NewRecordReader(data, n%1000)
		var rec Record
		for {
			ok, err := r.Next(&rec)
			if !ok || err != nil {
				return
			}
		}
	})
}
