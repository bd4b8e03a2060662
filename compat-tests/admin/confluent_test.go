package admin

import (
	"context"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/potok-io/potok/compat-tests/harness"
)

// confluent-kafka-go's AdminClient is librdkafka's: DescribeCluster,
// DescribeConfigs, AlterConfigs, IncrementalAlterConfigs, CreatePartitions,
// ElectLeaders, DeleteTopics.
func TestConfluentAdminClient(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	adm, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": b.Addr(), "client.id": "potok-compat-rdkafka"})
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx := harness.Ctx(t, 60*time.Second)
	topic := harness.Topic(t, "")

	res, err := adm.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: topic, NumPartitions: 2, ReplicationFactor: 1,
		Config: map[string]string{"cleanup.policy": "compact"}}})
	if err != nil || res[0].Error.Code() != kafka.ErrNoError {
		t.Fatalf("create: %v %v", err, res)
	}
	cluster, err := adm.DescribeCluster(ctx)
	if err != nil || len(cluster.Nodes) != 1 || cluster.Controller == nil || cluster.ClusterID == nil {
		t.Fatalf("describe cluster: %v %+v", err, cluster)
	}

	describe := func() map[string]kafka.ConfigEntryResult {
		t.Helper()
		rs, err := adm.DescribeConfigs(ctx, []kafka.ConfigResource{{Type: kafka.ResourceTopic, Name: topic}})
		if err != nil || rs[0].Error.Code() != kafka.ErrNoError {
			t.Fatalf("describe configs: %v %v", err, rs)
		}
		return rs[0].Config
	}
	cfg := describe()
	if len(cfg) < 30 || cfg["cleanup.policy"].Value != "compact" || cfg["cleanup.policy"].Source != kafka.ConfigSourceDynamicTopic ||
		cfg["segment.bytes"].Source != kafka.ConfigSourceDefault || len(cfg["segment.bytes"].Synonyms) == 0 {
		t.Fatalf("%d configs: cleanup.policy %+v segment.bytes %+v", len(cfg), cfg["cleanup.policy"], cfg["segment.bytes"])
	}

	// Incremental APPEND to a list config, then a lowered max.message.bytes
	// that a producer runs into.
	ir, err := adm.IncrementalAlterConfigs(ctx, []kafka.ConfigResource{{Type: kafka.ResourceTopic, Name: topic, Config: []kafka.ConfigEntry{
		{Name: "cleanup.policy", Value: "delete", IncrementalOperation: kafka.AlterConfigOpTypeAppend},
		{Name: "max.message.bytes", Value: "20000", IncrementalOperation: kafka.AlterConfigOpTypeSet},
	}}})
	if err != nil || ir[0].Error.Code() != kafka.ErrNoError {
		t.Fatalf("incremental alter: %v %v", err, ir)
	}
	if cfg = describe(); cfg["cleanup.policy"].Value != "compact,delete" || cfg["max.message.bytes"].Value != "20000" {
		t.Fatalf("after incremental alter: %+v %+v", cfg["cleanup.policy"], cfg["max.message.bytes"])
	}
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": b.Addr(), "message.max.bytes": 1 << 20, "retries": 0})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	value := make([]byte, 50_000)
	for i := range value {
		value[i] = byte(i * 7919)
	}
	dr := make(chan kafka.Event, 1)
	part := int32(0)
	if err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: part}, Key: []byte("k"), Value: value}, dr); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-dr:
		m := ev.(*kafka.Message)
		if m.TopicPartition.Error == nil || m.TopicPartition.Error.(kafka.Error).Code() != kafka.ErrMsgSizeTooLarge {
			t.Fatalf("50 kB record with max.message.bytes=20000: %v", m.TopicPartition.Error)
		}
	case <-ctx.Done():
		t.Fatal("no delivery report")
	}

	// A bad value: INVALID_CONFIG on that resource.
	ar, err := adm.AlterConfigs(ctx, []kafka.ConfigResource{{Type: kafka.ResourceTopic, Name: topic, Config: []kafka.ConfigEntry{
		{Name: "retention.ms", Value: "soon", Operation: kafka.AlterOperationSet},
	}}})
	if err != nil || ar[0].Error.Code() != kafka.ErrInvalidConfig {
		t.Fatalf("bad retention.ms: %v %v", err, ar)
	}

	// Broker configs.
	br, err := adm.DescribeConfigs(ctx, []kafka.ConfigResource{{Type: kafka.ResourceBroker, Name: "1"}})
	if err != nil || br[0].Error.Code() != kafka.ErrNoError || len(br[0].Config) < 50 || !br[0].Config["log.dirs"].IsReadOnly {
		t.Fatalf("broker configs: %v %d", err, len(br[0].Config))
	}

	pr, err := adm.CreatePartitions(ctx, []kafka.PartitionsSpecification{{Topic: topic, IncreaseTo: 4}})
	if err != nil || pr[0].Error.Code() != kafka.ErrNoError {
		t.Fatalf("create partitions: %v %v", err, pr)
	}
	er, err := adm.ElectLeaders(ctx, kafka.NewElectLeadersRequest(kafka.ElectionTypePreferred, []kafka.TopicPartition{{Topic: &topic, Partition: 0}}))
	if err != nil || len(er.TopicPartitions) != 1 || er.TopicPartitions[0].Error == nil ||
		er.TopicPartitions[0].Error.(kafka.Error).Code() != kafka.ErrElectionNotNeeded {
		t.Fatalf("elect leaders: %v %+v", err, er)
	}
	dr2, err := adm.DeleteTopics(context.Background(), []string{topic})
	if err != nil || dr2[0].Error.Code() != kafka.ErrNoError {
		t.Fatalf("delete: %v %v", err, dr2)
	}
}
