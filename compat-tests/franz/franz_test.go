// Package franz runs franz-go (kgo and kadm), the client with the broadest
// API coverage, against a real potok process.
package franz

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/potok-io/potok/compat-tests/harness"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestMain(m *testing.M) { harness.Main(m) }

func toKgo(topic string, partition int32, rs []harness.Rec) []*kgo.Record {
	out := make([]*kgo.Record, len(rs))
	for i, r := range rs {
		kr := &kgo.Record{Topic: topic, Partition: partition, Key: r.Key, Value: r.Value}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		out[i] = kr
	}
	return out
}

func produceSync(t *testing.T, cl *kgo.Client, rs ...*kgo.Record) {
	t.Helper()
	if err := cl.ProduceSync(harness.Ctx(t, 30*time.Second), rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func check(t *testing.T, got, want []harness.Rec) {
	t.Helper()
	if d := harness.SameRecs(got, want); d != "" {
		t.Fatal(d)
	}
}

var codecs = []struct {
	name string
	kgo  kgo.CompressionCodec
	attr int8
}{
	{"none", kgo.NoCompression(), harness.CodecNone},
	{"gzip", kgo.GzipCompression(), harness.CodecGzip},
	{"snappy", kgo.SnappyCompression(), harness.CodecSnappy},
	{"lz4", kgo.Lz4Compression(), harness.CodecLz4},
	{"zstd", kgo.ZstdCompression(), harness.CodecZstd},
}

// TestCodecs writes the sample records with each codec as one batch and
// reads them back, checking that the stored batch carries that codec.
func TestCodecs(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := harness.Topic(t, "")
			harness.CreateTopic(t, b.Addr(), topic, 1, nil)
			cl := harness.Client(t, b.Addr(), kgo.ProducerBatchCompression(c.kgo), kgo.RecordPartitioner(kgo.ManualPartitioner()),
				kgo.ProducerLinger(50*time.Millisecond))
			want := append(harness.Sample(), harness.NullHeader())
			produceSync(t, cl, toKgo(topic, 0, want)...)
			check(t, harness.FromKgo(harness.ReadPartition(t, b.Addr(), topic, 0)), want)
			if got := harness.Codecs(t, b.Addr(), topic, 0); len(got) != 1 || got[c.attr] == 0 {
				t.Fatalf("stored batches by codec: %v, want all %s (%d)", got, c.name, c.attr)
			}
		})
	}
}

// TestAcks produces with acks 0, 1 and all (acks 0 and 1 without
// idempotence, which requires all) and reads back every record in order.
func TestAcks(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	for _, tc := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"0", []kgo.Opt{kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite()}},
		{"1", []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}},
		{"all", []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite()}},
		{"all-idempotent", []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := harness.Topic(t, "")
			harness.CreateTopic(t, b.Addr(), topic, 1, nil)
			cl := harness.Client(t, b.Addr(), append(tc.opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
			var want []harness.Rec
			var rs []*kgo.Record
			for i := 0; i < 200; i++ {
				r := harness.Rec{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "value %d", i)}
				want = append(want, r)
				rs = append(rs, toKgo(topic, 0, []harness.Rec{r})...)
			}
			produceSync(t, cl, rs...)
			adm := harness.Admin(t, b.Addr())
			// acks=0 returns before the broker has appended.
			harness.Eventually(t, 10*time.Second, func() error {
				ends, err := adm.ListEndOffsets(context.Background(), topic)
				if err != nil {
					return err
				}
				if o, _ := ends.Lookup(topic, 0); o.Offset != 200 {
					return fmt.Errorf("end offset %d, want 200", o.Offset)
				}
				return nil
			})
			check(t, harness.FromKgo(harness.ReadPartition(t, b.Addr(), topic, 0)), want)
		})
	}
}

// TestIdempotentConcurrent produces from several goroutines through one
// idempotent producer with many requests in flight; every record must be
// stored once, and in each partition in the order it was produced.
func TestIdempotentConcurrent(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 4, nil)
	cl := harness.Client(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(16<<10))
	const perPartition = 2000
	ctx := harness.Ctx(t, time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, 4*perPartition)
	for p := int32(0); p < 4; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perPartition; i++ {
				cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%d-%05d", p, i)}, func(_ *kgo.Record, err error) {
					if err != nil {
						errs <- err
					}
				})
			}
		}()
	}
	wg.Wait()
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	close(errs)
	for err := range errs {
		t.Fatalf("produce: %v", err)
	}
	for p := int32(0); p < 4; p++ {
		rs := harness.ReadPartition(t, b.Addr(), topic, p)
		if len(rs) != perPartition {
			t.Fatalf("partition %d has %d records, want %d", p, len(rs), perPartition)
		}
		for i, r := range rs {
			if want := fmt.Sprintf("%d-%05d", p, i); string(r.Value) != want || r.Offset != int64(i) {
				t.Fatalf("partition %d offset %d: %q, want %q at offset %d", p, r.Offset, r.Value, want, i)
			}
		}
		for _, bt := range harness.Batches(t, b.Addr(), topic, p) {
			if bt.ProducerID < 0 || bt.Sequence != int32(bt.BaseOffset) {
				t.Fatalf("partition %d batch at %d: producer id %d sequence %d; want an idempotent batch with sequence = offset",
					p, bt.BaseOffset, bt.ProducerID, bt.Sequence)
			}
		}
	}
}

// TestIdempotentRetry sends the same idempotent batch twice, as a producer
// retrying after a lost response does. Kafka answers the retry with the
// original offsets and no error, and stores the batch once (its producer
// state keeps the last five batches per producer).
func TestIdempotentRetry(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 1, nil)
	cl := harness.Client(t, b.Addr())
	ctx := harness.Ctx(t, 30*time.Second)
	ipid := kmsg.NewPtrInitProducerIDRequest()
	ipidResp, err := ipid.RequestWith(ctx, cl)
	if err != nil || ipidResp.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v %v", err, kerr.ErrorForCode(ipidResp.ErrorCode))
	}
	batch := func(seq int32, values ...string) []byte {
		return rawBatch(ipidResp.ProducerID, ipidResp.ProducerEpoch, seq, time.Now().UnixMilli(), values...)
	}
	produce := func(data []byte) (int64, int16) {
		p := rawProduce(t, cl, topic, data)
		return p.BaseOffset, p.ErrorCode
	}
	first := batch(0, "a", "b", "c")
	if off, code := produce(first); off != 0 || code != 0 {
		t.Fatalf("first batch: offset %d error %v, want offset 0 and no error", off, kerr.ErrorForCode(code))
	}
	if off, code := produce(batch(3, "d")); off != 3 || code != 0 {
		t.Fatalf("second batch: offset %d error %v, want offset 3 and no error", off, kerr.ErrorForCode(code))
	}
	if off, code := produce(first); off != 0 || code != 0 {
		t.Errorf("retried first batch: offset %d error %v; Kafka answers a duplicate of one of the last 5 batches with its original offset 0 and no error",
			off, kerr.ErrorForCode(code))
	}
	if _, code := produce(batch(10, "gap")); code != kerr.OutOfOrderSequenceNumber.Code {
		t.Errorf("batch with a sequence gap (10 after 3): error %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", kerr.ErrorForCode(code))
	}
	var values []string
	for _, r := range harness.ReadPartition(t, b.Addr(), topic, 0) {
		values = append(values, string(r.Value))
	}
	if got := strings.Join(values, ","); got != "a,b,c,d" {
		t.Errorf("stored values %q, want \"a,b,c,d\" (each batch once)", got)
	}
}

// rawBatch encodes a record batch of small values as a producer would,
// with the given producer id, epoch and first sequence (-1 for none).
func rawBatch(pid int64, epoch int16, seq int32, ts int64, values ...string) []byte {
	rb := kmsg.NewRecordBatch()
	rb.Magic = 2
	rb.ProducerID, rb.ProducerEpoch, rb.FirstSequence = pid, epoch, seq
	rb.FirstTimestamp, rb.MaxTimestamp = ts, ts
	var recs []byte
	for i, v := range values {
		r := kmsg.NewRecord()
		r.OffsetDelta = int32(i)
		r.Value = []byte(v)
		// Length counts the bytes after itself; with Length 0 it encodes
		// as one byte, and these records stay under 64 bytes so the real
		// length is one byte too.
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		recs = r.AppendTo(recs)
	}
	rb.NumRecords = int32(len(values))
	rb.LastOffsetDelta = int32(len(values) - 1)
	rb.Records = recs
	return finishBatch(rb)
}

// rawProduce sends one batch to partition 0 with acks=all and returns the
// partition's answer.
func rawProduce(t *testing.T, cl *kgo.Client, topic string, data []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = data
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(harness.Ctx(t, 30*time.Second), cl)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	return resp.Topics[0].Partitions[0]
}

// finishBatch encodes a batch with its length and CRC filled in.
func finishBatch(rb kmsg.RecordBatch) []byte {
	raw := rb.AppendTo(nil)
	rb.Length = int32(len(raw) - 12)
	raw = rb.AppendTo(nil)
	rb.CRC = int32(crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return rb.AppendTo(nil)
}

// TestLargeRecords writes a record close to the default max.message.bytes
// (1048588), one just over it, and one over a topic's lower limit: the
// broker must take the first and answer MESSAGE_TOO_LARGE for the others.
// The consumer reads the large record with fetch limits below its size
// (KIP-74: the first batch is returned whole).
func TestLargeRecords(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 1, nil)
	// The producer's own limit is raised so that the broker, not the
	// client, judges the size.
	cl := harness.Client(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(4<<20),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordRetries(0))
	ctx := harness.Ctx(t, 30*time.Second)
	big := bytes.Repeat([]byte{'x'}, 1048588-200) // batch overhead is well under 200 bytes
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: big}).FirstErr(); err != nil {
		t.Fatalf("producing a %d-byte record: %v", len(big), err)
	}
	tooBig := bytes.Repeat([]byte{'y'}, 1048588)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: tooBig}).FirstErr(); !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("producing a %d-byte record: %v, want MESSAGE_TOO_LARGE", len(tooBig), err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte{}}).FirstErr(); err != nil {
		t.Fatalf("producing an empty value: %v", err)
	}

	small := harness.Topic(t, "small")
	limit := "10000"
	harness.CreateTopic(t, b.Addr(), small, 1, map[string]*string{"max.message.bytes": &limit})
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: small, Value: make([]byte, 9000)}).FirstErr(); err != nil {
		t.Fatalf("9000 bytes to a topic with max.message.bytes=10000: %v", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: small, Value: make([]byte, 10001)}).FirstErr(); !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("10001 bytes to a topic with max.message.bytes=10000: %v, want MESSAGE_TOO_LARGE", err)
	}

	rd := harness.Client(t, b.Addr(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxBytes(64<<10), kgo.FetchMaxPartitionBytes(64<<10))
	var got []*kgo.Record
	for len(got) < 2 {
		fs := rd.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("fetch with 64 KiB limits: %v (after %d records)", err, len(got))
		}
		got = append(got, fs.Records()...)
	}
	if len(got) != 2 || !bytes.Equal(got[0].Value, big) || got[1].Value == nil || len(got[1].Value) != 0 || got[1].Offset != 1 {
		t.Fatalf("read back %d records; want the %d-byte record at 0 and an empty value at 1", len(got), len(big))
	}
}

// TestManyPartitions writes to each of 32 partitions and reads every one
// back.
func TestManyPartitions(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	const n = 32
	harness.CreateTopic(t, b.Addr(), topic, n, nil)
	cl := harness.Client(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	var rs []*kgo.Record
	for p := int32(0); p < n; p++ {
		for i := 0; i <= int(p); i++ {
			rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Key: fmt.Appendf(nil, "p%d", p), Value: fmt.Appendf(nil, "%d/%d", p, i)})
		}
	}
	produceSync(t, cl, rs...)
	ends, err := harness.Admin(t, b.Addr()).ListEndOffsets(harness.Ctx(t, 10*time.Second), topic)
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < n; p++ {
		if o, _ := ends.Lookup(topic, p); o.Offset != int64(p)+1 || o.Err != nil {
			t.Fatalf("partition %d end offset %d (%v), want %d", p, o.Offset, o.Err, p+1)
		}
	}
	// One consumer over all partitions, as an application would read.
	rd := harness.Client(t, b.Addr(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := harness.Ctx(t, 30*time.Second)
	got := map[int32][]string{}
	total := 0
	for total < len(rs) {
		fs := rd.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("consume: %v after %d records", err, total)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], string(r.Value))
			total++
		})
	}
	for p := int32(0); p < n; p++ {
		var want []string
		for i := 0; i <= int(p); i++ {
			want = append(want, fmt.Sprintf("%d/%d", p, i))
		}
		if strings.Join(got[p], ",") != strings.Join(want, ",") {
			t.Fatalf("partition %d: %v, want %v", p, got[p], want)
		}
	}
}

// TestListOffsets checks ListOffsets by time, earliest, latest and max
// timestamp, with records in separate batches and within one batch.
func TestListOffsets(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 2, nil)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	ts := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	cl := harness.Client(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	// Partition 0: one batch per record (ProduceSync one at a time).
	for i, ms := range []int{0, 100, 200, 300} {
		produceSync(t, cl, &kgo.Record{Topic: topic, Partition: 0, Value: fmt.Appendf(nil, "%d", i), Timestamp: ts(ms)})
	}
	// Partition 1: one batch of four records, timestamps out of order
	// within it (CreateTime is the producer's).
	var batch []*kgo.Record
	for i, ms := range []int{0, 100, 300, 200} {
		batch = append(batch, &kgo.Record{Topic: topic, Partition: 1, Value: fmt.Appendf(nil, "%d", i), Timestamp: ts(ms)})
	}
	produceSync(t, cl, batch...)
	if bs := harness.Batches(t, b.Addr(), topic, 1); len(bs) != 1 {
		t.Fatalf("partition 1 has %d batches; the test needs its records in one", len(bs))
	}

	adm := harness.Admin(t, b.Addr())
	ctx := harness.Ctx(t, 10*time.Second)
	lookup := func(t *testing.T, lo kadm.ListedOffsets, err error, p int32) kadm.ListedOffset {
		if err != nil {
			t.Fatal(err)
		}
		o, ok := lo.Lookup(topic, p)
		if !ok || o.Err != nil {
			t.Fatalf("partition %d: %v (found %v)", p, o.Err, ok)
		}
		return o
	}
	type want struct {
		offset, ts int64
	}
	cases := []struct {
		name string
		at   int64
		p0   want
		p1   want
	}{
		{"before all", base.UnixMilli() - 1000, want{0, ts(0).UnixMilli()}, want{0, ts(0).UnixMilli()}},
		{"exact first", base.UnixMilli(), want{0, ts(0).UnixMilli()}, want{0, ts(0).UnixMilli()}},
		{"between 0 and 100", ts(50).UnixMilli(), want{1, ts(100).UnixMilli()}, want{1, ts(100).UnixMilli()}},
		{"between 100 and 200", ts(150).UnixMilli(), want{2, ts(200).UnixMilli()}, want{2, ts(300).UnixMilli()}},
		{"exact 200", ts(200).UnixMilli(), want{2, ts(200).UnixMilli()}, want{2, ts(300).UnixMilli()}},
		{"after all", ts(301).UnixMilli(), want{-1, -1}, want{-1, -1}},
	}
	for p, name := range []string{"batch per record", "one batch"} {
		t.Run(name, func(t *testing.T) {
			for _, c := range cases {
				lo, err := adm.ListOffsetsAfterMilli(ctx, c.at, topic)
				o := lookup(t, lo, err, int32(p))
				w := []want{c.p0, c.p1}[p]
				// Kafka: the first record (in offset order) whose
				// timestamp is ≥ the target; none gives offset -1, which
				// kadm turns into the end offset. For partition 1 the
				// timestamps are 0,100,300,200: the first ≥ 150 is
				// offset 2.
				wantOff := w.offset
				if wantOff == -1 {
					wantOff = 4
				}
				if o.Offset != wantOff || (w.offset != -1 && o.Timestamp != w.ts) {
					t.Errorf("%s: offset %d timestamp %d, want offset %d timestamp %d", c.name, o.Offset, o.Timestamp, wantOff, w.ts)
				}
			}
			starts, serr := adm.ListStartOffsets(ctx, topic)
			ends, eerr := adm.ListEndOffsets(ctx, topic)
			if o := lookup(t, starts, serr, int32(p)); o.Offset != 0 {
				t.Errorf("earliest: offset %d, want 0", o.Offset)
			}
			if o := lookup(t, ends, eerr, int32(p)); o.Offset != 4 {
				t.Errorf("latest: offset %d, want 4", o.Offset)
			}
		})
	}
	t.Run("max timestamp", func(t *testing.T) {
		// -3 (KIP-734): the first record carrying the largest timestamp.
		lo, err := adm.ListMaxTimestampOffsets(ctx, topic)
		for p, w := range []want{{3, ts(300).UnixMilli()}, {2, ts(300).UnixMilli()}} {
			if o := lookup(t, lo, err, int32(p)); o.Offset != w.offset || o.Timestamp != w.ts {
				t.Errorf("partition %d: offset %d timestamp %d, want offset %d timestamp %d", p, o.Offset, o.Timestamp, w.offset, w.ts)
			}
		}
	})
}

// TestTopicAdmin creates topics with configs, lists and describes them,
// adds partitions and deletes them, and checks the errors Kafka gives.
func TestTopicAdmin(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	adm := harness.Admin(t, b.Addr())
	ctx := harness.Ctx(t, 30*time.Second)
	topic := harness.Topic(t, "")
	retention, cleanup := "3600000", "compact"
	resp, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"retention.ms": &retention, "cleanup.policy": &cleanup}, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	if resp.NumPartitions != 3 || resp.ReplicationFactor != 1 || resp.ID == (kadm.TopicID{}) {
		t.Errorf("create answered partitions %d rf %d id %v; want 3, 1 and a non-zero id", resp.NumPartitions, resp.ReplicationFactor, resp.ID)
	}
	for name, want := range map[string]string{"retention.ms": "3600000", "cleanup.policy": "compact", "max.message.bytes": "1048588"} {
		if c, ok := resp.Configs[name]; !ok || c.Value == nil || *c.Value != want {
			t.Errorf("create answered config %s = %v, want %s", name, c.Value, want)
		}
	}
	if src := resp.Configs["retention.ms"].Source; src != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("retention.ms source %v, want DYNAMIC_TOPIC_CONFIG", src)
	}

	// Defaults: -1 partitions and replication factor (KIP-464).
	deflt := harness.Topic(t, "defaults")
	if r, err := adm.CreateTopic(ctx, -1, -1, nil, deflt); err != nil || r.Err != nil || r.NumPartitions != 1 || r.ReplicationFactor != 1 {
		t.Errorf("create with defaults: %v %v, partitions %d rf %d; want 1 and 1", err, r.Err, r.NumPartitions, r.ReplicationFactor)
	}

	listed := listTopics(t, b.Addr())
	if got := strings.Join(listed.Names(), ","); got != strings.Join([]string{topic, deflt}, ",") &&
		got != strings.Join([]string{deflt, topic}, ",") {
		t.Errorf("listed topics %q, want %s and %s", got, topic, deflt)
	}
	d := listed[topic]
	if d.ID != resp.ID || len(d.Partitions) != 3 || d.IsInternal {
		t.Errorf("described %s: id %v partitions %d internal %v; want id %v, 3 partitions", topic, d.ID, len(d.Partitions), d.IsInternal, resp.ID)
	}
	for _, p := range d.Partitions.Sorted() {
		if p.Leader != 1 || len(p.Replicas) != 1 || p.Replicas[0] != 1 || len(p.ISR) != 1 || p.LeaderEpoch < 0 || p.Err != nil {
			t.Errorf("partition %d: leader %d replicas %v isr %v epoch %d err %v", p.Partition, p.Leader, p.Replicas, p.ISR, p.LeaderEpoch, p.Err)
		}
	}

	t.Run("DescribeConfigs", func(t *testing.T) {
		rcs, err := adm.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			t.Fatalf("DescribeTopicConfigs: %v", err)
		}
		rc, err := rcs.On(topic, nil)
		if err != nil || rc.Err != nil {
			t.Fatalf("DescribeTopicConfigs %s: %v %v", topic, err, rc.Err)
		}
		got := map[string]string{}
		for _, c := range rc.Configs {
			got[c.Key] = c.MaybeValue()
		}
		if got["retention.ms"] != "3600000" || got["cleanup.policy"] != "compact" || got["segment.bytes"] != "1073741824" {
			t.Errorf("configs: retention.ms=%q cleanup.policy=%q segment.bytes=%q", got["retention.ms"], got["cleanup.policy"], got["segment.bytes"])
		}
	})

	// Errors, each with Kafka's code.
	errCases := []struct {
		name       string
		partitions int32
		rf         int16
		configs    map[string]*string
		topic      string
		want       error
	}{
		{"already exists", 1, 1, nil, topic, kerr.TopicAlreadyExists},
		{"zero partitions", 0, 1, nil, harness.Topic(t, "p0"), kerr.InvalidPartitions},
		{"negative partitions", -2, 1, nil, harness.Topic(t, "pneg"), kerr.InvalidPartitions},
		{"replication factor 3 on one broker", 1, 3, nil, harness.Topic(t, "rf3"), kerr.InvalidReplicationFactor},
		{"replication factor 0", 1, 0, nil, harness.Topic(t, "rf0"), kerr.InvalidReplicationFactor},
		{"unknown config", 1, 1, map[string]*string{"no.such.config": &retention}, harness.Topic(t, "c1"), kerr.InvalidConfig},
		{"bad config value", 1, 1, map[string]*string{"retention.ms": &cleanup}, harness.Topic(t, "c2"), kerr.InvalidConfig},
		{"bad name", 1, 1, nil, "bad/name", kerr.InvalidTopicException},
	}
	for _, c := range errCases {
		r, err := adm.CreateTopic(ctx, c.partitions, c.rf, c.configs, c.topic)
		if err == nil {
			err = r.Err
		}
		if !errors.Is(err, c.want) {
			t.Errorf("create %s: %v, want %v", c.name, err, c.want)
		}
	}
	if l := listTopics(t, b.Addr()); len(l) != 2 {
		t.Errorf("after failed creates there are %d topics (%v), want 2", len(l), l.Names())
	}

	// CreatePartitions: grow, then invalid counts.
	cp, err := adm.UpdatePartitions(ctx, 5, topic)
	if err != nil || cp[topic].Err != nil {
		t.Fatalf("grow to 5 partitions: %v %v", err, cp[topic].Err)
	}
	harness.Eventually(t, 10*time.Second, func() error {
		l, err := adm.ListTopics(ctx, topic)
		if err != nil {
			return err
		}
		if n := len(l[topic].Partitions); n != 5 {
			return fmt.Errorf("%d partitions, want 5", n)
		}
		return nil
	})
	for _, n := range []int{5, 2} {
		cp, err := adm.UpdatePartitions(ctx, n, topic)
		if err == nil {
			err = cp[topic].Err
		}
		if !errors.Is(err, kerr.InvalidPartitions) {
			t.Errorf("set partitions to %d of 5: %v, want INVALID_PARTITIONS", n, err)
		}
	}
	cp, err = adm.CreatePartitions(ctx, 1, "no-such-topic")
	if err == nil {
		err = cp["no-such-topic"].Err
	}
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("add partitions to a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	// The new partitions take records.
	cl := harness.Client(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceSync(t, cl, &kgo.Record{Topic: topic, Partition: 4, Key: []byte("k"), Value: []byte("in new partition")})

	// Delete, then errors.
	dr, err := adm.DeleteTopic(ctx, topic)
	if err != nil || dr.Err != nil {
		t.Fatalf("delete: %v %v", err, dr.Err)
	}
	dr, err = adm.DeleteTopic(ctx, topic)
	if err == nil {
		err = dr.Err
	}
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("delete a deleted topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	if l := listTopics(t, b.Addr()); strings.Join(l.Names(), ",") != deflt {
		t.Errorf("after delete: topics %v, want only %s", l.Names(), deflt)
	}
	// Recreated under the same name: a new id and an empty log.
	r2, err := adm.CreateTopic(ctx, 1, 1, nil, topic)
	if err != nil || r2.Err != nil {
		t.Fatalf("recreate: %v %v", err, r2.Err)
	}
	if r2.ID == resp.ID {
		t.Errorf("recreated topic kept its old id %v", r2.ID)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if o, _ := ends.Lookup(topic, 0); err != nil || o.Offset != 0 {
		t.Errorf("recreated topic end offset %d (%v), want 0", o.Offset, err)
	}
}

// listTopics lists the topics through a new client: kgo answers a later
// all-topics Metadata request partly from its cache, which keeps topics an
// earlier request named even when the broker said they do not exist.
func listTopics(t *testing.T, addr string) kadm.TopicDetails {
	t.Helper()
	l, err := harness.Admin(t, addr).ListTopics(harness.Ctx(t, 10*time.Second))
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	return l
}

// TestUnknownTopic produces to and consumes from a topic that does not
// exist while auto.create.topics.enable is off: the producer must fail with
// UNKNOWN_TOPIC_OR_PARTITION and no topic may appear.
func TestUnknownTopic(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	cl := harness.Client(t, b.Addr(), kgo.UnknownTopicRetries(2), kgo.AllowAutoTopicCreation())
	err := cl.ProduceSync(harness.Ctx(t, 30*time.Second), &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr()
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("produce to a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	if l := listTopics(t, b.Addr()); len(l) != 0 {
		t.Fatalf("topics after producing to a missing one: %v, want none", l.Names())
	}

	// With auto-creation on, the same produce creates the topic with
	// num.partitions partitions.
	auto := harness.Start(t, harness.Options{Settings: map[string]string{"auto.create.topics.enable": "true", "num.partitions": "3"}})
	acl := harness.Client(t, auto.Addr(), kgo.AllowAutoTopicCreation())
	produceSync(t, acl, &kgo.Record{Topic: topic, Value: []byte("v")})
	if l := listTopics(t, auto.Addr()); len(l[topic].Partitions) != 3 {
		t.Fatalf("auto-created topic: %v, want 3 partitions", l[topic])
	}
}

// TestFetchLongPoll checks that a Fetch with nothing to return waits for
// max_wait_ms (instead of answering at once, which makes consumers spin),
// that a waiting Fetch is answered when a record arrives, and that an offset
// past the end is OFFSET_OUT_OF_RANGE.
func TestFetchLongPoll(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 1, nil)
	cl := harness.Client(t, b.Addr())
	ctx := harness.Ctx(t, 30*time.Second)
	id := harness.TopicID(t, b.Addr(), topic)
	fetch := func(offset int64, maxWait int32) (kmsg.FetchResponseTopicPartition, time.Duration) {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis = maxWait
		req.MinBytes = 1
		req.MaxBytes = 1 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset = offset
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		start := time.Now()
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Errorf("fetch: %v", err)
			return kmsg.NewFetchResponseTopicPartition(), 0
		}
		return resp.Topics[0].Partitions[0], time.Since(start)
	}
	p, took := fetch(0, 500)
	if p.ErrorCode != 0 || len(p.RecordBatches) != 0 || took < 450*time.Millisecond || took > 3*time.Second {
		t.Errorf("fetch of an empty partition with max_wait 500ms: error %v, %d bytes, answered after %v; want no error, no data, after about 500ms",
			kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches), took)
	}

	type result struct {
		p    kmsg.FetchResponseTopicPartition
		took time.Duration
	}
	done := make(chan result, 1)
	go func() {
		p, took := fetch(0, 20000)
		done <- result{p, took}
	}()
	produceSync(t, cl, &kgo.Record{Topic: topic, Value: []byte("late")})
	r := <-done
	if r.p.ErrorCode != 0 || len(r.p.RecordBatches) == 0 || r.took > 10*time.Second {
		t.Errorf("waiting fetch: error %v, %d bytes after %v; want the new record well before max_wait (20s)",
			kerr.ErrorForCode(r.p.ErrorCode), len(r.p.RecordBatches), r.took)
	}

	if p, _ := fetch(100, 0); p.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Errorf("fetch at 100 of a 1-record log: %v, want OFFSET_OUT_OF_RANGE", kerr.ErrorForCode(p.ErrorCode))
	}
}

// TestLogAppendTime writes to a topic with message.timestamp.type =
// LogAppendTime: the broker stamps the batch with its own clock, answers
// the time in the produce response, and consumers see the LogAppendTime
// timestamp type.
func TestLogAppendTime(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	lat := "LogAppendTime"
	harness.CreateTopic(t, b.Addr(), topic, 1, map[string]*string{"message.timestamp.type": &lat})
	cl := harness.Client(t, b.Addr())
	old := time.Now().Add(-48 * time.Hour)
	before := time.Now().Add(-time.Second) // the broker's clock is this machine's
	p := rawProduce(t, cl, topic, rawBatch(-1, -1, -1, old.UnixMilli(), "v"))
	after := time.Now().Add(time.Second)
	if ts := time.UnixMilli(p.LogAppendTime); p.ErrorCode != 0 || ts.Before(before) || ts.After(after) {
		t.Errorf("produce answered error %v, log_append_time %d; want the broker's append time (now)", kerr.ErrorForCode(p.ErrorCode), p.LogAppendTime)
	}
	rs := harness.ReadPartition(t, b.Addr(), topic, 0)
	if len(rs) != 1 || rs[0].Attrs.TimestampType() != 1 || rs[0].Timestamp.Before(before) || rs[0].Timestamp.After(after) {
		t.Fatalf("read %d records; timestamp %v type %d, want now and LogAppendTime (1)", len(rs), rs[0].Timestamp, rs[0].Attrs.TimestampType())
	}
}

// TestDeleteRecords moves a partition's log start with DeleteRecords: the
// earliest offset follows, a consumer from the start begins there, and a
// fetch below it is OFFSET_OUT_OF_RANGE.
func TestDeleteRecords(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 1, nil)
	cl := harness.Client(t, b.Addr())
	ctx := harness.Ctx(t, 30*time.Second)
	for i := 0; i < 10; i++ {
		produceSync(t, cl, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "v%d", i)})
	}
	adm := harness.Admin(t, b.Addr())
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: topic, Partition: 0, At: 6})
	dr, err := adm.DeleteRecords(ctx, os)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := dr.Lookup(topic, 0); !ok || r.Err != nil || r.LowWatermark != 6 {
		t.Fatalf("DeleteRecords before 6: %+v", r)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if o, _ := starts.Lookup(topic, 0); err != nil || o.Offset != 6 {
		t.Fatalf("earliest offset %d (%v), want 6", o.Offset, err)
	}
	var values []string
	for _, r := range harness.ReadPartition(t, b.Addr(), topic, 0) {
		values = append(values, fmt.Sprintf("%d:%s", r.Offset, r.Value))
	}
	if got := strings.Join(values, ","); got != "6:v6,7:v7,8:v8,9:v9" {
		t.Fatalf("read from the start: %s, want 6:v6,7:v7,8:v8,9:v9", got)
	}
	req := kmsg.NewPtrFetchRequest()
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, harness.TopicID(t, b.Addr(), topic)
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset = 2
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	req.MaxBytes = 1 << 20
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != kerr.OffsetOutOfRange.Code || p.LogStartOffset != 6 {
		t.Fatalf("fetch at 2 after deleting before 6: %v, log start %d; want OFFSET_OUT_OF_RANGE and 6", kerr.ErrorForCode(p.ErrorCode), p.LogStartOffset)
	}
}
