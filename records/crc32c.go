package records

import "hash/crc32"

// CRC-32C (Castagnoli), the checksum of a record batch. Every produced
// batch is checksummed once on its way in, from bytes that have just come
// off the socket and are mostly out of the cache by the time they are
// checked. The standard library's SSE 4.2 loop reads them 8 bytes at a time
// in three dependent chains, and measured 7 GB/s on such bytes on the
// benchmark machine against 25 GB/s on cached ones. Where the CPU has
// AVX-512 and VPCLMULQDQ, crc32cFold instead folds 256 bytes per round in
// sixteen independent 128-bit lanes of carry-less multiplication, which keeps
// enough loads in flight to stream cold memory (see BenchmarkCRC); the
// standard library takes the tail of fewer than 256 bytes. The remainder
// the folding leaves is congruent, modulo the polynomial, to the register
// state applied to the bytes folded: a 16-byte message whose CRC from a zero
// state is the state after them.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// castagnoliPoly is the CRC-32C polynomial without its x^32 term, bit i the
// coefficient of x^i (the "normal" form; 0x82F63B78 reversed).
const castagnoliPoly = 0x1EDC6F41

// foldMin is the shortest input crc32cFold takes: below it, the setup and the
// final reduction cost more than the folding saves.
const foldMin = 2048

// CRC returns the CRC-32C of data, the checksum Kafka uses for batches.
func CRC(data []byte) uint32 {
	if haveFold && len(data) >= foldMin {
		return ^crcFolded(0xFFFFFFFF, data)
	}
	return crc32.Checksum(data, castagnoli)
}

// crcFolded continues the CRC register state (not inverted) over p, folding
// its whole 256-byte blocks and finishing the rest with the standard library.
func crcFolded(state uint32, p []byte) uint32 {
	n := len(p) &^ 255
	state = crc32cFold(state, p[:n], &foldKeys)
	return ^crc32.Update(^state, castagnoli, p[n:])
}

// foldKeys holds, for each distance d a 128-bit lane is folded forward,
// the pair (x^(d+64), x^d) mod P in the form the carry-less multiply wants:
// d = 2048 (the loop), 512 (merging the accumulators), then 384, 256 and 128
// and a zero pair, one per lane of the last accumulator (the zero pair drops
// its last lane out of the product).
var foldKeys [12]uint64

func init() {
	for i, d := range []int{2048, 512, 384, 256, 128} {
		foldKeys[2*i] = foldKey(d + 64)
		foldKeys[2*i+1] = foldKey(d)
	}
}

// foldKey is the constant that multiplies a 64-bit half of a lane by x^k
// modulo P. In the bit-reflected order of a CRC register, a carry-less
// product of two 64-bit halves comes out shifted by one degree, and a 32-bit
// constant sits in the low half of its operand, 32 degrees up: so the
// constant is x^(k-33) mod P, reflected.
func foldKey(k int) uint64 {
	return uint64(reflect32(xPowMod(k - 33)))
}

// xPowMod returns x^n mod P in the normal form.
func xPowMod(n int) uint32 {
	r := uint64(1)
	for ; n > 0; n-- {
		r <<= 1
		if r&(1<<32) != 0 {
			r ^= 1<<32 | castagnoliPoly
		}
	}
	return uint32(r)
}

func reflect32(v uint32) uint32 {
	var r uint32
	for i := 0; i < 32; i++ {
		r = r<<1 | v&1
		v >>= 1
	}
	return r
}
