package broker

// ConsumerGroupDescribe (key 69), v0-v1.
//
// Served by the group coordinator (coordinator/admin.go): a KIP-848
// group's epochs, assignor and members with their current and target
// assignments. Classic and unknown groups get GROUP_ID_NOT_FOUND.

import (
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleConsumerGroupDescribe(r *protocol.Request) {
	req := r.Msg.(*kmsg.ConsumerGroupDescribeRequest)
	b.groups.ConsumerGroupDescribe(req, func(resp *kmsg.ConsumerGroupDescribeResponse) { r.Respond(resp) })
}
