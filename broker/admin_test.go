package broker

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

func TestTopicAdmin(t *testing.T) {
	b := testBroker(t)
	adm := kadm.NewClient(newClient(t, b))
	ctx := ctxT(t)

	compact := "compact"
	res, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"cleanup.policy": &compact}, "orders")
	if err != nil || res.Err != nil || res.NumPartitions != 3 || res.ID == [16]byte{} {
		t.Fatalf("create: %v %+v", err, res)
	}
	if res, _ := adm.CreateTopic(ctx, 1, 1, nil, "orders"); !errors.Is(res.Err, kerr.TopicAlreadyExists) {
		t.Fatalf("duplicate create: %v", res.Err)
	}
	if res, _ := adm.CreateTopic(ctx, 1, 1, nil, "orders_"); res.Err != nil {
		t.Fatalf("orders_: %v", res.Err)
	}
	for name, want := range map[string]error{
		"bad/name": kerr.InvalidTopicException, "orders.": kerr.InvalidTopicException,
	} {
		if res, _ := adm.CreateTopic(ctx, 1, 1, nil, name); !errors.Is(res.Err, want) {
			t.Errorf("%s: %v, want %v", name, res.Err, want)
		}
	}
	if res, _ := adm.CreateTopic(ctx, 0, 1, nil, "zero"); !errors.Is(res.Err, kerr.InvalidPartitions) {
		t.Errorf("zero partitions: %v", res.Err)
	}
	if res, _ := adm.CreateTopic(ctx, 1, 3, nil, "rf3"); !errors.Is(res.Err, kerr.InvalidReplicationFactor) {
		t.Errorf("rf 3 on one broker: %v", res.Err)
	}
	bogus := "x"
	if res, _ := adm.CreateTopic(ctx, 1, 1, map[string]*string{"no.such.config": &bogus}, "cfg"); !errors.Is(res.Err, kerr.InvalidConfig) {
		t.Errorf("unknown config: %v", res.Err)
	}
	if res, _ := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": &bogus}, "cfg"); !errors.Is(res.Err, kerr.InvalidConfig) {
		t.Errorf("bad config value: %v", res.Err)
	}
	if res, _ := adm.ValidateCreateTopics(ctx, 2, 1, nil, "validated"); res.Error() != nil {
		t.Errorf("validate only: %v", res.Error())
	}
	if td, _ := adm.ListTopics(ctx); td.Has("validated") || !td.Has("orders") || len(td["orders"].Partitions) != 3 {
		t.Fatalf("topics after validate-only: %v", td.Names())
	}

	// Defaults (-1) use num.partitions.
	if res, err := adm.CreateTopic(ctx, -1, -1, nil, "defaults"); err != nil || res.NumPartitions != 1 || res.ReplicationFactor != 1 {
		t.Fatalf("defaults: %v %+v", err, res)
	}

	cp, err := adm.CreatePartitions(ctx, 2, "orders")
	if err != nil || cp["orders"].Err != nil {
		t.Fatalf("create partitions: %v %v", err, cp["orders"].Err)
	}
	if cp, _ := adm.UpdatePartitions(ctx, 2, "orders"); !errors.Is(cp["orders"].Err, kerr.InvalidPartitions) {
		t.Fatalf("shrink partitions: %v", cp["orders"].Err)
	}
	td, _ := adm.ListTopics(ctx, "orders")
	if len(td["orders"].Partitions) != 5 {
		t.Fatalf("partitions after adding 2: %d", len(td["orders"].Partitions))
	}

	// Produce to a new partition works at once.
	p := newClient(t, b, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := p.ProduceSync(ctx, &kgo.Record{Topic: "orders", Partition: 4, Key: []byte("k")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	dr, err := adm.DeleteTopics(ctx, "orders", "nope")
	if err != nil || dr["orders"].Err != nil || !errors.Is(dr["nope"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("delete: %v %+v", err, dr)
	}
	// A fresh client: kgo answers metadata requests from a cache younger
	// than MetadataMinAge.
	adm = kadm.NewClient(newClient(t, b))
	if td, _ := adm.ListTopics(ctx); td.Has("orders") {
		t.Fatal("deleted topic still listed")
	}
	// Recreated: new id, empty.
	res2, _ := adm.CreateTopic(ctx, 1, 1, nil, "orders")
	if res2.ID == res.ID {
		t.Fatal("recreated topic kept its id")
	}
	offs, _ := adm.ListEndOffsets(ctx, "orders")
	if o, _ := offs.Lookup("orders", 0); o.Offset != 0 {
		t.Fatalf("recreated topic has end offset %d", o.Offset)
	}
}

func TestDeleteRecords(t *testing.T) {
	b := testBroker(t)
	createTopic(t, b, "dr", 1, nil)
	p := newClient(t, b, kgo.DefaultProduceTopic("dr"))
	for i := 0; i < 10; i++ {
		if err := p.ProduceSync(ctxT(t), &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(newClient(t, b))
	o := kadm.Offsets{}
	o.Add(kadm.Offset{Topic: "dr", Partition: 0, At: 4})
	res, err := adm.DeleteRecords(ctxT(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := res.Lookup("dr", 0); r.Err != nil || r.LowWatermark != 4 {
		t.Fatalf("delete records: %+v", r)
	}
	start, _ := adm.ListStartOffsets(ctxT(t), "dr")
	if s, _ := start.Lookup("dr", 0); s.Offset != 4 {
		t.Fatalf("start offset %d", s.Offset)
	}
	o = kadm.Offsets{}
	o.Add(kadm.Offset{Topic: "dr", Partition: 0, At: 11})
	res, _ = adm.DeleteRecords(ctxT(t), o)
	if r, _ := res.Lookup("dr", 0); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
		t.Fatalf("delete past the high watermark: %+v", r)
	}
	recs := consume(t, b, "dr", 6)
	if recs[0].Offset != 4 {
		t.Fatalf("first record after DeleteRecords at %d", recs[0].Offset)
	}
}

func TestAutoCreate(t *testing.T) {
	b := testBroker(t, "num.partitions=4")
	p := newClient(t, b, kgo.AllowAutoTopicCreation())
	if err := p.ProduceSync(ctxT(t), &kgo.Record{Topic: "auto", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	td, _ := kadm.NewClient(newClient(t, b)).ListTopics(ctxT(t), "auto")
	if len(td["auto"].Partitions) != 4 {
		t.Fatalf("auto-created with %d partitions", len(td["auto"].Partitions))
	}

	off := testBroker(t, "auto.create.topics.enable=false")
	md, err := kadm.NewClient(newClient(t, off)).Metadata(ctxT(t), "nope")
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(md.Topics["nope"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("unknown topic with auto-create off: %v", md.Topics["nope"].Err)
	}
}

// TestCreateTopicsDefaultsBeforeV4 sends -1 partitions and replication
// factor at CreateTopics v3, as kafkajs does; Kafka's controller takes the
// broker defaults at any version.
func TestCreateTopicsDefaultsBeforeV4(t *testing.T) {
	b := testBroker(t)
	// kgo sends the highest version both sides support; pin v3.
	versions := kversion.Stable()
	versions.SetMaxKeyVersion(19, 3)
	cl := newClient(t, b, kgo.MaxVersions(versions))
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 5000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "v3-defaults", -1, -1
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].ErrorCode; code != 0 {
		t.Fatalf("CreateTopics v3 with -1/-1: %v", kerr.ErrorForCode(code))
	}
	td, err := kadm.NewClient(cl).ListTopics(ctxT(t), "v3-defaults")
	if err != nil || len(td["v3-defaults"].Partitions) != 1 {
		t.Fatalf("created topic: %v %+v", err, td["v3-defaults"])
	}
}
