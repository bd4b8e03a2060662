package broker

// IncrementalAlterConfigs (key 44), v0-v1 (KIP-339).
//
// Changes only the configs named: SET a value, DELETE an override (the
// config falls back to the broker's or the default), APPEND items to or
// SUBTRACT items from a list config (starting from the resource's own value,
// else the effective one). Each resource succeeds or fails on its own;
// validate_only checks and changes nothing. BROKER_LOGGER resources set or
// reset this process's log levels at runtime (KIP-412). What is checked and
// the error codes are in configs.go.

import (
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleIncrementalAlterConfigs(r *protocol.Request) {
	req := r.Msg.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	resources := make([]alterResource, len(req.Resources))
	for i, res := range req.Resources {
		ar := alterResource{typ: res.ResourceType, name: res.ResourceName}
		for _, c := range res.Configs {
			ar.ops = append(ar.ops, configOp{name: c.Name, op: c.Op, value: c.Value})
		}
		resources[i] = ar
	}
	b.alterConfigs(resources, false, req.ValidateOnly)
	for _, ar := range resources {
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = ar.typ, ar.name
		if ar.err != nil {
			rr.ErrorCode = ar.err.err.Code
			rr.ErrorMessage = errMsg(ar.err.msg)
		}
		resp.Resources = append(resp.Resources, rr)
	}
	r.Respond(resp)
}
