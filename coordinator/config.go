package coordinator

import (
	"log/slog"
	"time"
)

// Config holds the group.* and offsets.* settings, with Kafka's meaning.
type Config struct {
	// InitialRebalanceDelay is how long the first rebalance of an empty
	// classic group waits for more members (group.initial.rebalance.delay.ms).
	InitialRebalanceDelay time.Duration
	// MinSessionTimeout and MaxSessionTimeout bound the session timeout a
	// classic member may ask for (group.min/max.session.timeout.ms).
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// MaxGroupSize is group.max.size.
	MaxGroupSize int
	// OffsetsRetention is offsets.retention.minutes; RetentionCheckInterval
	// is offsets.retention.check.interval.ms.
	OffsetsRetention, RetentionCheckInterval time.Duration
	// OffsetMetadataMaxBytes is offset.metadata.max.bytes.
	OffsetMetadataMaxBytes int
	// CommitTimeout bounds how long an answer waits for its write to be
	// committed (Kafka's offsets.commit.timeout.ms).
	CommitTimeout time.Duration
	// ConsumerHeartbeatInterval and ConsumerSessionTimeout are the KIP-848
	// group.consumer.heartbeat.interval.ms and session.timeout.ms.
	ConsumerHeartbeatInterval, ConsumerSessionTimeout time.Duration
	// ConsumerAssignors lists the server-side assignors in preference
	// order (group.consumer.assignors); the first is the default.
	ConsumerAssignors []string
}

// DefaultConfig is Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		InitialRebalanceDelay:     3 * time.Second,
		MinSessionTimeout:         6 * time.Second,
		MaxSessionTimeout:         30 * time.Minute,
		MaxGroupSize:              1<<31 - 1,
		OffsetsRetention:          7 * 24 * time.Hour,
		RetentionCheckInterval:    10 * time.Minute,
		OffsetMetadataMaxBytes:    4096,
		CommitTimeout:             5 * time.Second,
		ConsumerHeartbeatInterval: 5 * time.Second,
		ConsumerSessionTimeout:    45 * time.Second,
		ConsumerAssignors:         []string{"uniform", "range"},
	}
}

// Options configure a group coordinator.
type Options struct {
	Config
	// Topics is the view of the cluster's topics.
	Topics Topics
	// Clock is the time source; nil means the wall clock.
	Clock Clock
	// Logger receives the coordinator's logs; nil discards them.
	Logger *slog.Logger
}
