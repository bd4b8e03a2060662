package records

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// withCodec returns a batch of count records whose records section is
// comp as given, marked as compressed with codec: how a bomb reaches the
// broker.
func withCodec(codec Codec, comp []byte, count int32) []byte {
	h := producerHeader()
	b, _ := AppendRawBatch(nil, h, CodecNone, comp, count, count-1)
	batch := Batch(b)
	attrs := uint16(batch.Attributes())&^uint16(CodecMask) | uint16(codec)
	binary.BigEndian.PutUint16(b[posAttributes:], attrs)
	binary.BigEndian.PutUint32(b[posCRC:], batch.ComputeCRC())
	return b
}

// smallBomb is a bomb small enough to commit and large enough for any
// limit the fuzz targets set (1 MiB).
func smallBomb(t testing.TB, codec Codec) []byte {
	switch codec {
	case CodecZstd:
		return bombOf(t, codec, 16<<20)
	case CodecGzip:
		return bombOf(t, codec, 4<<20)
	}
	return bombOf(t, codec, 2<<20)
}

// TestWriteFuzzSeeds writes the committed seed corpora of this package's
// fuzz targets when POTOK_WRITE_FUZZ_SEEDS is set.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("POTOK_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set POTOK_WRITE_FUZZ_SEEDS=1 to regenerate")
	}
	honest, _ := Compress(CodecZstd, []byte("a small honest frame"), nil)
	xerial := append([]byte(nil), xerialMagic...)
	xerial = append(xerial, 0, 0, 0, 1, 0, 0, 0, 1)
	for range 4 {
		blk, _ := Compress(CodecSnappy, make([]byte, 40000), nil)
		xerial = binary.BigEndian.AppendUint32(xerial, uint32(len(blk)))
		xerial = append(xerial, blk...)
	}
	decompress := map[string][]any{
		"gzip-bomb":           {int8(CodecGzip), smallBomb(t, CodecGzip)},
		"lz4-bomb":            {int8(CodecLZ4), smallBomb(t, CodecLZ4)},
		"zstd-bomb":           {int8(CodecZstd), smallBomb(t, CodecZstd)},
		"zstd-honest-bomb":    {int8(CodecZstd), append(bytes.Clone(honest), smallBomb(t, CodecZstd)...)},
		"zstd-huge-window":    {int8(CodecZstd), []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 18 << 3, 0x09, 0x00, 0x00, 'x'}},
		"snappy-declared-big": {int8(CodecSnappy), []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x00}},
		"xerial-chunks":       {int8(CodecSnappy), xerial},
	}
	validate := map[string][]any{
		"zstd-bomb-batch": {withCodec(CodecZstd, smallBomb(t, CodecZstd), 1000)},
		"gzip-bomb-batch": {withCodec(CodecGzip, smallBomb(t, CodecGzip), 1000)},
		"lz4-bomb-batch":  {withCodec(CodecLZ4, smallBomb(t, CodecLZ4), 1000)},
		"count-lies":      {withCodec(CodecNone, []byte{2, 0, 0, 0, 0, 0, 0}, 1<<30)},
	}
	for _, c := range allCodecs {
		b, _ := AppendBatch(nil, producerHeader(), c, testRecords(5))
		validate["valid-"+c.String()] = []any{b}
	}
	write(t, "FuzzDecompress", decompress)
	write(t, "FuzzValidateProduce", validate)
}

func write(t *testing.T, target string, seeds map[string][]any) {
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, args := range seeds {
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, a := range args {
			switch v := a.(type) {
			case int8:
				fmt.Fprintf(&b, "int8(%d)\n", v)
			case []byte:
				fmt.Fprintf(&b, "[]byte(%q)\n", v)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
