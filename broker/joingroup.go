package broker

// JoinGroup (key 11), v0-v9.
//
// Served by the group coordinator (coordinator/classic.go). v0 and v1 stay
// served (kafka-go and old librdkafka use them; KAFKA-19444), and
// MEMBER_ID_REQUIRED (KIP-394) is only asked of v4+ clients without a
// group.instance.id, as Kafka does. The answer may come much later: the
// request waits in the coordinator, not on a goroutine, until the rebalance
// completes or its deadline passes.

import (
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleJoinGroup(r *protocol.Request) {
	req := r.Msg.(*kmsg.JoinGroupRequest)
	b.groups.JoinGroup(groupClient(r), req, func(resp *kmsg.JoinGroupResponse) { r.Respond(resp) })
}
