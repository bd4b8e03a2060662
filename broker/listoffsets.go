package broker

// ListOffsets (key 2), v1-v10.
//
// Timestamps: -1 latest (the high watermark, or the last stable offset for
// read_committed), -2 earliest (log start), -3 the first record carrying the
// largest timestamp (v7+, KIP-734), -4 earliest local (= log start; v8+),
// -5 latest tiered (-1, no tiered storage; v9+), t ≥ 0 the first record with
// a timestamp ≥ t below the high watermark (offset -1 when there is none).
// A special value below its version is UNSUPPORTED_VERSION for that
// partition; a partition named twice is INVALID_REQUEST for both. v4+
// answers the leader epoch of the offset and fences stale epochs.

import (
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleListOffsets(r *protocol.Request) {
	req := r.Msg.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	type key struct {
		topic string
		part  int32
	}
	seen := map[key]int{}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			seen[key{rt.Topic, rp.Partition}]++
		}
	}
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		ts := b.topic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			if seen[key{rt.Topic, rp.Partition}] > 1 {
				sp.ErrorCode = kerr.InvalidRequest.Code
			} else {
				b.listOffset(ts, req, &rp, &sp)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	r.Respond(resp)
}

func (b *Broker) listOffset(ts *topicState, req *kmsg.ListOffsetsRequest, rp *kmsg.ListOffsetsRequestTopicPartition, sp *kmsg.ListOffsetsResponseTopicPartition) {
	p := ts.partition(rp.Partition)
	switch {
	case p == nil:
		sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return
	case p.log == nil:
		sp.ErrorCode = kerr.KafkaStorageError.Code
		return
	case req.Version >= 4 && rp.CurrentLeaderEpoch >= 0 && rp.CurrentLeaderEpoch < p.leaderEpoch.Load():
		sp.ErrorCode = kerr.FencedLeaderEpoch.Code
		return
	case req.Version >= 4 && rp.CurrentLeaderEpoch > p.leaderEpoch.Load():
		sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
		return
	}
	l := p.log
	bound := l.HighWatermark()
	if req.IsolationLevel == 1 {
		bound = l.LastStableOffset()
	}
	epochOf := func(off int64) int32 {
		if req.Version < 4 {
			return -1
		}
		return l.EpochForOffset(off)
	}
	switch ts := rp.Timestamp; {
	case ts == -1:
		sp.Offset, sp.Timestamp = bound, -1
		// The epoch of the latest offset is the current one (Kafka
		// answers the leader epoch of the log end).
		sp.LeaderEpoch = p.leaderEpoch.Load()
		if req.Version < 4 {
			sp.LeaderEpoch = -1
		}
	case ts == -2, ts == -4 && req.Version >= 8:
		start := l.LogStartOffset()
		sp.Offset, sp.Timestamp, sp.LeaderEpoch = start, -1, epochOf(start)
	case ts == -3 && req.Version >= 7:
		if t, off, epoch, ok := l.MaxTimestamp(bound); ok {
			sp.Offset, sp.Timestamp, sp.LeaderEpoch = off, t, epoch
		} else {
			sp.Offset, sp.Timestamp = -1, -1
		}
	case ts == -5 && req.Version >= 9:
		sp.Offset, sp.Timestamp = -1, -1
	case ts >= 0:
		if off, t, epoch, ok := l.OffsetForTimestamp(ts, bound); ok {
			sp.Offset, sp.Timestamp, sp.LeaderEpoch = off, t, epoch
		} else {
			sp.Offset, sp.Timestamp = -1, -1
		}
	default:
		sp.ErrorCode = kerr.UnsupportedVersion.Code
	}
	if req.Version < 4 {
		sp.LeaderEpoch = -1
	}
}
