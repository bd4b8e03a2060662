package broker

// AlterConfigs (key 33), v0-v2.
//
// Replaces the whole dynamic config set of each topic or broker resource:
// configs the request does not name are removed, as in Kafka. Every value
// is checked before anything changes; each resource succeeds or fails on
// its own; validate_only checks and changes nothing. Broker loggers need
// IncrementalAlterConfigs (INVALID_REQUEST here, as in Kafka). What is
// checked and the error codes are in configs.go.

import (
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleAlterConfigs(r *protocol.Request) {
	req := r.Msg.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	resources := make([]alterResource, len(req.Resources))
	for i, res := range req.Resources {
		ar := alterResource{typ: res.ResourceType, name: res.ResourceName}
		for _, c := range res.Configs {
			ar.ops = append(ar.ops, configOp{name: c.Name, op: kmsg.IncrementalAlterConfigOpSet, value: c.Value})
		}
		resources[i] = ar
	}
	b.alterConfigs(resources, true, req.ValidateOnly)
	for _, ar := range resources {
		rr := kmsg.NewAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = ar.typ, ar.name
		if ar.err != nil {
			rr.ErrorCode = ar.err.err.Code
			rr.ErrorMessage = errMsg(ar.err.msg)
		}
		resp.Resources = append(resp.Resources, rr)
	}
	r.Respond(resp)
}
