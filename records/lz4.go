package records

import (
	"encoding/binary"
	"math/bits"

	"github.com/pierrec/lz4/v4"
)

// The LZ4 frame format (lz4_Frame_format.md of the LZ4 project), as Kafka
// clients write it: a magic number, a frame descriptor (FLG, BD, an
// optional content size and dictionary id, a header checksum byte), blocks
// of a 4-byte little-endian size each (high bit set: stored uncompressed,
// 0: the end mark), and after the end mark an optional xxHash-32 of the
// content.
const (
	lz4Magic = 0x184D2204

	lz4FlagVersion     = 0xC0 // two bits, 01
	lz4FlagIndependent = 0x20
	lz4FlagBlockSum    = 0x10
	lz4FlagSize        = 0x08
	lz4FlagContentSum  = 0x04
	lz4FlagReserved    = 0x02
	lz4FlagDictID      = 0x01

	lz4Uncompressed = 1 << 31
)

// decodeLZ4 decodes the common LZ4 frame straight into dst: one frame of
// independent blocks without block checksums or a dictionary, which is
// what franz-go, librdkafka, sarama and the Java client send. It reports
// ok false, having decoded nothing, for anything else (linked blocks,
// block checksums, skippable or legacy frames, bytes after the frame, a
// block that does not fit where the limit would cut it), and the caller
// decodes those with the streaming reader as before.
//
// Like Kafka's reader, and unlike the streaming one, it does not check the
// content checksum: the batch's CRC-32C already covers the compressed bytes
// end to end, and hashing every decompressed byte again cost a tenth of the
// broker's CPU on an lz4 produce. The header checksum is checked.
func decodeLZ4(src, dst []byte, limit int) (out []byte, ok bool, err error) {
	if len(src) < 7 || binary.LittleEndian.Uint32(src) != lz4Magic {
		return nil, false, nil
	}
	flg, bd := src[4], src[5]
	if flg&lz4FlagVersion != 0x40 || flg&lz4FlagIndependent == 0 ||
		flg&(lz4FlagBlockSum|lz4FlagDictID|lz4FlagReserved) != 0 || bd&0x8F != 0 {
		return nil, false, nil
	}
	maxBlock := 0
	switch bd >> 4 & 7 {
	case 4:
		maxBlock = 64 << 10
	case 5:
		maxBlock = 256 << 10
	case 6:
		maxBlock = 1 << 20
	case 7:
		maxBlock = 4 << 20
	default:
		return nil, false, nil
	}
	desc := 2
	size := int64(-1)
	if flg&lz4FlagSize != 0 {
		if len(src) < 4+desc+8+1 {
			return nil, false, nil
		}
		size = int64(binary.LittleEndian.Uint64(src[4+desc:]))
		desc += 8
	}
	if byte(xxh32Short(src[4:4+desc])>>8) != src[4+desc] {
		return nil, false, nil
	}
	p := 4 + desc + 1
	if size > int64(limit) {
		return nil, true, ErrTooLarge
	}
	out = dst[:0]
	if size >= 0 && cap(out) < int(size) {
		out = make([]byte, 0, size)
	}
	for {
		if len(src)-p < 4 {
			return nil, false, nil
		}
		n := binary.LittleEndian.Uint32(src[p:])
		p += 4
		if n == 0 {
			break
		}
		stored := n&lz4Uncompressed != 0
		n &^= lz4Uncompressed
		if int64(n) > int64(len(src)-p) || int(n) > maxBlock {
			return nil, false, nil
		}
		block := src[p : p+int(n)]
		p += int(n)
		// Room for the largest block the frame allows, unless the limit
		// or the declared content size comes first (neither is ever
		// passed, so room is never negative); a block that does not fit
		// goes to the streaming reader, which tells a bomb from a
		// corrupt block.
		room := min(maxBlock, limit-len(out))
		if size >= 0 {
			room = min(room, int(size)-len(out))
		}
		if stored {
			if size >= 0 && int64(len(out)+len(block)) > size {
				return nil, false, nil // more than the frame declares
			}
			if len(block) > limit-len(out) {
				return nil, true, ErrTooLarge
			}
			out = append(out, block...)
			continue
		}
		if room == 0 {
			// Also: the block decoder must not be given an empty
			// output, which it may write through if it is nil.
			return nil, false, nil
		}
		out = growCap(out, room)
		m, err := lz4.UncompressBlock(block, out[len(out):len(out)+room])
		if err != nil {
			return nil, false, nil
		}
		out = out[:len(out)+m]
	}
	if flg&lz4FlagContentSum != 0 {
		p += 4
	}
	if p != len(src) || size >= 0 && int64(len(out)) != size {
		return nil, false, nil
	}
	return out, true, nil
}

// growCap makes room for n more bytes past len(b), doubling.
func growCap(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), max(2*cap(b), len(b)+n))
	copy(nb, b)
	return nb
}

// xxh32Short is xxHash-32 with seed 0 of fewer than 16 bytes (an LZ4 frame
// descriptor), from the algorithm's specification.
func xxh32Short(b []byte) uint32 {
	const (
		p1 = 2654435761
		p2 = 2246822519
		p3 = 3266489917
		p4 = 668265263
		p5 = 374761393
	)
	h := uint32(p5) + uint32(len(b))
	for ; len(b) >= 4; b = b[4:] {
		h += binary.LittleEndian.Uint32(b) * p3
		h = bits.RotateLeft32(h, 17) * p4
	}
	for _, c := range b {
		h += uint32(c) * p5
		h = bits.RotateLeft32(h, 11) * p1
	}
	h ^= h >> 15
	h *= p2
	h ^= h >> 13
	h *= p3
	h ^= h >> 16
	return h
}
