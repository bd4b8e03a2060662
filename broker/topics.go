package broker

import (
	"strconv"
	"sync/atomic"

	"github.com/potok-io/potok/config"
	"github.com/potok-io/potok/logstore"
	"github.com/potok-io/potok/metadata"
	"github.com/potok-io/potok/observe"
)

// topicTable is the broker's view of the topics it hosts, swapped as a
// whole when the metadata image changes.
type topicTable struct {
	byName map[string]*topicState
	byID   map[metadata.Uuid]*topicState
}

// topicState is one topic on this broker.
type topicState struct {
	name     string
	id       metadata.Uuid
	internal bool
	parts    []*partition
	// settings are the topic's effective settings; replaced when its
	// configs or the broker defaults change.
	settings atomic.Pointer[topicSettings]
	stats    atomic.Pointer[observe.TopicMetrics] // ops.go: set on first use
}

type topicSettings struct {
	config.TopicSettings
	values map[string]string // every topic setting, resolved
}

// Internal topic names (Kafka's Topic.GROUP_METADATA_TOPIC_NAME and
// TRANSACTION_STATE_TOPIC_NAME).
const (
	offsetsTopic = "__consumer_offsets"
	txnTopic     = "__transaction_state"
)

func isInternal(name string) bool { return name == offsetsTopic || name == txnTopic }

// topic returns the topic named name, or nil.
func (b *Broker) topic(name string) *topicState { return b.topics.Load().byName[name] }

// topicByID returns the topic with the given id, or nil.
func (b *Broker) topicByID(id metadata.Uuid) *topicState { return b.topics.Load().byID[id] }

// partition returns a partition, or nil.
func (t *topicState) partition(i int32) *partition {
	if t == nil || i < 0 || int(i) >= len(t.parts) {
		return nil
	}
	return t.parts[i]
}

// sources returns the config sources for a topic in image im.
func (b *Broker) sources(im *metadata.Image, topic string) config.Sources {
	return config.Sources{
		Topic:          im.TopicConfigs(topic),
		DynamicBroker:  im.Configs(metadata.ConfigResource{Type: metadata.ResourceBroker, Name: strconv.Itoa(int(b.nodeID))}),
		DynamicDefault: im.Configs(metadata.ConfigResource{Type: metadata.ResourceBroker, Name: ""}),
		Static:         b.src.Static,
	}
}

func (b *Broker) resolveSettings(im *metadata.Image, topic string) *topicSettings {
	src := b.sources(im, topic)
	values := src.TopicValues()
	return &topicSettings{TopicSettings: config.ParseTopicSettings(values), values: values}
}

// logConfig maps a topic's settings onto the log's.
func logConfig(s *topicSettings) logstore.Config {
	c := logstore.DefaultConfig()
	c.SegmentBytes = int64(s.SegmentBytes)
	c.SegmentMs = s.SegmentMs
	c.SegmentJitterMs = s.SegmentJitterMs
	c.SegmentIndexBytes = s.SegmentIndexBytes
	c.IndexIntervalBytes = s.IndexIntervalBytes
	c.RetentionMs = s.RetentionMs
	c.RetentionBytes = s.RetentionBytes
	c.Compact = s.CleanupCompact
	c.Delete = s.CleanupDelete
	c.DeleteRetentionMs = s.DeleteRetentionMs
	c.MinCompactionLagMs = s.MinCompactionLagMs
	c.MaxCompactionLagMs = s.MaxCompactionLagMs
	c.MinCleanableDirtyRatio = s.MinCleanableDirtyRatio
	c.FlushMessages = s.FlushMessages
	c.FlushMs = s.FlushMs
	c.FileDeleteDelayMs = s.FileDeleteDelayMs
	c.Preallocate = s.Preallocate
	c.LogAppendTime = s.LogAppendTime
	return c
}

// rebuildTopics makes the topic table match image im: new topics and
// partitions get logs, removed topics lose theirs, changed settings reach
// the logs. Called with b.mu held, in image order.
func (b *Broker) rebuildTopics(im *metadata.Image) {
	old := b.topics.Load()
	next := &topicTable{byName: make(map[string]*topicState, im.NumTopics()), byID: make(map[metadata.Uuid]*topicState, im.NumTopics())}
	for _, name := range im.TopicNames() {
		t, _ := im.Topic(name)
		ts := old.byID[t.ID]
		if ts == nil || ts.name != name {
			ts = &topicState{name: name, id: t.ID, internal: isInternal(name)}
		} else {
			ts = &topicState{name: name, id: t.ID, internal: ts.internal, parts: ts.parts}
		}
		settings := b.resolveSettings(im, name)
		ts.settings.Store(settings)
		if prev := old.byID[t.ID]; prev != nil && prev.settings.Load() != nil && !sameValues(prev.settings.Load().values, settings.values) {
			for _, p := range ts.parts {
				p.applySettings(settings)
			}
		}
		for i := len(ts.parts); i < len(t.Partitions); i++ {
			ts.parts = append(ts.parts, b.openPartition(ts, int32(i), t.Partitions[i], settings))
		}
		for i, p := range ts.parts {
			p.leaderEpoch.Store(t.Partitions[i].LeaderEpoch)
		}
		next.byName[name], next.byID[t.ID] = ts, ts
	}
	for id, ts := range old.byID {
		if _, ok := next.byID[id]; ok {
			continue
		}
		for _, p := range ts.parts {
			b.closePartition(p)
		}
	}
	b.topics.Store(next)
}

func sameValues(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func (b *Broker) openPartition(ts *topicState, index int32, mp metadata.Partition, s *topicSettings) *partition {
	p := &partition{b: b, topic: ts, index: index}
	p.leaderEpoch.Store(mp.LeaderEpoch)
	tp := logstore.TopicPartition{Topic: ts.name, Partition: index}
	if l := b.logs.Get(tp); l != nil && l.TopicID() != ts.id {
		// A log left by an older topic of the same name (deleted while
		// this node was down): it is not this topic's data.
		b.log.Warn("deleting stale log of a recreated topic", "topic", ts.name, "partition", index)
		if err := b.logs.Delete(tp); err != nil {
			b.log.Error("cannot delete stale log", "topic", ts.name, "partition", index, "err", err)
		}
	}
	l, err := b.logs.Create(tp, ts.id, logConfig(s))
	if err != nil {
		// The partition stays offline: requests get KAFKA_STORAGE_ERROR.
		b.log.Error("cannot open partition log", "topic", ts.name, "partition", index, "err", err)
		return p
	}
	p.log = l
	p.applySettings(s)
	b.byLog.Store(l, p)
	p.initHighWatermark()
	return p
}

func (b *Broker) closePartition(p *partition) {
	if p.log == nil {
		return
	}
	b.byLog.Delete(p.log)
	tp := logstore.TopicPartition{Topic: p.topic.name, Partition: p.index}
	if err := b.logs.Delete(tp); err != nil {
		b.log.Error("cannot delete partition log", "topic", p.topic.name, "partition", p.index, "err", err)
	}
	p.abandon()
}
