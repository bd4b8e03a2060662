package broker

// LeaveGroup (key 13), v0-v5.
//
// Served by the group coordinator (coordinator/classic.go). v3+ removes
// several members at once, named by member id or by group.instance.id
// (KIP-345), each with its own error; before v3 the one member's error is
// the response's.

import (
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleLeaveGroup(r *protocol.Request) {
	req := r.Msg.(*kmsg.LeaveGroupRequest)
	b.groups.LeaveGroup(req, func(resp *kmsg.LeaveGroupResponse) { r.Respond(resp) })
}
