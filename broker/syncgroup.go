package broker

// SyncGroup (key 14), v0-v5.
//
// Served by the group coordinator (coordinator/classic.go). Followers wait
// for the leader's assignment; everyone is answered once it is written to
// __consumer_offsets. A "consumer" member the leader assigned nothing gets
// a valid empty ConsumerMemberAssignment instead of zero bytes, which Java,
// franz-go and sarama cannot parse (kfake's fix, franz-go#1227). v5 checks
// protocol_type and protocol_name.

import (
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleSyncGroup(r *protocol.Request) {
	req := r.Msg.(*kmsg.SyncGroupRequest)
	b.groups.SyncGroup(req, func(resp *kmsg.SyncGroupResponse) { r.Respond(resp) })
}
