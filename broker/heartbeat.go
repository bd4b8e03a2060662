package broker

// Heartbeat (key 12), v0-v4.
//
// Served by the group coordinator (coordinator/classic.go): it keeps a
// classic member's session alive and tells it, with REBALANCE_IN_PROGRESS,
// to rejoin.

import (
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleHeartbeat(r *protocol.Request) {
	req := r.Msg.(*kmsg.HeartbeatRequest)
	b.groups.Heartbeat(req, func(resp *kmsg.HeartbeatResponse) { r.Respond(resp) })
}
