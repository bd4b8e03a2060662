package broker

// OffsetFetch (key 9), v1-v9.
//
// Served by the group coordinator (coordinator/offsets.go). Partitions
// never committed get offset -1, metadata "" and no error. A null topic
// list (v2+) asks for every committed offset. Group errors are per
// partition in v1, top-level in v2-v7 and per group in v8+, which batch
// groups. require_stable (v7+) answers UNSTABLE_OFFSET_COMMIT for
// partitions with a pending transactional commit. v9 carries the KIP-848
// member id and epoch. v10 (topic ids) is not served yet.

import (
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleOffsetFetch(r *protocol.Request) {
	req := r.Msg.(*kmsg.OffsetFetchRequest)
	b.groups.OffsetFetch(req, func(resp *kmsg.OffsetFetchResponse) { r.Respond(resp) })
}
