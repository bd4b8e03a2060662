package broker

// ConsumerGroupHeartbeat (key 68), v0-v1.
//
// KIP-848 consumer groups, served by the group coordinator
// (coordinator/consumer.go): server-side assignment with the uniform and
// range assignors (group.consumer.assignors), subscriptions by topic name
// or by RE2 regular expression (v1), member epochs, and reconciliation that
// gives a partition to its new owner only after the previous one stopped
// reporting it. v1 semantics (KIP-1082): the client makes its member id;
// a v0 join without one gets one from the coordinator. Assignments name
// topics by id. A group with classic members refuses KIP-848 members
// (GROUP_ID_NOT_FOUND) and the other way round; Kafka's online migration
// between the protocols is not implemented. With the group.version feature
// finalized below 1 the API answers UNSUPPORTED_VERSION, as Kafka does.

import (
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleConsumerGroupHeartbeat(r *protocol.Request) {
	req := r.Msg.(*kmsg.ConsumerGroupHeartbeatRequest)
	if b.ctrl.Image().Feature("group.version") < 1 {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		msg := "the KIP-848 consumer group protocol is disabled (group.version < 1)"
		resp.ErrorMessage = &msg
		r.Respond(resp)
		return
	}
	b.groups.ConsumerGroupHeartbeat(groupClient(r), req, func(resp *kmsg.ConsumerGroupHeartbeatResponse) { r.Respond(resp) })
}
