package harness

import (
	"bytes"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Sample is the record set every client test writes and reads back: keys
// and values that are null, empty and binary, a compressible value, and
// headers (several, repeated keys, empty values). Clients that cannot write
// a null header value skip the record that has one (NullHeader).
func Sample() []Rec {
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	return []Rec{
		{Key: []byte("k1"), Value: []byte("v1"), Headers: []Header{{"h1", []byte("a")}, {"h2", []byte("b")}}},
		{Key: nil, Value: []byte("null key")},
		{Key: []byte("null value"), Value: nil},
		{Key: []byte("empty value"), Value: []byte{}},
		{Key: []byte{}, Value: []byte("empty key")},
		{Key: []byte("headers"), Value: []byte("v"), Headers: []Header{
			{"a", []byte("1")}, {"b", []byte{}}, {"a", []byte("2")}, {"c", []byte("three")},
		}},
		{Key: binary, Value: binary},
		{Key: []byte("compressible"), Value: bytes.Repeat([]byte("potok "), 2000)},
	}
}

// NullHeader is a record with a null header value, for clients that can
// write one.
func NullHeader() Rec {
	return Rec{Key: []byte("null header"), Value: []byte("v"), Headers: []Header{{"n", nil}, {"e", []byte{}}}}
}

// Codec numbers in a record batch's attributes (bits 0-2).
const (
	CodecNone   = 0
	CodecGzip   = 1
	CodecSnappy = 2
	CodecLz4    = 3
	CodecZstd   = 4
)

// Batch is what a test checks of a stored record batch.
type Batch struct {
	BaseOffset int64
	Records    int32
	Codec      int8
	ProducerID int64
	Sequence   int32
}

// Batches fetches one partition's record batches as the broker stores them
// (a raw Fetch, so nothing is decompressed or regrouped), from offset 0 to
// the high watermark. The codec of each batch shows whether a client really
// compressed what it sent.
func Batches(t testing.TB, addr, topic string, partition int32) []Batch {
	t.Helper()
	cl := Client(t, addr)
	ctx := Ctx(t, 30*time.Second)
	topicID := TopicID(t, addr, topic)
	var out []Batch
	next := int64(0)
	for {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis = 0
		req.MaxBytes = 64 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, topicID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = partition
		rp.FetchOffset = next
		rp.PartitionMaxBytes = 64 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("raw fetch %s/%d@%d: %v", topic, partition, next, err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("raw fetch %s/%d: response has %d topics", topic, partition, len(resp.Topics))
		}
		sp := resp.Topics[0].Partitions[0]
		if sp.ErrorCode != 0 {
			t.Fatalf("raw fetch %s/%d@%d: error code %d", topic, partition, next, sp.ErrorCode)
		}
		data := sp.RecordBatches
		progressed := false
		for len(data) >= 12 {
			var b kmsg.RecordBatch
			length := 12 + int(int32(uint32(data[8])<<24|uint32(data[9])<<16|uint32(data[10])<<8|uint32(data[11])))
			if length > len(data) {
				break // a trailing partial batch
			}
			if err := b.ReadFrom(data[:length]); err != nil {
				t.Fatalf("raw fetch %s/%d: bad batch at offset %d: %v", topic, partition, next, err)
			}
			data = data[length:]
			if b.FirstOffset+int64(b.LastOffsetDelta) < next {
				continue
			}
			out = append(out, Batch{BaseOffset: b.FirstOffset, Records: b.NumRecords, Codec: int8(b.Attributes & 7),
				ProducerID: b.ProducerID, Sequence: b.FirstSequence})
			next = b.FirstOffset + int64(b.LastOffsetDelta) + 1
			progressed = true
		}
		if next >= sp.HighWatermark {
			return out
		}
		if !progressed {
			t.Fatalf("raw fetch %s/%d@%d: no batch returned below high watermark %d", topic, partition, next, sp.HighWatermark)
		}
	}
}

// Codecs returns the set of codecs used by a partition's batches.
func Codecs(t testing.TB, addr, topic string, partition int32) map[int8]int {
	t.Helper()
	out := map[int8]int{}
	for _, b := range Batches(t, addr, topic, partition) {
		out[b.Codec]++
	}
	return out
}

// TopicID returns a topic's id. Raw fetches sent through kgo need it: kgo
// sends Fetch at the broker's highest version, which names topics by id
// from v13.
func TopicID(t testing.TB, addr, topic string) [16]byte {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, mt)
	resp, err := req.RequestWith(Ctx(t, 30*time.Second), Client(t, addr))
	if err != nil || len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("topic id of %s: %v %+v", topic, err, resp)
	}
	return resp.Topics[0].TopicID
}
