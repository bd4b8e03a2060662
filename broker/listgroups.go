package broker

// ListGroups (key 16), v0-v5.
//
// Served by the group coordinator (coordinator/admin.go): every group of
// the __consumer_offsets partitions this node hosts, classic and KIP-848,
// filtered by state (v4+) and by type, "classic" or "consumer" (v5+). A
// partition still loading sets COORDINATOR_LOAD_IN_PROGRESS beside the
// groups of the others, as Kafka does.

import (
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleListGroups(r *protocol.Request) {
	req := r.Msg.(*kmsg.ListGroupsRequest)
	b.groups.ListGroups(req, func(resp *kmsg.ListGroupsResponse) { r.Respond(resp) })
}
