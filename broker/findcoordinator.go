package broker

// FindCoordinator (key 10), v0-v6.
//
// v0-v3 ask for one key; v4+ batch them (coordinator_keys) and get one
// entry per key, errors included, in coordinators (KIP-699). Group keys
// (key_type 0) name this node on the listener the request came in on, as
// the leader of the group's __consumer_offsets partition; the topic is
// created on first use, and COORDINATOR_NOT_AVAILABLE is the answer until
// it exists. While the partition is replayed the group APIs answer
// COORDINATOR_LOAD_IN_PROGRESS (Kafka answers FindCoordinator itself as soon
// as the partition has a leader). Transactional ids (key_type 1) are found
// the same way over __transaction_state; share groups (key_type 2, v6) get
// INVALID_REQUEST.
//
// This file also starts and stops the group coordinator (coordinator.Groups)
// and hands it the partitions of __consumer_offsets.

import (
	"net"
	"time"

	"github.com/potok-io/potok/config"
	"github.com/potok-io/potok/coordinator"
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleFindCoordinator(r *protocol.Request) {
	req := r.Msg.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		b.findCoordinator(r.Conn.Listener, req.CoordinatorType, key, &c)
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if req.Version < 4 {
		c := resp.Coordinators[0]
		resp.Coordinators = nil
		resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.NodeID, c.Host, c.Port
		if req.Version >= 1 {
			resp.ErrorMessage = c.ErrorMessage
		}
	}
	r.Respond(resp)
}

func (b *Broker) findCoordinator(listener string, keyType int8, key string, c *kmsg.FindCoordinatorResponseCoordinator) {
	fail := func(code int16, msg string) {
		c.ErrorCode, c.ErrorMessage = code, &msg
		c.NodeID, c.Host, c.Port = -1, "", -1
	}
	var topic string
	switch keyType {
	case 0:
		topic = offsetsTopic
	case 1:
		topic = txnTopic
	default:
		fail(kerr.InvalidRequest.Code, "unsupported coordinator key type")
		return
	}
	ts, err := b.ensureInternalTopic(topic)
	if err != nil {
		b.log.Warn("cannot create internal topic", "topic", topic, "err", err)
		fail(kerr.CoordinatorNotAvailable.Code, topic+" is not available")
		return
	}
	if keyType == 0 {
		b.hostOffsets(ts)
	}
	i := coordinator.PartitionFor(key, int32(len(ts.parts)))
	t, ok := b.ctrl.Image().Topic(topic)
	if p := ts.partition(i); p == nil || p.log == nil || !ok || int(i) >= len(t.Partitions) {
		fail(kerr.CoordinatorNotAvailable.Code, "the group's partition is not available")
		return
	}
	leader := t.Partitions[i].Leader
	br, ok := b.ctrl.Image().Broker(leader)
	if !ok {
		fail(kerr.CoordinatorNotAvailable.Code, "the group's partition has no leader")
		return
	}
	ep, ok := br.Endpoint(listener)
	if !ok {
		fail(kerr.CoordinatorNotAvailable.Code, "the coordinator has no endpoint on this listener")
		return
	}
	c.NodeID, c.Host, c.Port = leader, ep.Host, ep.Port
}

// startGroups creates the group coordinator and hands it the partitions of
// __consumer_offsets if the topic exists (called from New).
func (b *Broker) startGroups() {
	b.groups = coordinator.New(coordinator.Options{
		Config: b.groupConfig(),
		Topics: topicsView{b},
		Clock:  groupClock{b.now},
		Logger: b.log,
	})
	if ts := b.topic(offsetsTopic); ts != nil {
		b.hostOffsets(ts)
	}
}

// hostOffsets has the coordinator host every partition of
// __consumer_offsets this node leads (all of them on a single node).
func (b *Broker) hostOffsets(ts *topicState) {
	for _, p := range ts.parts {
		if p.log != nil {
			b.groups.Host(p.index, partitionLog{p})
		}
	}
}

func (b *Broker) groupConfig() coordinator.Config {
	msOf := func(name string) time.Duration { return time.Duration(b.src.BrokerInt(name)) * time.Millisecond }
	c := coordinator.DefaultConfig()
	c.InitialRebalanceDelay = msOf("group.initial.rebalance.delay.ms")
	c.MinSessionTimeout = msOf("group.min.session.timeout.ms")
	c.MaxSessionTimeout = msOf("group.max.session.timeout.ms")
	c.MaxGroupSize = int(b.src.BrokerInt("group.max.size"))
	c.OffsetsRetention = time.Duration(b.src.BrokerInt("offsets.retention.minutes")) * time.Minute
	c.RetentionCheckInterval = msOf("offsets.retention.check.interval.ms")
	c.OffsetMetadataMaxBytes = int(b.src.BrokerInt("offset.metadata.max.bytes"))
	c.ConsumerHeartbeatInterval = msOf("group.consumer.heartbeat.interval.ms")
	c.ConsumerSessionTimeout = msOf("group.consumer.session.timeout.ms")
	c.ConsumerAssignors = nil
	for _, a := range config.SplitList(b.src.BrokerString("group.consumer.assignors")) {
		if a == "uniform" || a == "range" {
			c.ConsumerAssignors = append(c.ConsumerAssignors, a)
		} else {
			b.log.Warn("unknown group.consumer.assignors entry ignored", "assignor", a)
		}
	}
	return c
}

// groupClock is the coordinator's clock: the broker's time, real timers.
type groupClock struct{ now func() time.Time }

func (c groupClock) Now() time.Time { return c.now() }

func (c groupClock) AfterFunc(d time.Duration, f func()) coordinator.Timer {
	return time.AfterFunc(d, f)
}

// groupClient describes the client of a request as group members record
// it: its client.id and "/" + its address, as Kafka writes client hosts.
func groupClient(r *protocol.Request) coordinator.Client {
	host := ""
	if r.Conn != nil && r.Conn.RemoteAddr != nil {
		host = r.Conn.RemoteAddr.String()
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
	}
	return coordinator.Client{ID: r.ClientID, Host: "/" + host}
}
