package coordinator

import (
	"testing"
	"time"

	"github.com/potok-io/potok/records"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// seedRecords are one valid record of every type the coordinator writes.
func seedRecords() [][2][]byte {
	gv := kmsg.NewGroupMetadataValue()
	gv.Version, gv.ProtocolType, gv.Generation = 3, "consumer", 4
	gv.Protocol, gv.Leader = strPtr("range"), strPtr("m1")
	mv := kmsg.NewGroupMetadataValueMember()
	mv.MemberID, mv.SessionTimeoutMillis, mv.RebalanceTimeoutMillis = "m1", 10000, 20000
	mv.Subscription, mv.Assignment = []byte("s"), []byte("a")
	gv.Members = []kmsg.GroupMetadataValueMember{mv}
	tps := []topicParts{{id: [16]byte{1}, partitions: []int32{0, 2}, epochs: []int32{3, 4}}}
	return [][2][]byte{
		{offsetKey("g", "foo", 0), offsetValue(&offset{offset: 5, leaderEpoch: 1, metadata: "m", commitTime: 1, expire: -1})},
		{offsetKey("g", "foo", 1), offsetValue(&offset{offset: 6, leaderEpoch: -1, commitTime: 1, expire: 99})},
		{offsetKey("g", "foo", 1), nil},
		{groupKey("g"), gv.AppendTo(nil)},
		{groupKey("g"), nil},
		{consumerKey(recConsumerGroup, "c"), (&cgGroupValue{epoch: 3, metadataHash: 7}).encode()},
		{consumerKey(recConsumerMember, "c", "m"), (&cgMemberValue{clientID: "x", topics: []string{"foo"}, regex: strPtr("f.*"), rebalanceTimeout: 1}).encode()},
		{consumerKey(recConsumerTargetMeta, "c"), encodeTargetMeta(3)},
		{consumerKey(recConsumerTarget, "c", "m"), encodeTarget(tps)},
		{consumerKey(recConsumerCurrent, "c", "m"), (&cgCurrentValue{epoch: 3, prevEpoch: 2, state: 1, assigned: tps, revoking: tps}).encode()},
		{consumerKey(recConsumerCurrent, "c", "m"), (&cgCurrentValue{epoch: -2, prevEpoch: 3}).encode()},
		{consumerKey(recConsumerMember, "c", "m"), nil},
	}
}

// fuzzShard returns an active-to-be shard over a log that commits at once.
func fuzzShard(t testing.TB) (*Groups, *shard, *logicalClock) {
	clock := newLogicalClock()
	topics := newMemTopics()
	topics.set("foo", 3)
	cfg := DefaultConfig()
	cfg.OffsetsRetention, cfg.RetentionCheckInterval = time.Hour, 10*time.Minute
	c := New(Options{Config: cfg, Topics: topics, Clock: clock})
	s := newShard(c, 0, &memLog{})
	c.shards[0] = s
	return c, s, clock
}

// exercise runs the state machines over whatever was loaded: nothing a
// record can say may make them panic.
func exercise(c *Groups, s *shard, clock *logicalClock) {
	s.mu.Lock()
	s.finishLoadLocked()
	s.state = shardActive
	ids := sortedKeys(s.groups)
	s.mu.Unlock()
	ids = append(ids, "g", "c")
	for _, id := range ids {
		j := kmsg.NewPtrJoinGroupRequest()
		j.Version, j.Group, j.SessionTimeoutMillis, j.ProtocolType = 3, id, 10000, "consumer"
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name = "range"
		j.Protocols = append(j.Protocols, p)
		c.JoinGroup(Client{ID: "x"}, j, func(*kmsg.JoinGroupResponse) {})
		h := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		h.Group, h.MemberID, h.MemberEpoch = id, "m", 3
		c.ConsumerGroupHeartbeat(Client{}, h, func(*kmsg.ConsumerGroupHeartbeatResponse) {})
		h.MemberEpoch, h.RebalanceTimeoutMillis, h.SubscribedTopicNames = 0, 100, []string{"foo"}
		h.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		c.ConsumerGroupHeartbeat(Client{}, h, func(*kmsg.ConsumerGroupHeartbeatResponse) {})
		d := kmsg.NewPtrDescribeGroupsRequest()
		d.Groups = []string{id}
		c.DescribeGroups(d, func(*kmsg.DescribeGroupsResponse) {})
		cd := kmsg.NewPtrConsumerGroupDescribeRequest()
		cd.Groups = []string{id}
		c.ConsumerGroupDescribe(cd, func(*kmsg.ConsumerGroupDescribeResponse) {})
		f := kmsg.NewPtrOffsetFetchRequest()
		f.Version, f.Group, f.RequireStable = 7, id, true
		c.OffsetFetch(f, func(*kmsg.OffsetFetchResponse) {})
	}
	c.ListGroups(kmsg.NewPtrListGroupsRequest(), func(*kmsg.ListGroupsResponse) {})
	clock.Advance(3 * time.Hour)
	c.Close()
}

// FuzzReplayRecord feeds arbitrary keys and values to replay: a corrupt
// record never panics the coordinator, when loading or afterwards.
func FuzzReplayRecord(f *testing.F) {
	for _, kv := range seedRecords() {
		f.Add(kv[0], kv[1], false, int64(-1))
	}
	f.Add([]byte{0, 8, 0, 1, 'c', 0, 1, 'm'}, []byte{0, 0, 0, 0, 0, 3, 0, 0, 0, 2, 1, 0x7f}, true, int64(4))
	f.Fuzz(func(t *testing.T, key, value []byte, nullValue bool, txn int64) {
		c, s, clock := fuzzShard(t)
		if nullValue {
			value = nil
		}
		s.mu.Lock()
		for _, kv := range seedRecords()[:4] {
			s.replayRecordLocked(kv[0], kv[1], -1)
		}
		s.replayRecordLocked(key, value, txn)
		s.mu.Unlock()
		exercise(c, s, clock)
	})
}

// FuzzReplayBatch feeds arbitrary batches (any attributes, codecs, record
// framing) to replay.
func FuzzReplayBatch(f *testing.F) {
	var recs []records.Record
	for i, kv := range seedRecords() {
		recs = append(recs, records.Record{Key: kv[0], Value: kv[1], OffsetDelta: int32(i)})
	}
	h := records.BatchHeader{}
	h.NoProducer()
	plain, _ := records.AppendBatch(nil, h, records.CodecNone, recs)
	f.Add(plain)
	zstd, _ := records.AppendBatch(nil, h, records.CodecZstd, recs)
	f.Add(zstd)
	f.Add(records.AppendControlBatch(nil, 4, 0, true, 0, 0))
	h.Attributes, h.ProducerID = records.AttrTransactional, 4
	txn, _ := records.AppendBatch(nil, h, records.CodecNone, recs[:2])
	f.Add(txn)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, s, clock := fuzzShard(t)
		s.mu.Lock()
		for rest := data; len(rest) > 0; {
			b, r, err := records.Next(rest)
			if err != nil {
				break
			}
			rest = r
			s.replayBatchLocked(b)
		}
		s.mu.Unlock()
		exercise(c, s, clock)
	})
}
