package broker

// InitProducerId (key 22), v0-v5.
//
// Without a transactional id the producer is idempotent only: it gets a fresh
// producer id with epoch 0, also when it re-initialises after an error
// (KIP-360 v3+ sends its old id and epoch; Kafka allocates anew for
// non-transactional producers). Ids come from blocks reserved in the metadata
// log, so none is handed out twice, across restarts too. A transactional id
// goes to the transaction coordinator (epoch bumps, fencing, KIP-360).

import (
	"sync"

	"github.com/potok-io/potok/metadata"
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleInitProducerID(r *protocol.Request) {
	req := r.Msg.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		b.txn.InitProducerID(req, func(resp *kmsg.InitProducerIDResponse) { r.Respond(resp) })
		return
	}
	pid, err := b.pids.next()
	if err != nil {
		resp.ErrorCode = kerr.UnknownServerError.Code
		r.Respond(resp)
		return
	}
	resp.ProducerID, resp.ProducerEpoch = pid, 0
	r.Respond(resp)
}

// pidBlockSize is how many producer ids one metadata record reserves
// (Kafka's ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE).
const pidBlockSize = 1000

// pidAllocator hands out producer ids from reserved blocks.
type pidAllocator struct {
	b     *Broker
	mu    sync.Mutex
	next_ int64 // guarded by mu
	end   int64 // guarded by mu; first id past the reserved block
}

func (a *pidAllocator) next() (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next_ >= a.end {
		var start int64
		_, err := a.b.ctrl.Commit(func(im *metadata.Image) ([]metadata.Record, error) {
			start = im.NextProducerID()
			return []metadata.Record{&metadata.ProducerIdsRecord{BrokerID: a.b.nodeID, NextProducerID: start + pidBlockSize}}, nil
		})
		if err != nil {
			return 0, err
		}
		a.next_, a.end = start, start+pidBlockSize
	}
	id := a.next_
	a.next_++
	return id, nil
}
