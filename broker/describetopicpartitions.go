package broker

// DescribeTopicPartitions (key 75), v0 (KIP-966).
//
// Metadata for topics, paged by partition: topics in name order (every
// topic when the list is empty), starting at the cursor's topic and
// partition, at most response_partition_limit partitions (capped at
// Kafka's max.request.partition.size.limit, 2000); when partitions remain,
// next_cursor names the first one left out. A named topic that does not
// exist gets UNKNOWN_TOPIC_OR_PARTITION; a cursor naming a topic outside
// the list fails the request, every topic answered INVALID_REQUEST (Kafka's
// error response for it). Eligible leader replicas (KIP-966's ELR) are empty:
// a single node has no replica to elect besides the leader.
// Kafka's tools (kafka-topics.sh --describe, Java admin ≥ 3.8) prefer this
// API to Metadata when it is advertised.

import (
	"slices"

	"github.com/potok-io/potok/metadata"
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxRequestPartitionLimit is Kafka's max.request.partition.size.limit.
const maxRequestPartitionLimit = 2000

func (b *Broker) handleDescribeTopicPartitions(r *protocol.Request) {
	req := r.Msg.(*kmsg.DescribeTopicPartitionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTopicPartitionsResponse)
	im := b.ctrl.Image()
	all := len(req.Topics) == 0
	cursorTopic, firstPartition := "", int32(0)
	if req.Cursor != nil {
		cursorTopic, firstPartition = req.Cursor.Topic, max(req.Cursor.Partition, 0)
	}
	var names []string
	if all {
		names = im.TopicNames()
	} else {
		for _, t := range req.Topics {
			names = append(names, t.Topic)
		}
		slices.Sort(names)
		names = slices.Compact(names)
	}
	names = slices.DeleteFunc(names, func(n string) bool { return n < cursorTopic })
	if req.Cursor != nil && !all && (len(names) == 0 || names[0] != cursorTopic) {
		for _, rq := range req.Topics {
			t := kmsg.NewDescribeTopicPartitionsResponseTopic()
			name := rq.Topic
			t.Topic = &name
			t.ErrorCode = kerr.InvalidRequest.Code
			resp.Topics = append(resp.Topics, t)
		}
		r.Respond(resp)
		return
	}
	limit := int(min(max(req.ResponsePartitionLimit, 1), maxRequestPartitionLimit))
	for _, name := range names {
		t, ok := im.Topic(name)
		if !ok {
			rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
			n := name
			rt.Topic = &n
			rt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			if validTopicName(name) != nil {
				rt.ErrorCode = kerr.InvalidTopicException.Code
			}
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		start := int32(0)
		if name == cursorTopic {
			start = firstPartition
		}
		if limit == 0 {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: start}
			break
		}
		rt, next := describedTopic(t, start, limit)
		resp.Topics = append(resp.Topics, rt)
		limit -= len(rt.Partitions)
		if next >= 0 {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: next}
			break
		}
	}
	r.Respond(resp)
}

// describedTopic describes partitions start.. of t, at most limit of them,
// and returns the first partition left out, -1 if none.
func describedTopic(t *metadata.Topic, start int32, limit int) (kmsg.DescribeTopicPartitionsResponseTopic, int32) {
	rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
	name := t.Name
	rt.Topic = &name
	rt.TopicID = t.ID
	rt.IsInternal = isInternal(t.Name)
	rt.AuthorizedOperations = topicOperations
	rt.Partitions = []kmsg.DescribeTopicPartitionsResponseTopicPartition{}
	next := int32(-1)
	for i := start; int(i) < len(t.Partitions); i++ {
		if len(rt.Partitions) == limit {
			next = i
			break
		}
		p := t.Partitions[i]
		rp := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
		rp.Partition = i
		rp.LeaderID, rp.LeaderEpoch = p.Leader, p.LeaderEpoch
		rp.Replicas, rp.ISR = p.Replicas, p.ISR
		rp.EligibleLeaderReplicas, rp.LastKnownELR, rp.OfflineReplicas = []int32{}, []int32{}, []int32{}
		if p.Leader < 0 {
			rp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		rt.Partitions = append(rt.Partitions, rp)
	}
	return rt, next
}
