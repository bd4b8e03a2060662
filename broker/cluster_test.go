package broker

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestDescribeCluster(t *testing.T) {
	b := testBroker(t)
	cl := newClient(t, b)
	req := kmsg.NewPtrDescribeClusterRequest()
	req.IncludeClusterAuthorizedOperations = true
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	host, port := splitAddr(t, b.addr())
	if resp.ErrorCode != 0 || resp.ClusterID != b.ClusterID() || resp.ControllerID != b.NodeID() || len(resp.Brokers) != 1 ||
		resp.Brokers[0].Host != host || resp.Brokers[0].Port != port || resp.ClusterAuthorizedOperations == -2147483648 {
		t.Fatalf("describe cluster: %+v", resp)
	}
	req.EndpointType = 2
	if resp, err = req.RequestWith(ctxT(t), cl); err != nil || resp.ErrorCode != kerr.MismatchedEndpointType.Code {
		t.Fatalf("controllers endpoint: %v %+v", err, resp)
	}
	// kadm reads the same through Metadata.
	adm := kadm.NewClient(cl)
	m, err := adm.BrokerMetadata(ctxT(t))
	if err != nil || m.Cluster != b.ClusterID() || m.Controller != b.NodeID() {
		t.Fatalf("kadm metadata: %v %+v", err, m)
	}
}

func splitAddr(t *testing.T, addr string) (string, int32) {
	t.Helper()
	var host string
	var port int32
	i := len(addr) - 1
	for addr[i] != ':' {
		i--
	}
	host = addr[:i]
	fmt.Sscan(addr[i+1:], &port)
	return host, port
}

func TestDescribeLogDirs(t *testing.T) {
	b := testBroker(t)
	ctx := ctxT(t)
	createTopic(t, b, "sized", 2, nil)
	createTopic(t, b, "other", 1, nil)
	cl := newClient(t, b, kgo.DefaultProduceTopic("sized"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := 0; i < 20; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: noise(1000)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	all, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	dirs := all[b.NodeID()]
	want, _ := filepath.Abs(b.logDirs[0])
	d, ok := dirs[want]
	if len(dirs) != 1 || !ok || d.Err != nil || d.TotalBytes <= 0 || d.UsableBytes <= 0 || d.UsableBytes > d.TotalBytes {
		t.Fatalf("log dirs %+v, want %s", dirs, want)
	}
	if len(d.Topics["sized"]) != 2 || len(d.Topics["other"]) != 1 {
		t.Fatalf("topics in %s: %v", want, d.Topics)
	}
	if b.topic("sized").partition(0).log.Dir() != "" {
		// Real sizes: 20 kB went to partition 0, nothing to partition 1.
		if s0, s1 := d.Topics["sized"][0].Size, d.Topics["sized"][1].Size; s0 < 20_000 || s0 <= s1 {
			t.Fatalf("sizes %d and %d", s0, s1)
		}
	} else {
		t.Log("in-memory logstore stand-in: sizes are not checked")
	}
	// Asking for one topic lists only it.
	some, err := adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{"other": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if ts := some[b.NodeID()][want].Topics; len(ts) != 1 || len(ts["other"]) != 1 {
		t.Fatalf("filtered: %v", ts)
	}
}

func TestDescribeTopicPartitionsPages(t *testing.T) {
	b := testBroker(t)
	createTopic(t, b, "a-five", 5, nil)
	createTopic(t, b, "b-two", 2, nil)
	cl := newClient(t, b)
	var got []string
	var cursor *kmsg.DescribeTopicPartitionsRequestCursor
	pages := 0
	for {
		req := kmsg.NewPtrDescribeTopicPartitionsRequest()
		req.ResponsePartitionLimit = 3
		req.Cursor = cursor
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, tp := range resp.Topics {
			if tp.ErrorCode != 0 || tp.TopicID == [16]byte{} {
				t.Fatalf("topic %+v", tp)
			}
			for _, p := range tp.Partitions {
				if p.LeaderID != b.NodeID() || len(p.ISR) != 1 {
					t.Fatalf("partition %+v", p)
				}
				got = append(got, fmt.Sprintf("%s/%d", *tp.Topic, p.Partition))
			}
		}
		if resp.NextCursor == nil {
			break
		}
		cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: resp.NextCursor.Topic, Partition: resp.NextCursor.Partition}
		if pages > 5 {
			t.Fatalf("no end of pages: %v", got)
		}
	}
	want := "[a-five/0 a-five/1 a-five/2 a-five/3 a-five/4 b-two/0 b-two/1]"
	if fmt.Sprint(got) != want || pages != 3 {
		t.Fatalf("%d pages: %v, want %s", pages, got, want)
	}

	req := kmsg.NewPtrDescribeTopicPartitionsRequest()
	for _, n := range []string{"b-two", "missing"} {
		rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
		rt.Topic = n
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 2 || len(resp.Topics[0].Partitions) != 2 || resp.Topics[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("named topics: %+v", resp.Topics)
	}
}

func TestDescribeProducers(t *testing.T) {
	b := testBroker(t)
	ctx := ctxT(t)
	createTopic(t, b, "idem", 1, nil)
	cl := newClient(t, b, kgo.DefaultProduceTopic("idem"))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}, &kgo.Record{Value: []byte("y")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	ps, err := adm.DescribeProducers(ctx, kadm.TopicsSet{"idem": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	// kadm routes by leader; a missing topic is asked directly.
	req := kmsg.NewPtrDescribeProducersRequest()
	rt := kmsg.NewDescribeProducersRequestTopic()
	rt.Topic, rt.Partitions = "missing", []int32{0}
	req.Topics = append(req.Topics, rt)
	resp := request[*kmsg.DescribeProducersResponse](t, b, req)
	if resp.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("missing topic: %+v", resp.Topics)
	}
	p := ps["idem"].Partitions[0]
	if p.Err != nil {
		t.Fatal(p.Err)
	}
	if b.topic("idem").partition(0).log.Dir() == "" {
		t.Log("in-memory logstore stand-in keeps no producer state: producers are not checked")
		return
	}
	if len(p.ActiveProducers) != 1 {
		t.Fatalf("producers: %+v", p.ActiveProducers)
	}
	for _, ap := range p.ActiveProducers {
		if ap.ProducerID < 0 || ap.LastSequence != 1 || ap.CurrentTxnStartOffset != -1 {
			t.Fatalf("producer %+v", ap)
		}
	}
}

func TestListConfigResources(t *testing.T) {
	b := testBroker(t)
	createTopic(t, b, "listed", 1, nil)
	adm := kadm.NewClient(newClient(t, b))
	rs, err := adm.ListConfigResources(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rs.Resources {
		seen[fmt.Sprintf("%d:%s", r.Type, r.Name)] = true
	}
	id := fmt.Sprint(b.NodeID())
	for _, w := range []string{"2:listed", "4:" + id, "8:" + id} {
		if !seen[w] {
			t.Errorf("missing %s in %v", w, seen)
		}
	}
	rs, err = adm.ListConfigResources(ctxT(t), kadm.ConfigResourceType(kmsg.ConfigResourceTypeTopic))
	if err != nil || len(rs.Resources) != 1 {
		t.Fatalf("topics only: %v %v", err, rs)
	}
}

func TestElectLeadersAndReassignments(t *testing.T) {
	b := testBroker(t)
	ctx := ctxT(t)
	createTopic(t, b, "led", 2, nil)
	adm := kadm.NewClient(newClient(t, b))
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"led": {0: {}, 1: {}}, "missing": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := res["led"][0]; !errors.Is(r.Err, kerr.ElectionNotNeeded) {
		t.Errorf("preferred election of a led partition: %v", r.Err)
	}
	if r := res["missing"][0]; !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("missing partition: %v", r.Err)
	}
	// All partitions: only those whose leader changed are reported.
	if res, err = adm.ElectLeaders(ctx, kadm.ElectLiveReplica, nil); err != nil || len(res) != 0 {
		t.Errorf("unclean election of everything: %v %v", err, res)
	}

	var req kadm.AlterPartitionAssignmentsReq
	req.Assign("led", 0, []int32{b.NodeID()})
	req.Assign("led", 1, []int32{b.NodeID(), 99})
	req.CancelAssign("led", 0)
	ar, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if r := ar["led"][0]; !errors.Is(r.Err, kerr.NoReassignmentInProgress) {
		t.Errorf("cancel: %v", r.Err)
	}
	if r := ar["led"][1]; !errors.Is(r.Err, kerr.InvalidReplicaAssignment) {
		t.Errorf("to an unknown broker: %v", r.Err)
	}
	req = nil
	req.Assign("led", 0, []int32{b.NodeID()})
	if ar, err = adm.AlterPartitionAssignments(ctx, req); err != nil || ar["led"][0].Err != nil {
		t.Fatalf("reassign to the current replicas: %v %+v", err, ar)
	}
	lr, err := adm.ListPartitionReassignments(ctx, nil)
	if err != nil || len(lr) != 0 {
		t.Fatalf("ongoing reassignments: %v %v", err, lr)
	}
}

func TestUpdateFeatures(t *testing.T) {
	b, err := New(Options{Settings: map[string]string{"log.dirs": t.TempDir(), "listeners": "PLAINTEXT://127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	b.ops.features["test.version"] = featureRange{0, 3}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Shutdown(context.Background()) })
	ctx := ctxT(t)
	adm := kadm.NewClient(newClient(t, b))

	up, err := adm.UpdateFeatures(ctx, false, kadm.FeatureUpdate{Feature: "transaction.version", MaxVersionLevel: 2, UpgradeType: 1})
	if err != nil || !errors.Is(up["transaction.version"].Err, kerr.InvalidUpdateVersion) {
		t.Fatalf("transactions v2 on a broker without them: %v %+v", err, up)
	}
	up, err = adm.UpdateFeatures(ctx, false, kadm.FeatureUpdate{Feature: "test.version", MaxVersionLevel: 2, UpgradeType: 1})
	if err != nil || up["test.version"].Err != nil {
		t.Fatalf("supported level: %v %+v", err, up)
	}
	finalized := func() map[string]int16 {
		vs, err := adm.ApiVersions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int16{}
		for _, v := range vs {
			for _, f := range v.Raw().FinalizedFeatures {
				out[f.Name] = f.MaxVersionLevel
			}
			if len(v.Raw().SupportedFeatures) != 3 {
				t.Errorf("supported features: %+v", v.Raw().SupportedFeatures)
			}
		}
		return out
	}
	if f := finalized(); f["test.version"] != 2 {
		t.Fatalf("finalized after upgrade: %v", f)
	}
	up, _ = adm.UpdateFeatures(ctx, false, kadm.FeatureUpdate{Feature: "test.version", MaxVersionLevel: 1, UpgradeType: 1})
	if !errors.Is(up["test.version"].Err, kerr.InvalidUpdateVersion) {
		t.Fatalf("downgrade without permission: %+v", up)
	}
	up, _ = adm.UpdateFeatures(ctx, false, kadm.FeatureUpdate{Feature: "test.version", MaxVersionLevel: 0, UpgradeType: 2})
	if up["test.version"].Err != nil {
		t.Fatalf("removal: %+v", up)
	}
	if f := finalized(); len(f) != 1 || f["group.version"] != 1 {
		t.Fatalf("finalized after removal: %v, want only group.version=1 (set when the cluster was formatted)", f)
	}

	// Turning group.version off disables KIP-848 heartbeats.
	up, _ = adm.UpdateFeatures(ctx, false, kadm.FeatureUpdate{Feature: "group.version", MaxVersionLevel: 0, UpgradeType: 2})
	if up["group.version"].Err != nil {
		t.Fatalf("disabling group.version: %+v", up)
	}
	hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	hb.Group, hb.MemberID, hb.MemberEpoch = "g", "m-1", 0
	hb.RebalanceTimeoutMillis = 10000
	hb.SubscribedTopicNames = []string{"t"}
	resp := request[*kmsg.ConsumerGroupHeartbeatResponse](t, b, hb)
	if resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("heartbeat with group.version 0: %d", resp.ErrorCode)
	}
}
