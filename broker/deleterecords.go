package broker

// DeleteRecords (key 21), v0-v2.
//
// Moves a partition's log start offset up to the given offset (-1 means the
// high watermark); an offset past the high watermark is OFFSET_OUT_OF_RANGE.
// The answer carries the new low watermark. Internal topics refuse it, as
// Kafka's ReplicaManager does.

import (
	"errors"

	"github.com/potok-io/potok/logstore"
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleDeleteRecords(r *protocol.Request) {
	req := r.Msg.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		ts := b.topic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			p := ts.partition(rp.Partition)
			switch {
			case p == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case ts.internal:
				sp.ErrorCode = kerr.InvalidTopicException.Code
			case p.log == nil:
				sp.ErrorCode = kerr.KafkaStorageError.Code
			default:
				off := rp.Offset
				if off == -1 {
					off = p.log.HighWatermark()
				}
				if off < 0 || off > p.log.HighWatermark() {
					sp.ErrorCode = kerr.OffsetOutOfRange.Code
					break
				}
				low, err := p.log.DeleteRecordsBefore(off)
				switch {
				case errors.Is(err, logstore.ErrOffsetOutOfRange):
					sp.ErrorCode = kerr.OffsetOutOfRange.Code
				case err != nil:
					sp.ErrorCode = kerr.KafkaStorageError.Code
				default:
					sp.LowWatermark = low
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	r.Respond(resp)
}
