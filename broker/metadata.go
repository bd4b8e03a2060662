package broker

// Metadata (key 3), v0-v13.
//
// Brokers are listed with their endpoint on the listener the request came in
// on (clients must reconnect through the same listener); the controller id
// is this node. v0 asks for every topic with an empty list, v1+ with a null
// one (an empty list means none). Topics can be named by id from v10.
//
// A named topic that does not exist is created when auto.create.topics.enable
// is on and the request allows it (v4+ flag; always for v0-v3), with
// num.partitions and default.replication.factor. Creation is synchronous on a
// single node, so the topic is returned ready rather than with
// LEADER_NOT_AVAILABLE. Unknown topics get UNKNOWN_TOPIC_OR_PARTITION, bad
// names INVALID_TOPIC_EXCEPTION, unknown ids UNKNOWN_TOPIC_ID. Internal
// topics are never auto-created here; the coordinators create them.
//
// Without an authorizer every operation is allowed, so authorized operation
// sets list them all when asked and are INT32_MIN otherwise.

import (
	"github.com/potok-io/potok/metadata"
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Operations bit sets (AclOperation codes) granted without an authorizer.
const (
	topicOperations   = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11
	clusterOperations = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12 | 1<<15 | 1<<16
)

func (b *Broker) handleMetadata(r *protocol.Request) {
	req := r.Msg.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	all := req.Topics == nil || req.Version == 0 && len(req.Topics) == 0
	autoCreate := (req.Version < 4 || req.AllowAutoTopicCreation) && b.src.BrokerBool("auto.create.topics.enable")

	if !all && autoCreate {
		b.autoCreate(req)
	}
	im := b.ctrl.Image()
	b.fillBrokers(im, r.Conn.Listener, resp)
	cid := b.clusterID
	resp.ClusterID = &cid
	resp.ControllerID = b.nodeID
	if req.Version >= 8 && req.Version <= 10 && req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = clusterOperations
	}
	withOps := req.Version >= 8 && req.IncludeTopicAuthorizedOperations
	if all {
		for _, name := range im.TopicNames() {
			t, _ := im.Topic(name)
			resp.Topics = append(resp.Topics, topicMetadata(t, withOps))
		}
		r.Respond(resp)
		return
	}
	for _, rt := range req.Topics {
		var t *metadata.Topic
		var ok bool
		mt := kmsg.NewMetadataResponseTopic()
		switch {
		case rt.Topic != nil:
			name := *rt.Topic
			mt.Topic = &name
			if t, ok = im.Topic(name); !ok {
				mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
				if validTopicName(name) != nil {
					mt.ErrorCode = kerr.InvalidTopicException.Code
				}
			}
		default:
			mt.TopicID = rt.TopicID
			if t, ok = im.TopicByID(metadata.Uuid(rt.TopicID)); !ok {
				mt.ErrorCode = kerr.UnknownTopicID.Code
			}
		}
		if ok {
			mt = topicMetadata(t, withOps)
		}
		resp.Topics = append(resp.Topics, mt)
	}
	r.Respond(resp)
}

// autoCreate creates the requested topics that do not exist yet.
func (b *Broker) autoCreate(req *kmsg.MetadataRequest) {
	im := b.ctrl.Image()
	var specs []topicSpec
	for _, rt := range req.Topics {
		if rt.Topic == nil || isInternal(*rt.Topic) {
			continue
		}
		if _, ok := im.Topic(*rt.Topic); ok || validTopicName(*rt.Topic) != nil {
			continue
		}
		specs = append(specs, topicSpec{name: *rt.Topic, partitions: -1, rf: -1})
	}
	if len(specs) == 0 {
		return
	}
	for i, res := range b.createTopics(specs, false) {
		if res.err != nil && res.err != kerr.TopicAlreadyExists {
			b.log.Warn("auto-creating topic failed", "topic", specs[i].name, "err", res.msg)
		}
	}
}

// fillBrokers lists the brokers reachable on listener.
func (b *Broker) fillBrokers(im *metadata.Image, listener string, resp *kmsg.MetadataResponse) {
	for _, br := range im.Brokers() {
		ep, ok := br.Endpoint(listener)
		if !ok {
			continue
		}
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port, mb.Rack = br.ID, ep.Host, ep.Port, br.Rack
		resp.Brokers = append(resp.Brokers, mb)
	}
}

func topicMetadata(t *metadata.Topic, withOps bool) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	mt.IsInternal = isInternal(t.Name)
	if withOps {
		mt.AuthorizedOperations = topicOperations
	}
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, len(t.Partitions))
	for i, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = int32(i)
		mp.Leader = p.Leader
		mp.LeaderEpoch = p.LeaderEpoch
		mp.Replicas = p.Replicas
		mp.ISR = p.ISR
		mp.OfflineReplicas = []int32{}
		if p.Leader < 0 {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions[i] = mp
	}
	return mt
}
