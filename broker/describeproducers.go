package broker

// DescribeProducers (key 61), v0 (KIP-664).
//
// The producers with state in each partition's log: id, epoch, last
// sequence and timestamp, coordinator epoch and the first offset of the
// open transaction (-1 when none), straight from the log's producer state.
// An unknown partition gets UNKNOWN_TOPIC_OR_PARTITION; one whose log could
// not be opened KAFKA_STORAGE_ERROR.

import (
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleDescribeProducers(r *protocol.Request) {
	req := r.Msg.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		ts := b.topic(rt.Topic)
		for _, i := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = i
			sp.ActiveProducers = []kmsg.DescribeProducersResponseTopicPartitionActiveProducer{}
			p := ts.partition(i)
			switch {
			case p == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case p.log == nil:
				sp.ErrorCode = kerr.KafkaStorageError.Code
			default:
				for _, ps := range p.log.Producers() {
					ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
					ap.ProducerID = ps.ProducerID
					ap.ProducerEpoch = int32(ps.Epoch)
					ap.LastSequence = ps.LastSequence
					ap.LastTimestamp = ps.LastTimestamp
					ap.CoordinatorEpoch = ps.CoordinatorEpoch
					ap.CurrentTxnStartOffset = ps.TxnStartOffset
					sp.ActiveProducers = append(sp.ActiveProducers, ap)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	r.Respond(resp)
}
