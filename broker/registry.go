package broker

import (
	"github.com/potok-io/potok/protocol"
)

// api is one served Kafka API. The table below is the only place versions
// are decided: dispatch and ApiVersions both read it.
type api struct {
	key      int16
	min, max int16
	serve    func(b *Broker, r *protocol.Request)
}

// registry lists every API the broker serves. Floors stay where Kafka 3.x had
// them (older clients keep working); Produce is advertised from v0 because
// librdkafka before 2.10 turns compression off unless it sees v0
// (KAFKA-18659), while v0-v2 requests are answered UNSUPPORTED_VERSION.
func registry() []api {
	return []api{
		{key: 0, min: 0, max: 11, serve: (*Broker).handleProduce},
		{key: 1, min: 4, max: 17, serve: (*Broker).handleFetch},
		{key: 2, min: 1, max: 10, serve: (*Broker).handleListOffsets},
		{key: 3, min: 0, max: 13, serve: (*Broker).handleMetadata},
		{key: 8, min: 2, max: 9, serve: (*Broker).handleOffsetCommit},
		{key: 9, min: 1, max: 9, serve: (*Broker).handleOffsetFetch},
		{key: 10, min: 0, max: 6, serve: (*Broker).handleFindCoordinator},
		{key: 11, min: 0, max: 9, serve: (*Broker).handleJoinGroup},
		{key: 12, min: 0, max: 4, serve: (*Broker).handleHeartbeat},
		{key: 13, min: 0, max: 5, serve: (*Broker).handleLeaveGroup},
		{key: 14, min: 0, max: 5, serve: (*Broker).handleSyncGroup},
		{key: 15, min: 0, max: 6, serve: (*Broker).handleDescribeGroups},
		{key: 16, min: 0, max: 5, serve: (*Broker).handleListGroups},
		{key: 18, min: 0, max: 4, serve: (*Broker).handleApiVersions},
		{key: 19, min: 0, max: 7, serve: (*Broker).handleCreateTopics},
		{key: 20, min: 0, max: 6, serve: (*Broker).handleDeleteTopics},
		{key: 21, min: 0, max: 2, serve: (*Broker).handleDeleteRecords},
		{key: 22, min: 0, max: 5, serve: (*Broker).handleInitProducerID},
		{key: 23, min: 0, max: 4, serve: (*Broker).handleOffsetForLeaderEpoch},
		{key: 24, min: 0, max: 3, serve: (*Broker).handleAddPartitionsToTxn},
		{key: 25, min: 0, max: 4, serve: (*Broker).handleAddOffsetsToTxn},
		{key: 26, min: 0, max: 4, serve: (*Broker).handleEndTxn},
		{key: 28, min: 0, max: 4, serve: (*Broker).handleTxnOffsetCommit},
		{key: 32, min: 1, max: 4, serve: (*Broker).handleDescribeConfigs},
		{key: 33, min: 0, max: 2, serve: (*Broker).handleAlterConfigs},
		{key: 35, min: 1, max: 4, serve: (*Broker).handleDescribeLogDirs},
		{key: 37, min: 0, max: 3, serve: (*Broker).handleCreatePartitions},
		{key: 42, min: 0, max: 2, serve: (*Broker).handleDeleteGroups},
		{key: 43, min: 0, max: 2, serve: (*Broker).handleElectLeaders},
		{key: 44, min: 0, max: 1, serve: (*Broker).handleIncrementalAlterConfigs},
		{key: 45, min: 0, max: 0, serve: (*Broker).handleAlterPartitionReassignments},
		{key: 46, min: 0, max: 0, serve: (*Broker).handleListPartitionReassignments},
		{key: 47, min: 0, max: 0, serve: (*Broker).handleOffsetDelete},
		{key: 48, min: 0, max: 1, serve: (*Broker).handleDescribeClientQuotas},
		{key: 49, min: 0, max: 1, serve: (*Broker).handleAlterClientQuotas},
		{key: 57, min: 0, max: 2, serve: (*Broker).handleUpdateFeatures},
		{key: 60, min: 0, max: 2, serve: (*Broker).handleDescribeCluster},
		{key: 61, min: 0, max: 0, serve: (*Broker).handleDescribeProducers},
		{key: 65, min: 0, max: 0, serve: (*Broker).handleDescribeTransactions},
		{key: 66, min: 0, max: 1, serve: (*Broker).handleListTransactions},
		{key: 68, min: 0, max: 1, serve: (*Broker).handleConsumerGroupHeartbeat},
		{key: 69, min: 0, max: 1, serve: (*Broker).handleConsumerGroupDescribe},
		{key: 74, min: 0, max: 1, serve: (*Broker).handleListConfigResources},
		{key: 75, min: 0, max: 0, serve: (*Broker).handleDescribeTopicPartitions},
	}
}

// apiTable indexes the registry by key.
type apiTable struct {
	list  []api
	byKey map[int16]*api
}

func newAPITable() apiTable {
	t := apiTable{list: registry(), byKey: map[int16]*api{}}
	for i := range t.list {
		t.byKey[t.list[i].key] = &t.list[i]
	}
	return t
}

// Versions implements protocol.Handler.
func (b *Broker) Versions(key int16) (min, max int16, ok bool) {
	a, ok := b.apis.byKey[key]
	if !ok {
		return 0, 0, false
	}
	return a.min, a.max, true
}

// Serve implements protocol.Handler.
func (b *Broker) Serve(r *protocol.Request) {
	b.serve(b.apis.byKey[r.Key], r) // quotas.go
}

// APIs returns the served API keys and version ranges, for documentation.
func APIs() []struct{ Key, Min, Max int16 } {
	apis := registry()
	out := make([]struct{ Key, Min, Max int16 }, len(apis))
	for i, a := range apis {
		out[i].Key, out[i].Min, out[i].Max = a.key, a.min, a.max
	}
	return out
}
