package config

import (
	"fmt"
	"math"
	"strconv"
)

const maxLong = "9223372036854775807"

// Topic is every topic-level setting Kafka documents, with the broker
// setting each inherits from.
var Topic = newSet([]*Def{
	{Name: "cleanup.policy", Type: List, Default: "delete", Synonym: "log.cleanup.policy", Enum: []string{"delete", "compact"},
		Doc: "Retention policy for old log segments: delete, compact, or both."},
	{Name: "compression.type", Type: String, Default: "producer", Synonym: "compression.type",
		Enum: []string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"},
		Doc:  "Final compression of the topic's data; producer keeps the producer's codec."},
	{Name: "compression.gzip.level", Type: Int, Default: "-1", Synonym: "compression.gzip.level", Min: -1, Max: 9,
		Doc: "Level for gzip when compression.type is gzip."},
	{Name: "compression.lz4.level", Type: Int, Default: "9", Synonym: "compression.lz4.level", Min: 1, Max: 17,
		Doc: "Level for lz4 when compression.type is lz4."},
	{Name: "compression.zstd.level", Type: Int, Default: "3", Synonym: "compression.zstd.level", Min: -131072, Max: 22,
		Doc: "Level for zstd when compression.type is zstd."},
	{Name: "delete.retention.ms", Type: Long, Default: "86400000", Synonym: "log.cleaner.delete.retention.ms", Min: 0,
		Doc: "How long delete tombstones are kept on compacted topics."},
	{Name: "file.delete.delay.ms", Type: Long, Default: "60000", Synonym: "log.segment.delete.delay.ms", Min: 0,
		Doc: "Time to wait before deleting a file from the filesystem."},
	{Name: "flush.messages", Type: Long, Default: "1", Synonym: "log.flush.interval.messages", Min: 1,
		Doc: "Messages accumulated before data is fsynced. Potok's default of 1 makes every acknowledged write durable, group-committed across producers; Kafka's default is Long.MAX_VALUE."},
	{Name: "flush.ms", Type: Long, Default: maxLong, Synonym: "log.flush.interval.ms", Min: 0,
		Doc: "Maximum time data stays unsynced."},
	{Name: "follower.replication.throttled.replicas", Type: List, Default: "", Synonym: "follower.replication.throttled.replicas",
		Doc: "Replicas whose log replication is throttled on the follower side."},
	{Name: "index.interval.bytes", Type: Int, Default: "4096", Synonym: "log.index.interval.bytes", Min: 0,
		Doc: "How often an offset index entry is added."},
	{Name: "leader.replication.throttled.replicas", Type: List, Default: "", Synonym: "leader.replication.throttled.replicas",
		Doc: "Replicas whose log replication is throttled on the leader side."},
	{Name: "local.retention.bytes", Type: Long, Default: "-2", Synonym: "log.local.retention.bytes", Min: -2,
		Doc: "Local retention with tiered storage; -2 means retention.bytes. Tiered storage is not supported."},
	{Name: "local.retention.ms", Type: Long, Default: "-2", Synonym: "log.local.retention.ms", Min: -2,
		Doc: "Local retention with tiered storage; -2 means retention.ms. Tiered storage is not supported."},
	{Name: "max.compaction.lag.ms", Type: Long, Default: maxLong, Synonym: "log.cleaner.max.compaction.lag.ms", Min: 1,
		Doc: "Maximum time a message stays ineligible for compaction."},
	{Name: "max.message.bytes", Type: Int, Default: "1048588", Synonym: "message.max.bytes", Min: 0,
		Doc: "Largest record batch size allowed."},
	{Name: "message.timestamp.after.max.ms", Type: Long, Default: maxLong, Synonym: "log.message.timestamp.after.max.ms", Min: 0,
		Doc: "Largest allowed gap by which a CreateTime timestamp may be ahead of the broker's clock."},
	{Name: "message.timestamp.before.max.ms", Type: Long, Default: maxLong, Synonym: "log.message.timestamp.before.max.ms", Min: 0,
		Doc: "Largest allowed gap by which a CreateTime timestamp may be behind the broker's clock."},
	{Name: "message.timestamp.type", Type: String, Default: "CreateTime", Synonym: "log.message.timestamp.type",
		Enum: []string{"CreateTime", "LogAppendTime"}, Doc: "Whether record timestamps are the producer's or the broker's."},
	{Name: "min.cleanable.dirty.ratio", Type: Double, Default: "0.5", Synonym: "log.cleaner.min.cleanable.ratio", Min: 0, Max: 1,
		Doc: "Minimum ratio of dirty log to total log before compaction runs."},
	{Name: "min.compaction.lag.ms", Type: Long, Default: "0", Synonym: "log.cleaner.min.compaction.lag.ms", Min: 0,
		Doc: "Minimum time a message stays uncompacted."},
	{Name: "min.insync.replicas", Type: Int, Default: "1", Synonym: "min.insync.replicas", Min: 1,
		Doc: "Minimum in-sync replicas that must acknowledge an acks=all write."},
	{Name: "preallocate", Type: Boolean, Default: "false", Synonym: "log.preallocate",
		Doc: "Preallocate the file on disk when creating a segment."},
	{Name: "remote.storage.enable", Type: Boolean, Default: "false",
		Doc: "Tiered storage; not supported by Potok, only false is accepted.",
		Validate: func(v string) error {
			if v == "true" {
				return fmt.Errorf("remote.storage.enable: tiered storage is not supported")
			}
			return nil
		}},
	{Name: "remote.log.copy.disable", Type: Boolean, Default: "false", Doc: "Tiered storage copy switch; no effect without tiered storage."},
	{Name: "remote.log.delete.on.disable", Type: Boolean, Default: "false", Doc: "Tiered storage cleanup switch; no effect without tiered storage."},
	{Name: "retention.bytes", Type: Long, Default: "-1", Synonym: "log.retention.bytes", NoMin: true,
		Doc: "Maximum size a partition may grow to before old segments are deleted; -1 for no limit."},
	{Name: "retention.ms", Type: Long, Default: "604800000", Synonym: "log.retention.ms", Min: -1,
		Doc: "Maximum time a segment is kept before deletion; -1 for no limit."},
	{Name: "segment.bytes", Type: Int, Default: "1073741824", Synonym: "log.segment.bytes", Min: 1024 * 1024,
		Doc: "Segment file size."},
	{Name: "segment.index.bytes", Type: Int, Default: "10485760", Synonym: "log.index.size.max.bytes", Min: 4,
		Doc: "Size of the offset index of a segment."},
	{Name: "segment.jitter.ms", Type: Long, Default: "0", Synonym: "log.roll.jitter.ms", Min: 0,
		Doc: "Maximum random jitter subtracted from segment.ms."},
	{Name: "segment.ms", Type: Long, Default: "604800000", Synonym: "log.roll.ms", Min: 1,
		Doc: "Time after which a segment is rolled even if not full."},
	{Name: "unclean.leader.election.enable", Type: Boolean, Default: "false", Synonym: "unclean.leader.election.enable",
		Doc: "Allow out-of-sync replicas to become leader as a last resort."},
})

// TopicSettings is the typed form of a topic's effective settings.
type TopicSettings struct {
	CleanupDelete, CleanupCompact bool
	CompressionType               string
	DeleteRetentionMs             int64
	FileDeleteDelayMs             int64
	FlushMessages, FlushMs        int64
	IndexIntervalBytes            int32
	MaxCompactionLagMs            int64
	MaxMessageBytes               int32
	TimestampAfterMaxMs           int64
	TimestampBeforeMaxMs          int64
	LogAppendTime                 bool
	MinCleanableDirtyRatio        float64
	MinCompactionLagMs            int64
	MinInsyncReplicas             int32
	Preallocate                   bool
	RetentionBytes, RetentionMs   int64
	SegmentBytes                  int32
	SegmentIndexBytes             int32
	SegmentJitterMs, SegmentMs    int64
	UncleanLeaderElection         bool
}

// ParseTopicSettings turns resolved values (every topic setting present and
// valid) into TopicSettings.
func ParseTopicSettings(v map[string]string) TopicSettings {
	i64 := func(n string) int64 { return ParseInt64(v[n]) }
	i32 := func(n string) int32 {
		x := i64(n)
		return int32(max(min(x, math.MaxInt32), math.MinInt32))
	}
	var s TopicSettings
	for _, p := range SplitList(v["cleanup.policy"]) {
		switch p {
		case "delete":
			s.CleanupDelete = true
		case "compact":
			s.CleanupCompact = true
		}
	}
	s.CompressionType = v["compression.type"]
	s.DeleteRetentionMs = i64("delete.retention.ms")
	s.FileDeleteDelayMs = i64("file.delete.delay.ms")
	s.FlushMessages = i64("flush.messages")
	s.FlushMs = i64("flush.ms")
	s.IndexIntervalBytes = i32("index.interval.bytes")
	s.MaxCompactionLagMs = i64("max.compaction.lag.ms")
	s.MaxMessageBytes = i32("max.message.bytes")
	s.TimestampAfterMaxMs = i64("message.timestamp.after.max.ms")
	s.TimestampBeforeMaxMs = i64("message.timestamp.before.max.ms")
	s.LogAppendTime = v["message.timestamp.type"] == "LogAppendTime"
	s.MinCleanableDirtyRatio, _ = strconv.ParseFloat(v["min.cleanable.dirty.ratio"], 64)
	s.MinCompactionLagMs = i64("min.compaction.lag.ms")
	s.MinInsyncReplicas = i32("min.insync.replicas")
	s.Preallocate = v["preallocate"] == "true"
	s.RetentionBytes = i64("retention.bytes")
	s.RetentionMs = i64("retention.ms")
	s.SegmentBytes = i32("segment.bytes")
	s.SegmentIndexBytes = i32("segment.index.bytes")
	s.SegmentJitterMs = i64("segment.jitter.ms")
	s.SegmentMs = i64("segment.ms")
	s.UncleanLeaderElection = v["unclean.leader.election.enable"] == "true"
	return s
}
