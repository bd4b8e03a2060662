package records

import (
	"bytes"
	"errors"
	"io"
	"math"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kerr"
)

// bombSize is what each bomb expands to: far past any limit a test sets.
const bombSize = 128 << 20

// bomb compresses bombSize zero bytes with a streaming writer, so the
// output carries no content size a decoder could check up front.
func bomb(t testing.TB, codec Codec) []byte { return bombOf(t, codec, bombSize) }

func bombOf(t testing.TB, codec Codec, size int) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch codec {
	case CodecGzip:
		w, _ = gzip.NewWriterLevel(&buf, gzip.BestCompression)
	case CodecLZ4:
		w = lz4.NewWriter(&buf)
	case CodecZstd:
		var err error
		w, err = zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithWindowSize(1<<20))
		if err != nil {
			t.Fatal(err)
		}
	case CodecSnappy:
		// A raw snappy block declares its length; the check before
		// allocating is what is tested.
		out, _ := Compress(CodecSnappy, make([]byte, size), nil)
		return out
	default:
		t.Fatalf("no bomb for %v", codec)
	}
	zero := make([]byte, 1<<20)
	for n := 0; n < size; n += len(zero) {
		if _, err := w.Write(zero); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// allocated returns the bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDecompressionBombs: a few kilobytes that expand to 128 MiB fail with
// ErrTooLarge after allocating about the limit, not the expansion. Before
// zstd was decoded as a stream, its bomb allocated 6 GiB (DecodeAll grew its
// output to the decoder's 1 GiB memory limit, doubling as it went) and took
// seconds of CPU.
func TestDecompressionBombs(t *testing.T) {
	const limit = 1 << 20
	for _, codec := range []Codec{CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		t.Run(codec.String(), func(t *testing.T) {
			src := bomb(t, codec)
			var err error
			n := allocated(func() { _, err = Decompress(codec, src, nil, limit) })
			t.Logf("%d bytes expanding to %d MiB: %v after allocating %.1f MiB", len(src), bombSize>>20, err, float64(n)/(1<<20))
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("got %v, want ErrTooLarge", err)
			}
			// readLimited's buffer doubles up to the limit (2x), and the
			// codecs keep some state of their own (a zstd window of
			// 1 MiB, lz4's 4 MiB blocks, which lz4 pools: under the race
			// detector sync.Pool drops some, and a block is allocated
			// again). Bounded by constants, not by the bomb's 128 MiB.
			if n > 16*limit+4<<20 {
				t.Fatalf("allocated %d bytes for a %d byte limit", n, limit)
			}
		})
	}
}

// TestZstdBombAfterHonestFrame: the content-size check in the first frame's
// header must not be the only defence; a second frame without one follows.
func TestZstdBombAfterHonestFrame(t *testing.T) {
	const limit = 1 << 20
	honest, _ := Compress(CodecZstd, []byte("a small first frame"), nil)
	src := append(honest, bomb(t, CodecZstd)...)
	var err error
	n := allocated(func() { _, err = Decompress(CodecZstd, src, nil, limit) })
	if !errors.Is(err, ErrTooLarge) || n > 16*limit {
		t.Fatalf("%v after %d bytes", err, n)
	}
}

// TestZstdBigWindowRefused: a frame asking for a window larger than zstd's
// default decoder limit is refused rather than allocated; the same frame
// with a small window decodes.
func TestZstdBigWindowRefused(t *testing.T) {
	// Magic, a descriptor with no content size, single segment or
	// checksum, a window descriptor, then one raw last block of one byte.
	frame := func(windowLog byte) []byte {
		return []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, (windowLog - 10) << 3, 0x09, 0x00, 0x00, 'x'}
	}
	if out, err := Decompress(CodecZstd, frame(10), nil, 1<<20); err != nil || string(out) != "x" {
		t.Fatalf("1 KiB window: %q %v", out, err)
	}
	if _, err := Decompress(CodecZstd, frame(28), nil, 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("256 MiB window: %v", err)
	}
}

// TestDecompressUpToTheLimit: output of exactly the limit is fine with
// every codec, one byte more is not.
func TestDecompressUpToTheLimit(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<12)
	for _, codec := range allCodecs {
		comp, err := Compress(codec, data, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, err := Decompress(codec, comp, nil, len(data))
		if err != nil || !bytes.Equal(out, data) {
			t.Fatalf("%v at the limit: %v", codec, err)
		}
		if _, err := Decompress(codec, comp, nil, len(data)-1); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("%v one byte over: %v", codec, err)
		}
	}
}

// heapPeak samples the live heap every millisecond while f runs and
// returns its largest growth.
func heapPeak(f func()) int64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() int64 {
		metrics.Read(sample)
		return int64(sample[0].Value.Uint64())
	}
	runtime.GC()
	base := read()
	var peak atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if v := read() - base; v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(done)
	wg.Wait()
	return peak.Load()
}

// TestBudgetBoundsConcurrentBombs: sixteen callers validating batches that
// expand past their 16 MiB cap at once hold about the budget between them
// (plus garbage not collected yet), not sixteen caps; ordinary batches
// still validate, and everything charged is given back.
func TestBudgetBoundsConcurrentBombs(t *testing.T) {
	bombBatch := withCodec(CodecZstd, bombOf(t, CodecZstd, 64<<20), 1000)
	good, _ := AppendBatch(nil, producerHeader(), CodecZstd, testRecords(50))
	run := func(budget *Budget) int64 {
		return heapPeak(func() {
			var wg sync.WaitGroup
			for range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 2 {
						o := ValidateOptions{MaxDecompressed: 16 << 20, AllowZstd: true, BeforeMaxMs: math.MaxInt64, AfterMaxMs: math.MaxInt64, Budget: budget}
						if _, _, err := ValidateProduce(bombBatch, &o, nil); err == nil || err.Code != kerr.CorruptMessage {
							t.Errorf("bomb: %v", err)
						}
						if _, _, err := ValidateProduce(good, &o, nil); err != nil {
							t.Errorf("ordinary batch: %v", err)
						}
					}
				}()
			}
			wg.Wait()
		})
	}
	budget := NewBudget(64 << 20)
	with := run(budget)
	without := run(nil)
	t.Logf("16 callers decompressing bombs capped at 16 MiB: heap grew by %.0f MiB without a budget, %.0f MiB with 64 MiB",
		float64(without)/(1<<20), float64(with)/(1<<20))
	if budget.Held() != 0 {
		t.Fatalf("%d bytes still charged", budget.Held())
	}
	if with > 160<<20 {
		t.Fatalf("heap grew by %d MiB under a 64 MiB budget", with>>20)
	}
	if without < 2*with {
		t.Fatalf("the budget made no difference (%d vs %d)", with, without)
	}
}
