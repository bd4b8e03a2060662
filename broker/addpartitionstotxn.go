package broker

// AddPartitionsToTxn (key 24), v0-v3.
//
// Adds partitions to the producer's transaction before it writes to them.
// Partitions of unknown topics get UNKNOWN_TOPIC_OR_PARTITION and the rest
// of the request OPERATION_NOT_ATTEMPTED, as Kafka's KafkaApis does; the
// coordinator's answer (fencing, CONCURRENT_TRANSACTIONS, ...) applies to
// every partition. v4+ is the broker-to-coordinator batched form of KIP-890,
// not served: a single node checks transactional produces locally.

import (
	"github.com/potok-io/potok/coordinator"
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleAddPartitionsToTxn(r *protocol.Request) {
	req := r.Msg.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	answer := func(code func(topic string, p int32) int16) {
		for _, rt := range req.Topics {
			st := kmsg.NewAddPartitionsToTxnResponseTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				sp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p, code(rt.Topic, p)
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		r.Respond(resp)
	}
	var parts []coordinator.TopicPartition
	unknown := map[coordinator.TopicPartition]bool{}
	for _, rt := range req.Topics {
		ts := b.topic(rt.Topic)
		for _, p := range rt.Partitions {
			tp := coordinator.TopicPartition{Topic: rt.Topic, Partition: p}
			if ts.partition(p) == nil || ts.internal {
				unknown[tp] = true
			}
			parts = append(parts, tp)
		}
	}
	if len(unknown) > 0 {
		answer(func(topic string, p int32) int16 {
			if unknown[coordinator.TopicPartition{Topic: topic, Partition: p}] {
				return kerr.UnknownTopicOrPartition.Code
			}
			return kerr.OperationNotAttempted.Code
		})
		return
	}
	b.txn.AddPartitions(req.TransactionalID, req.ProducerID, req.ProducerEpoch, parts, req.Version >= 2, func(e *kerr.Error) {
		answer(func(string, int32) int16 { return errCode(e) })
	})
}
