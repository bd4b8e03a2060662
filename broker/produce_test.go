package broker

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/potok-io/potok/records"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawProduce sends one Produce request with the given batch bytes for
// topic/partition and returns the partition's response.
func rawProduce(t *testing.T, b *Broker, version int16, acks int16, topic string, partition int32, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	req.Acks = acks
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := request[*kmsg.ProduceResponse](t, b, req)
	return resp.Topics[0].Partitions[0]
}

func batchOf(t testing.TB, codec records.Codec, vals ...string) []byte {
	t.Helper()
	var recs []records.Record
	for i, v := range vals {
		recs = append(recs, records.Record{OffsetDelta: int32(i), Key: []byte(fmt.Sprint("k", i)), Value: []byte(v)})
	}
	h := records.BatchHeader{BaseTimestamp: time.Now().UnixMilli()}
	h.NoProducer()
	data, err := records.AppendBatch(nil, h, codec, recs)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestProduceErrors(t *testing.T) {
	b := testBroker(t, "auto.create.topics.enable=false")
	limit := "2000"
	createTopic(t, b, "small", 1, map[string]*string{"max.message.bytes": &limit})
	compact := "compact"
	createTopic(t, b, "compacted", 1, map[string]*string{"cleanup.policy": &compact})

	good := batchOf(t, records.CodecNone, "a", "b")
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)-1] ^= 0xff
	keyless := func() []byte {
		h := records.BatchHeader{}
		h.NoProducer()
		d, _ := records.AppendBatch(nil, h, records.CodecNone, []records.Record{{Value: []byte("v")}})
		return d
	}()
	for _, tc := range []struct {
		name      string
		version   int16
		topic     string
		partition int32
		batch     []byte
		want      *kerr.Error
	}{
		{"ok", 9, "small", 0, good, nil},
		{"unknown topic", 9, "nope", 0, good, kerr.UnknownTopicOrPartition},
		{"unknown partition", 9, "small", 7, good, kerr.UnknownTopicOrPartition},
		{"corrupt batch", 9, "small", 0, corrupt, kerr.CorruptMessage},
		{"too large", 9, "small", 0, batchOf(t, records.CodecNone, string(make([]byte, 3000))), kerr.MessageTooLarge},
		{"keyless record on compacted topic", 9, "compacted", 0, keyless, kerr.InvalidRecord},
		{"zstd before v7", 6, "small", 0, batchOf(t, records.CodecZstd, "z"), kerr.UnsupportedCompressionType},
		{"message set versions", 2, "small", 0, good, kerr.UnsupportedVersion},
		{"internal topic", 9, "__consumer_offsets", 0, good, kerr.UnknownTopicOrPartition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := rawProduce(t, b, tc.version, 1, tc.topic, tc.partition, bytes.Clone(tc.batch))
			if got := kerr.ErrorForCode(sp.ErrorCode); !errors.Is(got, tc.want) && !(tc.want == nil && got == nil) {
				t.Fatalf("error %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAcks(t *testing.T) {
	b := testBroker(t)
	createTopic(t, b, "acks", 1, nil)
	for _, acks := range []kgo.Acks{kgo.NoAck(), kgo.LeaderAck(), kgo.AllISRAcks()} {
		opts := []kgo.Opt{kgo.DefaultProduceTopic("acks"), kgo.RequiredAcks(acks)}
		if acks != kgo.AllISRAcks() {
			opts = append(opts, kgo.DisableIdempotentWrite())
		}
		p := newClient(t, b, opts...)
		for i := 0; i < 10; i++ {
			if err := p.ProduceSync(ctxT(t), &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := consume(t, b, "acks", 30); len(got) != 30 {
		t.Fatalf("got %d", len(got))
	}
}

func TestLogAppendTimeAndRecompression(t *testing.T) {
	b := testBroker(t)
	lat, gz := "LogAppendTime", "gzip"
	createTopic(t, b, "lat", 1, map[string]*string{"message.timestamp.type": &lat, "compression.type": &gz})
	before := time.Now()
	old := time.Unix(1000, 0)
	p := newClient(t, b, kgo.DefaultProduceTopic("lat"), kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	res := p.ProduceSync(ctxT(t), &kgo.Record{Value: []byte("x"), Timestamp: old})
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	got := consume(t, b, "lat", 1)[0]
	if got.Timestamp.Before(before.Add(-time.Second)) || got.Attrs.TimestampType() != 1 {
		t.Fatalf("timestamp %v type %d: LogAppendTime not applied", got.Timestamp, got.Attrs.TimestampType())
	}
	if got.Attrs.CompressionType() != 1 {
		t.Fatalf("codec %d, want gzip (1) from compression.type", got.Attrs.CompressionType())
	}
}

func TestTimestampBounds(t *testing.T) {
	b := testBroker(t)
	hour := "3600000"
	createTopic(t, b, "ts", 1, map[string]*string{"message.timestamp.before.max.ms": &hour, "message.timestamp.after.max.ms": &hour})
	p := newClient(t, b, kgo.DefaultProduceTopic("ts"), kgo.RecordRetries(0))
	err := p.ProduceSync(ctxT(t), &kgo.Record{Value: []byte("x"), Timestamp: time.Now().Add(-2 * time.Hour)}).FirstErr()
	if !errors.Is(err, kerr.InvalidTimestamp) {
		t.Fatalf("old timestamp: %v", err)
	}
	if err := p.ProduceSync(ctxT(t), &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func TestListOffsetsByTime(t *testing.T) {
	b := testBroker(t)
	createTopic(t, b, "times", 1, nil)
	p := newClient(t, b, kgo.DefaultProduceTopic("times"))
	base := time.UnixMilli(1_700_000_000_000)
	for i := 0; i < 10; i++ {
		if err := p.ProduceSync(ctxT(t), &kgo.Record{Value: []byte{byte(i)}, Timestamp: base.Add(time.Duration(i) * time.Second)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	list := func(version int16, ts int64) kmsg.ListOffsetsResponseTopicPartition {
		req := kmsg.NewPtrListOffsetsRequest()
		req.Version = version
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "times"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = ts
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := request[*kmsg.ListOffsetsResponse](t, b, req)
		return resp.Topics[0].Partitions[0]
	}
	for _, tc := range []struct {
		ts         int64
		wantOffset int64
	}{
		{-1, 10}, {-2, 0},
		{base.UnixMilli(), 0},
		{base.Add(3500 * time.Millisecond).UnixMilli(), 4},
		{base.Add(9 * time.Second).UnixMilli(), 9},
		{base.Add(10 * time.Second).UnixMilli(), -1},
	} {
		if got := list(7, tc.ts); got.ErrorCode != 0 || got.Offset != tc.wantOffset {
			t.Errorf("timestamp %d: offset %d (err %d), want %d", tc.ts, got.Offset, got.ErrorCode, tc.wantOffset)
		}
	}
	if got := list(6, -3); got.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Errorf("-3 before v7: error %d", got.ErrorCode)
	}
}

func TestLongPollFetch(t *testing.T) {
	b := testBroker(t)
	createTopic(t, b, "poll", 2, nil)
	fetch := func(offset int64, minBytes, maxWait int32) (*kmsg.FetchResponse, time.Duration) {
		req := kmsg.NewPtrFetchRequest()
		req.Version = 12
		req.MinBytes, req.MaxWaitMillis, req.MaxBytes = minBytes, maxWait, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "poll"
		for p := int32(0); p < 2; p++ {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, offset, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		start := time.Now()
		resp := request[*kmsg.FetchResponse](t, b, req)
		return resp, time.Since(start)
	}
	// Nothing to read: the fetch waits max_wait and returns every
	// partition, empty, not null.
	resp, took := fetch(0, 1, 200)
	if took < 150*time.Millisecond {
		t.Fatalf("returned after %v without data", took)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
		t.Fatalf("every partition must be in the response: %+v", resp.Topics)
	}
	// Data arriving while waiting answers at once.
	p := newClient(t, b, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	go func() {
		time.Sleep(50 * time.Millisecond)
		p.ProduceSync(ctxT(t), &kgo.Record{Topic: "poll", Partition: 1, Value: []byte("wake")})
	}()
	resp, took = fetch(0, 1, 10_000)
	if took > 5*time.Second || len(resp.Topics[0].Partitions[1].RecordBatches) == 0 {
		t.Fatalf("woken after %v with %d bytes", took, len(resp.Topics[0].Partitions[1].RecordBatches))
	}
	// Out of range.
	resp, _ = fetch(99, 1, 0)
	if resp.Topics[0].Partitions[0].ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch past the end: %d", resp.Topics[0].Partitions[0].ErrorCode)
	}
}

func TestFetchReturnsTheBatchContainingTheOffset(t *testing.T) {
	b := testBroker(t)
	createTopic(t, b, "mid", 1, nil)
	if sp := rawProduce(t, b, 9, 1, "mid", 0, batchOf(t, records.CodecNone, "a", "b", "c", "d")); sp.ErrorCode != 0 {
		t.Fatal(sp.ErrorCode)
	}
	cl := newClient(t, b, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"mid": {0: kgo.NewOffset().At(2)}}))
	fs := cl.PollFetches(ctxT(t))
	recs := fs.Records()
	if len(recs) != 2 || string(recs[0].Value) != "c" || recs[0].Offset != 2 {
		t.Fatalf("consuming from the middle of a batch: %d records, first %+v", len(recs), recs)
	}
}
