package records

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Header is one record header. A nil Value is a null header value.
type Header struct {
	Key   []byte
	Value []byte
}

// Record is one decoded record. Key and Value are nil when null. The byte
// slices alias the buffer the record was read from.
type Record struct {
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int32
	Key            []byte
	Value          []byte
	Headers        []Header
}

// ErrBadRecord reports a record that does not decode.
var ErrBadRecord = errors.New("records: malformed record")

// RecordReader walks the records of an uncompressed records section. It
// allocates nothing after its header slice has grown to the largest header
// count seen.
type RecordReader struct {
	buf []byte
	n   int // records left, from the batch header
}

// NewRecordReader reads count records from data (an uncompressed records
// section).
func NewRecordReader(data []byte, count int32) RecordReader {
	return RecordReader{buf: data, n: int(count)}
}

// Remaining is the number of records not yet read.
func (r *RecordReader) Remaining() int { return r.n }

// Rest returns the bytes after the records read so far.
func (r *RecordReader) Rest() []byte { return r.buf }

// Next decodes the next record into rec, reusing rec.Headers. It returns false
// when no records are left; err is set when the bytes are malformed.
func (r *RecordReader) Next(rec *Record) (ok bool, err error) {
	if r.n <= 0 {
		return false, nil
	}
	length, n := binary.Varint(r.buf)
	if n <= 0 || length < 0 || length > int64(len(r.buf)-n) {
		return false, fmt.Errorf("%w: length", ErrBadRecord)
	}
	body := r.buf[n : n+int(length)]
	r.buf = r.buf[n+int(length):]
	r.n--
	if err := decodeRecord(body, rec); err != nil {
		return false, err
	}
	return true, nil
}

func decodeRecord(b []byte, rec *Record) error {
	if len(b) < 1 {
		return fmt.Errorf("%w: empty", ErrBadRecord)
	}
	rec.Attributes = int8(b[0])
	b = b[1:]
	var ok bool
	if rec.TimestampDelta, b, ok = varlong(b); !ok {
		return fmt.Errorf("%w: timestamp delta", ErrBadRecord)
	}
	var od int64
	if od, b, ok = varlong(b); !ok || od < -1<<31 || od > 1<<31-1 {
		return fmt.Errorf("%w: offset delta", ErrBadRecord)
	}
	rec.OffsetDelta = int32(od)
	if rec.Key, b, ok = nullableBytes(b); !ok {
		return fmt.Errorf("%w: key", ErrBadRecord)
	}
	if rec.Value, b, ok = nullableBytes(b); !ok {
		return fmt.Errorf("%w: value", ErrBadRecord)
	}
	var nh int64
	if nh, b, ok = varlong(b); !ok || nh < 0 || nh > int64(len(b)) {
		return fmt.Errorf("%w: header count", ErrBadRecord)
	}
	rec.Headers = rec.Headers[:0]
	for i := int64(0); i < nh; i++ {
		var h Header
		if h.Key, b, ok = nullableBytes(b); !ok || h.Key == nil {
			return fmt.Errorf("%w: header key", ErrBadRecord)
		}
		if h.Value, b, ok = nullableBytes(b); !ok {
			return fmt.Errorf("%w: header value", ErrBadRecord)
		}
		rec.Headers = append(rec.Headers, h)
	}
	if len(b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrBadRecord, len(b))
	}
	return nil
}

func varlong(b []byte) (int64, []byte, bool) {
	v, n := binary.Varint(b)
	if n <= 0 {
		return 0, b, false
	}
	return v, b[n:], true
}

func nullableBytes(b []byte) ([]byte, []byte, bool) {
	l, b, ok := varlong(b)
	if !ok || l < -1 || l > int64(len(b)) {
		return nil, b, false
	}
	if l == -1 {
		return nil, b, true
	}
	return b[:l:l], b[l:], true
}

// AppendRecord encodes rec and appends it to dst.
func AppendRecord(dst []byte, rec *Record) []byte {
	size := recordBodySize(rec)
	dst = binary.AppendVarint(dst, int64(size))
	dst = append(dst, byte(rec.Attributes))
	dst = binary.AppendVarint(dst, rec.TimestampDelta)
	dst = binary.AppendVarint(dst, int64(rec.OffsetDelta))
	dst = appendNullable(dst, rec.Key)
	dst = appendNullable(dst, rec.Value)
	dst = binary.AppendVarint(dst, int64(len(rec.Headers)))
	for _, h := range rec.Headers {
		dst = appendNullable(dst, h.Key)
		dst = appendNullable(dst, h.Value)
	}
	return dst
}

func appendNullable(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

func nullableLen(b []byte) int {
	if b == nil {
		return varintLen(-1)
	}
	return varintLen(int64(len(b))) + len(b)
}

func recordBodySize(rec *Record) int {
	n := 1 + varintLen(rec.TimestampDelta) + varintLen(int64(rec.OffsetDelta)) +
		nullableLen(rec.Key) + nullableLen(rec.Value) + varintLen(int64(len(rec.Headers)))
	for _, h := range rec.Headers {
		n += nullableLen(h.Key) + nullableLen(h.Value)
	}
	return n
}
