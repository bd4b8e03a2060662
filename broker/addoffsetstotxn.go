package broker

// AddOffsetsToTxn (key 25), v0-v4.
//
// Adds the group's __consumer_offsets partition to the transaction, so the
// offsets the producer then commits with TxnOffsetCommit become visible with
// the transaction's commit marker.

import (
	"github.com/potok-io/potok/coordinator"
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleAddOffsetsToTxn(r *protocol.Request) {
	req := r.Msg.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	ts, err := b.ensureInternalTopic(offsetsTopic)
	if err != nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		r.Respond(resp)
		return
	}
	tp := coordinator.TopicPartition{Topic: offsetsTopic, Partition: coordinator.PartitionFor(req.Group, int32(len(ts.parts)))}
	b.txn.AddPartitions(req.TransactionalID, req.ProducerID, req.ProducerEpoch, []coordinator.TopicPartition{tp}, req.Version >= 2, func(e *kerr.Error) {
		resp.ErrorCode = errCode(e)
		r.Respond(resp)
	})
}
