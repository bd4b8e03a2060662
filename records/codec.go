package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// ErrTooLarge means a compressed records section expands past the caller's
// limit: a decompression bomb, or simply more than the broker accepts.
var ErrTooLarge = errors.New("records: decompressed size over limit")

// ErrBadCompression means the compressed bytes do not decode with their codec.
var ErrBadCompression = errors.New("records: cannot decompress")

// maxZstdWindow is the largest window a zstd frame may ask for: zstd's own
// default decoder limit (ZSTD_WINDOWLOG_LIMIT_DEFAULT, 2^27), which is what
// the Java clients' zstd-jni accepts too. A frame's window may not exceed
// the caller's limit either.
const maxZstdWindow = 1 << 27

var (
	// zstdDecoders decode one call at a time each (concurrency 1), so
	// each call can set its own output limit. DecodeAll is used, not a
	// stream: a streaming decoder allocates the window a frame declares
	// up front (10 bytes could cost 128 MiB), while DecodeAll decodes
	// into dst and checks the limit after every block. Without a limit
	// of its own per call, it grew a bomb's output to the decoder's 1 GiB
	// memory limit before reporting the excess (6 GiB allocated).
	zstdDecoders = sync.Pool{New: func() any {
		d, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			panic("BUG: records: zstd decoder options: " + err.Error())
		}
		return d
	}}
	zstdEnc, _ = zstd.NewWriter(nil,
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithZeroFrames(true))

	gzipReaders sync.Pool // *gzip.Reader
	gzipWriters = sync.Pool{New: func() any {
		w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
		return w
	}}
	lz4Readers = sync.Pool{New: func() any { return lz4.NewReader(nil) }}
	lz4Writers = sync.Pool{New: func() any { return lz4.NewWriter(nil) }}
)

// xerialMagic starts snappy data framed by Java's xerial SnappyOutputStream:
// magic, then int32 version and int32 compatible version, then chunks of
// int32 length + raw snappy block.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// Decompress appends the decompressed form of src to dst[:0]-style reuse:
// the result may alias dst's backing array. It fails with ErrTooLarge once
// the output would exceed limit bytes.
func Decompress(codec Codec, src, dst []byte, limit int) ([]byte, error) {
	dst = dst[:0]
	switch codec {
	case CodecNone:
		if len(src) > limit {
			return nil, ErrTooLarge
		}
		return append(dst, src...), nil
	case CodecGzip:
		r, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if r == nil {
			r, err = gzip.NewReader(bytes.NewReader(src))
		} else {
			err = r.Reset(bytes.NewReader(src))
		}
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrBadCompression, err)
		}
		defer gzipReaders.Put(r)
		return readLimited(r, dst, limit)
	case CodecSnappy:
		if bytes.HasPrefix(src, xerialMagic) {
			return decodeXerial(src, dst, limit)
		}
		return decodeSnappyBlock(src, dst, limit)
	case CodecLZ4:
		if out, ok, err := decodeLZ4(src, dst, limit); ok {
			return out, err
		}
		r := lz4Readers.Get().(*lz4.Reader)
		defer lz4Readers.Put(r)
		r.Reset(bytes.NewReader(src))
		return readLimited(r, dst, limit)
	case CodecZstd:
		// zstd frames usually carry their content size; check it before
		// letting the decoder allocate.
		var h zstd.Header
		if err := h.Decode(src); err == nil && h.HasFCS && h.FrameContentSize > uint64(limit) {
			return nil, ErrTooLarge
		}
		d := zstdDecoders.Get().(*zstd.Decoder)
		defer zstdDecoders.Put(d)
		if err := d.ResetWithOptions(nil, zstd.WithDecoderMaxMemory(uint64(max(limit, 1)))); err != nil {
			return nil, fmt.Errorf("%w: zstd: %v", ErrBadCompression, err)
		}
		out, err := d.DecodeAll(src, dst)
		if err != nil {
			if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
				return nil, ErrTooLarge
			}
			return nil, fmt.Errorf("%w: zstd: %v", ErrBadCompression, err)
		}
		if len(out) > limit {
			return nil, ErrTooLarge
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: unknown codec %d", ErrBadCompression, codec)
}

func readLimited(r io.Reader, dst []byte, limit int) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	n, err := buf.ReadFrom(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCompression, err)
	}
	if n > int64(limit) {
		return nil, ErrTooLarge
	}
	return buf.Bytes(), nil
}

func decodeSnappyBlock(src, dst []byte, limit int) ([]byte, error) {
	n, err := s2.DecodedLen(src)
	if err != nil {
		return nil, fmt.Errorf("%w: snappy: %v", ErrBadCompression, err)
	}
	if n > limit-len(dst) {
		return nil, ErrTooLarge
	}
	start := len(dst)
	dst = grow(dst, n)
	if _, err := s2.Decode(dst[start:], src); err != nil {
		return nil, fmt.Errorf("%w: snappy: %v", ErrBadCompression, err)
	}
	return dst, nil
}

func decodeXerial(src, dst []byte, limit int) ([]byte, error) {
	if len(src) < 16 {
		return nil, fmt.Errorf("%w: short xerial header", ErrBadCompression)
	}
	src = src[16:]
	for len(src) > 0 {
		if len(src) < 4 {
			return nil, fmt.Errorf("%w: short xerial chunk", ErrBadCompression)
		}
		n := int(binary.BigEndian.Uint32(src))
		src = src[4:]
		if n < 0 || n > len(src) {
			return nil, fmt.Errorf("%w: xerial chunk length %d", ErrBadCompression, n)
		}
		var err error
		if dst, err = decodeSnappyBlock(src[:n], dst, limit); err != nil {
			return nil, err
		}
		src = src[n:]
	}
	return dst, nil
}

// grow extends b by n bytes, reallocating when needed.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n, 2*len(b)+n)
	copy(nb, b)
	return nb
}

// Compress appends src compressed with codec to dst.
func Compress(codec Codec, src, dst []byte) ([]byte, error) {
	switch codec {
	case CodecNone:
		return append(dst, src...), nil
	case CodecGzip:
		w := gzipWriters.Get().(*gzip.Writer)
		defer gzipWriters.Put(w)
		buf := bytes.NewBuffer(dst)
		w.Reset(buf)
		if _, err := w.Write(src); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case CodecSnappy:
		return append(dst, s2.EncodeSnappy(nil, src)...), nil
	case CodecLZ4:
		w := lz4Writers.Get().(*lz4.Writer)
		defer lz4Writers.Put(w)
		buf := bytes.NewBuffer(dst)
		w.Reset(buf)
		if _, err := w.Write(src); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case CodecZstd:
		return zstdEnc.EncodeAll(src, dst), nil
	}
	return nil, fmt.Errorf("records: cannot compress with codec %d", codec)
}
