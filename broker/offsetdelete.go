package broker

// OffsetDelete (key 47), v0.
//
// Served by the group coordinator (coordinator/offsets.go): deletes a
// group's committed offsets (tombstones), except for topics an active
// member consumes (GROUP_SUBSCRIBED_TO_TOPIC per partition).
// GROUP_ID_NOT_FOUND for unknown groups, NON_EMPTY_GROUP for active groups
// not of the "consumer" protocol type.

import (
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleOffsetDelete(r *protocol.Request) {
	req := r.Msg.(*kmsg.OffsetDeleteRequest)
	b.groups.OffsetDelete(req, func(resp *kmsg.OffsetDeleteResponse) { r.Respond(resp) })
}
