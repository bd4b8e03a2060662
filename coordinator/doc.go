// Package coordinator holds Kafka's coordinators: the group coordinator
// (the classic protocol and KIP-848) and, later, the transaction
// coordinator. Their state lives in internal topics (__consumer_offsets,
// __transaction_state) in Kafka's own record formats; a coordinator rebuilds
// its state by replaying a partition when it starts hosting it.
//
// The broker gives a coordinator what it needs through small interfaces
// (PartitionLog, Topics, Clock), so this package knows nothing of
// connections, listeners or the log's files. Requests and responses are
// kmsg messages; each entry point takes a callback that is called exactly
// once, possibly later and from another goroutine.
//
// # Who owns what
//
//	Groups                     the broker's coordinator: the hosted shards
//	└── shard                  one __consumer_offsets partition: its groups, its log,
//	    │                      one state machine run under shard.mu
//	    └── group              offsets (committed, and transactional ones pending)
//	        ├── classic        members, generation, join and sync timers
//	        └── consumerGroup  KIP-848: epochs, target assignment, owners, members
//
// A group belongs to the partition abs(hash(group id)) % partitions
// (PartitionFor). Groups of different partitions never share a lock, so
// rebalances of many groups proceed side by side; none waits for I/O while
// holding a lock, and the data path (Produce, Fetch) never takes one of
// these locks.
//
// # An operation
//
//	request ─▶ shard.do: lock ─▶ validate, change state, append records ─▶ unlock
//	                                                                         │
//	  answer ◀── fire ◀── PartitionLog.WhenCommitted(end of what was written)┘
//
// State and records change together under the lock, in the same order.
// Every answer that reports or depends on state waits until the log is
// committed up to the shard's last write (durable on a single node), so a
// client never acts on something a crash could take back; a timer answers
// COORDINATOR_NOT_AVAILABLE if that takes longer than CommitTimeout. A
// JoinGroup or SyncGroup that must wait for the rebalance is parked in its
// member as a pending answer; timers (session, rebalance, sync, initial
// delay, KIP-848 session and revocation deadlines) are per group or per
// member, created through the Clock, and fire into shard.do. Closing a
// shard answers every pending answer with NOT_COORDINATOR.
//
// # Locks
//
// Order: Groups.mu, then shard.mu, then pending.mu and shard.pmu (leaves).
// shard.mu is never held while an answer is given or while waiting on the
// log: PartitionLog.WhenCommitted is called after it is released, and the
// callbacks it runs take only leaf locks. PartitionLog.Append is called
// with shard.mu held (records must be appended in state order); it must
// not call back into the coordinator.
//
// # Records
//
// A record key starts with an int16, the record type; a value with an int16
// version; a null value is a tombstone. See records.go for the layouts:
//
//	key type  record                              written when
//	0, 1      OffsetCommit (group, topic, part)   a commit; tombstone on delete/expiry
//	2         GroupMetadata (classic group)       a generation's assignment is synced, a group becomes Empty;
//	                                              tombstone when the group is deleted
//	3         ConsumerGroupMetadata               a KIP-848 group epoch moves
//	5         ConsumerGroupMemberMetadata         a member joins or changes its subscription
//	6, 7      target assignment (epoch, member)   the target assignment is computed
//	8         CurrentMemberAssignment             a member's epoch or partitions change
//
// Replay applies records in log order: the last record of a key wins and a
// tombstone deletes, as compaction leaves them. A record that does not
// decode is skipped with a warning (FuzzReplayRecord, FuzzReplayBatch).
// Offset commits in transactional batches wait for their producer's COMMIT
// or ABORT marker; until then OffsetFetch with require_stable answers
// UNSTABLE_OFFSET_COMMIT for them. The broker calls CompleteTxn for each
// marker it writes here; a marker that comes while the partition loads is
// kept and applied when the replay ends, since the replay stops at the high
// watermark and may not have read it. At its marker, a transaction's offset
// replaces only a commit written before its own (Kafka's olderThan).
//
// # Where Potok differs from Kafka
//
//   - Offsets and group state change in memory when their records are
//     appended, and answers wait for the commit. Kafka's coordinators keep
//     uncommitted state aside (pending commits, timeline snapshots), so a
//     non-stable OffsetFetch from another client never sees an offset whose
//     write is not committed yet; here it may, for the short time between
//     append and commit. A failed append is answered NOT_COORDINATOR and
//     changes nothing; a commit that never completes (the partition goes
//     away) leaves the in-memory state ahead of the log until the shard is
//     dropped.
//   - A classic group and a KIP-848 group do not mix: JoinGroup for a
//     KIP-848 group with members gets INCONSISTENT_GROUP_PROTOCOL, a
//     ConsumerGroupHeartbeat for a classic group with members gets
//     GROUP_ID_NOT_FOUND; an empty group changes kind. Kafka 4 migrates
//     groups online between the protocols (group.consumer.migration.policy).
//   - KIP-848 offset commits and fetches accept an epoch older than the
//     member's for partitions it held at that epoch (KIP-1251, Kafka 4.3);
//     earlier Kafka versions answer STALE_MEMBER_EPOCH.
//   - The KIP-848 assignors ignore racks; regular expressions are resolved
//     against the current topics on every heartbeat rather than by a
//     background refresh, and are not persisted (type 16 records are not
//     written; a load resolves them again). The metadata hash that detects
//     topic changes is Potok's own (FNV-64), not Kafka's.
//   - FindCoordinator names the coordinator as soon as the partition exists,
//     as Kafka does; while it is being replayed, the group APIs answer
//     COORDINATOR_LOAD_IN_PROGRESS.
//   - Offsets of topics that no longer exist are dropped when a partition is
//     loaded, besides when a topic is deleted.
package coordinator
