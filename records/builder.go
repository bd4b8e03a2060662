package records

import "encoding/binary"

// BatchHeader holds the header fields a builder sets. LastOffsetDelta,
// record count, lengths and CRC are derived when the batch is built.
type BatchHeader struct {
	BaseOffset           int64
	PartitionLeaderEpoch int32
	Attributes           int16 // the codec bits are set from the codec argument
	BaseTimestamp        int64
	// MaxTimestamp is used as given for LogAppendTime batches; for
	// CreateTime batches the builder computes it from the records.
	MaxTimestamp  int64
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
}

// NoProducer fills a header's producer fields for a batch without a producer
// id (neither idempotent nor transactional).
func (h *BatchHeader) NoProducer() {
	h.ProducerID, h.ProducerEpoch, h.BaseSequence = -1, -1, -1
}

// AppendBatch encodes recs as one batch appended to dst. The records' offset
// deltas are kept as given, so a compacted batch keeps its gaps; the last
// record's delta becomes lastOffsetDelta.
func AppendBatch(dst []byte, h BatchHeader, codec Codec, recs []Record) ([]byte, error) {
	var raw []byte
	maxTS := h.BaseTimestamp
	for i := range recs {
		raw = AppendRecord(raw, &recs[i])
		if ts := h.BaseTimestamp + recs[i].TimestampDelta; ts > maxTS {
			maxTS = ts
		}
	}
	if h.Attributes&AttrLogAppendTime == 0 {
		h.MaxTimestamp = maxTS
	}
	var lastDelta int32
	if len(recs) > 0 {
		lastDelta = recs[len(recs)-1].OffsetDelta
	}
	return AppendRawBatch(dst, h, codec, raw, int32(len(recs)), lastDelta)
}

// AppendRawBatch wraps an uncompressed records section (count records, the
// last at lastOffsetDelta) into a batch, compressing it with codec.
// h.MaxTimestamp is used as given.
func AppendRawBatch(dst []byte, h BatchHeader, codec Codec, raw []byte, count, lastOffsetDelta int32) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	var err error
	if dst, err = Compress(codec, raw, dst); err != nil {
		return nil, err
	}
	b := Batch(dst[start:])
	attrs := h.Attributes&^CodecMask | int16(codec)
	binary.BigEndian.PutUint64(b[posBaseOffset:], uint64(h.BaseOffset))
	binary.BigEndian.PutUint32(b[posLength:], uint32(len(b)-LengthOverhead))
	binary.BigEndian.PutUint32(b[posLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	b[posMagic] = 2
	binary.BigEndian.PutUint16(b[posAttributes:], uint16(attrs))
	binary.BigEndian.PutUint32(b[posLastOffsetDelta:], uint32(lastOffsetDelta))
	binary.BigEndian.PutUint64(b[posBaseTimestamp:], uint64(h.BaseTimestamp))
	binary.BigEndian.PutUint64(b[posMaxTimestamp:], uint64(h.MaxTimestamp))
	binary.BigEndian.PutUint64(b[posProducerID:], uint64(h.ProducerID))
	binary.BigEndian.PutUint16(b[posProducerEpoch:], uint16(h.ProducerEpoch))
	binary.BigEndian.PutUint32(b[posBaseSequence:], uint32(h.BaseSequence))
	binary.BigEndian.PutUint32(b[posRecordCount:], uint32(count))
	binary.BigEndian.PutUint32(b[posCRC:], b.ComputeCRC())
	return dst, nil
}

// Control record types (Kafka's ControlRecordType).
const (
	ControlAbort  int16 = 0
	ControlCommit int16 = 1
)

// AppendControlBatch appends a transaction marker batch: transactional and
// control attributes, one record whose key is (version 0, type) and whose
// value is (version 0, coordinatorEpoch), as EndTransactionMarker writes it.
func AppendControlBatch(dst []byte, producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32, timestamp int64) []byte {
	typ := ControlAbort
	if commit {
		typ = ControlCommit
	}
	key := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, 0), uint16(typ))
	val := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, 0), uint32(coordinatorEpoch))
	h := BatchHeader{
		PartitionLeaderEpoch: -1,
		Attributes:           AttrTransactional | AttrControl,
		BaseTimestamp:        timestamp,
		ProducerID:           producerID,
		ProducerEpoch:        producerEpoch,
		BaseSequence:         -1,
	}
	out, _ := AppendBatch(dst, h, CodecNone, []Record{{Key: key, Value: val}})
	return out
}

// ControlType returns the marker type of a control batch's record key, or -1
// if the key is not a control key.
func ControlType(key []byte) int16 {
	if len(key) < 4 {
		return -1
	}
	return int16(binary.BigEndian.Uint16(key[2:]))
}

// MarkerType returns the control record type of a control batch (ControlAbort
// or ControlCommit), or -1 when it cannot be read.
func (b Batch) MarkerType() int16 {
	if !b.IsControl() || b.Codec() != CodecNone {
		return -1
	}
	r := NewRecordReader(b.Records(), b.NumRecords())
	var rec Record
	if ok, err := r.Next(&rec); !ok || err != nil {
		return -1
	}
	return ControlType(rec.Key)
}
