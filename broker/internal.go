package broker

import (
	"errors"
	"fmt"

	"github.com/potok-io/potok/coordinator"
	"github.com/potok-io/potok/logstore"
	"github.com/potok-io/potok/metadata"
	"github.com/potok-io/potok/records"
	"github.com/twmb/franz-go/pkg/kerr"
)

// internalTopicSpec describes __consumer_offsets or __transaction_state as
// Kafka creates them: compacted, with their own partition count, replication
// factor and segment size settings.
func (b *Broker) internalTopicSpec(name string) topicSpec {
	s := topicSpec{name: name, configs: map[string]string{"cleanup.policy": "compact", "compression.type": "producer"}}
	switch name {
	case offsetsTopic:
		s.partitions = int32(b.src.BrokerInt("offsets.topic.num.partitions"))
		s.rf = int16(b.src.BrokerInt("offsets.topic.replication.factor"))
		s.configs["segment.bytes"] = b.src.BrokerString("offsets.topic.segment.bytes")
	case txnTopic:
		s.partitions = int32(b.src.BrokerInt("transaction.state.log.num.partitions"))
		s.rf = int16(b.src.BrokerInt("transaction.state.log.replication.factor"))
		s.configs["segment.bytes"] = b.src.BrokerString("transaction.state.log.segment.bytes")
		s.configs["min.insync.replicas"] = b.src.BrokerString("transaction.state.log.min.isr")
	}
	return s
}

// ensureInternalTopic returns an internal topic, creating it on first use
// (Kafka creates it on the first FindCoordinator for its kind of key).
func (b *Broker) ensureInternalTopic(name string) (*topicState, error) {
	if ts := b.topic(name); ts != nil {
		return ts, nil
	}
	res := b.createTopics([]topicSpec{b.internalTopicSpec(name)}, false)[0]
	if res.err != nil && res.err != kerr.TopicAlreadyExists {
		return nil, fmt.Errorf("creating %s: %s", name, res.msg)
	}
	ts := b.topic(name)
	if ts == nil {
		return nil, fmt.Errorf("%s was not created", name)
	}
	return ts, nil
}

// errPartitionGone is what a coordinator's commit wait gets when the
// partition stops being hosted here.
var errPartitionGone = errors.New("broker: partition no longer hosted")

// partitionLog adapts a partition to coordinator.PartitionLog.
type partitionLog struct{ p *partition }

var _ coordinator.PartitionLog = partitionLog{}

func (pl partitionLog) Append(batch []byte) (int64, error) {
	p := pl.p
	if p.log == nil {
		return 0, logstore.ErrStorage
	}
	res, err := p.log.Append(batch, logstore.AppendOptions{LeaderEpoch: p.leaderEpoch.Load()})
	if err != nil {
		return 0, err
	}
	p.appended()
	return res.LastOffset + 1, nil
}

func (pl partitionLog) WhenCommitted(end int64, fn func(error)) {
	pl.p.waitFor(end, funcWaiter(func(ok bool) {
		// Never inside WhenCommitted: the caller may hold its lock.
		go func() {
			if ok {
				fn(nil)
			} else {
				fn(errPartitionGone)
			}
		}()
	}), 0)
}

func (pl partitionLog) Replay(fn func(b records.Batch) error) error {
	p := pl.p
	if p.log == nil {
		return logstore.ErrStorage
	}
	off := p.log.LogStartOffset()
	for {
		hw := p.log.HighWatermark()
		if off >= hw {
			return nil
		}
		c, err := p.log.Read(off, logstore.ReadOptions{MaxOffset: hw, MaxBytes: 1 << 20, MinOneBatch: true})
		if err != nil {
			return err
		}
		if len(c.Data) == 0 {
			c.Release()
			return nil
		}
		for rest := c.Data; len(rest) > 0; {
			var batch records.Batch
			if batch, rest, err = records.Next(rest); err != nil {
				c.Release()
				return fmt.Errorf("replaying %s-%d at %d: %w", p.topic.name, p.index, off, err)
			}
			if batch.LastOffset() < off {
				continue
			}
			if err := fn(batch); err != nil {
				c.Release()
				return err
			}
		}
		off = c.NextOffset
		c.Release()
	}
}

// topicsView adapts the metadata image to coordinator.Topics.
type topicsView struct{ b *Broker }

var _ coordinator.Topics = topicsView{}

func (v topicsView) Topic(name string) ([16]byte, int32, bool) {
	t, ok := v.b.ctrl.Image().Topic(name)
	if !ok {
		return [16]byte{}, 0, false
	}
	return t.ID, int32(len(t.Partitions)), true
}

func (v topicsView) TopicByID(id [16]byte) (string, int32, bool) {
	t, ok := v.b.ctrl.Image().TopicByID(metadata.Uuid(id))
	if !ok {
		return "", 0, false
	}
	return t.Name, int32(len(t.Partitions)), true
}

func (v topicsView) TopicNames() []string { return v.b.ctrl.Image().TopicNames() }
