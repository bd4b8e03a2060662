package broker

// OffsetCommit (key 8), v2-v9.
//
// Served by the group coordinator (coordinator/offsets.go). The answer comes
// once the offsets are written to __consumer_offsets and committed (on disk
// on a single node). Generation -1 with no member id is a "simple" commit,
// accepted while the group has no active members; it creates the group if
// needed. Unknown topics or partitions and metadata over
// offset.metadata.max.bytes fail per partition. v2-v4 retention_time_ms
// sets a per-commit expiry (written as OffsetCommitValue v1, as Kafka
// does). v9 is KIP-848-aware: the generation is the member epoch. v10
// (topic ids) is not served yet.

import (
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleOffsetCommit(r *protocol.Request) {
	req := r.Msg.(*kmsg.OffsetCommitRequest)
	b.groups.OffsetCommit(req, func(resp *kmsg.OffsetCommitResponse) { r.Respond(resp) })
}
