package broker

// DescribeTransactions (key 65), v0, and ListTransactions (key 66), v0-v1.
//
// Straight from the transaction coordinator's state. An unknown id is
// TRANSACTIONAL_ID_NOT_FOUND. ListTransactions filters by state names
// (unknown names are echoed back in unknown_state_filters), producer ids and,
// from v1, by how long a transaction has been running.

import (
	"slices"

	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleDescribeTransactions(r *protocol.Request) {
	req := r.Msg.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range req.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID = id
		s, ok := b.txn.Describe(id)
		if !ok {
			st.ErrorCode = kerr.TransactionalIDNotFound.Code
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		st.State = s.State.String()
		st.TimeoutMillis = s.TimeoutMs
		st.StartTimestamp = s.StartTS
		st.ProducerID, st.ProducerEpoch = s.ProducerID, s.Epoch
		for _, tp := range s.Partitions {
			if n := len(st.Topics); n == 0 || st.Topics[n-1].Topic != tp.Topic {
				t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
				t.Topic = tp.Topic
				st.Topics = append(st.Topics, t)
			}
			st.Topics[len(st.Topics)-1].Partitions = append(st.Topics[len(st.Topics)-1].Partitions, tp.Partition)
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	r.Respond(resp)
}

func (b *Broker) handleListTransactions(r *protocol.Request) {
	req := r.Msg.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	states := map[kmsg.TransactionState]bool{}
	for _, f := range req.StateFilters {
		s, err := kmsg.ParseTransactionState(f)
		if err != nil {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, f)
			continue
		}
		states[s] = true
	}
	now := b.now().UnixMilli()
	for _, s := range b.txn.List() {
		switch {
		case len(req.StateFilters) > 0 && !states[s.State]:
			continue
		case len(req.ProducerIDFilters) > 0 && !slices.Contains(req.ProducerIDFilters, s.ProducerID):
			continue
		case req.Version >= 1 && req.DurationFilterMillis >= 0 && now-s.StartTS <= req.DurationFilterMillis:
			continue
		}
		ts := kmsg.NewListTransactionsResponseTransactionState()
		ts.TransactionalID, ts.ProducerID, ts.TransactionState = s.ID, s.ProducerID, s.State.String()
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	r.Respond(resp)
}
