// Package admin runs stock clients' admin APIs against a real potok
// process: sarama's ClusterAdmin, confluent-kafka-go's AdminClient
// (librdkafka), kafkajs's admin client and kcat -L. Each change is checked
// by what it does, not only by what Describe answers.
//
// The files carry the compat build tag while the harness lives on its own
// branch; run them with go test -tags compat.
package admin

import (
	"errors"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/potok-io/potok/compat-tests/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

func saramaAdmin(t *testing.T, addr string) (sarama.ClusterAdmin, sarama.SyncProducer) {
	t.Helper()
	c := sarama.NewConfig()
	c.Version = sarama.V3_6_0_0
	c.ClientID = "potok-compat-admin"
	c.Admin.Timeout = 10 * time.Second
	c.Producer.Return.Successes = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Retry.Max = 0
	c.Producer.MaxMessageBytes = 4 << 20
	adm, err := sarama.NewClusterAdmin([]string{addr}, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { adm.Close() })
	p, err := sarama.NewSyncProducer([]string{addr}, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return adm, p
}

func strp(s string) *string { return &s }

func TestSaramaClusterAdmin(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	adm, prod := saramaAdmin(t, b.Addr())
	topic := harness.Topic(t, "")

	if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": strp("3600000")}}, false); err != nil {
		t.Fatal(err)
	}
	brokers, controller, err := adm.DescribeCluster()
	if err != nil || len(brokers) != 1 || controller != brokers[0].ID() {
		t.Fatalf("describe cluster: %v %d %v", err, len(brokers), controller)
	}

	// DescribeConfig lists every topic config with its source.
	entries := saramaDescribeConfigs(t, adm, sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
	byName := map[string]sarama.ConfigEntry{}
	for _, e := range entries {
		byName[e.Name] = e
	}
	if len(entries) < 30 || byName["retention.ms"].Value != "3600000" || byName["retention.ms"].Source != sarama.SourceTopic ||
		byName["cleanup.policy"].Value != "delete" || byName["cleanup.policy"].Source != sarama.SourceDefault {
		t.Fatalf("describe config: %d entries, retention.ms %+v, cleanup.policy %+v", len(entries), byName["retention.ms"], byName["cleanup.policy"])
	}

	// Incremental: a lowered max.message.bytes rejects a larger record.
	if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.ByteEncoder(make([]byte, 50_000))}); err != nil {
		t.Fatalf("50 kB record: %v", err)
	}
	if err := adm.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
		"max.message.bytes": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: strp("20000")},
	}, false); err != nil {
		t.Fatal(err)
	}
	_, _, err = prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.ByteEncoder(make([]byte, 50_000))})
	if !errors.Is(err, sarama.ErrMessageSizeTooLarge) {
		t.Fatalf("50 kB record with max.message.bytes=20000: %v", err)
	}
	// A bad value is INVALID_CONFIG, and says which config.
	err = adm.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
		"retention.ms": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: strp("soon")},
	}, false)
	if err == nil || !errors.Is(err, sarama.ErrInvalidConfig) {
		t.Fatalf("bad retention.ms: %v", err)
	}
	// Legacy AlterConfig replaces the set: max.message.bytes goes back.
	if err := adm.AlterConfig(sarama.TopicResource, topic, map[string]*string{"segment.ms": strp("600000")}, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.ByteEncoder(make([]byte, 50_000))}); err != nil {
		t.Fatalf("50 kB record after AlterConfig dropped max.message.bytes: %v", err)
	}

	// Broker configs: every setting, read-only ones marked.
	bentries := saramaDescribeConfigs(t, adm, sarama.ConfigResource{Type: sarama.BrokerResource, Name: "1"})
	readOnly := 0
	for _, e := range bentries {
		if e.ReadOnly {
			readOnly++
		}
	}
	if len(bentries) < 50 || readOnly == 0 {
		t.Fatalf("broker configs: %d, %d read-only", len(bentries), readOnly)
	}

	dirs, err := adm.DescribeLogDirs([]int32{brokers[0].ID()})
	if err != nil || len(dirs[brokers[0].ID()]) != 1 {
		t.Fatalf("log dirs: %v %+v", err, dirs)
	}
	found := false
	for _, tp := range dirs[brokers[0].ID()][0].Topics {
		found = found || tp.Topic == topic && len(tp.Partitions) == 2
	}
	if !found {
		t.Fatalf("topic missing from log dirs: %+v", dirs)
	}

	// Quotas round-trip.
	user := "alice"
	if err := adm.AlterClientQuotas([]sarama.QuotaEntityComponent{{EntityType: sarama.QuotaEntityUser, MatchType: sarama.QuotaMatchExact, Name: user}},
		sarama.ClientQuotasOp{Key: "producer_byte_rate", Value: 1 << 20}, false); err != nil {
		t.Fatal(err)
	}
	qs, err := adm.DescribeClientQuotas([]sarama.QuotaFilterComponent{{EntityType: sarama.QuotaEntityUser, MatchType: sarama.QuotaMatchExact, Match: user}}, true)
	if err != nil || len(qs) != 1 || qs[0].Values["producer_byte_rate"] != 1<<20 {
		t.Fatalf("quotas: %v %+v", err, qs)
	}

	if err := adm.CreatePartitions(topic, 3, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := adm.DeleteTopic(topic); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 10*time.Second, func() error {
		ts, err := adm.ListTopics()
		if err != nil {
			return err
		}
		if _, ok := ts[topic]; ok {
			return errors.New("topic still listed")
		}
		return nil
	})
}

// saramaDescribeConfigs describes one resource's configs, failing t on an
// error for the request or the resource.
func saramaDescribeConfigs(t *testing.T, adm sarama.ClusterAdmin, res sarama.ConfigResource) []sarama.ConfigEntry {
	t.Helper()
	results, err := adm.DescribeConfigs([]*sarama.ConfigResource{&res}, sarama.DescribeConfigsOptions{})
	if err != nil {
		t.Fatalf("describe configs of %s: %v", res.Name, err)
	}
	if len(results) != 1 || results[0].Name != res.Name || results[0].ErrorCode != sarama.ErrNoError {
		t.Fatalf("describe configs of %s: %+v", res.Name, results)
	}
	return results[0].Configs
}
