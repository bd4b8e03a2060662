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

// FuzzRecordsValid: the fast record check and the full one agree on every
// records section, header and options.
func FuzzRecordsValid(f *testing.F) {
	for _, n := range []int{1, 3, 20} {
		b, _ := AppendBatch(nil, producerHeader(), CodecNone, testRecords(n))
		f.Add(Batch(b).Records(), int32(n), int32(n-1), int64(1_700_000_000_000), uint8(0))
		f.Add(Batch(b).Records(), int32(n), int32(n-1), int64(1_700_000_000_000), uint8(7))
	}
	f.Fuzz(func(t *testing.T, raw []byte, count, lastDelta int32, baseTS int64, opts uint8) {
		hdr := make([]byte, HeaderSize)
		b := Batch(hdr)
		putInt32 := func(at int, v int32) {
			hdr[at], hdr[at+1], hdr[at+2], hdr[at+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
		}
		putInt32(posRecordCount, count)
		putInt32(posLastOffsetDelta, lastDelta)
		for i := 0; i < 8; i++ {
			hdr[posBaseTimestamp+i] = byte(baseTS >> (56 - 8*i))
		}
		o := ValidateOptions{RequireKeys: opts&1 != 0, Now: 1_700_000_000_000, BeforeMaxMs: math.MaxInt64, AfterMaxMs: math.MaxInt64}
		if opts&2 != 0 {
			o.BeforeMaxMs = 1000
		}
		if opts&4 != 0 {
			o.AfterMaxMs = 1000
		}
		o.LogAppendTime = opts&8 != 0
		fast, slow := recordsValid(b, raw, &o), checkRecords(b, raw, &o)
		if fast != (slow == nil) {
			t.Fatalf("fast check %v, full check %v", fast, slow)
		}
	})
}
