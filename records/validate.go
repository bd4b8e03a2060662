package records

import (
	"encoding/binary"
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
	if !recordsValid(b, raw, o) {
		if e := checkRecords(b, raw, o); e != nil {
			return Validated{}, scratch, e
		}
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

// recordsValid is checkRecords' fast path: the same checks, answering only
// whether the records pass, without materializing a Record, with varints of
// one or two bytes decoded inline. On 100 B records it takes less than half
// the time (a 1 MiB batch: 507 -> 252 us with the CRC). When it
// says no, checkRecords runs to describe what is wrong; a fuzz test holds
// the two to the same verdict.
func recordsValid(b Batch, raw []byte, o *ValidateOptions) bool {
	checkTS := o.needsTimestampCheck()
	lowTS, highTS := int64(math.MinInt64), int64(math.MaxInt64)
	if checkTS {
		if o.BeforeMaxMs >= 0 && o.BeforeMaxMs != math.MaxInt64 {
			lowTS = o.Now - o.BeforeMaxMs
		}
		if o.AfterMaxMs >= 0 && o.AfterMaxMs != math.MaxInt64 {
			highTS = o.Now + o.AfterMaxMs
		}
	}
	base := b.BaseTimestamp()
	lastDelta := int64(b.LastOffsetDelta())
	last := int64(-1)
	i := 0
	for n := b.NumRecords(); n > 0; n-- {
		length, j, ok := varint(raw, i)
		if !ok || length < 0 || length > int64(len(raw)-j) {
			return false
		}
		end := j + int(length)
		body := raw[:end]
		if j >= end { // attributes
			return false
		}
		j++
		var ts, od int64
		if ts, j, ok = varint(body, j); !ok {
			return false
		}
		if od, j, ok = varint(body, j); !ok || od <= last || od > lastDelta {
			return false
		}
		last = od
		var kl int64
		if kl, j, ok = varint(body, j); !ok || kl < -1 || kl > int64(end-j) || kl == -1 && o.RequireKeys {
			return false
		}
		j += int(max(kl, 0))
		var vl int64
		if vl, j, ok = varint(body, j); !ok || vl < -1 || vl > int64(end-j) {
			return false
		}
		j += int(max(vl, 0))
		var nh int64
		if nh, j, ok = varint(body, j); !ok || nh < 0 || nh > int64(end-j) {
			return false
		}
		for ; nh > 0; nh-- {
			var hk, hv int64
			if hk, j, ok = varint(body, j); !ok || hk < 0 || hk > int64(end-j) {
				return false
			}
			j += int(hk)
			if hv, j, ok = varint(body, j); !ok || hv < -1 || hv > int64(end-j) {
				return false
			}
			j += int(max(hv, 0))
		}
		if j != end {
			return false
		}
		if checkTS {
			if t := base + ts; t < lowTS || t > highTS {
				return false
			}
		}
		i = end
	}
	return i == len(raw) && last == lastDelta
}

// varint decodes a zigzag varint at b[i:] (binary.Varint), the one- and
// two-byte forms inline.
func varint(b []byte, i int) (int64, int, bool) {
	if i < len(b) {
		c := b[i]
		if c < 0x80 {
			return int64(c>>1) ^ -int64(c&1), i + 1, true
		}
		if i+1 < len(b) && b[i+1] < 0x80 {
			u := uint64(c&0x7f) | uint64(b[i+1])<<7
			return int64(u>>1) ^ -int64(u&1), i + 2, true
		}
	}
	if i > len(b) {
		return 0, i, false
	}
	v, n := binary.Varint(b[i:])
	if n <= 0 {
		return 0, i, false
	}
	return v, i + n, true
}
