package broker

// ListConfigResources (key 74), v0-v1 (KIP-1000 as
// ListClientMetricsResources, KIP-1142).
//
// v0 lists client-metrics resources; Potok has none (client telemetry,
// KIP-714, is not served), so the list is empty. v1 lists the resources of
// the asked types, every served type when none is asked: topics, the
// brokers, their loggers, and none for client metrics and groups
// (no group configs are stored). A type Potok does not know gets
// UNSUPPORTED_VERSION, as Kafka answers it.

import (
	"strconv"

	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleListConfigResources(r *protocol.Request) {
	req := r.Msg.(*kmsg.ListConfigResourcesRequest)
	resp := req.ResponseKind().(*kmsg.ListConfigResourcesResponse)
	resp.ConfigResources = []kmsg.ListConfigResourcesResponseConfigResource{}
	types := map[kmsg.ConfigResourceType]bool{kmsg.ConfigResourceTypeClientMetrics: true}
	if req.Version >= 1 {
		all := []kmsg.ConfigResourceType{kmsg.ConfigResourceTypeTopic, kmsg.ConfigResourceTypeBroker,
			kmsg.ConfigResourceTypeBrokerLogger, kmsg.ConfigResourceTypeClientMetrics, kmsg.ConfigResourceTypeGroupConfig}
		types = map[kmsg.ConfigResourceType]bool{}
		for _, t := range req.ResourceTypes {
			types[kmsg.ConfigResourceType(t)] = true
		}
		if len(types) == 0 {
			for _, t := range all {
				types[t] = true
			}
		}
		for t := range types {
			switch t {
			case kmsg.ConfigResourceTypeTopic, kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger,
				kmsg.ConfigResourceTypeClientMetrics, kmsg.ConfigResourceTypeGroupConfig:
			default:
				resp.ErrorCode = kerr.UnsupportedVersion.Code
				r.Respond(resp)
				return
			}
		}
	}
	add := func(name string, t kmsg.ConfigResourceType) {
		c := kmsg.NewListConfigResourcesResponseConfigResource()
		c.Name, c.Type = name, int8(t)
		resp.ConfigResources = append(resp.ConfigResources, c)
	}
	im := b.ctrl.Image()
	if types[kmsg.ConfigResourceTypeTopic] {
		for _, name := range im.TopicNames() {
			add(name, kmsg.ConfigResourceTypeTopic)
		}
	}
	for _, br := range im.Brokers() {
		id := strconv.Itoa(int(br.ID))
		if types[kmsg.ConfigResourceTypeBroker] {
			add(id, kmsg.ConfigResourceTypeBroker)
		}
		if types[kmsg.ConfigResourceTypeBrokerLogger] {
			add(id, kmsg.ConfigResourceTypeBrokerLogger)
		}
	}
	r.Respond(resp)
}
