package coordinator

import (
	"github.com/potok-io/potok/records"
)

// PartitionLog is one partition of an internal topic as a coordinator sees
// it.
type PartitionLog interface {
	// Append writes one batch built by the coordinator
	// (records.AppendBatch) and returns the offset just past it.
	Append(batch []byte) (end int64, err error)
	// WhenCommitted calls fn once every offset below end is committed
	// (durable on a single node, replicated in a cluster), or with an
	// error if the broker stops hosting the partition first. fn always
	// runs on another goroutine, never inside WhenCommitted, so callers
	// may hold their own locks when they call it.
	WhenCommitted(end int64, fn func(error))
	// Replay calls fn with each batch from the log start up to the high
	// watermark, in order, for loading.
	Replay(fn func(b records.Batch) error) error
}

// Topics is the read-only view of the cluster's topics a coordinator needs.
type Topics interface {
	// Topic returns a topic's id and partition count.
	Topic(name string) (id [16]byte, partitions int32, ok bool)
	// TopicByID returns a topic's name and partition count.
	TopicByID(id [16]byte) (name string, partitions int32, ok bool)
	// TopicNames returns every topic name, sorted.
	TopicNames() []string
}

// PartitionFor returns the partition of an internal topic with n partitions
// that owns key, as Kafka's Utils.abs(key.hashCode()) % n (Java's
// String.hashCode over UTF-16 code units; abs(MinInt32) is 0).
func PartitionFor(key string, n int32) int32 {
	var h int32
	for _, r := range key {
		if r >= 0x10000 {
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % n
}
