// Package metadata holds the cluster's metadata as Kafka's KRaft does: a log
// of records (topics, partitions, configs, brokers, producer-id blocks), and
// an immutable Image built by applying them in order. Brokers read the
// current Image through an atomic pointer and never see it change under
// them.
//
// The records follow the shapes of Kafka's metadata records
// (metadata/src/main/resources/common/metadata/*.json): TopicRecord,
// PartitionRecord, PartitionChangeRecord, RemoveTopicRecord, ConfigRecord,
// RegisterBrokerRecord, ProducerIdsRecord, FeatureLevelRecord.
//
// On a single node the log is a local file (LocalLog): every committed batch
// of records is framed, checksummed and fdatasynced before it is applied. In
// a cluster the same records flow through a replicated log; the Image and
// everything that reads it stay the same.
//
// # The local log file
//
//	metadata.log:  frame*
//	frame:         uint32 length | uint32 crc32c(payload) | payload
//	payload:       uint8 record type | uint8 version | JSON body
//
// A batch of records (one admin operation) is written with one write and one
// fdatasync. On open, frames are replayed until the first one that is short or
// fails its CRC; that torn tail is truncated before anything new is written.
package metadata
