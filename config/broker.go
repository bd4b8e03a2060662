package config

import (
	"fmt"
	"strings"
)

// Broker is the broker-level settings Potok reads, with Kafka's names.
// PotokDefault marks where a development single node differs from Kafka.
var Broker = newSet([]*Def{
	// Identity and listeners.
	{Name: "node.id", Type: Int, Default: "1", ReadOnly: true, Min: 0, Doc: "This node's id."},
	{Name: "broker.id", Type: Int, Default: "-1", ReadOnly: true, Min: -1, Doc: "Alias of node.id kept for old configs."},
	{Name: "process.roles", Type: List, Default: "broker,controller", ReadOnly: true, Enum: []string{"broker", "controller"},
		Doc: "Roles of this process; a single node is both broker and controller."},
	{Name: "listeners", Type: String, Default: "PLAINTEXT://localhost:9092", ReadOnly: true, Validate: validateListeners,
		Doc: "Comma-separated NAME://host:port listeners to bind."},
	{Name: "advertised.listeners", Type: String, Default: "", Nullable: true, ReadOnly: true, Validate: validateListeners,
		Doc: "NAME://host:port endpoints given to clients; defaults to listeners, with wildcard hosts replaced by localhost."},
	{Name: "listener.security.protocol.map", Type: String, ReadOnly: true,
		Default: "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
		Doc:     "Security protocol of each listener name; Potok serves PLAINTEXT."},
	{Name: "inter.broker.listener.name", Type: String, Default: "", Nullable: true, ReadOnly: true, Doc: "Listener used between brokers."},
	{Name: "controller.listener.names", Type: String, Default: "", Nullable: true, ReadOnly: true, Doc: "Listeners used by controllers."},
	{Name: "broker.rack", Type: String, Default: "", Nullable: true, ReadOnly: true, Doc: "Rack of this broker."},
	{Name: "log.dirs", Type: String, Default: "./potok-data", Nullable: true, ReadOnly: true,
		Doc: "Directories holding the log data (PotokDefault: ./potok-data)."},
	{Name: "log.dir", Type: String, Default: "/tmp/kafka-logs", ReadOnly: true, Doc: "Log directory used when log.dirs is not set."},
	{Name: "metadata.log.dir", Type: String, Default: "", Nullable: true, ReadOnly: true,
		Doc: "Directory of the metadata log; defaults to the first log directory."},

	// Network limits.
	{Name: "socket.request.max.bytes", Type: Int, Default: "104857600", Min: 1, ReadOnly: true, Doc: "Largest request accepted."},
	{Name: "queued.max.request.bytes", NoMin: true, Type: Long, Default: "-1", ReadOnly: true,
		Doc: "Bytes of requests in flight before reading pauses; -1 means 1 GiB in Potok."},
	{Name: "max.connections", Type: Int, Default: "2147483647", Min: 0, ReadOnly: true, Doc: "Connections the broker accepts at once."},
	{Name: "max.connections.per.ip", Type: Int, Default: "2147483647", Min: 0, ReadOnly: true, Doc: "Connections accepted from one address."},
	{Name: "connections.max.idle.ms", NoMin: true, Type: Long, Default: "600000", ReadOnly: true, Doc: "Idle connections are closed after this time."},
	{Name: "fetch.max.bytes", Type: Int, Default: "57671680", Min: 1024, ReadOnly: true, Doc: "Largest fetch response."},

	// Topics.
	{Name: "num.partitions", Type: Int, Default: "1", Min: 1, Doc: "Partitions of an automatically or default-created topic."},
	{Name: "default.replication.factor", Type: Int, Default: "1", Min: 1, Doc: "Replication factor of automatically created topics."},
	{Name: "auto.create.topics.enable", Type: Boolean, Default: "true", ReadOnly: true, Doc: "Create topics named in Metadata requests."},
	{Name: "delete.topic.enable", Type: Boolean, Default: "true", ReadOnly: true, Doc: "Allow deleting topics."},
	{Name: "message.max.bytes", Type: Int, Default: "1048588", Min: 0, Doc: "Largest record batch; topic max.message.bytes."},
	{Name: "compression.type", Type: String, Default: "producer", Enum: []string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"},
		Doc: "Default compression.type of topics."},
	{Name: "compression.gzip.level", Type: Int, Default: "-1", Min: -1, Max: 9, Doc: "Default gzip level."},
	{Name: "compression.lz4.level", Type: Int, Default: "9", Min: 1, Max: 17, Doc: "Default lz4 level."},
	{Name: "compression.zstd.level", Type: Int, Default: "3", Min: -131072, Max: 22, Doc: "Default zstd level."},
	{Name: "min.insync.replicas", Type: Int, Default: "1", Min: 1, Doc: "Default min.insync.replicas of topics."},
	{Name: "unclean.leader.election.enable", Type: Boolean, Default: "false", Doc: "Default unclean.leader.election.enable of topics."},
	{Name: "follower.replication.throttled.replicas", Type: List, Default: "", Doc: "Default of the topic setting."},
	{Name: "leader.replication.throttled.replicas", Type: List, Default: "", Doc: "Default of the topic setting."},

	// Log.
	{Name: "log.cleanup.policy", Type: List, Default: "delete", Enum: []string{"delete", "compact"}, Doc: "Default cleanup.policy."},
	{Name: "log.retention.ms", Type: Long, Default: "", Nullable: true, Min: -1,
		Alternatives: []Alternative{{"log.retention.minutes", 60_000}, {"log.retention.hours", 3_600_000}},
		Doc:          "Default retention.ms; falls back to log.retention.minutes, then log.retention.hours."},
	{Name: "log.retention.minutes", NoMin: true, Type: Int, Default: "", Nullable: true, ReadOnly: true, Doc: "Retention in minutes."},
	{Name: "log.retention.hours", NoMin: true, Type: Int, Default: "168", ReadOnly: true, Doc: "Retention in hours."},
	{Name: "log.retention.bytes", NoMin: true, Type: Long, Default: "-1", Doc: "Default retention.bytes."},
	{Name: "log.segment.bytes", Type: Int, Default: "1073741824", Min: 1024 * 1024, Doc: "Default segment.bytes."},
	{Name: "log.roll.ms", Type: Long, Default: "", Nullable: true, Min: 1,
		Alternatives: []Alternative{{"log.roll.hours", 3_600_000}}, Doc: "Default segment.ms; falls back to log.roll.hours."},
	{Name: "log.roll.hours", Type: Int, Default: "168", Min: 1, ReadOnly: true, Doc: "Segment roll time in hours."},
	{Name: "log.roll.jitter.ms", NoMin: true, Type: Long, Default: "", Nullable: true,
		Alternatives: []Alternative{{"log.roll.jitter.hours", 3_600_000}}, Doc: "Default segment.jitter.ms."},
	{Name: "log.roll.jitter.hours", Type: Int, Default: "0", Min: 0, ReadOnly: true, Doc: "Roll jitter in hours."},
	{Name: "log.index.size.max.bytes", Type: Int, Default: "10485760", Min: 4, Doc: "Default segment.index.bytes."},
	{Name: "log.index.interval.bytes", Type: Int, Default: "4096", Min: 0, Doc: "Default index.interval.bytes."},
	{Name: "log.flush.interval.messages", Type: Long, Default: "1", Min: 1,
		Doc: "Default flush.messages (PotokDefault: 1, every acknowledged write is durable)."},
	{Name: "log.flush.interval.ms", NoMin: true, Type: Long, Default: "", Nullable: true, Doc: "Default flush.ms."},
	{Name: "log.preallocate", Type: Boolean, Default: "false", Doc: "Default preallocate."},
	{Name: "log.segment.delete.delay.ms", Type: Long, Default: "60000", Min: 0, Doc: "Default file.delete.delay.ms."},
	{Name: "log.message.timestamp.type", Type: String, Default: "CreateTime", Enum: []string{"CreateTime", "LogAppendTime"},
		Doc: "Default message.timestamp.type."},
	{Name: "log.message.timestamp.before.max.ms", Type: Long, Default: maxLong, Min: 0, Doc: "Default message.timestamp.before.max.ms."},
	{Name: "log.message.timestamp.after.max.ms", Type: Long, Default: maxLong, Min: 0, Doc: "Default message.timestamp.after.max.ms."},
	{Name: "log.cleaner.enable", Type: Boolean, Default: "true", ReadOnly: true, Doc: "Run the log cleaner for compacted topics."},
	{Name: "log.cleaner.delete.retention.ms", Type: Long, Default: "86400000", Min: 0, Doc: "Default delete.retention.ms."},
	{Name: "log.cleaner.min.compaction.lag.ms", Type: Long, Default: "0", Min: 0, Doc: "Default min.compaction.lag.ms."},
	{Name: "log.cleaner.max.compaction.lag.ms", Type: Long, Default: maxLong, Min: 1, Doc: "Default max.compaction.lag.ms."},
	{Name: "log.cleaner.min.cleanable.ratio", Type: Double, Default: "0.5", Min: 0, Max: 1, Doc: "Default min.cleanable.dirty.ratio."},
	{Name: "log.cleaner.backoff.ms", Type: Long, Default: "15000", Min: 0, ReadOnly: true, Doc: "Sleep between cleaner passes."},
	{Name: "log.retention.check.interval.ms", Type: Long, Default: "300000", Min: 1, ReadOnly: true, Doc: "How often retention runs."},
	{Name: "num.recovery.threads.per.data.dir", Type: Int, Default: "2", Min: 1, ReadOnly: true,
		Doc: "Partitions loaded (and recovered after a crash) at once per log directory at startup."},
	{Name: "log.local.retention.ms", Type: Long, Default: "-2", Min: -2, Doc: "Default local.retention.ms."},
	{Name: "log.local.retention.bytes", Type: Long, Default: "-2", Min: -2, Doc: "Default local.retention.bytes."},
	{Name: "producer.id.expiration.ms", Type: Int, Default: "86400000", Min: 1, ReadOnly: true, Doc: "Idle time after which producer state expires."},

	// Groups.
	{Name: "offsets.topic.num.partitions", Type: Int, Default: "50", Min: 1, ReadOnly: true, Doc: "Partitions of __consumer_offsets."},
	{Name: "offsets.topic.replication.factor", Type: Short, Default: "1", Min: 1, ReadOnly: true,
		Doc: "Replication factor of __consumer_offsets (PotokDefault: 1; Kafka: 3)."},
	{Name: "offsets.topic.segment.bytes", Type: Int, Default: "104857600", Min: 1, ReadOnly: true, Doc: "Segment size of __consumer_offsets."},
	{Name: "offsets.retention.minutes", Type: Int, Default: "10080", Min: 1, ReadOnly: true, Doc: "Offsets of empty groups expire after this."},
	{Name: "offsets.retention.check.interval.ms", Type: Long, Default: "600000", Min: 1, ReadOnly: true, Doc: "How often offsets expire."},
	{Name: "offset.metadata.max.bytes", NoMin: true, Type: Int, Default: "4096", ReadOnly: true, Doc: "Largest offset commit metadata."},
	{Name: "group.initial.rebalance.delay.ms", Type: Int, Default: "3000", ReadOnly: true, Doc: "Wait for more members before the first rebalance."},
	{Name: "group.min.session.timeout.ms", Type: Int, Default: "6000", ReadOnly: true, Doc: "Smallest session timeout a member may ask for."},
	{Name: "group.max.session.timeout.ms", Type: Int, Default: "1800000", ReadOnly: true, Doc: "Largest session timeout a member may ask for."},
	{Name: "group.max.size", Type: Int, Default: "2147483647", Min: 1, ReadOnly: true, Doc: "Largest consumer group."},
	{Name: "group.consumer.heartbeat.interval.ms", Type: Int, Default: "5000", Min: 1, ReadOnly: true, Doc: "KIP-848 heartbeat interval."},
	{Name: "group.consumer.session.timeout.ms", Type: Int, Default: "45000", Min: 1, ReadOnly: true, Doc: "KIP-848 session timeout."},
	{Name: "group.consumer.assignors", Type: List, Default: "uniform,range", ReadOnly: true, Doc: "KIP-848 server-side assignors."},

	// Transactions.
	{Name: "transaction.state.log.num.partitions", Type: Int, Default: "50", Min: 1, ReadOnly: true, Doc: "Partitions of __transaction_state."},
	{Name: "transaction.state.log.replication.factor", Type: Short, Default: "1", Min: 1, ReadOnly: true,
		Doc: "Replication factor of __transaction_state (PotokDefault: 1; Kafka: 3)."},
	{Name: "transaction.state.log.min.isr", Type: Int, Default: "1", Min: 1, ReadOnly: true, Doc: "min.insync.replicas of __transaction_state."},
	{Name: "transaction.state.log.segment.bytes", Type: Int, Default: "104857600", Min: 1, ReadOnly: true, Doc: "Segment size of __transaction_state."},
	{Name: "transaction.max.timeout.ms", Type: Int, Default: "900000", Min: 1, ReadOnly: true, Doc: "Largest transaction timeout a producer may ask for."},
	{Name: "transactional.id.expiration.ms", Type: Int, Default: "604800000", Min: 1, ReadOnly: true, Doc: "Idle transactional ids expire after this."},
	{Name: "transaction.remove.expired.transaction.cleanup.interval.ms", Type: Int, Default: "3600000", Min: 1, ReadOnly: true,
		Doc: "How often expired transactional ids are removed."},
	{Name: "transaction.abort.timed.out.transaction.cleanup.interval.ms", Type: Int, Default: "10000", Min: 1, ReadOnly: true,
		Doc: "How often timed-out transactions are aborted."},

	// Quotas (Kafka's QuotaConfig): rates are measured over quota.window.num
	// windows of quota.window.size.seconds.
	{Name: "quota.window.num", Type: Int, Default: "11", Min: 1, ReadOnly: true, Doc: "Number of samples kept for client quota rates."},
	{Name: "quota.window.size.seconds", Type: Int, Default: "1", Min: 1, ReadOnly: true, Doc: "Time span of each client quota sample."},

	// Operations (Potok's own).
	{Name: "potok.http.listener", Type: String, Default: "", Nullable: true, ReadOnly: true, Validate: validateHostPort,
		Doc: "host:port of the HTTP admin listener serving /metrics, /healthz, /readyz and /loggers; empty (the default) turns it off, port 0 picks a free port."},

	{Name: "potok.log.page.cache.tail.bytes", Type: Long, Default: "0", Min: 0, ReadOnly: true,
		Doc: "When positive, how much of each partition's log behind its last fsync stays in the page cache: older pages are dropped once durable, and consumers reading them are served with O_DIRECT reads into buffers the broker reuses. 0 (the default) leaves the page cache to the kernel."},

	// Replication.
	{Name: "replica.lag.time.max.ms", Type: Long, Default: "30000", ReadOnly: true, Doc: "A follower that has not caught up in this time leaves the ISR."},
})

func validateHostPort(v string) error {
	if v == "" {
		return nil
	}
	i := strings.LastIndexByte(v, ':')
	var port int
	if i < 0 {
		return fmt.Errorf("%q is not host:port", v)
	}
	if _, err := fmt.Sscanf(v[i+1:], "%d", &port); err != nil || port < 0 || port > 65535 {
		return fmt.Errorf("%q has an invalid port", v)
	}
	return nil
}

func validateListeners(v string) error {
	for _, l := range SplitList(v) {
		if _, _, _, err := ParseListener(l); err != nil {
			return err
		}
	}
	return nil
}

// ParseListener parses NAME://host:port.
func ParseListener(s string) (name, host string, port int, err error) {
	name, rest, ok := strings.Cut(s, "://")
	if !ok || name == "" {
		return "", "", 0, fmt.Errorf("listener %q is not NAME://host:port", s)
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return "", "", 0, fmt.Errorf("listener %q has no port", s)
	}
	host = strings.Trim(rest[:i], "[]")
	if _, err := fmt.Sscanf(rest[i+1:], "%d", &port); err != nil || port < 0 || port > 65535 {
		return "", "", 0, fmt.Errorf("listener %q has an invalid port", s)
	}
	return strings.ToUpper(name), host, port, nil
}
