package coordinator

import (
	"testing"
	"time"

	"github.com/potok-io/potok/records"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnSeeds are __transaction_state records as the coordinator writes them,
// in every state, and a tombstone.
func txnSeeds() [][2][]byte {
	var out [][2][]byte
	for st := kmsg.TransactionStateEmpty; st <= kmsg.TransactionStatePrepareEpochFence; st++ {
		t := &txnState{id: "tx", pid: 1000, prevPid: -1, epoch: 3, timeoutMs: 60000, state: st, startTS: 1,
			parts: map[TopicPartition]struct{}{{"t", 0}: {}, {"t", 2}: {}}}
		b, err := encodeTxnBatch(t, 5)
		if err != nil {
			panic(err)
		}
		var rec records.Record
		r := records.NewRecordReader(records.Batch(b).Records(), 1)
		if ok, err := r.Next(&rec); !ok || err != nil {
			panic("BUG: seed batch does not read back")
		}
		out = append(out, [2][]byte{append([]byte(nil), rec.Key...), append([]byte(nil), rec.Value...)})
	}
	out = append(out, [2][]byte{out[0][0], nil})
	return out
}

// FuzzTxnRecord loads a __transaction_state partition holding a valid
// record and an arbitrary one, then drives the coordinator over what it
// loaded: a corrupt record is skipped or loaded, never a panic, and the
// coordinator keeps answering.
func FuzzTxnRecord(f *testing.F) {
	for _, kv := range txnSeeds() {
		f.Add(kv[0], kv[1], false)
	}
	f.Add([]byte{0, 0, 0, 2, 't', 'x'}, []byte{0, 1, 0, 0, 0, 0, 0, 0, 3, 0xe8, 0, 3, 0, 0, 0xea, 0x60, 2, 0x10}, false)
	f.Add([]byte{0, 1}, []byte{}, true)
	f.Fuzz(func(t *testing.T, key, value []byte, tombstone bool) {
		if tombstone {
			value = nil
		}
		seeds := txnSeeds()
		h := newFakeTxnHost()
		log := &txnMemLog{}
		h.logs[0] = log
		h2 := records.BatchHeader{BaseTimestamp: 1, PartitionLeaderEpoch: -1}
		h2.NoProducer()
		batch, err := records.AppendBatch(nil, h2, records.CodecNone, []records.Record{
			{Key: seeds[1][0], Value: seeds[1][1]},
			{Key: key, Value: value, OffsetDelta: 1},
		})
		if err != nil {
			t.Skip(err)
		}
		log.Append(batch)
		c := newTxnCoord(h, &clock{now: time.Unix(1000, 0)})
		defer c.Close()
		if err := c.Load(0, log); err != nil {
			return // an unreadable batch is reported, not served
		}
		ids := []string{"tx"}
		for _, s := range c.List() {
			ids = append(ids, s.ID)
		}
		for _, id := range ids {
			s, _ := c.Describe(id)
			req := kmsg.NewPtrInitProducerIDRequest()
			req.Version = 4
			req.TransactionalID = &id
			req.TransactionTimeoutMillis = 1000
			req.ProducerID, req.ProducerEpoch = s.ProducerID, s.Epoch
			got := make(chan *kmsg.InitProducerIDResponse, 1)
			c.InitProducerID(req, func(r *kmsg.InitProducerIDResponse) { got <- r })
			var r *kmsg.InitProducerIDResponse
			select {
			case r = <-got:
			case <-time.After(5 * time.Second):
				t.Fatalf("InitProducerId for %q not answered (state %v)", id, s.State)
			}
			if r.ErrorCode != 0 {
				continue
			}
			done := make(chan *kerr.Error, 2)
			c.AddPartitions(id, r.ProducerID, r.ProducerEpoch, []TopicPartition{{"t", 1}}, true, func(e *kerr.Error) { done <- e })
			c.EndTxn(id, r.ProducerID, r.ProducerEpoch, true, true, func(e *kerr.Error) { done <- e })
			for range 2 {
				select {
				case <-done:
				case <-time.After(5 * time.Second):
					t.Fatalf("transaction of %q not answered", id)
				}
			}
		}
		c.AbortTimedOut()
	})
}
