package records

import (
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Error is a validation failure that maps to a Kafka error code for one
// partition of a Produce request. RecordIndex is the index of the offending
// record, or -1 when the batch as a whole is at fault (ProduceResponse v8+
// reports it in RecordErrors).
type Error struct {
	Code        *kerr.Error
	Message     string
	RecordIndex int
}

func (e *Error) Error() string { return fmt.Sprintf("records: %s: %s", e.Code.Message, e.Message) }

func batchErr(code *kerr.Error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), RecordIndex: -1}
}

// ValidateOptions are the topic settings and request facts a produced batch is
// checked against (Kafka's LogValidator and UnifiedLog.analyzeAndValidateRecords).
type ValidateOptions struct {
	MaxBatchBytes int  // max.message.bytes
	AllowZstd     bool // Produce v7+ only
	RequireKeys   bool // compacted topics reject null keys
	// CreateTime topics: each timestamp must be within [Now-BeforeMaxMs,
	// Now+AfterMaxMs]; a negative bound or math.MaxInt64 disables it.
	LogAppendTime bool
	Now           int64
	BeforeMaxMs   int64
	AfterMaxMs    int64
	// MaxDecompressed caps how far a compressed batch may expand.
	MaxDecompressed int
	// KeepRaw asks for the decompressed records section in Validated.Raw even
	// for compressed batches, for a caller that will recompress.
	KeepRaw bool
	// Budget, if set, bounds the memory of decompressions in flight
	// across all callers sharing it (budget.go).
	Budget *Budget
}

// Validated is a batch that passed ValidateProduce.
type Validated struct {
	Batch Batch
	// Raw is the uncompressed records section: the batch's own bytes when it
	// is uncompressed, the decompressed bytes (in the scratch buffer) when
	// the batch was decompressed for checking. Nil when not needed.
	Raw []byte
	// Decompressed reports that Raw was produced by decompression.
	Decompressed bool
}

// needsRecords reports whether record-level checks must look inside the
// records section at all.
func (o *ValidateOptions) needsTimestampCheck() bool {
	return !o.LogAppendTime && (o.BeforeMaxMs >= 0 && o.BeforeMaxMs != math.MaxInt64 ||
		o.AfterMaxMs >= 0 && o.AfterMaxMs != math.MaxInt64)
}

// ValidateProduce checks the records of one partition of a Produce request
// (v3+: exactly one batch). scratch is reused for decompression and returned
// (possibly grown) for the caller to keep.
func ValidateProduce(data []byte, o *ValidateOptions, scratch []byte) (Validated, []byte, *Error) {
	b, rest, err := Next(data)
	if err != nil {
		return Validated{}, scratch, batchErr(kerr.CorruptMessage, "%v", err)
	}
	if len(rest) != 0 {
		return Validated{}, scratch, batchErr(kerr.InvalidRecord, "produce request holds more than one batch for a partition")
	}
	if len(b) < HeaderSize {
		return Validated{}, scratch, batchErr(kerr.CorruptMessage, "batch shorter than its header")
	}
	if b.Magic() != 2 {
		return Validated{}, scratch, batchErr(kerr.UnsupportedForMessageFormat, "magic %d", b.Magic())
	}
	if o.MaxBatchBytes > 0 && len(b) > o.MaxBatchBytes {
		return Validated{}, scratch, batchErr(kerr.MessageTooLarge, "batch of %d bytes exceeds max.message.bytes %d", len(b), o.MaxBatchBytes)
	}
	if b.BaseOffset() != 0 {
		return Validated{}, scratch, batchErr(kerr.InvalidRecord, "base offset %d, producers must send 0", b.BaseOffset())
	}
	if !b.ValidCRC() {
		return Validated{}, scratch, batchErr(kerr.CorruptMessage, "CRC mismatch: stored %08x, computed %08x", b.CRC(), b.ComputeCRC())
	}
	n := b.NumRecords()
	if n <= 0 || int64(b.LastOffsetDelta())+1 != int64(n) {
		return Validated{}, scratch, batchErr(kerr.InvalidRecord, "record count %d does not match last offset delta %d", n, b.LastOffsetDelta())
	}
	if b.IsControl() {
		return Validated{}, scratch, batchErr(kerr.InvalidRecord, "clients may not produce control batches")
	}
	if b.HasProducerID() && b.BaseSequence() < 0 {
		return Validated{}, scratch, batchErr(kerr.InvalidRecord, "producer id %d with no base sequence", b.ProducerID())
	}
	if b.IsTransactional() && !b.HasProducerID() {
		return Validated{}, scratch, batchErr(kerr.InvalidRecord, "transactional batch without a producer id")
	}
	if b.IsLogAppendTime() && !o.LogAppendTime {
		return Validated{}, scratch, batchErr(kerr.InvalidTimestamp, "producer should not set timestamp type to LogAppendTime")
	}
	codec := b.Codec()
	switch {
	case codec > CodecZstd:
		return Validated{}, scratch, batchErr(kerr.CorruptMessage, "unknown codec %d", codec)
	case codec == CodecZstd && !o.AllowZstd:
		return Validated{}, scratch, batchErr(kerr.UnsupportedCompressionType, "zstd needs Produce v7 or later")
	}

	v := Validated{Batch: b}
	raw := b.Records()
	if codec != CodecNone {
		limit := o.MaxDecompressed
		if limit <= 0 {
			limit = 64 << 20
		}
		out, held, err := decompressWithin(o.Budget, codec, raw, scratch, limit)
		if o.Budget != nil {
			defer o.Budget.release(held)
		}
		if err != nil {
			return Validated{}, scratch, batchErr(kerr.CorruptMessage, "%v", err)
		}
		scratch, raw = out, out
		v.Decompressed = true
	}
	if e := checkRecords(b, raw, o); e != nil {
		return Validated{}, scratch, e
	}
	if codec == CodecNone || o.KeepRaw {
		v.Raw = raw
	}
	return v, scratch, nil
}

// checkRecords decodes every record: Kafka does so on every append, so a
// batch whose records do not parse never reaches a consumer.
func checkRecords(b Batch, raw []byte, o *ValidateOptions) *Error {
	checkTS := o.needsTimestampCheck()
	r := NewRecordReader(raw, b.NumRecords())
	var rec Record
	last := int32(-1)
	base := b.BaseTimestamp()
	for i := 0; ; i++ {
		ok, err := r.Next(&rec)
		if err != nil {
			return &Error{Code: kerr.CorruptMessage, Message: err.Error(), RecordIndex: i}
		}
		if !ok {
			break
		}
		if rec.OffsetDelta <= last || rec.OffsetDelta > b.LastOffsetDelta() {
			return &Error{Code: kerr.InvalidRecord, Message: fmt.Sprintf("offset delta %d out of order", rec.OffsetDelta), RecordIndex: i}
		}
		last = rec.OffsetDelta
		if o.RequireKeys && rec.Key == nil {
			return &Error{Code: kerr.InvalidRecord, Message: "compacted topic cannot accept a record without a key", RecordIndex: i}
		}
		if checkTS {
			ts := base + rec.TimestampDelta
			if o.BeforeMaxMs >= 0 && o.BeforeMaxMs != math.MaxInt64 && ts < o.Now-o.BeforeMaxMs ||
				o.AfterMaxMs >= 0 && o.AfterMaxMs != math.MaxInt64 && ts > o.Now+o.AfterMaxMs {
				return &Error{Code: kerr.InvalidTimestamp, Message: fmt.Sprintf("timestamp %d out of range around %d", ts, o.Now), RecordIndex: i}
			}
		}
	}
	if len(r.Rest()) != 0 {
		return batchErr(kerr.CorruptMessage, "%d bytes after the last record", len(r.Rest()))
	}
	if last != b.LastOffsetDelta() {
		return batchErr(kerr.InvalidRecord, "last record delta %d, header says %d", last, b.LastOffsetDelta())
	}
	return nil
}
