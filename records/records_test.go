package records

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var allCodecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}

func testRecords(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{
			TimestampDelta: int64(i * 3),
			OffsetDelta:    int32(i),
			Key:            []byte(fmt.Sprintf("key-%d", i)),
			Value:          bytes.Repeat([]byte{byte(i)}, 100+i),
			Headers:        []Header{{Key: []byte("h"), Value: []byte(fmt.Sprint(i))}, {Key: []byte("null"), Value: nil}},
		}
	}
	if n > 2 {
		recs[1].Key = nil
		recs[2].Value = nil
	}
	return recs
}

func producerHeader() BatchHeader {
	return BatchHeader{BaseTimestamp: 1_700_000_000_000, ProducerID: 7, ProducerEpoch: 2, BaseSequence: 40, PartitionLeaderEpoch: -1}
}

func TestBuildAndReadEveryCodec(t *testing.T) {
	for _, codec := range allCodecs {
		t.Run(codec.String(), func(t *testing.T) {
			want := testRecords(20)
			data, err := AppendBatch(nil, producerHeader(), codec, want)
			if err != nil {
				t.Fatal(err)
			}
			b, rest, err := Next(data)
			if err != nil || len(rest) != 0 {
				t.Fatalf("Next: %v, %d left", err, len(rest))
			}
			if !b.ValidCRC() || b.Codec() != codec || b.NumRecords() != 20 || b.LastOffsetDelta() != 19 {
				t.Fatalf("header: crc %v codec %v n %d last %d", b.ValidCRC(), b.Codec(), b.NumRecords(), b.LastOffsetDelta())
			}
			if b.MaxTimestamp() != 1_700_000_000_000+19*3 {
				t.Fatalf("max timestamp %d", b.MaxTimestamp())
			}
			if b.LastSequence() != 59 {
				t.Fatalf("last sequence %d", b.LastSequence())
			}

			// kmsg decodes the same header independently.
			var kb kmsg.RecordBatch
			if err := kb.ReadFrom(data); err != nil {
				t.Fatal(err)
			}
			if kb.ProducerID != 7 || kb.ProducerEpoch != 2 || kb.FirstSequence != 40 || int32(kb.CRC) != int32(b.CRC()) || kb.NumRecords != 20 {
				t.Fatalf("kmsg disagrees: %+v", kb)
			}

			raw, err := Decompress(codec, b.Records(), nil, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			r := NewRecordReader(raw, b.NumRecords())
			var rec Record
			for i := 0; ; i++ {
				ok, err := r.Next(&rec)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					if i != 20 {
						t.Fatalf("read %d records", i)
					}
					break
				}
				w := want[i]
				if !bytes.Equal(rec.Key, w.Key) || (rec.Key == nil) != (w.Key == nil) ||
					!bytes.Equal(rec.Value, w.Value) || (rec.Value == nil) != (w.Value == nil) ||
					rec.OffsetDelta != w.OffsetDelta || rec.TimestampDelta != w.TimestampDelta ||
					len(rec.Headers) != 2 || rec.Headers[1].Value != nil {
					t.Fatalf("record %d differs: %+v", i, rec)
				}
			}
		})
	}
}

func TestPatchOutsideCRC(t *testing.T) {
	data, _ := AppendBatch(nil, producerHeader(), CodecNone, testRecords(3))
	b := Batch(data)
	crc := b.CRC()
	b.SetBaseOffset(1234)
	b.SetPartitionLeaderEpoch(9)
	if !b.ValidCRC() || b.CRC() != crc || b.BaseOffset() != 1234 || b.LastOffset() != 1236 || b.PartitionLeaderEpoch() != 9 {
		t.Fatal("patching base offset or epoch must not disturb the CRC")
	}
	b.SetLogAppendTime(99)
	if !b.ValidCRC() || !b.IsLogAppendTime() || b.MaxTimestamp() != 99 {
		t.Fatal("SetLogAppendTime must recompute the CRC")
	}
}

func TestNextSplitsAndDetectsTornTail(t *testing.T) {
	var data []byte
	for i := 0; i < 3; i++ {
		data, _ = AppendBatch(data, producerHeader(), CodecNone, testRecords(2))
	}
	n := 0
	for rest := data; len(rest) > 0; n++ {
		var err error
		if _, rest, err = Next(rest); err != nil {
			t.Fatal(err)
		}
	}
	if n != 3 {
		t.Fatalf("split %d batches", n)
	}
	for cut := 1; cut < len(data)/3; cut++ {
		_, _, err := Next(data[:cut])
		if !errors.Is(err, ErrShort) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d: %v", cut, err)
		}
	}
	bad := bytes.Clone(data)
	bad[16] = 1 // magic
	if _, _, err := Next(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("magic 1 accepted: %v", err)
	}
}

func TestXerialSnappy(t *testing.T) {
	raw := bytes.Repeat([]byte("potok "), 5000)
	framed := append([]byte{}, xerialMagic...)
	framed = append(framed, 0, 0, 0, 1, 0, 0, 0, 1)
	for chunk := raw; len(chunk) > 0; {
		n := min(len(chunk), 4096)
		enc := s2.EncodeSnappy(nil, chunk[:n])
		framed = append(framed, byte(len(enc)>>24), byte(len(enc)>>16), byte(len(enc)>>8), byte(len(enc)))
		framed = append(framed, enc...)
		chunk = chunk[n:]
	}
	out, err := Decompress(CodecSnappy, framed, nil, 1<<20)
	if err != nil || !bytes.Equal(out, raw) {
		t.Fatalf("xerial decode: %v, %d bytes", err, len(out))
	}
}

func TestDecompressionBombsStopAtLimit(t *testing.T) {
	zeros := make([]byte, 64<<20)
	for _, codec := range allCodecs[1:] {
		comp, err := Compress(codec, zeros, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decompress(codec, comp, nil, 1<<20); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%v: %d compressed bytes expanding to 64 MiB under a 1 MiB limit: %v", codec, len(comp), err)
		}
	}
}

func TestValidateProduce(t *testing.T) {
	recs := testRecords(5)
	recs[1].Key = []byte("k")
	good, _ := AppendBatch(nil, producerHeader(), CodecNone, recs)
	keyless, _ := AppendBatch(nil, producerHeader(), CodecNone, testRecords(5))
	now := int64(1_700_000_000_000)
	base := ValidateOptions{MaxBatchBytes: 1 << 20, AllowZstd: true, Now: now, BeforeMaxMs: math.MaxInt64, AfterMaxMs: math.MaxInt64}
	mutate := func(f func(b Batch)) []byte {
		c := bytes.Clone(good)
		f(Batch(c))
		return c
	}
	recrc := func(b Batch) {
		b[17], b[18], b[19], b[20] = byte(b.ComputeCRC()>>24), byte(b.ComputeCRC()>>16), byte(b.ComputeCRC()>>8), byte(b.ComputeCRC())
	}
	zstdBatch, _ := AppendBatch(nil, producerHeader(), CodecZstd, testRecords(5))
	for _, tc := range []struct {
		name string
		data []byte
		opts func(o *ValidateOptions)
		want *kerr.Error
	}{
		{"ok", good, nil, nil},
		{"two batches", append(bytes.Clone(good), good...), nil, kerr.InvalidRecord},
		{"torn", good[:len(good)-1], nil, kerr.CorruptMessage},
		{"crc", mutate(func(b Batch) { b[len(b)-1] ^= 1 }), nil, kerr.CorruptMessage},
		{"too large", good, func(o *ValidateOptions) { o.MaxBatchBytes = 100 }, kerr.MessageTooLarge},
		{"base offset", mutate(func(b Batch) { b.SetBaseOffset(5) }), nil, kerr.InvalidRecord},
		{"count", mutate(func(b Batch) { b[60] = 9; recrc(b) }), nil, kerr.InvalidRecord},
		{"control", mutate(func(b Batch) { b[22] |= AttrControl; recrc(b) }), nil, kerr.InvalidRecord},
		{"log append time", mutate(func(b Batch) { b[22] |= AttrLogAppendTime; recrc(b) }), nil, kerr.InvalidTimestamp},
		{"zstd on old produce", zstdBatch, func(o *ValidateOptions) { o.AllowZstd = false }, kerr.UnsupportedCompressionType},
		{"keyless on compacted", keyless, func(o *ValidateOptions) { o.RequireKeys = true }, kerr.InvalidRecord},
		{"timestamp too old", good, func(o *ValidateOptions) { o.Now = now + 10_000; o.BeforeMaxMs = 1000 }, kerr.InvalidTimestamp},
		{"timestamp ahead", good, func(o *ValidateOptions) { o.Now = now - 10_000; o.AfterMaxMs = 1000 }, kerr.InvalidTimestamp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			if tc.opts != nil {
				tc.opts(&o)
			}
			_, _, err := ValidateProduce(tc.data, &o, nil)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("unexpected %v", err)
			case tc.want != nil && (err == nil || err.Code != tc.want):
				t.Fatalf("want %v, got %v", tc.want, err)
			}
		})
	}
}

func TestControlBatch(t *testing.T) {
	data := AppendControlBatch(nil, 5, 1, true, 3, 1000)
	b, _, err := Next(data)
	if err != nil || !b.IsControl() || !b.IsTransactional() || b.MarkerType() != ControlCommit || !b.ValidCRC() {
		t.Fatalf("control batch: %v", err)
	}
	r := NewRecordReader(b.Records(), 1)
	var rec Record
	if ok, err := r.Next(&rec); !ok || err != nil || len(rec.Value) != 6 || rec.Value[5] != 3 {
		t.Fatalf("marker value must carry the coordinator epoch: %v %x", err, rec.Value)
	}
}

func TestIncrementSequenceWraps(t *testing.T) {
	if IncrementSequence(math.MaxInt32, 1) != 0 || IncrementSequence(math.MaxInt32-1, 3) != 1 || IncrementSequence(5, 3) != 8 {
		t.Fatal("sequence wrap")
	}
}

// TestRecordsValidAgreesOnMutations: the fast record check agrees with the
// full one on every one-byte change and every truncation of valid records.
func TestRecordsValidAgreesOnMutations(t *testing.T) {
	data, err := AppendBatch(nil, producerHeader(), CodecNone, testRecords(6))
	if err != nil {
		t.Fatal(err)
	}
	b := Batch(data)
	raw := b.Records()
	opts := []ValidateOptions{
		{BeforeMaxMs: math.MaxInt64, AfterMaxMs: math.MaxInt64},
		{RequireKeys: true, BeforeMaxMs: math.MaxInt64, AfterMaxMs: math.MaxInt64},
		{Now: 1_700_000_000_010, BeforeMaxMs: 5, AfterMaxMs: 5},
	}
	check := func(raw []byte) {
		for i := range opts {
			o := &opts[i]
			if fast, slow := recordsValid(b, raw, o), checkRecords(b, raw, o); fast != (slow == nil) {
				t.Fatalf("options %d, records %x: fast check %v, full check %v", i, raw, fast, slow)
			}
		}
	}
	check(raw)
	m := make([]byte, len(raw))
	for i := range raw {
		for _, v := range []byte{0x00, 0x01, 0x02, 0x7f, 0x80, 0xfe, 0xff, raw[i] + 2, raw[i] - 2} {
			copy(m, raw)
			m[i] = v
			check(m)
		}
		check(raw[:i])
	}
}
