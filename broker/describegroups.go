package broker

// DescribeGroups (key 15), v0-v6.
//
// Served by the group coordinator (coordinator/admin.go). States are
// Kafka's (Empty, PreparingRebalance, CompletingRebalance, Stable, Dead);
// member metadata and assignments are given while the group is Stable. An
// unknown group, or a KIP-848 group (ConsumerGroupDescribe describes
// those, as in Kafka 4), is Dead, with GROUP_ID_NOT_FOUND from v6
// (KIP-1043). Authorized operations (v3+) list every group operation: there
// is no authorizer yet.

import (
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleDescribeGroups(r *protocol.Request) {
	req := r.Msg.(*kmsg.DescribeGroupsRequest)
	b.groups.DescribeGroups(req, func(resp *kmsg.DescribeGroupsResponse) { r.Respond(resp) })
}
