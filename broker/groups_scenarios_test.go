package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// clientAt returns a client that speaks the given APIs at most at the
// given versions (key → version), as older clients do.
func clientAt(t testing.TB, b *Broker, max map[int16]int16, opts ...kgo.Opt) *kgo.Client {
	vs := kversion.Stable()
	for k, v := range max {
		vs.SetMaxKeyVersion(k, v)
	}
	return newClient(t, b, append([]kgo.Opt{kgo.MaxVersions(vs)}, opts...)...)
}

func produceN(t testing.TB, b *Broker, topic string, n int) {
	t.Helper()
	cl := newClient(t, b, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	var rs []*kgo.Record
	for i := 0; i < n; i++ {
		rs = append(rs, &kgo.Record{Value: []byte(strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(ctxT(t), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func committed(t testing.TB, b *Broker, group string) map[int32]int64 {
	t.Helper()
	adm := kadm.NewClient(newClient(t, b))
	os, err := adm.FetchOffsets(ctxT(t), group)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	os.Each(func(o kadm.OffsetResponse) {
		if o.Err != nil {
			t.Fatalf("%s/%d: %v", o.Topic, o.Partition, o.Err)
		}
		out[o.Partition] = o.At
	})
	return out
}

// A static member (group.instance.id) that restarts within its session
// timeout gets its partitions back without a rebalance; one that does not
// come back is evicted when its session expires.
func TestGroupStaticMemberRestart(t *testing.T) {
	b := groupBroker(t)
	createTopic(t, b, "static", 4, nil)
	l := newLedger()
	start := func(name, instance string) *member {
		return startMember(t, b, l, name, "static-group", "static", true,
			kgo.Balancers(kgo.RangeBalancer()), kgo.InstanceID(instance))
	}
	a, c := start("a", "i-a"), start("c", "i-c")
	members := []*member{a, c}
	eventually(t, 20*time.Second, "two static members own everything", func() error { return l.covers(4, members) })
	before, handed := a.ownedNow(), a.assignedEver()

	// c stops (a static member does not leave) and comes back as a new
	// client with the same instance id.
	c.stop()
	c2 := start("c2", "i-c")
	members = []*member{a, c2}
	eventually(t, 20*time.Second, "the restarted member gets its partitions back", func() error { return l.covers(4, members) })
	if got := a.ownedNow(); fmt.Sprint(got) != fmt.Sprint(before) || a.assignedEver() != handed {
		t.Fatalf("a's partitions moved from %v to %v (%d handed since)", before, got, a.assignedEver()-handed)
	}
	gs, err := kadm.NewClient(newClient(t, b)).DescribeGroups(ctxT(t), "static-group")
	if err != nil || gs["static-group"].State != "Stable" || len(gs["static-group"].Members) != 2 {
		t.Fatalf("group after the restart: %+v %v", gs["static-group"], err)
	}

	// c2 goes away for good: after its 3s session the group rebalances and
	// a takes everything.
	c2.stop()
	members = []*member{a}
	eventually(t, 20*time.Second, "the static member to be evicted", func() error { return l.covers(4, members) })
	a.stop()
}

// A dynamic member killed without leaving is evicted after its session
// timeout and its partitions move to the others. The killed member is a
// raw client that joins, syncs and then stops heartbeating.
func TestGroupDynamicMemberKilledIsEvicted(t *testing.T) {
	b := groupBroker(t)
	createTopic(t, b, "evict", 4, nil)
	l := newLedger()
	a := startMember(t, b, l, "a", "evict-group", "evict", true, kgo.Balancers(kgo.RangeBalancer()))
	eventually(t, 20*time.Second, "a to own everything", func() error { return l.covers(4, []*member{a}) })

	cl := newClient(t, b)
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{"evict"}
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis, join.ProtocolType = "evict-group", 1000, 5000, "consumer"
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", meta.AppendTo(nil)
	join.Protocols = []kmsg.JoinGroupRequestProtocol{p}
	var jr *kmsg.JoinGroupResponse
	for {
		resp, err := join.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode == kerr.MemberIDRequired.Code {
			join.MemberID = resp.MemberID
			continue
		}
		if resp.ErrorCode != 0 {
			t.Fatalf("join: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		jr = resp
		break
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID, sync.Generation = "evict-group", jr.MemberID, jr.Generation
	sr, err := sync.RequestWith(ctxT(t), cl)
	if err != nil || sr.ErrorCode != 0 {
		t.Fatalf("sync: %v %v", err, kerr.ErrorForCode(sr.ErrorCode))
	}
	var assigned kmsg.ConsumerMemberAssignment
	if err := assigned.ReadFrom(sr.MemberAssignment); err != nil || len(assigned.Topics) != 1 || len(assigned.Topics[0].Partitions) != 2 {
		t.Fatalf("the raw member's assignment: %+v %v", assigned, err)
	}
	eventually(t, 10*time.Second, "a to hold the other half", func() error {
		if n := len(a.ownedNow()); n != 2 {
			return fmt.Errorf("a owns %d", n)
		}
		return nil
	})
	// No heartbeat from now on: after one second the member is evicted.
	eventually(t, 20*time.Second, "a to own everything again", func() error { return l.covers(4, []*member{a}) })
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = "evict-group", jr.MemberID, jr.Generation
	if resp, err := hb.RequestWith(ctxT(t), cl); err != nil || resp.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("the evicted member's heartbeat: %v %v", err, kerr.ErrorForCode(resp.ErrorCode))
	}
	a.stop()
}

// Manual commits: a consumer commits part of what it read; the next member
// of the group resumes there. Then "simple" commits (generation -1) from the
// admin client work on the empty group, and the group is deleted.
func TestGroupManualCommitsResume(t *testing.T) {
	b := groupBroker(t)
	createTopic(t, b, "manual", 2, nil)
	produceN(t, b, "manual", 100)
	c1 := newClient(t, b, kgo.ConsumerGroup("manual-group"), kgo.ConsumeTopics("manual"), kgo.DisableAutoCommit(), kgo.FetchMaxWait(100*time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.SessionTimeout(3*time.Second), kgo.HeartbeatInterval(100*time.Millisecond))
	var read []*kgo.Record
	for len(read) < 100 {
		fs := c1.PollFetches(ctxT(t))
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		read = append(read, fs.Records()...)
	}
	var firstHalf []*kgo.Record
	for _, r := range read {
		if r.Offset < 30 {
			firstHalf = append(firstHalf, r)
		}
	}
	if err := c1.CommitRecords(ctxT(t), firstHalf...); err != nil {
		t.Fatal(err)
	}
	c1.Close()
	if got := committed(t, b, "manual-group"); got[0] != 30 || got[1] != 30 {
		t.Fatalf("committed %v, want 30 on both partitions", got)
	}
	c2 := newClient(t, b, kgo.ConsumerGroup("manual-group"), kgo.ConsumeTopics("manual"), kgo.DisableAutoCommit(), kgo.FetchMaxWait(100*time.Millisecond),
		kgo.SessionTimeout(3*time.Second), kgo.HeartbeatInterval(100*time.Millisecond))
	fs := c2.PollFetches(ctxT(t))
	fs.EachRecord(func(r *kgo.Record) {
		if r.Offset < 30 {
			t.Errorf("resumed at %d/%d, below the commit", r.Partition, r.Offset)
		}
	})
	if len(fs.Records()) == 0 {
		t.Fatal("nothing read after resuming")
	}
	c2.Close()

	adm := kadm.NewClient(newClient(t, b))
	os := kadm.Offsets{}
	os.AddOffset("manual", 0, 77, -1)
	resp, err := adm.CommitOffsets(ctxT(t), "manual-group", os)
	if err != nil || resp.Error() != nil {
		t.Fatalf("simple commit: %v %v", err, resp.Error())
	}
	if got := committed(t, b, "manual-group"); got[0] != 77 {
		t.Fatalf("committed %v after the simple commit", got)
	}
	del, err := adm.DeleteGroups(ctxT(t), "manual-group")
	if err != nil || del.Error() != nil {
		t.Fatalf("delete group: %v %v", err, del.Error())
	}
	if got := committed(t, b, "manual-group"); len(got) != 0 {
		t.Fatalf("offsets left after deleting the group: %v", got)
	}
}

// Autocommit: what a consumer polled gets committed in the background.
func TestGroupAutocommit(t *testing.T) {
	b := groupBroker(t)
	createTopic(t, b, "auto", 3, nil)
	produceN(t, b, "auto", 90)
	cl := newClient(t, b, kgo.ConsumerGroup("auto-group"), kgo.ConsumeTopics("auto"), kgo.FetchMaxWait(100*time.Millisecond), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.AutoCommitInterval(100*time.Millisecond), kgo.HeartbeatInterval(100*time.Millisecond), kgo.SessionTimeout(3*time.Second))
	n := 0
	for n < 90 {
		fs := cl.PollFetches(ctxT(t))
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		n += len(fs.Records())
	}
	cl.PollFetches(func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}())
	eventually(t, 10*time.Second, "the autocommit", func() error {
		if got := committed(t, b, "auto-group"); got[0]+got[1]+got[2] != 90 {
			return fmt.Errorf("committed %v", got)
		}
		return nil
	})
	cl.Close()
}

// A restarted broker keeps the committed offsets and the group resumes from
// them. This needs partition logs that survive a restart: with the
// in-memory stand-in for logstore it is skipped.
func TestGroupOffsetsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, dir, groupSettings...)
	createTopic(t, b, "durable", 2, nil)
	produceN(t, b, "durable", 40)
	adm := kadm.NewClient(newClient(t, b))
	os := kadm.Offsets{}
	os.AddOffset("durable", 0, 15, -1)
	os.AddOffset("durable", 1, 16, -1)
	if resp, err := adm.CommitOffsets(ctxT(t), "durable-group", os); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	b2 := startBroker(t, dir, groupSettings...)
	if ends := endOffsets(t, b2, "durable"); ends[0]+ends[1] == 0 {
		t.Skip("partition logs do not survive a restart yet (logstore is the in-memory stand-in)")
	}
	if got := committed(t, b2, "durable-group"); got[0] != 15 || got[1] != 16 {
		t.Fatalf("offsets after the restart: %v", got)
	}
	cl := newClient(t, b2, kgo.ConsumerGroup("durable-group"), kgo.ConsumeTopics("durable"), kgo.FetchMaxWait(100*time.Millisecond), kgo.HeartbeatInterval(100*time.Millisecond))
	fs := cl.PollFetches(ctxT(t))
	fs.EachRecord(func(r *kgo.Record) {
		if r.Partition == 0 && r.Offset < 15 || r.Partition == 1 && r.Offset < 16 {
			t.Errorf("resumed at %d/%d", r.Partition, r.Offset)
		}
	})
}

// Fifty groups rebalancing at once, half classic and half KIP-848: each
// settles, and the data path keeps working meanwhile.
func TestFiftyGroupsRebalancing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 100 clients")
	}
	b := groupBroker(t)
	createTopic(t, b, "many", 4, nil)
	const groups = 50
	type grp struct {
		l       *ledger
		members []*member
	}
	gs := make([]*grp, groups)
	var wg sync.WaitGroup
	for i := range gs {
		g := &grp{l: newLedger()}
		gs[i] = g
		opts := []kgo.Opt{kgo.Balancers(kgo.RangeBalancer())}
		if i%2 == 1 {
			opts = append(opts, kgo.ServerSideBalancer())
		}
		g.members = make([]*member, 2)
		for j := range g.members {
			wg.Add(1)
			go func() {
				defer wg.Done()
				g.members[j] = startMember(t, b, g.l, fmt.Sprintf("g%d-m%d", i, j), fmt.Sprintf("many-%d", i), "many", false, opts...)
			}()
		}
	}
	wg.Wait()
	// Produce while the groups form: each produce must be quick.
	p := newClient(t, b, kgo.DefaultProduceTopic("many"))
	for i := 0; i < 20; i++ {
		start := time.Now()
		if err := p.ProduceSync(ctxT(t), &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("a produce took %v while groups rebalance", d)
		}
	}
	for i, g := range gs {
		eventually(t, 60*time.Second, fmt.Sprintf("group %d to settle", i), func() error { return g.l.covers(4, g.members) })
	}
	// Every group loses a member at once.
	for _, g := range gs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.members[0].stop()
		}()
	}
	wg.Wait()
	for i, g := range gs {
		eventually(t, 60*time.Second, fmt.Sprintf("group %d to settle again", i), func() error { return g.l.covers(4, g.members[1:]) })
	}
	for _, g := range gs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.members[1].stop()
		}()
	}
	wg.Wait()
}

// Deleting a topic drops the offsets groups committed for it, so that a
// topic created again under the same name does not inherit them (kfake
// TestDeleteTopicDropsGroupCommits).
func TestDeleteTopicDropsGroupCommits(t *testing.T) {
	b := groupBroker(t)
	createTopic(t, b, "doomed", 1, nil)
	createTopic(t, b, "kept", 1, nil)
	adm := kadm.NewClient(newClient(t, b))
	os := kadm.Offsets{}
	os.AddOffset("doomed", 0, 5, -1)
	os.AddOffset("kept", 0, 6, -1)
	if resp, err := adm.CommitOffsets(ctxT(t), "dtg", os); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	if resp, err := adm.DeleteTopics(ctxT(t), "doomed"); err != nil || resp.Error() != nil {
		t.Fatalf("delete: %v %v", err, resp.Error())
	}
	createTopic(t, b, "doomed", 1, nil)
	got, err := adm.FetchOffsets(ctxT(t), "dtg")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Lookup("doomed", 0); ok {
		t.Fatalf("the recreated topic inherited an offset: %+v", got)
	}
	if o, ok := got.Lookup("kept", 0); !ok || o.At != 6 {
		t.Fatalf("the other topic's offset: %+v", o)
	}
}

// FindCoordinator answers with this node on the listener the request came
// in on, for every version and batched keys; transactional ids wait for
// the transaction coordinator.
func TestFindCoordinator(t *testing.T) {
	b := groupBroker(t, "listeners=PLAINTEXT://127.0.0.1:0,OTHER://127.0.0.1:0",
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT")
	for _, listener := range []string{"PLAINTEXT", "OTHER"} {
		addr := b.Addr(listener).String()
		_, port, _ := net.SplitHostPort(addr)
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		for _, v := range []int16{0, 1, 3} {
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.Version, req.CoordinatorKey = v, "some-group"
			resp, err := req.RequestWith(ctxT(t), cl)
			if err != nil {
				t.Fatal(err)
			}
			// kgo may have sent a newer version; check what came back.
			if resp.Version >= 4 {
				continue
			}
			if resp.ErrorCode != 0 || strconv.Itoa(int(resp.Port)) != port || resp.NodeID != b.NodeID() {
				t.Fatalf("%s v%d: %+v", listener, v, resp)
			}
		}
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKeys = []string{"a", "b"}
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Coordinators) != 2 {
			t.Fatalf("batched: %+v", resp)
		}
		for _, c := range resp.Coordinators {
			if c.ErrorCode != 0 || strconv.Itoa(int(c.Port)) != port {
				t.Fatalf("%s batched key %s: %+v", listener, c.Key, c)
			}
		}
		txn := kmsg.NewPtrFindCoordinatorRequest()
		txn.CoordinatorType, txn.CoordinatorKeys = 1, []string{"tx"}
		resp, err = txn.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		if c := resp.Coordinators[0]; c.ErrorCode != 0 || c.NodeID != b.NodeID() {
			t.Fatalf("transactional id: %+v", c)
		}
	}
}

// The classic APIs at the old versions kafka-go and librdkafka use:
// JoinGroup v1 gets no MEMBER_ID_REQUIRED (KIP-394 is v4+), OffsetFetch v1
// reports per partition.
func TestGroupOldVersions(t *testing.T) {
	b := groupBroker(t)
	createTopic(t, b, "old", 1, nil)
	cl := clientAt(t, b, map[int16]int16{8: 2, 9: 1, 11: 1, 12: 0, 13: 0, 14: 0})
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis, join.ProtocolType = "old-group", 3000, 3000, "consumer"
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name = "range"
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{"old"}
	p.Metadata = meta.AppendTo(nil)
	join.Protocols = append(join.Protocols, p)
	jr, err := join.RequestWith(ctxT(t), cl)
	if err != nil || jr.Version != 1 || jr.ErrorCode != 0 || jr.MemberID == "" || jr.Generation != 1 {
		t.Fatalf("JoinGroup v1: %+v %v", jr, err)
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID, sync.Generation = "old-group", jr.MemberID, jr.Generation
	sr, err := sync.RequestWith(ctxT(t), cl)
	if err != nil || sr.ErrorCode != 0 {
		t.Fatalf("SyncGroup v0: %+v %v", sr, err)
	}
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(sr.MemberAssignment); err != nil {
		t.Fatalf("the empty assignment does not parse: %v (%x)", err, sr.MemberAssignment)
	}
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.MemberID, commit.Generation = "old-group", jr.MemberID, jr.Generation
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = "old"
	cp := kmsg.NewOffsetCommitRequestTopicPartition()
	cp.Offset = 3
	ct.Partitions = append(ct.Partitions, cp)
	commit.Topics = append(commit.Topics, ct)
	if cr, err := commit.RequestWith(ctxT(t), cl); err != nil || cr.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("OffsetCommit v2: %+v %v", cr, err)
	}
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Group = "old-group"
	ft := kmsg.NewOffsetFetchRequestTopic()
	ft.Topic, ft.Partitions = "old", []int32{0}
	fetch.Topics = append(fetch.Topics, ft)
	fr, err := fetch.RequestWith(ctxT(t), cl)
	if err != nil || fr.Version != 1 || fr.Topics[0].Partitions[0].Offset != 3 {
		t.Fatalf("OffsetFetch v1: %+v %v", fr, err)
	}
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group, leave.MemberID = "old-group", jr.MemberID
	if lr, err := leave.RequestWith(ctxT(t), cl); err != nil || lr.ErrorCode != 0 {
		t.Fatalf("LeaveGroup v0: %+v %v", lr, err)
	}

	// JoinGroup v4+ without a member id: MEMBER_ID_REQUIRED with the id.
	cl4 := newClient(t, b)
	join.MemberID = ""
	jr, err = join.RequestWith(ctxT(t), cl4)
	if err != nil || !errors.Is(kerr.ErrorForCode(jr.ErrorCode), kerr.MemberIDRequired) || jr.MemberID == "" {
		t.Fatalf("JoinGroup v%d: %+v %v", jr.Version, jr, err)
	}
}

// KIP-848 with a regular expression subscription: the coordinator resolves
// it (RE2) against the topics, including one created later.
func TestGroupKIP848Regex(t *testing.T) {
	b := groupBroker(t)
	createTopic(t, b, "rx-a", 2, nil)
	createTopic(t, b, "rx-b", 1, nil)
	createTopic(t, b, "other", 1, nil)
	var mu sync.Mutex
	owned := map[string]int{}
	cl := newClient(t, b, kgo.ConsumerGroup("rx-group"), kgo.ConsumeTopics("rx-.*"), kgo.ConsumeRegex(),
		kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.ServerSideBalancer(), kgo.FetchMaxWait(100*time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			mu.Lock()
			defer mu.Unlock()
			for topic, ps := range a {
				owned[topic] += len(ps)
			}
		}))
	poll := func(want map[string]int) func() error {
		return func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			cl.PollFetches(ctx)
			cancel()
			mu.Lock()
			defer mu.Unlock()
			if fmt.Sprint(owned) != fmt.Sprint(want) {
				return fmt.Errorf("owned %v, want %v", owned, want)
			}
			return nil
		}
	}
	eventually(t, 20*time.Second, "the matching topics", poll(map[string]int{"rx-a": 2, "rx-b": 1}))
	if typ := groupType(t, b, "rx-group"); typ != "consumer" {
		t.Fatalf("group type %q", typ)
	}
	createTopic(t, b, "rx-c", 3, nil)
	eventually(t, 20*time.Second, "the new matching topic", poll(map[string]int{"rx-a": 2, "rx-b": 1, "rx-c": 3}))
	d := kmsg.NewPtrConsumerGroupDescribeRequest()
	d.Groups = []string{"rx-group"}
	resp, err := d.RequestWith(ctxT(t), newClient(t, b))
	if err != nil || len(resp.Groups) != 1 || len(resp.Groups[0].Members) != 1 {
		t.Fatalf("describe: %+v %v", resp, err)
	}
	// kgo sends its unanchored Go pattern wrapped for Kafka's whole-name
	// matching: .*(?:(?:rx-.*)).*
	if m := resp.Groups[0].Members[0]; m.SubscribedTopicRegex == nil || !strings.Contains(*m.SubscribedTopicRegex, "rx-.*") {
		t.Fatalf("the member's subscription: names %v, regex %q", m.SubscribedTopics, derefStr(m.SubscribedTopicRegex))
	}
}

// KIP-848 static members: a member that leaves with epoch -2 (a client
// with an instance id closing) keeps its partitions, and its next
// incarnation takes them without moving anyone else's.
func TestGroupKIP848StaticRestart(t *testing.T) {
	b := groupBroker(t, "group.consumer.session.timeout.ms=10000")
	createTopic(t, b, "s848", 4, nil)
	l := newLedger()
	opts := []kgo.Opt{kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.ServerSideBalancer()}
	a := startMember(t, b, l, "a", "s848-group", "s848", true, append(opts, kgo.InstanceID("ia"))...)
	c := startMember(t, b, l, "c", "s848-group", "s848", true, append(opts, kgo.InstanceID("ic"))...)
	eventually(t, 20*time.Second, "two members own everything", func() error { return l.covers(4, []*member{a, c}) })
	before, cBefore, handed := a.ownedNow(), c.ownedNow(), a.assignedEver()
	c.stop()
	c2 := startMember(t, b, l, "c2", "s848-group", "s848", true, append(opts, kgo.InstanceID("ic"))...)
	eventually(t, 20*time.Second, "the new incarnation to own its partitions", func() error { return l.covers(4, []*member{a, c2}) })
	if fmt.Sprint(a.ownedNow()) != fmt.Sprint(before) || fmt.Sprint(c2.ownedNow()) != fmt.Sprint(cBefore) {
		t.Fatalf("partitions moved: a %v → %v, c %v → %v", before, a.ownedNow(), cBefore, c2.ownedNow())
	}
	if n := a.assignedEver() - handed; n != 0 {
		t.Fatalf("a was handed %d partitions during the restart", n)
	}
	a.stop()
	c2.stop()
}

func derefStr(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
