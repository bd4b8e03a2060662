// Package broker serves Kafka's APIs on top of the partition logs
// (logstore), the metadata image (metadata) and, later, the coordinators.
//
// # Layout
//
// One file per Kafka API, named after it (produce.go, fetch.go, ...), each
// opening with the versions it serves and where it differs from Kafka. The
// table in registry.go lists every API with its version range; it drives both
// dispatch and the ApiVersions answer, so the broker never advertises what it
// does not serve.
//
// # Partitions and waiting
//
// A partition (partition.go) wraps its log with the leader epoch and the high
// watermark. Requests that must wait never park a goroutine: an acks=all
// Produce registers a waiter for "high watermark ≥ my last offset + 1", a
// long-poll Fetch registers on every partition it reads, and the move of a
// high watermark wakes them (Kafka's purgatory, kfake's watchFetch). Each
// waiting request has one deadline timer.
//
// On a single node the high watermark of a topic whose every acknowledged
// write must be durable (flush.messages=1, Potok's default) follows the
// log's durable offset, advanced by the group-committing flusher; so a
// consumer never reads a record a crash could take back, and acks=all means
// "on disk". Topics that ask for less (flush.messages > 1) expose data as
// soon as it is appended.
//
// # Locks
//
// Broker.mu guards the topic table swap (readers load it atomically without
// the lock). partition.mu guards its waiter lists; it is never held while
// calling into the log or while answering a request. Order: Broker.mu, then
// metadata.Controller's lock (taken inside Commit), then partition.mu.
package broker
