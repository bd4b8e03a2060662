package records

import (
	"hash/crc32"
	"math"
	"math/rand/v2"
	"testing"
)

// TestCRCMatchesStdlib checks the folded CRC-32C against the standard
// library at every length around the folding thresholds and at random
// lengths, offsets and contents.
func TestCRCMatchesStdlib(t *testing.T) {
	if !haveFold {
		t.Log("no AVX-512 VPCLMULQDQ here: CRC is the standard library's")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 1<<20+64)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	check := func(p []byte) {
		t.Helper()
		if got, want := CRC(p), crc32.Checksum(p, castagnoli); got != want {
			t.Fatalf("CRC of %d bytes = %#x, want %#x", len(p), got, want)
		}
	}
	for n := 0; n <= 4*foldMin; n++ {
		check(buf[n%7 : n%7+n])
	}
	for i := 0; i < 2000; i++ {
		off := rng.IntN(64)
		check(buf[off : off+rng.IntN(len(buf)-off)])
	}
	zeros := make([]byte, 64<<10)
	check(zeros)
	for i := range zeros {
		zeros[i] = 0xFF
	}
	check(zeros)
}

// TestCRCFoldedState checks crcFolded from register states other than the
// initial one, as a CRC continued across calls would use it.
func TestCRCFoldedState(t *testing.T) {
	if !haveFold {
		t.Skip("no AVX-512 VPCLMULQDQ")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	p := make([]byte, 10000)
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	for i := 0; i < 200; i++ {
		s := rng.Uint32()
		n := 256 + rng.IntN(len(p)-256)
		if got, want := crcFolded(s, p[:n]), ^crc32.Update(^s, castagnoli, p[:n]); got != want {
			t.Fatalf("state %#x, %d bytes: %#x, want %#x", s, n, got, want)
		}
	}
}

func FuzzCRC(f *testing.F) {
	f.Add(make([]byte, 300))
	f.Fuzz(func(t *testing.T, p []byte) {
		if got, want := CRC(p), crc32.Checksum(p, castagnoli); got != want {
			t.Fatalf("CRC of %d bytes = %#x, want %#x", len(p), got, want)
		}
	})
}

// BenchmarkCRC measures CRC-32C over 1 MiB, with the bytes in the cache
// (hot) and read once from a 512 MiB buffer (cold, as produced batches
// are), against the standard library.
func BenchmarkCRC(b *testing.B) {
	cold := make([]byte, 512<<20)
	for i := range cold {
		cold[i] = byte(i)
	}
	const n = 1 << 20
	for _, c := range []struct {
		name string
		f    func([]byte) uint32
	}{
		{"potok", CRC},
		{"stdlib", func(p []byte) uint32 { return crc32.Checksum(p, castagnoli) }},
	} {
		b.Run("hot/"+c.name, func(b *testing.B) {
			b.SetBytes(n)
			for b.Loop() {
				c.f(cold[:n])
			}
		})
		b.Run("cold/"+c.name, func(b *testing.B) {
			b.SetBytes(n)
			off := 0
			for b.Loop() {
				c.f(cold[off : off+n])
				if off += n; off == len(cold) {
					off = 0
				}
			}
		})
	}
}

// TestValidateProduceAllocations: validating an uncompressed batch large
// enough for the folded CRC allocates nothing (the remainder of the fold
// once escaped to the heap through hash/crc32).
func TestValidateProduceAllocations(t *testing.T) {
	recs := make([]Record, 500)
	for i := range recs {
		recs[i] = Record{OffsetDelta: int32(i), Value: make([]byte, 100)}
	}
	data, err := AppendBatch(nil, producerHeader(), CodecNone, recs)
	if err != nil {
		t.Fatal(err)
	}
	o := ValidateOptions{MaxBatchBytes: 1 << 20, BeforeMaxMs: math.MaxInt64, AfterMaxMs: math.MaxInt64}
	if n := testing.AllocsPerRun(100, func() {
		if _, _, verr := ValidateProduce(data, &o, nil); verr != nil {
			t.Fatal(verr)
		}
	}); n != 0 {
		t.Fatalf("%v allocs per validation of a %d-byte batch", n, len(data))
	}
}
