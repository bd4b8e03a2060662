package broker

import (
	"errors"
	"sync"
	"time"

	"github.com/potok-io/potok/coordinator"
	"github.com/potok-io/potok/logstore"
	"github.com/potok-io/potok/records"
)

// txnHost gives the transaction coordinator its partitions, producer ids
// and a way to write markers.
type txnHost struct {
	topicsView
}

var _ coordinator.TxnHost = txnHost{}

func (h txnHost) TxnLog(p int32) (coordinator.PartitionLog, error) {
	ts, err := h.b.ensureInternalTopic(txnTopic)
	if err != nil {
		return nil, err
	}
	part := ts.partition(p)
	if part == nil {
		return nil, errors.New("broker: no such __transaction_state partition")
	}
	return partitionLog{part}, nil
}

func (h txnHost) NextProducerID() (int64, error) { return h.b.pids.next() }

// WriteMarkers appends a control batch to every partition of a transaction
// (Kafka's WriteTxnMarkers, local on a single node) and calls done once
// all are committed, from another goroutine.
func (h txnHost) WriteMarkers(pid int64, epoch int16, commit bool, coordinatorEpoch int32, parts []coordinator.TopicPartition, done func(error)) {
	b := h.b
	now := b.now().UnixMilli()
	var (
		wg      sync.WaitGroup
		lastErr error
	)
	for _, tp := range parts {
		p := b.topic(tp.Topic).partition(tp.Partition)
		if p == nil {
			continue // deleted since it joined the transaction
		}
		if p.log == nil {
			lastErr = logstore.ErrStorage
			continue
		}
		batch := records.AppendControlBatch(nil, pid, epoch, commit, coordinatorEpoch, now)
		res, err := p.log.Append(batch, logstore.AppendOptions{LeaderEpoch: p.leaderEpoch.Load()})
		if err != nil {
			if errors.Is(err, logstore.ErrInvalidProducerEpoch) {
				// A newer epoch already wrote here: this marker is
				// obsolete, as Kafka treats it.
				b.log.Warn("skipping an obsolete transaction marker", "topic", tp.Topic, "partition", tp.Partition, "producer_id", pid, "epoch", epoch)
				continue
			}
			lastErr = err
			continue
		}
		p.appended()
		if b.onMarker != nil && p.topic.name == offsetsTopic {
			b.onMarker(p.index, pid, commit)
		}
		wg.Add(1)
		p.waitFor(res.LastOffset+1, funcWaiter(func(bool) { wg.Done() }), 0)
	}
	go func() {
		wg.Wait()
		done(lastErr)
	}()
}

// startTxnCoordinator creates the transaction coordinator and loads
// __transaction_state if it exists.
func (b *Broker) startTxnCoordinator() error {
	b.txn = coordinator.NewTxnCoordinator(txnHost{topicsView{b}}, coordinator.TxnConfig{
		NumPartitions:   int32(b.src.BrokerInt("transaction.state.log.num.partitions")),
		MaxTimeout:      time.Duration(b.src.BrokerInt("transaction.max.timeout.ms")) * time.Millisecond,
		CleanupInterval: time.Duration(b.src.BrokerInt("transaction.abort.timed.out.transaction.cleanup.interval.ms")) * time.Millisecond,
		IDExpiration:    time.Duration(b.src.BrokerInt("transactional.id.expiration.ms")) * time.Millisecond,
		ExpireInterval:  time.Duration(b.src.BrokerInt("transaction.remove.expired.transaction.cleanup.interval.ms")) * time.Millisecond,
		Now:             b.now,
		Logger:          b.log,
	})
	if ts := b.topic(txnTopic); ts != nil {
		for _, p := range ts.parts {
			if err := b.txn.Load(p.index, partitionLog{p}); err != nil {
				return err
			}
		}
	}
	b.txn.Start()
	return nil
}
