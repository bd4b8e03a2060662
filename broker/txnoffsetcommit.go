package broker

// TxnOffsetCommit (key 28), v0-v4.
//
// Offsets committed inside a transaction: written to the group's
// __consumer_offsets partition as part of the producer's transaction and
// visible only once it commits (coordinator/txnoffsets.go). v3+ carries the
// group member (KIP-447), so a producer fed by a member that left the
// generation is fenced. v5 (KIP-890 part 2) is not served.

import (
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleTxnOffsetCommit(r *protocol.Request) {
	req := r.Msg.(*kmsg.TxnOffsetCommitRequest)
	b.groups.TxnOffsetCommit(req, func(resp *kmsg.TxnOffsetCommitResponse) { r.Respond(resp) })
}
