package broker

// DeleteGroups (key 42), v0-v2.
//
// Served by the group coordinator (coordinator/admin.go): an empty group's
// offsets and metadata are deleted with tombstones, each group answered
// once they are committed. NON_EMPTY_GROUP while it has members,
// GROUP_ID_NOT_FOUND for unknown groups.

import (
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleDeleteGroups(r *protocol.Request) {
	req := r.Msg.(*kmsg.DeleteGroupsRequest)
	b.groups.DeleteGroups(req, func(resp *kmsg.DeleteGroupsResponse) { r.Respond(resp) })
}
