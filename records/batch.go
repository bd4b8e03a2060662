package records

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Sizes and field positions of the v2 batch header.
const (
	HeaderSize = 61 // bytes before the first record
	// LengthOverhead is the part of a batch not counted by batchLength:
	// baseOffset and batchLength itself.
	LengthOverhead = 12

	posBaseOffset      = 0
	posLength          = 8
	posLeaderEpoch     = 12
	posMagic           = 16
	posCRC             = 17
	posAttributes      = 21
	posLastOffsetDelta = 23
	posBaseTimestamp   = 27
	posMaxTimestamp    = 35
	posProducerID      = 43
	posProducerEpoch   = 51
	posBaseSequence    = 53
	posRecordCount     = 57
)

// Attribute bits.
const (
	CodecMask         = 0x07
	AttrLogAppendTime = 0x08
	AttrTransactional = 0x10
	AttrControl       = 0x20
	AttrDeleteHorizon = 0x40
)

// Codec is a batch compression codec, as carried in attribute bits 0-2.
type Codec int8

const (
	CodecNone Codec = iota
	CodecGzip
	CodecSnappy
	CodecLZ4
	CodecZstd
)

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

// ParseCodec maps a compression.type name to a codec. "producer" and
// "uncompressed" are not codecs and return ok=false, except that
// "uncompressed" maps to CodecNone with ok=true.
func ParseCodec(name string) (Codec, bool) {
	switch name {
	case "none", "uncompressed":
		return CodecNone, true
	case "gzip":
		return CodecGzip, true
	case "snappy":
		return CodecSnappy, true
	case "lz4":
		return CodecLZ4, true
	case "zstd":
		return CodecZstd, true
	}
	return 0, false
}

// Errors returned while splitting a byte stream into batches.
var (
	// ErrShort means the bytes end inside a batch (a torn or partial tail).
	ErrShort = errors.New("records: truncated batch")
	// ErrCorrupt means a batch header cannot be a valid batch.
	ErrCorrupt = errors.New("records: corrupt batch")
)

// Batch is one whole v2 record batch. Accessors read the header in place; they
// must only be called on a Batch obtained from Next (or known to be at least
// HeaderSize long).
type Batch []byte

func (b Batch) BaseOffset() int64 { return int64(binary.BigEndian.Uint64(b[posBaseOffset:])) }

// Length is the batchLength field: the size of the batch minus LengthOverhead.
func (b Batch) Length() int32 { return int32(binary.BigEndian.Uint32(b[posLength:])) }

func (b Batch) PartitionLeaderEpoch() int32 {
	return int32(binary.BigEndian.Uint32(b[posLeaderEpoch:]))
}
func (b Batch) Magic() int8       { return int8(b[posMagic]) }
func (b Batch) CRC() uint32       { return binary.BigEndian.Uint32(b[posCRC:]) }
func (b Batch) Attributes() int16 { return int16(binary.BigEndian.Uint16(b[posAttributes:])) }
func (b Batch) Codec() Codec      { return Codec(b.Attributes() & CodecMask) }
func (b Batch) LastOffsetDelta() int32 {
	return int32(binary.BigEndian.Uint32(b[posLastOffsetDelta:]))
}
func (b Batch) BaseTimestamp() int64 { return int64(binary.BigEndian.Uint64(b[posBaseTimestamp:])) }
func (b Batch) MaxTimestamp() int64  { return int64(binary.BigEndian.Uint64(b[posMaxTimestamp:])) }
func (b Batch) ProducerID() int64    { return int64(binary.BigEndian.Uint64(b[posProducerID:])) }
func (b Batch) ProducerEpoch() int16 { return int16(binary.BigEndian.Uint16(b[posProducerEpoch:])) }
func (b Batch) BaseSequence() int32  { return int32(binary.BigEndian.Uint32(b[posBaseSequence:])) }
func (b Batch) NumRecords() int32    { return int32(binary.BigEndian.Uint32(b[posRecordCount:])) }

// LastOffset is the offset of the last record the batch was built with.
func (b Batch) LastOffset() int64 { return b.BaseOffset() + int64(b.LastOffsetDelta()) }

// LastSequence is the sequence number of the last record, wrapping as Kafka
// does (DefaultRecordBatch.incrementSequence).
func (b Batch) LastSequence() int32 {
	seq := b.BaseSequence()
	if seq < 0 {
		return -1
	}
	return IncrementSequence(seq, b.LastOffsetDelta())
}

// IncrementSequence adds delta to a producer sequence, wrapping past
// math.MaxInt32 to 0.
func IncrementSequence(seq, delta int32) int32 {
	if seq > 0x7fffffff-delta {
		return delta - (0x7fffffff - seq) - 1
	}
	return seq + delta
}

func (b Batch) IsTransactional() bool { return b.Attributes()&AttrTransactional != 0 }
func (b Batch) IsControl() bool       { return b.Attributes()&AttrControl != 0 }
func (b Batch) IsLogAppendTime() bool { return b.Attributes()&AttrLogAppendTime != 0 }
func (b Batch) HasDeleteHorizon() bool {
	return b.Attributes()&AttrDeleteHorizon != 0
}

// HasProducerID reports whether the batch was written by an idempotent or
// transactional producer.
func (b Batch) HasProducerID() bool { return b.ProducerID() >= 0 }

// Records is the records section: compressed when Codec is not CodecNone.
func (b Batch) Records() []byte { return b[HeaderSize:] }

// ComputeCRC computes the checksum over attributes through the end.
func (b Batch) ComputeCRC() uint32 { return CRC(b[posAttributes:]) }

// ValidCRC reports whether the stored CRC matches the batch contents.
func (b Batch) ValidCRC() bool { return b.CRC() == b.ComputeCRC() }

// SetBaseOffset patches the base offset; the CRC does not cover it.
func (b Batch) SetBaseOffset(off int64) {
	binary.BigEndian.PutUint64(b[posBaseOffset:], uint64(off))
}

// SetPartitionLeaderEpoch patches the leader epoch; the CRC does not cover it.
func (b Batch) SetPartitionLeaderEpoch(epoch int32) {
	binary.BigEndian.PutUint32(b[posLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime marks the batch as LogAppendTime with max timestamp ts and
// recomputes the CRC, as Kafka's DefaultRecordBatch.setMaxTimestamp does.
func (b Batch) SetLogAppendTime(ts int64) {
	attrs := uint16(b.Attributes()) | AttrLogAppendTime
	binary.BigEndian.PutUint16(b[posAttributes:], attrs)
	binary.BigEndian.PutUint64(b[posMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(b[posCRC:], b.ComputeCRC())
}

// Next splits the first batch off buf. It checks only what is needed to know
// where the batch ends: that the length field is sane and the bytes are there,
// and that the magic is 2. It does not check the CRC.
//
// At the end of buf it returns ErrShort if a partial batch remains (len(buf) >
// 0). A batchLength that cannot describe a v2 batch, or another magic, gives
// ErrCorrupt.
func Next(buf []byte) (b Batch, rest []byte, err error) {
	if len(buf) < LengthOverhead {
		return nil, buf, ErrShort
	}
	n := int64(int32(binary.BigEndian.Uint32(buf[posLength:])))
	if n < HeaderSize-LengthOverhead {
		return nil, buf, fmt.Errorf("%w: batch length %d", ErrCorrupt, n)
	}
	if len(buf) > posMagic && buf[posMagic] != 2 {
		return nil, buf, fmt.Errorf("%w: magic %d", ErrCorrupt, int8(buf[posMagic]))
	}
	total := n + LengthOverhead
	if int64(len(buf)) < total {
		return nil, buf, ErrShort
	}
	return Batch(buf[:total:total]), buf[total:], nil
}

// PeekLength returns the total size of the batch starting at buf, reading only
// its first 12 bytes, or -1 if fewer than 12 bytes are present.
func PeekLength(buf []byte) int64 {
	if len(buf) < LengthOverhead {
		return -1
	}
	return int64(int32(binary.BigEndian.Uint32(buf[posLength:]))) + LengthOverhead
}
