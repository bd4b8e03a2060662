package broker

// EndTxn (key 26), v0-v4.
//
// Commits or aborts the producer's transaction: answered once the decision
// (PrepareCommit/PrepareAbort) is durable in __transaction_state; the markers
// are then written to every partition of the transaction. A retried EndTxn
// matching the completed outcome succeeds; the other outcome is
// INVALID_TXN_STATE. v5 (KIP-890 part 2) is not served.

import (
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleEndTxn(r *protocol.Request) {
	req := r.Msg.(*kmsg.EndTxnRequest)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	b.txn.EndTxn(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit, req.Version >= 2, func(e *kerr.Error) {
		resp.ErrorCode = errCode(e)
		r.Respond(resp)
	})
}
