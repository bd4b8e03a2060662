// Package confluent runs confluent-kafka-go v2 (librdkafka, bundled and
// linked through cgo) against a real potok process: the Producer with each
// compression.codec, acks and enable.idempotence, the Consumer with assign
// (no group), and the AdminClient.
package confluent

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/potok-io/potok/compat-tests/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

func producer(t *testing.T, addr string, extra kafka.ConfigMap) *kafka.Producer {
	t.Helper()
	cfg := kafka.ConfigMap{
		"bootstrap.servers": addr,
		"linger.ms":         20,
		// Fail fast on a topic that does not exist (default 30s).
		"topic.metadata.propagation.max.ms": 1000,
	}
	for k, v := range extra {
		cfg[k] = v
	}
	p, err := kafka.NewProducer(&cfg)
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// produce sends messages and waits for every delivery report; it returns
// the reports in the order of the messages.
func produce(t *testing.T, p *kafka.Producer, msgs []*kafka.Message) []*kafka.Message {
	t.Helper()
	reports := make(chan kafka.Event, len(msgs))
	for i, m := range msgs {
		m.Opaque = i
		if err := p.Produce(m, reports); err != nil {
			t.Fatalf("Produce %d: %v", i, err)
		}
	}
	out := make([]*kafka.Message, len(msgs))
	timeout := time.After(60 * time.Second)
	for n := 0; n < len(msgs); n++ {
		select {
		case e := <-reports:
			m, ok := e.(*kafka.Message)
			if !ok {
				t.Fatalf("unexpected event %v", e)
			}
			out[m.Opaque.(int)] = m
		case <-timeout:
			t.Fatalf("%d of %d delivery reports in 60s", n, len(msgs))
		}
	}
	return out
}

func mustProduce(t *testing.T, p *kafka.Producer, msgs []*kafka.Message) {
	t.Helper()
	for i, m := range produce(t, p, msgs) {
		if m.TopicPartition.Error != nil {
			t.Fatalf("message %d: %v", i, m.TopicPartition.Error)
		}
	}
}

func message(topic string, partition int32, r harness.Rec) *kafka.Message {
	m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: partition}, Key: r.Key, Value: r.Value}
	for _, h := range r.Headers {
		m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
	}
	return m
}

// consume reads n messages of one partition from offset with an assigned
// consumer (no group.id, no subscription).
func consume(t *testing.T, addr, topic string, partition int32, offset kafka.Offset, n int) []*kafka.Message {
	t.Helper()
	c, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers": addr,
		// librdkafka requires a group.id for any consumer; without a
		// subscription and with nothing committed it is never joined.
		"group.id":           "potok-compat-assign",
		"enable.auto.commit": false,
		"fetch.wait.max.ms":  100,
	})
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	defer c.Close()
	if err := c.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: partition, Offset: offset}}); err != nil {
		t.Fatalf("Assign: %v", err)
	}
	var out []*kafka.Message
	deadline := time.Now().Add(30 * time.Second)
	for len(out) < n {
		if time.Now().After(deadline) {
			t.Fatalf("consuming %s/%d: %d of %d messages in 30s", topic, partition, len(out), n)
		}
		m, err := c.ReadMessage(time.Second)
		if err != nil {
			if kerr, ok := err.(kafka.Error); ok && kerr.IsTimeout() {
				continue
			}
			t.Fatalf("consuming %s/%d: %v", topic, partition, err)
		}
		out = append(out, m)
	}
	return out
}

func fromMessages(ms []*kafka.Message) []harness.Rec {
	out := make([]harness.Rec, len(ms))
	for i, m := range ms {
		out[i] = harness.Rec{Key: m.Key, Value: m.Value}
		for _, h := range m.Headers {
			out[i].Headers = append(out[i].Headers, harness.Header{Key: h.Key, Value: h.Value})
		}
	}
	return out
}

var codecs = []struct {
	name string
	attr int8
}{
	{"none", harness.CodecNone},
	{"gzip", harness.CodecGzip},
	{"snappy", harness.CodecSnappy},
	{"lz4", harness.CodecLz4},
	{"zstd", harness.CodecZstd},
}

// TestProducerCodecs produces the sample with each compression.codec,
// idempotently, reads it back with an assigned consumer and with franz-go,
// and checks the codec of the stored batches. librdkafka falls back to no
// compression, silently, when the broker's ApiVersions do not imply the
// codec (rdkafka_feature.c: lz4 needs FindCoordinator v0 advertised).
func TestProducerCodecs(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := harness.Topic(t, "")
			harness.CreateTopic(t, b.Addr(), topic, 1, nil)
			p := producer(t, b.Addr(), kafka.ConfigMap{"compression.codec": c.name, "enable.idempotence": true})
			want := append(harness.Sample(), harness.NullHeader())
			var msgs []*kafka.Message
			for _, r := range want {
				msgs = append(msgs, message(topic, 0, r))
			}
			for i, m := range produce(t, p, msgs) {
				if m.TopicPartition.Error != nil || m.TopicPartition.Offset != kafka.Offset(i) {
					t.Fatalf("message %d delivered at %v: %v", i, m.TopicPartition.Offset, m.TopicPartition.Error)
				}
			}
			if d := harness.SameRecs(harness.FromKgo(harness.ReadPartition(t, b.Addr(), topic, 0)), want); d != "" {
				t.Fatalf("read with franz-go: %s", d)
			}
			if d := harness.SameRecs(fromMessages(consume(t, b.Addr(), topic, 0, kafka.OffsetBeginning, len(want))), want); d != "" {
				t.Fatalf("read with the consumer: %s", d)
			}
			if got := harness.Codecs(t, b.Addr(), topic, 0); len(got) != 1 || got[c.attr] == 0 {
				t.Fatalf("stored batches by codec: %v, want all %s (%d)", got, c.name, c.attr)
			}
		})
	}
}

// TestProducerAcks produces with acks 0, 1 and all (not idempotent) and
// with enable.idempotence, and checks order and idempotent batches.
func TestProducerAcks(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	for _, tc := range []struct {
		name string
		cfg  kafka.ConfigMap
	}{
		{"0", kafka.ConfigMap{"acks": "0"}},
		{"1", kafka.ConfigMap{"acks": "1"}},
		{"all", kafka.ConfigMap{"acks": "all"}},
		{"idempotent", kafka.ConfigMap{"enable.idempotence": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := harness.Topic(t, "")
			harness.CreateTopic(t, b.Addr(), topic, 3, nil)
			p := producer(t, b.Addr(), tc.cfg)
			var msgs []*kafka.Message
			for i := 0; i < 300; i++ {
				msgs = append(msgs, message(topic, int32(i%3), harness.Rec{Value: fmt.Appendf(nil, "%d/%d", i%3, i/3)}))
			}
			mustProduce(t, p, msgs)
			for part := int32(0); part < 3; part++ {
				got := consume(t, b.Addr(), topic, part, kafka.OffsetBeginning, 100)
				for i, m := range got {
					if want := fmt.Sprintf("%d/%d", part, i); string(m.Value) != want || m.TopicPartition.Offset != kafka.Offset(i) {
						t.Fatalf("partition %d offset %v: %q, want %q", part, m.TopicPartition.Offset, m.Value, want)
					}
				}
				if tc.name != "idempotent" {
					continue
				}
				for _, bt := range harness.Batches(t, b.Addr(), topic, part) {
					if bt.ProducerID < 0 || bt.Sequence != int32(bt.BaseOffset) {
						t.Fatalf("partition %d batch at %d: producer id %d sequence %d; want idempotent batches", part, bt.BaseOffset, bt.ProducerID, bt.Sequence)
					}
				}
			}
		})
	}
}

// TestManyPartitions produces to each of 32 partitions and checks every
// partition.
func TestManyPartitions(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	const n = 32
	harness.CreateTopic(t, b.Addr(), topic, n, nil)
	p := producer(t, b.Addr(), kafka.ConfigMap{"compression.codec": "snappy", "enable.idempotence": true})
	want := map[int32][]string{}
	var msgs []*kafka.Message
	for part := int32(0); part < n; part++ {
		for i := 0; i <= int(part)%5; i++ {
			v := fmt.Sprintf("%d/%d", part, i)
			want[part] = append(want[part], v)
			msgs = append(msgs, message(topic, part, harness.Rec{Value: []byte(v)}))
		}
	}
	mustProduce(t, p, msgs)
	harness.CheckPartitions(t, b.Addr(), topic, want)
	got := consume(t, b.Addr(), topic, n-1, kafka.OffsetBeginning, len(want[n-1]))
	if string(got[len(got)-1].Value) != want[n-1][len(want[n-1])-1] {
		t.Fatalf("partition %d read with the consumer: last value %q", n-1, got[len(got)-1].Value)
	}
}

// TestConsumerOffsets checks watermarks, OffsetsForTimes and assigning at
// an offset, at the end and at a logical offset.
func TestConsumerOffsets(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 1, nil)
	p := producer(t, b.Addr(), nil)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i := 0; i < 5; i++ {
		m := message(topic, 0, harness.Rec{Value: fmt.Appendf(nil, "v%d", i)})
		m.Timestamp = base.Add(time.Duration(i) * 100 * time.Millisecond)
		mustProduce(t, p, []*kafka.Message{m})
	}
	c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": b.Addr(), "group.id": "potok-compat-assign", "enable.auto.commit": false})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if lo, hi, err := c.QueryWatermarkOffsets(topic, 0, 10000); err != nil || lo != 0 || hi != 5 {
		t.Errorf("QueryWatermarkOffsets: %d, %d (%v), want 0, 5", lo, hi, err)
	}
	for _, tc := range []struct {
		at   time.Time
		want kafka.Offset
	}{
		{base.Add(150 * time.Millisecond), 2},
		{base.Add(-time.Second), 0},
		{base.Add(400 * time.Millisecond), 4},
		{base.Add(time.Second), kafka.OffsetEnd},
	} {
		res, err := c.OffsetsForTimes([]kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: kafka.Offset(tc.at.UnixMilli())}}, 10000)
		if err != nil || len(res) != 1 || res[0].Error != nil || res[0].Offset != tc.want {
			t.Errorf("OffsetsForTimes(base%+v): %v (%v), want %v", tc.at.Sub(base), res, err, tc.want)
		}
	}
	got := consume(t, b.Addr(), topic, 0, 3, 2)
	if string(got[0].Value) != "v3" || string(got[1].Value) != "v4" || !got[0].Timestamp.Equal(base.Add(300*time.Millisecond)) ||
		got[0].TimestampType != kafka.TimestampCreateTime {
		t.Errorf("from offset 3: %q@%v (%v), %q", got[0].Value, got[0].Timestamp, got[0].TimestampType, got[1].Value)
	}
	got = consume(t, b.Addr(), topic, 0, kafka.OffsetTail(2), 2)
	if string(got[0].Value) != "v3" || string(got[1].Value) != "v4" {
		t.Errorf("from tail 2: %q, %q", got[0].Value, got[1].Value)
	}
}

// TestLargeAndErrors produces a message near max.message.bytes, one over
// it, an empty value, and to a missing topic.
func TestLargeAndErrors(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 1, nil)
	p := producer(t, b.Addr(), kafka.ConfigMap{"message.max.bytes": 4000000, "compression.codec": "none", "message.send.max.retries": 0})
	big := bytes.Repeat([]byte{'x'}, 1048588-200)
	res := produce(t, p, []*kafka.Message{message(topic, 0, harness.Rec{Value: big})})
	if err := res[0].TopicPartition.Error; err != nil {
		t.Fatalf("%d bytes: %v", len(big), err)
	}
	res = produce(t, p, []*kafka.Message{message(topic, 0, harness.Rec{Value: make([]byte, 1048588)})})
	if kerr, ok := res[0].TopicPartition.Error.(kafka.Error); !ok || kerr.Code() != kafka.ErrMsgSizeTooLarge {
		t.Fatalf("1048588 bytes: %v, want Broker: Message size too large", res[0].TopicPartition.Error)
	}
	mustProduce(t, p, []*kafka.Message{message(topic, 0, harness.Rec{Key: []byte("k"), Value: []byte{}})})
	got := consume(t, b.Addr(), topic, 0, kafka.OffsetBeginning, 2)
	if !bytes.Equal(got[0].Value, big) || len(got[1].Value) != 0 || got[1].TopicPartition.Offset != 1 {
		t.Fatalf("read back %d bytes, then %d bytes at %v", len(got[0].Value), len(got[1].Value), got[1].TopicPartition.Offset)
	}

	missing := harness.Topic(t, "missing")
	res = produce(t, p, []*kafka.Message{message(missing, kafka.PartitionAny, harness.Rec{Value: []byte("v")})})
	if kerr, ok := res[0].TopicPartition.Error.(kafka.Error); !ok || kerr.Code() != kafka.ErrUnknownTopicOrPart {
		t.Fatalf("to a missing topic (auto-creation off): %v, want Broker: Unknown topic or partition", res[0].TopicPartition.Error)
	}
}

// TestAdminClient creates topics with configs, checks the errors, grows,
// describes and deletes them.
func TestAdminClient(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	adm, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": b.Addr()})
	if err != nil {
		t.Fatalf("NewAdminClient: %v", err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := harness.Topic(t, "")
	specs := []kafka.TopicSpecification{
		{Topic: topic, NumPartitions: 3, ReplicationFactor: 1, Config: map[string]string{"retention.ms": "3600000", "compression.type": "zstd"}},
		{Topic: topic + "-exists", NumPartitions: 1, ReplicationFactor: 1},
	}
	res, err := adm.CreateTopics(ctx, specs, kafka.SetAdminOperationTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError {
			t.Fatalf("CreateTopics %s: %v", r.Topic, r.Error)
		}
	}
	res, err = adm.CreateTopics(ctx, []kafka.TopicSpecification{
		{Topic: topic + "-exists", NumPartitions: 1, ReplicationFactor: 1},
		{Topic: topic + "-p0", NumPartitions: 0, ReplicationFactor: 1},
		{Topic: topic + "-rf2", NumPartitions: 1, ReplicationFactor: 2},
		{Topic: topic + "-cfg", NumPartitions: 1, ReplicationFactor: 1, Config: map[string]string{"retention.ms": "soon"}},
		{Topic: topic + "-unknown-cfg", NumPartitions: 1, ReplicationFactor: 1, Config: map[string]string{"no.such.config": "1"}},
	})
	if err != nil {
		t.Fatalf("CreateTopics (errors): %v", err)
	}
	want := map[string]kafka.ErrorCode{
		topic + "-exists":      kafka.ErrTopicAlreadyExists,
		topic + "-p0":          kafka.ErrInvalidPartitions,
		topic + "-rf2":         kafka.ErrInvalidReplicationFactor,
		topic + "-cfg":         kafka.ErrInvalidConfig,
		topic + "-unknown-cfg": kafka.ErrInvalidConfig,
	}
	for _, r := range res {
		if r.Error.Code() != want[r.Topic] {
			t.Errorf("CreateTopics %s: %v, want %v", r.Topic, r.Error, want[r.Topic])
		}
	}

	// The topic's compression.type=zstd makes the broker recompress.
	p := producer(t, b.Addr(), kafka.ConfigMap{"compression.codec": "none"})
	mustProduce(t, p, []*kafka.Message{message(topic, 1, harness.Rec{Value: []byte("recompressed")})})
	if got := harness.Codecs(t, b.Addr(), topic, 1); len(got) != 1 || got[harness.CodecZstd] != 1 {
		t.Errorf("stored codec on a compression.type=zstd topic: %v, want zstd", got)
	}

	md, err := adm.GetMetadata(&topic, false, 10000)
	if err != nil || len(md.Topics[topic].Partitions) != 3 || md.Topics[topic].Error.Code() != kafka.ErrNoError {
		t.Fatalf("GetMetadata: %v %+v", err, md)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].ID != 1 || fmt.Sprintf("%s:%d", md.Brokers[0].Host, md.Brokers[0].Port) != b.Addr() {
		t.Errorf("brokers: %+v, want 1 at %s", md.Brokers, b.Addr())
	}

	pr, err := adm.CreatePartitions(ctx, []kafka.PartitionsSpecification{{Topic: topic, IncreaseTo: 5}})
	if err != nil || pr[0].Error.Code() != kafka.ErrNoError {
		t.Fatalf("CreatePartitions to 5: %v %v", err, pr)
	}
	pr, err = adm.CreatePartitions(ctx, []kafka.PartitionsSpecification{{Topic: topic, IncreaseTo: 2}})
	if err != nil || pr[0].Error.Code() != kafka.ErrInvalidPartitions {
		t.Errorf("CreatePartitions to 2 of 5: %v %v, want Broker: Invalid number of partitions", err, pr)
	}
	md, err = adm.GetMetadata(&topic, false, 10000)
	if err != nil || len(md.Topics[topic].Partitions) != 5 {
		t.Errorf("after CreatePartitions: %v, %d partitions, want 5", err, len(md.Topics[topic].Partitions))
	}

	t.Run("DescribeTopics", func(t *testing.T) {
		// Metadata v12 with topic names and authorized operations.
		dr, err := adm.DescribeTopics(ctx, kafka.NewTopicCollectionOfTopicNames([]string{topic, "no-such-topic"}),
			kafka.SetAdminOptionIncludeAuthorizedOperations(true))
		if err != nil {
			t.Fatalf("DescribeTopics: %v", err)
		}
		got := map[string]kafka.TopicDescription{}
		for _, d := range dr.TopicDescriptions {
			got[d.Name] = d
		}
		d := got[topic]
		if d.Error.Code() != kafka.ErrNoError || len(d.Partitions) != 5 || d.TopicID.String() == "AAAAAAAAAAAAAAAAAAAAAA" ||
			d.Partitions[0].Leader == nil || d.Partitions[0].Leader.ID != 1 || len(d.AuthorizedOperations) == 0 {
			t.Errorf("DescribeTopics %s: %+v", topic, d)
		}
		if e := got["no-such-topic"].Error.Code(); e != kafka.ErrUnknownTopicOrPart {
			t.Errorf("DescribeTopics of a missing topic: %v, want Broker: Unknown topic or partition", e)
		}
	})
	t.Run("DescribeCluster", func(t *testing.T) {
		// librdkafka sends DescribeCluster (key 60).
		dc, err := adm.DescribeCluster(ctx)
		if err != nil {
			t.Fatalf("DescribeCluster: %v", err)
		}
		if len(dc.Nodes) != 1 || dc.Nodes[0].ID != 1 || dc.Controller == nil || dc.Controller.ID != 1 || dc.ClusterID == nil {
			t.Errorf("DescribeCluster: %+v", dc)
		}
	})
	// ListOffsets through the admin API: earliest, latest, max timestamp
	// (-3, KIP-734) and by time.
	tp := kafka.TopicPartition{Topic: &topic, Partition: 1}
	for _, tc := range []struct {
		name string
		spec kafka.OffsetSpec
		want kafka.Offset
	}{
		{"earliest", kafka.EarliestOffsetSpec, 0},
		{"latest", kafka.LatestOffsetSpec, 1},
		{"max timestamp", kafka.MaxTimestampOffsetSpec, 0},
		{"for timestamp", kafka.NewOffsetSpecForTimestamp(0), 0},
	} {
		t.Run("ListOffsets/"+tc.name, func(t *testing.T) {
			lo, err := adm.ListOffsets(ctx, map[kafka.TopicPartition]kafka.OffsetSpec{tp: tc.spec})
			if err != nil || len(lo.ResultInfos) != 1 {
				t.Fatalf("ListOffsets: %v (%d results)", err, len(lo.ResultInfos))
			}
			for _, r := range lo.ResultInfos {
				if r.Error.Code() != kafka.ErrNoError || r.Offset != tc.want {
					t.Errorf("offset %v (%v), want %v", r.Offset, r.Error, tc.want)
				}
			}
		})
	}
	t.Run("DescribeConfigs", func(t *testing.T) {
		rs, err := adm.DescribeConfigs(ctx, []kafka.ConfigResource{{Type: kafka.ResourceTopic, Name: topic}})
		if err != nil {
			t.Fatalf("DescribeConfigs: %v", err)
		}
		if rs[0].Error.Code() != kafka.ErrNoError {
			t.Fatalf("DescribeConfigs %s: %v", topic, rs[0].Error)
		}
		if v := rs[0].Config["retention.ms"].Value; v != "3600000" {
			t.Errorf("retention.ms = %q, want 3600000", v)
		}
	})

	dr, err := adm.DeleteTopics(ctx, []string{topic, topic + "-exists", "no-such-topic"})
	if err != nil {
		t.Fatalf("DeleteTopics: %v", err)
	}
	for _, r := range dr {
		wantCode := kafka.ErrNoError
		if r.Topic == "no-such-topic" {
			wantCode = kafka.ErrUnknownTopicOrPart
		}
		if r.Error.Code() != wantCode {
			t.Errorf("DeleteTopics %s: %v, want %v", r.Topic, r.Error, wantCode)
		}
	}
	md, err = adm.GetMetadata(nil, true, 10000)
	if err != nil || len(md.Topics) != 0 {
		var names []string
		for n := range md.Topics {
			names = append(names, n)
		}
		t.Errorf("after delete: topics %s (%v), want none", strings.Join(names, ","), err)
	}
}
