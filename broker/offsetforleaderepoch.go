package broker

// OffsetForLeaderEpoch (key 23), v0-v4.
//
// Answers with the largest epoch ≤ the requested one and the offset where
// the next epoch starts (the log end for the current epoch), or (-1, -1)
// when the epoch is older than the log or newer than the leader (Kafka's
// LeaderEpochFileCache.endOffsetFor). Consumers use it after a leader change
// to detect truncation (KIP-320); current_leader_epoch (v2+) fences stale
// and unknown epochs.

import (
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleOffsetForLeaderEpoch(r *protocol.Request) {
	req := r.Msg.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		ts := b.topic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			p := ts.partition(rp.Partition)
			switch {
			case p == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case p.log == nil:
				sp.ErrorCode = kerr.KafkaStorageError.Code
			case req.Version >= 2 && rp.CurrentLeaderEpoch >= 0 && rp.CurrentLeaderEpoch < p.leaderEpoch.Load():
				sp.ErrorCode = kerr.FencedLeaderEpoch.Code
			case req.Version >= 2 && rp.CurrentLeaderEpoch > p.leaderEpoch.Load():
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			default:
				sp.LeaderEpoch, sp.EndOffset = p.log.EndOffsetForEpoch(rp.LeaderEpoch)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	r.Respond(resp)
}
