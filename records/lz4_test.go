package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/pierrec/lz4/v4"
)

// lz4Frame compresses content with the streaming writer as a client would,
// with the block size and checksum options given.
func lz4Frame(t testing.TB, content []byte, opts ...lz4.Option) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := lz4.NewWriter(&buf)
	if err := w.Apply(opts...); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// lz4Stream decodes with the streaming reader, the reference.
func lz4Stream(src []byte, limit int) ([]byte, error) {
	r := lz4.NewReader(bytes.NewReader(src))
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err == nil && len(out) > limit {
		err = ErrTooLarge
	}
	return out, err
}

var lz4Options = [][]lz4.Option{
	nil, // franz-go's: 4 MiB blocks, content checksum
	{lz4.BlockSizeOption(lz4.Block64Kb)},
	{lz4.BlockSizeOption(lz4.Block256Kb), lz4.ChecksumOption(false)},
	{lz4.BlockSizeOption(lz4.Block1Mb), lz4.SizeOption(0)},
	{lz4.BlockSizeOption(lz4.Block64Kb), lz4.BlockChecksumOption(true)},
}

func TestLZ4FrameDecodesLikeTheStreamingReader(t *testing.T) {
	text := bytes.Repeat([]byte("a record value that compresses; "), 20000) // 640 KB
	// Incompressible: its blocks are stored uncompressed.
	noise := make([]byte, 300<<10)
	rand.NewChaCha8([32]byte{1}).Read(noise)
	for _, content := range [][]byte{nil, []byte("x"), text, noise, append(text[:100:100], noise...)} {
		for i, opts := range lz4Options {
			if i == 3 {
				opts = []lz4.Option{lz4.BlockSizeOption(lz4.Block1Mb), lz4.SizeOption(uint64(len(content)))}
			}
			frame := lz4Frame(t, content, opts...)
			want, err := lz4Stream(frame, 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decompress(CodecLZ4, frame, nil, 1<<30)
			if err != nil || !bytes.Equal(got, want) || !bytes.Equal(got, content) {
				t.Fatalf("content %d bytes, options %d: got %d bytes, %v", len(content), i, len(got), err)
			}
			_, ok, _ := decodeLZ4(frame, nil, 1<<30)
			if fast := i != 4; ok != fast {
				t.Errorf("options %d: decoded directly %v, want %v", i, ok, fast)
			}
			if len(content) > 1000 {
				if _, err := Decompress(CodecLZ4, frame, nil, len(content)-1); !errors.Is(err, ErrTooLarge) {
					t.Errorf("content %d bytes, options %d, limit one short: %v, want ErrTooLarge", len(content), i, err)
				}
			}
		}
	}
}

// Kafka's reader skips the content checksum; so does decodeLZ4 (the batch
// CRC covers the bytes). A wrong header checksum is still refused.
func TestLZ4FrameChecksums(t *testing.T) {
	content := bytes.Repeat([]byte("checksums "), 1000)
	frame := lz4Frame(t, content)
	bad := bytes.Clone(frame)
	bad[len(bad)-1] ^= 0xFF // the content checksum
	if _, err := lz4Stream(bad, 1<<20); !errors.Is(err, lz4.ErrInvalidFrameChecksum) {
		t.Fatalf("streaming reader: %v", err)
	}
	if got, err := Decompress(CodecLZ4, bad, nil, 1<<20); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("content checksum skipped: %d bytes, %v", len(got), err)
	}
	bad = bytes.Clone(frame)
	bad[6] ^= 0xFF // the header checksum byte
	if _, err := Decompress(CodecLZ4, bad, nil, 1<<20); !errors.Is(err, ErrBadCompression) {
		t.Fatalf("bad header checksum: %v", err)
	}
}

func TestLZ4FrameAllocations(t *testing.T) {
	content := bytes.Repeat([]byte("steady state "), 5000)
	frame := lz4Frame(t, content)
	dst := make([]byte, 0, 1<<20)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := Decompress(CodecLZ4, frame, dst, 1<<20); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocs per decode into a buffer large enough", n)
	}
}

// fixHeaderChecksum makes the header checksum of an LZ4 frame right for
// its descriptor, whatever the descriptor says.
func fixHeaderChecksum(frame []byte) {
	if len(frame) < 7 {
		return
	}
	n := 2
	if frame[4]&lz4FlagSize != 0 {
		n += 8
	}
	if frame[4]&lz4FlagDictID != 0 {
		n += 4
	}
	if len(frame) > 4+n {
		frame[4+n] = byte(xxh32Short(frame[4:4+n]) >> 8)
	}
}

// FuzzLZ4Frame: decodeLZ4 agrees with the streaming reader on every input,
// whole frames as clients write them with a byte changed, or anything: when
// both decode, the same bytes; when only decodeLZ4 does, the reader failed
// on the content checksum alone; and decodeLZ4 never decodes what the
// reader refuses otherwise, nor past the limit.
func FuzzLZ4Frame(f *testing.F) {
	f.Add([]byte("a small value, a small value, a small value"), uint8(0), uint16(0), uint8(0))
	f.Add(bytes.Repeat([]byte{7}, 70000), uint8(1), uint16(9), uint8(1))
	f.Add([]byte{}, uint8(3), uint16(0), uint8(0))
	f.Add(bytes.Repeat([]byte("sized"), 9000), uint8(64+3), uint16(7), uint8(0x40)) // a wrong content size
	f.Fuzz(func(t *testing.T, content []byte, opt uint8, at uint16, flip uint8) {
		var frame []byte
		if opt < 128 {
			frame = lz4Frame(t, content, lz4Options[int(opt)%len(lz4Options)]...)
		} else {
			frame = content // raw bytes
		}
		if flip != 0 && len(frame) > 0 {
			frame = bytes.Clone(frame)
			frame[int(at)%len(frame)] ^= flip
			if opt&64 != 0 {
				fixHeaderChecksum(frame) // so that a changed descriptor is believed
			}
		}
		const limit = 1 << 16
		want, werr := lz4Stream(frame, limit)
		got, ok, err := decodeLZ4(frame, nil, limit)
		if !ok {
			return
		}
		switch {
		case err != nil:
			if werr == nil {
				t.Fatalf("decodeLZ4: %v; the reader decoded %d bytes", err, len(want))
			}
		case len(got) > limit:
			t.Fatalf("decoded %d bytes past the limit", len(got))
		case werr == nil:
			if !bytes.Equal(got, want) {
				t.Fatalf("decodeLZ4 %d bytes, the reader %d, different", len(got), len(want))
			}
		case !errors.Is(werr, lz4.ErrInvalidFrameChecksum):
			t.Fatalf("decodeLZ4 decoded %d bytes the reader refused: %v", len(got), werr)
		}
	})
}

// A frame whose declared content size is wrong, either way, with the
// header checksum made right for it, is refused, whether its blocks are
// compressed or stored.
func TestLZ4FrameWrongContentSize(t *testing.T) {
	noise := make([]byte, 200<<10)
	rand.NewChaCha8([32]byte{2}).Read(noise)
	text := bytes.Repeat([]byte("sized "), 30000)
	for _, content := range [][]byte{noise, text, append(bytes.Clone(noise[:70<<10]), text...)} {
		frame := lz4Frame(t, content, lz4.BlockSizeOption(lz4.Block64Kb), lz4.SizeOption(uint64(len(content))))
		if got, err := Decompress(CodecLZ4, frame, nil, 1<<30); err != nil || !bytes.Equal(got, content) {
			t.Fatalf("true size: %d bytes, %v", len(got), err)
		}
		for _, size := range []int{0, 1, 65 << 10, len(content) - 1, len(content) + 1} {
			bad := bytes.Clone(frame)
			binary.LittleEndian.PutUint64(bad[6:], uint64(size))
			bad[14] = byte(xxh32Short(bad[4:14]) >> 8)
			if got, err := Decompress(CodecLZ4, bad, nil, 1<<30); err == nil {
				t.Errorf("content %d bytes declared %d: decoded %d bytes", len(content), size, len(got))
			}
		}
	}
}
