// Package sarama runs IBM/sarama's SyncProducer, AsyncProducer, partition
// Consumer (no group) and ClusterAdmin against a real potok process, at a
// current protocol version (V3_6_0_0) and the oldest one Potok supports for
// produce (V2_1_0_0: record batches v2 and zstd).
package sarama

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/potok-io/potok/compat-tests/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

var versions = []struct {
	name string
	v    sarama.KafkaVersion
}{
	{"V3_6_0_0", sarama.V3_6_0_0},
	{"default", sarama.NewConfig().Version},
	{"V2_1_0_0", sarama.V2_1_0_0},
}

func config(v sarama.KafkaVersion) *sarama.Config {
	c := sarama.NewConfig()
	c.Version = v
	c.ClientID = "potok-compat"
	c.Producer.Return.Successes = true
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Retry.Max = 3
	c.Producer.Retry.Backoff = 50 * time.Millisecond
	c.Metadata.Retry.Max = 2
	c.Metadata.Retry.Backoff = 50 * time.Millisecond
	c.Consumer.Return.Errors = true
	c.Consumer.Fetch.Default = 4 << 20
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	c.Admin.Timeout = 10 * time.Second
	return c
}

func message(topic string, partition int32, r harness.Rec) *sarama.ProducerMessage {
	m := &sarama.ProducerMessage{Topic: topic, Partition: partition}
	if r.Key != nil {
		m.Key = sarama.ByteEncoder(r.Key)
	}
	if r.Value != nil {
		m.Value = sarama.ByteEncoder(r.Value)
	}
	for _, h := range r.Headers {
		m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
	}
	return m
}

func syncProducer(t *testing.T, addr string, c *sarama.Config) sarama.SyncProducer {
	t.Helper()
	p, err := sarama.NewSyncProducer([]string{addr}, c)
	if err != nil {
		t.Fatalf("NewSyncProducer: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// consume reads n messages of one partition from offset with sarama's
// partition consumer.
func consume(t *testing.T, addr string, c *sarama.Config, topic string, partition int32, offset int64, n int) []*sarama.ConsumerMessage {
	t.Helper()
	cons, err := sarama.NewConsumer([]string{addr}, c)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, partition, offset)
	if err != nil {
		t.Fatalf("ConsumePartition %s/%d@%d: %v", topic, partition, offset, err)
	}
	defer pc.Close()
	var out []*sarama.ConsumerMessage
	timeout := time.After(30 * time.Second)
	for len(out) < n {
		select {
		case m := <-pc.Messages():
			out = append(out, m)
		case err := <-pc.Errors():
			t.Fatalf("consuming %s/%d: %v", topic, partition, err)
		case <-timeout:
			t.Fatalf("consuming %s/%d: got %d messages in 30s, want %d", topic, partition, len(out), n)
		}
	}
	return out
}

func fromSarama(ms []*sarama.ConsumerMessage) []harness.Rec {
	out := make([]harness.Rec, len(ms))
	for i, m := range ms {
		out[i] = harness.Rec{Key: m.Key, Value: m.Value}
		for _, h := range m.Headers {
			out[i].Headers = append(out[i].Headers, harness.Header{Key: string(h.Key), Value: h.Value})
		}
	}
	return out
}

func check(t *testing.T, got, want []harness.Rec) {
	t.Helper()
	if d := harness.SameRecs(got, want); d != "" {
		t.Fatal(d)
	}
}

var codecs = []struct {
	name string
	c    sarama.CompressionCodec
	attr int8
}{
	{"none", sarama.CompressionNone, harness.CodecNone},
	{"gzip", sarama.CompressionGZIP, harness.CodecGzip},
	{"snappy", sarama.CompressionSnappy, harness.CodecSnappy},
	{"lz4", sarama.CompressionLZ4, harness.CodecLz4},
	{"zstd", sarama.CompressionZSTD, harness.CodecZstd},
}

// TestSyncProducerCodecs sends the sample records with the SyncProducer in
// one batch per codec and version, reads them back with the partition
// consumer and with franz-go, and checks the stored codec.
func TestSyncProducerCodecs(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	for _, v := range versions {
		for _, codec := range codecs {
			t.Run(v.name+"/"+codec.name, func(t *testing.T) {
				topic := harness.Topic(t, "")
				harness.CreateTopic(t, b.Addr(), topic, 1, nil)
				c := config(v.v)
				c.Producer.Compression = codec.c
				c.Producer.Flush.Messages = 100
				c.Producer.Flush.Frequency = 100 * time.Millisecond
				p := syncProducer(t, b.Addr(), c)
				want := append(harness.Sample(), harness.NullHeader())
				var msgs []*sarama.ProducerMessage
				for _, r := range want {
					msgs = append(msgs, message(topic, 0, r))
				}
				if err := p.SendMessages(msgs); err != nil {
					t.Fatalf("SendMessages: %v", err)
				}
				for i, m := range msgs {
					if m.Offset != int64(i) {
						t.Fatalf("message %d acknowledged at offset %d", i, m.Offset)
					}
				}
				check(t, fromSarama(consume(t, b.Addr(), config(v.v), topic, 0, sarama.OffsetOldest, len(want))), want)
				check(t, harness.FromKgo(harness.ReadPartition(t, b.Addr(), topic, 0)), want)
				if got := harness.Codecs(t, b.Addr(), topic, 0); len(got) != 1 || got[codec.attr] == 0 {
					t.Fatalf("stored batches by codec: %v, want all %s (%d)", got, codec.name, codec.attr)
				}
			})
		}
	}
}

// TestAcks sends with each RequiredAcks setting, and idempotently.
func TestAcks(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	for _, tc := range []struct {
		name       string
		acks       sarama.RequiredAcks
		idempotent bool
	}{
		{"0", sarama.NoResponse, false},
		{"1", sarama.WaitForLocal, false},
		{"all", sarama.WaitForAll, false},
		{"idempotent", sarama.WaitForAll, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := harness.Topic(t, "")
			harness.CreateTopic(t, b.Addr(), topic, 1, nil)
			c := config(sarama.V3_6_0_0)
			c.Producer.RequiredAcks = tc.acks
			if tc.idempotent {
				c.Producer.Idempotent = true
				c.Net.MaxOpenRequests = 1
			}
			p := syncProducer(t, b.Addr(), c)
			var want []harness.Rec
			for i := 0; i < 100; i++ {
				r := harness.Rec{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)}
				want = append(want, r)
				_, off, err := p.SendMessage(message(topic, 0, r))
				if err != nil {
					t.Fatalf("SendMessage %d: %v", i, err)
				}
				// With acks=0 sarama reports no offset.
				if tc.acks != sarama.NoResponse && off != int64(i) {
					t.Fatalf("message %d acknowledged at offset %d", i, off)
				}
			}
			check(t, fromSarama(consume(t, b.Addr(), c, topic, 0, sarama.OffsetOldest, len(want))), want)
			if tc.idempotent {
				for _, bt := range harness.Batches(t, b.Addr(), topic, 0) {
					if bt.ProducerID < 0 || bt.Sequence != int32(bt.BaseOffset) {
						t.Fatalf("batch at %d: producer id %d sequence %d; want idempotent batches with sequence = offset", bt.BaseOffset, bt.ProducerID, bt.Sequence)
					}
				}
			}
		})
	}
}

// TestAsyncProducer sends many messages to several partitions through the
// AsyncProducer and checks every success, then the order in each partition.
func TestAsyncProducer(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 4, nil)
	c := config(sarama.V3_6_0_0)
	c.Producer.Return.Errors = true
	c.Producer.Compression = sarama.CompressionSnappy
	c.Producer.Idempotent = true
	c.Net.MaxOpenRequests = 1
	p, err := sarama.NewAsyncProducer([]string{b.Addr()}, c)
	if err != nil {
		t.Fatalf("NewAsyncProducer: %v", err)
	}
	defer p.Close()
	const perPartition = 500
	go func() {
		for i := 0; i < perPartition; i++ {
			for part := int32(0); part < 4; part++ {
				p.Input() <- &sarama.ProducerMessage{Topic: topic, Partition: part, Value: sarama.StringEncoder(fmt.Sprintf("%d-%d", part, i))}
			}
		}
	}()
	timeout := time.After(60 * time.Second)
	next := map[int32]int64{}
	for n := 0; n < 4*perPartition; n++ {
		select {
		case m := <-p.Successes():
			v, _ := m.Value.Encode()
			if want := fmt.Sprintf("%d-%d", m.Partition, next[m.Partition]); string(v) != want || m.Offset != next[m.Partition] {
				t.Fatalf("success %q at %d/%d, want %q at offset %d", v, m.Partition, m.Offset, want, next[m.Partition])
			}
			next[m.Partition]++
		case err := <-p.Errors():
			t.Fatalf("produce: %v", err)
		case <-timeout:
			t.Fatalf("%d of %d messages acknowledged in 60s", n, 4*perPartition)
		}
	}
	for part := int32(0); part < 4; part++ {
		ms := consume(t, b.Addr(), c, topic, part, sarama.OffsetOldest, perPartition)
		for i, m := range ms {
			if want := fmt.Sprintf("%d-%d", part, i); string(m.Value) != want || m.Offset != int64(i) {
				t.Fatalf("partition %d offset %d: %q, want %q", part, m.Offset, m.Value, want)
			}
		}
	}
}

// TestManyPartitions sends to each of 32 partitions through the
// AsyncProducer and checks every partition.
func TestManyPartitions(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	const n = 32
	harness.CreateTopic(t, b.Addr(), topic, n, nil)
	c := config(sarama.V3_6_0_0)
	c.Producer.Return.Errors = true
	c.Producer.Compression = sarama.CompressionLZ4
	p, err := sarama.NewAsyncProducer([]string{b.Addr()}, c)
	if err != nil {
		t.Fatalf("NewAsyncProducer: %v", err)
	}
	defer p.Close()
	want := map[int32][]string{}
	total := 0
	for part := int32(0); part < n; part++ {
		for i := 0; i <= int(part)%5; i++ {
			want[part] = append(want[part], fmt.Sprintf("%d/%d", part, i))
			total++
		}
	}
	go func() {
		for part := int32(0); part < n; part++ {
			for _, v := range want[part] {
				p.Input() <- &sarama.ProducerMessage{Topic: topic, Partition: part, Value: sarama.StringEncoder(v)}
			}
		}
	}()
	timeout := time.After(60 * time.Second)
	for i := 0; i < total; i++ {
		select {
		case <-p.Successes():
		case err := <-p.Errors():
			t.Fatalf("produce: %v", err)
		case <-timeout:
			t.Fatalf("%d of %d acknowledged in 60s", i, total)
		}
	}
	harness.CheckPartitions(t, b.Addr(), topic, want)
	if ms := consume(t, b.Addr(), c, topic, n-1, sarama.OffsetOldest, len(want[n-1])); string(ms[len(ms)-1].Value) != want[n-1][len(want[n-1])-1] {
		t.Fatalf("partition %d read with sarama: last value %q", n-1, ms[len(ms)-1].Value)
	}
}

// TestConsumerOffsets starts the partition consumer at the newest offset,
// at an explicit offset, and at the offset GetOffset finds for a time.
func TestConsumerOffsets(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 1, nil)
	c := config(sarama.V3_6_0_0)
	p := syncProducer(t, b.Addr(), c)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i := 0; i < 5; i++ {
		m := message(topic, 0, harness.Rec{Value: fmt.Appendf(nil, "v%d", i)})
		m.Timestamp = base.Add(time.Duration(i) * 100 * time.Millisecond)
		if _, _, err := p.SendMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	client, err := sarama.NewClient([]string{b.Addr()}, c)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for _, tc := range []struct {
		at   int64
		want int64
	}{
		{sarama.OffsetOldest, 0},
		{sarama.OffsetNewest, 5},
		{base.Add(150 * time.Millisecond).UnixMilli(), 2},
		{base.UnixMilli(), 0},
		{base.Add(time.Second).UnixMilli(), -1},
	} {
		if off, err := client.GetOffset(topic, 0, tc.at); err != nil || off != tc.want {
			t.Errorf("GetOffset(%d): %d (%v), want %d", tc.at, off, err, tc.want)
		}
	}
	if ms := consume(t, b.Addr(), c, topic, 0, 3, 2); string(ms[0].Value) != "v3" || string(ms[1].Value) != "v4" ||
		!ms[0].Timestamp.Equal(base.Add(300*time.Millisecond)) {
		t.Errorf("from offset 3: %q@%v %q", ms[0].Value, ms[0].Timestamp, ms[1].Value)
	}
	// From the newest offset: only what is produced after the consumer
	// started.
	cons, err := sarama.NewConsumer([]string{b.Addr()}, c)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetNewest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, _, err := p.SendMessage(message(topic, 0, harness.Rec{Value: []byte("new")})); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-pc.Messages():
		if string(m.Value) != "new" || m.Offset != 5 {
			t.Errorf("from newest: %q at %d, want \"new\" at 5", m.Value, m.Offset)
		}
	case err := <-pc.Errors():
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("from newest: nothing in 30s")
	}
	if _, err := cons.ConsumePartition(topic, 0, 100); !errors.Is(err, sarama.ErrOffsetOutOfRange) {
		t.Errorf("ConsumePartition at 100 of 6: %v, want ErrOffsetOutOfRange", err)
	}
}

// TestLargeAndErrors sends a record near max.message.bytes, one over it,
// an empty value, and a message to a topic that does not exist.
func TestLargeAndErrors(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 1, nil)
	c := config(sarama.V3_6_0_0)
	c.Producer.MaxMessageBytes = 4 << 20 // let the broker judge
	c.Producer.Retry.Max = 0
	p := syncProducer(t, b.Addr(), c)
	big := bytes.Repeat([]byte{'x'}, 1048588-200)
	if _, off, err := p.SendMessage(message(topic, 0, harness.Rec{Value: big})); err != nil || off != 0 {
		t.Fatalf("sending %d bytes: offset %d, %v", len(big), off, err)
	}
	_, _, err := p.SendMessage(message(topic, 0, harness.Rec{Value: make([]byte, 1048588)}))
	if !errors.Is(err, sarama.ErrMessageSizeTooLarge) {
		t.Fatalf("sending 1048588 bytes: %v, want ErrMessageSizeTooLarge", err)
	}
	if _, off, err := p.SendMessage(message(topic, 0, harness.Rec{Value: []byte{}})); err != nil || off != 1 {
		t.Fatalf("sending an empty value: offset %d, %v", off, err)
	}
	ms := consume(t, b.Addr(), c, topic, 0, sarama.OffsetOldest, 2)
	if !bytes.Equal(ms[0].Value, big) || ms[1].Value == nil || len(ms[1].Value) != 0 {
		t.Fatalf("read back %d and %d bytes (nil: %v)", len(ms[0].Value), len(ms[1].Value), ms[1].Value == nil)
	}

	_, _, err = p.SendMessage(message(harness.Topic(t, "missing"), 0, harness.Rec{Value: []byte("v")}))
	if !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		t.Fatalf("sending to a missing topic (auto-creation off): %v, want ErrUnknownTopicOrPartition", err)
	}
}

// TestClusterAdmin creates, describes, grows and deletes topics and checks
// the errors sarama surfaces.
func TestClusterAdmin(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			b := harness.Start(t, harness.Options{})
			c := config(v.v)
			adm, err := sarama.NewClusterAdmin([]string{b.Addr()}, c)
			if err != nil {
				t.Fatalf("NewClusterAdmin: %v", err)
			}
			defer adm.Close()
			topic := harness.Topic(t, "")
			retention := "3600000"
			err = adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1,
				ConfigEntries: map[string]*string{"retention.ms": &retention}}, false)
			if err != nil {
				t.Fatalf("CreateTopic: %v", err)
			}
			if err := adm.CreateTopic(harness.Topic(t, "validate"), &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, true); err != nil {
				t.Fatalf("CreateTopic validate only: %v", err)
			}
			md, err := adm.DescribeTopics([]string{topic, harness.Topic(t, "validate")})
			if err != nil || len(md) != 2 {
				t.Fatalf("DescribeTopics: %v, %d topics", err, len(md))
			}
			if md[0].Err != sarama.ErrNoError || len(md[0].Partitions) != 3 || md[0].Partitions[0].Leader != 1 {
				t.Errorf("described %s: %v, %d partitions", md[0].Name, md[0].Err, len(md[0].Partitions))
			}
			if md[1].Err != sarama.ErrUnknownTopicOrPartition {
				t.Errorf("the validate-only topic exists: %v", md[1].Err)
			}

			for _, tc := range []struct {
				name   string
				topic  string
				detail sarama.TopicDetail
				want   sarama.KError
			}{
				{"exists", topic, sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, sarama.ErrTopicAlreadyExists},
				{"zero partitions", harness.Topic(t, "p0"), sarama.TopicDetail{NumPartitions: 0, ReplicationFactor: 1}, sarama.ErrInvalidPartitions},
				{"rf 2", harness.Topic(t, "rf2"), sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 2}, sarama.ErrInvalidReplicationFactor},
				{"bad config", harness.Topic(t, "cfg"), sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1,
					ConfigEntries: map[string]*string{"cleanup.policy": &retention}}, sarama.ErrInvalidConfig},
			} {
				err := adm.CreateTopic(tc.topic, &tc.detail, false)
				if !errors.Is(err, tc.want) {
					t.Errorf("CreateTopic %s: %v, want %v", tc.name, err, tc.want)
				}
			}

			brokers, controller, err := adm.DescribeCluster()
			if err != nil || len(brokers) != 1 || brokers[0].ID() != 1 || brokers[0].Addr() != b.Addr() || controller != 1 {
				t.Errorf("DescribeCluster: %v, controller %d (%v)", brokers, controller, err)
			}
			if err := adm.CreatePartitions(topic, 6, nil, false); err != nil {
				t.Fatalf("CreatePartitions to 6: %v", err)
			}
			if err := adm.CreatePartitions(topic, 4, nil, false); !errors.Is(err, sarama.ErrInvalidPartitions) {
				t.Errorf("CreatePartitions from 6 to 4: %v, want ErrInvalidPartitions", err)
			}
			md, err = adm.DescribeTopics([]string{topic})
			if err != nil || len(md[0].Partitions) != 6 {
				t.Errorf("after CreatePartitions: %v, %d partitions, want 6", err, len(md[0].Partitions))
			}

			t.Run("ListTopics", func(t *testing.T) {
				// sarama's ListTopics sends Metadata and then
				// DescribeConfigs for every topic.
				topics, err := adm.ListTopics()
				if err != nil {
					t.Fatalf("ListTopics: %v", err)
				}
				d, ok := topics[topic]
				if !ok || d.NumPartitions != 6 || d.ReplicationFactor != 1 || d.ConfigEntries["retention.ms"] == nil ||
					*d.ConfigEntries["retention.ms"] != "3600000" {
					t.Errorf("ListTopics %s: %+v", topic, d)
				}
			})
			t.Run("DescribeConfigs", func(t *testing.T) {
				rs, err := adm.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: topic}}, sarama.DescribeConfigsOptions{})
				if err != nil {
					t.Fatalf("DescribeConfigs: %v", err)
				}
				if len(rs) != 1 || rs[0].ErrorCode != sarama.ErrNoError {
					t.Fatalf("DescribeConfigs: %+v", rs)
				}
				got := map[string]string{}
				for _, e := range rs[0].Configs {
					got[e.Name] = e.Value
				}
				if got["retention.ms"] != "3600000" || got["cleanup.policy"] != "delete" {
					t.Errorf("configs: retention.ms=%q cleanup.policy=%q", got["retention.ms"], got["cleanup.policy"])
				}
			})

			if err := adm.DeleteTopic(topic); err != nil {
				t.Fatalf("DeleteTopic: %v", err)
			}
			if err := adm.DeleteTopic(topic); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
				t.Errorf("deleting it again: %v, want ErrUnknownTopicOrPartition", err)
			}
			md, err = adm.DescribeTopics([]string{topic})
			if err != nil || md[0].Err != sarama.ErrUnknownTopicOrPartition {
				t.Errorf("after delete: %v %v, want ErrUnknownTopicOrPartition", err, md[0].Err)
			}
			if names := metadataNames(t, b.Addr(), c); names != "" {
				t.Errorf("topics left: %s", names)
			}
		})
	}
}

func metadataNames(t *testing.T, addr string, c *sarama.Config) string {
	t.Helper()
	client, err := sarama.NewClient([]string{addr}, c)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	names, err := client.Topics()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(names, ",")
}
