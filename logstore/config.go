package logstore

import (
	"math"
	"time"
)

// Config holds a topic's log settings, with Kafka's names and meanings
// (LogConfig.java): times in milliseconds, sizes in bytes, -1 for unlimited
// where Kafka allows it.
type Config struct {
	SegmentBytes       int64 // segment.bytes
	SegmentMs          int64 // segment.ms
	SegmentJitterMs    int64 // segment.jitter.ms
	SegmentIndexBytes  int32 // segment.index.bytes
	IndexIntervalBytes int32 // index.interval.bytes

	RetentionMs    int64 // retention.ms (-1 = forever)
	RetentionBytes int64 // retention.bytes (-1 = unlimited)

	Compact, Delete bool // cleanup.policy: compact, delete or both

	DeleteRetentionMs      int64   // delete.retention.ms: how long tombstones live
	MinCompactionLagMs     int64   // min.compaction.lag.ms
	MaxCompactionLagMs     int64   // max.compaction.lag.ms
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio

	// FlushMessages and FlushMs are flush.messages and flush.ms. Potok's
	// default differs from Kafka's: FlushMessages == 1 syncs every append as
	// soon as possible (group-committed). math.MaxInt64 in both means sync
	// only on roll and close.
	FlushMessages, FlushMs int64

	FileDeleteDelayMs int64 // file.delete.delay.ms (see Manager.Delete)
	Preallocate       bool  // preallocate (accepted, not used: no writable maps)

	LogAppendTime bool // message.timestamp.type=LogAppendTime

	ProducerIDExpirationMs int64 // producer.id.expiration.ms
}

// DefaultConfig returns Kafka's defaults, except that every append is synced
// (FlushMessages = 1, group-committed).
func DefaultConfig() Config {
	return Config{
		SegmentBytes:           1 << 30,
		SegmentMs:              7 * 24 * time.Hour.Milliseconds(),
		SegmentIndexBytes:      10 << 20,
		IndexIntervalBytes:     4096,
		RetentionMs:            7 * 24 * time.Hour.Milliseconds(),
		RetentionBytes:         -1,
		Delete:                 true,
		DeleteRetentionMs:      24 * time.Hour.Milliseconds(),
		MaxCompactionLagMs:     math.MaxInt64,
		MinCleanableDirtyRatio: 0.5,
		FlushMessages:          1,
		FlushMs:                math.MaxInt64,
		FileDeleteDelayMs:      60_000,
		ProducerIDExpirationMs: 24 * time.Hour.Milliseconds(),
	}
}

// sane returns c with values the log cannot work with replaced: a segment
// must hold at least one batch header, an index at least one entry.
func (c Config) sane() Config {
	if c.SegmentBytes < 64 {
		c.SegmentBytes = 64
	}
	if c.SegmentIndexBytes < 4*timeEntrySize {
		c.SegmentIndexBytes = 4 * timeEntrySize
	}
	if c.IndexIntervalBytes < 0 {
		c.IndexIntervalBytes = 0
	}
	if c.FlushMessages < 1 {
		c.FlushMessages = 1
	}
	if c.FlushMs < 0 {
		c.FlushMs = 0
	}
	return c
}

// syncEveryAppend reports whether every append is to be synced at once.
func (c *Config) syncEveryAppend() bool { return c.FlushMessages <= 1 || c.FlushMs == 0 }
