// Package kafkajs runs kafkajs 2.2.4 (Node; compat-tests/js, installed by
// `make deps` with npm ci) against a real potok process: the producer with
// each codec, acks and idempotence, and the admin client. kafkajs has no
// consumer without a group, and groups are not served yet, so what kafkajs
// writes is read back with franz-go.
package kafkajs

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/potok-io/potok/compat-tests/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// jsError is how kafkajs-compat.js describes a thrown error.
type jsError struct {
	Name    string     `json:"name"`
	Type    *string    `json:"type"`
	Message string     `json:"message"`
	Errors  []*jsError `json:"errors"`
	Cause   *jsError   `json:"cause"`
}

// types lists the Kafka error types (e.g. TOPIC_ALREADY_EXISTS) in an
// error and the errors it aggregates or wraps.
func (e *jsError) types() []string {
	if e == nil {
		return nil
	}
	var out []string
	if e.Type != nil {
		out = append(out, *e.Type)
	}
	for _, s := range e.Errors {
		out = append(out, s.types()...)
	}
	return append(out, e.Cause.types()...)
}

func (e *jsError) String() string {
	b, _ := json.Marshal(e)
	return string(b)
}

type result struct {
	Ok    json.RawMessage `json:"ok"`
	Error *jsError        `json:"error"`
}

// run runs kafkajs operations through js/kafkajs-compat.js.
func run(t *testing.T, addr string, ops ...map[string]any) []result {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed: %v", err)
	}
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "js")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "kafkajs")); err != nil {
		t.Fatalf("kafkajs is not installed in %s (run make deps, or npm ci there): %v", dir, err)
	}
	in, err := json.Marshal(map[string]any{"brokers": []string{addr}, "ops": ops})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "kafkajs-compat.js"))
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(in)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("node kafkajs-compat.js: %v\nstderr:\n%s", err, errb.String())
	}
	var rs []result
	if err := json.Unmarshal(out.Bytes(), &rs); err != nil || len(rs) != len(ops) {
		t.Fatalf("kafkajs-compat.js printed %q (%v), want %d results\nstderr:\n%s", out.String(), err, len(ops), errb.String())
	}
	t.Cleanup(func() {
		if t.Failed() && errb.Len() > 0 {
			t.Logf("kafkajs stderr:\n%s", errb.String())
		}
	})
	return rs
}

// ok decodes a successful result into v, failing the test on an error.
func ok(t *testing.T, what string, r result, v any) {
	t.Helper()
	if r.Error != nil {
		t.Fatalf("%s: %s", what, r.Error)
	}
	if v != nil {
		if err := json.Unmarshal(r.Ok, v); err != nil {
			t.Fatalf("%s: decoding %s: %v", what, r.Ok, err)
		}
	}
}

// wantError checks that a result failed with the Kafka error type want.
func wantError(t *testing.T, what string, r result, want string) {
	t.Helper()
	if r.Error == nil {
		t.Errorf("%s: succeeded with %s, want %s", what, r.Ok, want)
		return
	}
	for _, ty := range r.Error.types() {
		if ty == want {
			return
		}
	}
	t.Errorf("%s: %s, want %s", what, r.Error, want)
}

func b64(b []byte) any {
	if b == nil {
		return nil
	}
	return base64.StdEncoding.EncodeToString(b)
}

func jsRecords(rs []harness.Rec) []map[string]any {
	var out []map[string]any
	for _, r := range rs {
		m := map[string]any{"key": b64(r.Key), "value": b64(r.Value)}
		var hs [][]any
		for _, h := range r.Headers {
			hs = append(hs, []any{h.Key, b64(h.Value)})
		}
		m["headers"] = hs
		out = append(out, m)
	}
	return out
}

// asKafkajsWrites reorders headers as kafkajs writes them: it takes headers
// as an object, so repeated keys are grouped at their first position.
func asKafkajsWrites(rs []harness.Rec) []harness.Rec {
	out := make([]harness.Rec, len(rs))
	for i, r := range rs {
		out[i] = harness.Rec{Key: r.Key, Value: r.Value}
		var order []string
		byKey := map[string][]harness.Header{}
		for _, h := range r.Headers {
			if _, seen := byKey[h.Key]; !seen {
				order = append(order, h.Key)
			}
			byKey[h.Key] = append(byKey[h.Key], h)
		}
		for _, k := range order {
			out[i].Headers = append(out[i].Headers, byKey[k]...)
		}
	}
	return out
}

type produceResult struct {
	TopicName  string `json:"topicName"`
	Partition  int32  `json:"partition"`
	ErrorCode  int16  `json:"errorCode"`
	BaseOffset string `json:"baseOffset"`
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

// TestProduceCodecs sends the sample with each codec (snappy, lz4 and zstd
// through the kafkajs-snappy, kafkajs-lz4 and @kafkajs/zstd packages) and
// reads it back with franz-go.
func TestProduceCodecs(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := harness.Topic(t, "")
			harness.CreateTopic(t, b.Addr(), topic, 1, nil)
			// kafkajs cannot write a null header value (it throws a
			// TypeError), so the NullHeader record is left out.
			want := harness.Sample()
			rs := run(t, b.Addr(), map[string]any{"op": "produce", "topic": topic, "compression": c.name, "acks": -1,
				"records": jsRecords(want)})
			var pr []produceResult
			ok(t, "send", rs[0], &pr)
			if len(pr) != 1 || pr[0].TopicName != topic || pr[0].Partition != 0 || pr[0].ErrorCode != 0 || pr[0].BaseOffset != "0" {
				t.Fatalf("send answered %+v", pr)
			}
			if d := harness.SameRecs(harness.FromKgo(harness.ReadPartition(t, b.Addr(), topic, 0)), asKafkajsWrites(want)); d != "" {
				t.Fatalf("read with franz-go: %s", d)
			}
			if got := harness.Codecs(t, b.Addr(), topic, 0); len(got) != 1 || got[c.attr] == 0 {
				t.Fatalf("stored batches by codec: %v, want all %s (%d)", got, c.name, c.attr)
			}
		})
	}
}

// TestProduceAcks sends with acks 0, 1 and -1, and idempotently, to three
// partitions, and reads every partition back in order.
func TestProduceAcks(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	for _, tc := range []struct {
		name       string
		acks       int
		idempotent bool
	}{{"0", 0, false}, {"1", 1, false}, {"all", -1, false}, {"idempotent", -1, true}} {
		t.Run(tc.name, func(t *testing.T) {
			topic := harness.Topic(t, "")
			harness.CreateTopic(t, b.Addr(), topic, 3, nil)
			var recs []map[string]any
			for i := 0; i < 90; i++ {
				recs = append(recs, map[string]any{"partition": i % 3, "value": b64(fmt.Appendf(nil, "%d/%d", i%3, i/3))})
			}
			rs := run(t, b.Addr(), map[string]any{"op": "produce", "topic": topic, "acks": tc.acks, "idempotent": tc.idempotent, "records": recs})
			ok(t, "send", rs[0], nil)
			adm := harness.Admin(t, b.Addr())
			harness.Eventually(t, 10*time.Second, func() error {
				ends, err := adm.ListEndOffsets(context.Background(), topic)
				if err != nil {
					return err
				}
				for p := int32(0); p < 3; p++ {
					if o, _ := ends.Lookup(topic, p); o.Offset != 30 {
						return fmt.Errorf("partition %d end offset %d, want 30", p, o.Offset)
					}
				}
				return nil
			})
			for p := int32(0); p < 3; p++ {
				for i, r := range harness.ReadPartition(t, b.Addr(), topic, p) {
					if want := fmt.Sprintf("%d/%d", p, i); string(r.Value) != want {
						t.Fatalf("partition %d offset %d: %q, want %q", p, r.Offset, r.Value, want)
					}
				}
				if !tc.idempotent {
					continue
				}
				for _, bt := range harness.Batches(t, b.Addr(), topic, p) {
					if bt.ProducerID < 0 || bt.Sequence != int32(bt.BaseOffset) {
						t.Fatalf("partition %d batch at %d: producer id %d sequence %d; want idempotent batches", p, bt.BaseOffset, bt.ProducerID, bt.Sequence)
					}
				}
			}
		})
	}
}

// TestManyPartitions sends to each of 32 partitions in one send and checks
// every partition.
func TestManyPartitions(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	const n = 32
	harness.CreateTopic(t, b.Addr(), topic, n, nil)
	want := map[int32][]string{}
	var recs []map[string]any
	for p := int32(0); p < n; p++ {
		for i := 0; i <= int(p)%5; i++ {
			v := fmt.Sprintf("%d/%d", p, i)
			want[p] = append(want[p], v)
			recs = append(recs, map[string]any{"partition": p, "value": b64([]byte(v))})
		}
	}
	rs := run(t, b.Addr(), map[string]any{"op": "produce", "topic": topic, "acks": -1, "compression": "gzip", "records": recs})
	var pr []produceResult
	ok(t, "send", rs[0], &pr)
	if len(pr) != n {
		t.Fatalf("send answered for %d partitions, want %d", len(pr), n)
	}
	harness.CheckPartitions(t, b.Addr(), topic, want)
}

// TestProduceErrors sends to a missing topic (auto-creation off), a record
// over max.message.bytes, and one close to it.
func TestProduceErrors(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 1, nil)
	big := bytes.Repeat([]byte{'x'}, 1048588-200)
	rs := run(t, b.Addr(),
		map[string]any{"op": "produce", "topic": harness.Topic(t, "missing"), "acks": -1, "retries": 0,
			"records": []map[string]any{{"value": b64([]byte("v"))}}},
		map[string]any{"op": "produce", "topic": topic, "acks": -1, "retries": 0, "records": []map[string]any{{"value": b64(make([]byte, 1048588))}}},
		map[string]any{"op": "produce", "topic": topic, "acks": -1, "records": []map[string]any{{"value": b64(big)}, {"value": b64([]byte{})}}},
	)
	wantError(t, "send to a missing topic", rs[0], "UNKNOWN_TOPIC_OR_PARTITION")
	wantError(t, "send 1048588 bytes", rs[1], "MESSAGE_TOO_LARGE")
	ok(t, "send a large record and an empty value", rs[2], nil)
	got := harness.ReadPartition(t, b.Addr(), topic, 0)
	if len(got) != 2 || !bytes.Equal(got[0].Value, big) || got[1].Value == nil || len(got[1].Value) != 0 {
		t.Fatalf("read back %d records", len(got))
	}
}

type metadataResult struct {
	Topics []struct {
		Name       string `json:"name"`
		Partitions []struct {
			PartitionErrorCode int16   `json:"partitionErrorCode"`
			PartitionID        int32   `json:"partitionId"`
			Leader             int32   `json:"leader"`
			Replicas           []int32 `json:"replicas"`
			ISR                []int32 `json:"isr"`
		} `json:"partitions"`
	} `json:"topics"`
}

// TestAdmin creates topics with configs, checks the errors, describes the
// cluster and topics, lists offsets (also by timestamp), adds partitions and
// deletes topics.
func TestAdmin(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	other := harness.Topic(t, "other")
	rs := run(t, b.Addr(),
		map[string]any{"op": "createTopics", "topics": []map[string]any{
			{"topic": topic, "numPartitions": 2, "replicationFactor": 1, "configEntries": []map[string]string{{"name": "retention.ms", "value": "3600000"}}},
			{"topic": other},
		}},
		map[string]any{"op": "createTopics", "topics": []map[string]any{{"topic": topic, "numPartitions": 1}}},
		map[string]any{"op": "createTopics", "topics": []map[string]any{{"topic": harness.Topic(t, "p0"), "numPartitions": 0}}},
		map[string]any{"op": "createTopics", "topics": []map[string]any{{"topic": harness.Topic(t, "rf3"), "numPartitions": 1, "replicationFactor": 3}}},
		map[string]any{"op": "createTopics", "topics": []map[string]any{{"topic": harness.Topic(t, "cfg"), "configEntries": []map[string]string{{"name": "cleanup.policy", "value": "sometimes"}}}}},
		map[string]any{"op": "listTopics"},
		map[string]any{"op": "fetchTopicMetadata", "topics": []string{topic}},
		map[string]any{"op": "describeCluster"},
	)
	var created bool
	ok(t, "createTopics", rs[0], &created)
	if !created {
		t.Errorf("createTopics answered false, want true")
	}
	// kafkajs swallows TOPIC_ALREADY_EXISTS and answers false.
	ok(t, "create an existing topic", rs[1], &created)
	if created {
		t.Errorf("createTopics of an existing topic answered true, want false")
	}
	wantError(t, "create with 0 partitions", rs[2], "INVALID_PARTITIONS")
	wantError(t, "create with replication factor 3", rs[3], "INVALID_REPLICATION_FACTOR")
	wantError(t, "create with a bad cleanup.policy", rs[4], "INVALID_CONFIG")
	var names []string
	ok(t, "listTopics", rs[5], &names)
	if strings.Join(names, ",") != strings.Join([]string{topic, other}, ",") {
		t.Errorf("listTopics: %v, want [%s %s]", names, topic, other)
	}
	var md metadataResult
	ok(t, "fetchTopicMetadata", rs[6], &md)
	if len(md.Topics) != 1 || md.Topics[0].Name != topic || len(md.Topics[0].Partitions) != 2 {
		t.Fatalf("fetchTopicMetadata: %+v", md)
	}
	for _, p := range md.Topics[0].Partitions {
		if p.PartitionErrorCode != 0 || p.Leader != 1 || len(p.Replicas) != 1 || len(p.ISR) != 1 {
			t.Errorf("partition %+v", p)
		}
	}
	var cluster struct {
		Brokers []struct {
			NodeID int32  `json:"nodeId"`
			Host   string `json:"host"`
			Port   int    `json:"port"`
		} `json:"brokers"`
		Controller int32  `json:"controller"`
		ClusterID  string `json:"clusterId"`
	}
	ok(t, "describeCluster", rs[7], &cluster)
	if len(cluster.Brokers) != 1 || fmt.Sprintf("%s:%d", cluster.Brokers[0].Host, cluster.Brokers[0].Port) != b.Addr() ||
		cluster.Controller != 1 || cluster.ClusterID == "" {
		t.Errorf("describeCluster: %+v", cluster)
	}

	// Offsets, by timestamp too.
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var recs []map[string]any
	for i := 0; i < 4; i++ {
		recs = append(recs, map[string]any{"partition": 1, "value": b64([]byte{byte(i)}), "timestamp": base.Add(time.Duration(i) * time.Second).UnixMilli()})
	}
	rs = run(t, b.Addr(),
		map[string]any{"op": "produce", "topic": topic, "acks": -1, "records": recs},
		map[string]any{"op": "fetchTopicOffsets", "topic": topic},
		map[string]any{"op": "fetchTopicOffsetsByTimestamp", "topic": topic, "timestamp": base.Add(1500 * time.Millisecond).UnixMilli()},
		map[string]any{"op": "createPartitions", "topicPartitions": []map[string]any{{"topic": topic, "count": 4}}},
		map[string]any{"op": "createPartitions", "topicPartitions": []map[string]any{{"topic": topic, "count": 3}}},
		map[string]any{"op": "fetchTopicMetadata", "topics": []string{topic}},
	)
	ok(t, "send", rs[0], nil)
	var offs []struct {
		Partition int32  `json:"partition"`
		Offset    string `json:"offset"`
		High      string `json:"high"`
		Low       string `json:"low"`
	}
	ok(t, "fetchTopicOffsets", rs[1], &offs)
	if got := fmt.Sprint(offs); got != "[{0 0 0 0} {1 4 4 0}]" {
		t.Errorf("fetchTopicOffsets: %s, want [{0 0 0 0} {1 4 4 0}] (partition offset high low)", got)
	}
	t.Run("fetchTopicOffsetsByTimestamp", func(t *testing.T) {
		var offs []struct {
			Partition int32  `json:"partition"`
			Offset    string `json:"offset"`
		}
		ok(t, "fetchTopicOffsetsByTimestamp", rs[2], &offs)
		// Partition 0 is empty: no offset at or after the time, which
		// kafkajs reports as the end offset (0); partition 1: offset 2
		// (base+2s), the third record of the one batch kafkajs sent.
		if got := fmt.Sprint(offs); got != "[{0 0} {1 2}]" {
			t.Errorf("fetchTopicOffsetsByTimestamp: %s, want [{0 0} {1 2}]", got)
		}
	})
	ok(t, "createPartitions to 4", rs[3], nil)
	wantError(t, "createPartitions to 3 of 4", rs[4], "INVALID_PARTITIONS")
	ok(t, "fetchTopicMetadata", rs[5], &md)
	if len(md.Topics) != 1 || len(md.Topics[0].Partitions) != 4 {
		t.Errorf("after createPartitions: %+v, want 4 partitions", md)
	}

	t.Run("describeConfigs", func(t *testing.T) {
		rs := run(t, b.Addr(), map[string]any{"op": "describeConfigs", "topic": topic})
		var dc struct {
			Resources []struct {
				ErrorCode     int16 `json:"errorCode"`
				ConfigEntries []struct {
					ConfigName  string `json:"configName"`
					ConfigValue string `json:"configValue"`
				} `json:"configEntries"`
			} `json:"resources"`
		}
		ok(t, "describeConfigs", rs[0], &dc)
		found := false
		for _, r := range dc.Resources {
			for _, e := range r.ConfigEntries {
				if e.ConfigName == "retention.ms" {
					found = e.ConfigValue == "3600000"
				}
			}
		}
		if !found {
			t.Errorf("describeConfigs: %+v, want retention.ms=3600000", dc)
		}
	})

	rs = run(t, b.Addr(),
		map[string]any{"op": "deleteTopics", "topics": []string{topic, other}},
		map[string]any{"op": "deleteTopics", "topics": []string{topic}},
		map[string]any{"op": "listTopics"},
	)
	ok(t, "deleteTopics", rs[0], nil)
	wantError(t, "delete a deleted topic", rs[1], "UNKNOWN_TOPIC_OR_PARTITION")
	ok(t, "listTopics", rs[2], &names)
	if len(names) != 0 {
		t.Errorf("after delete: %v, want no topics", names)
	}
}
