package broker

// DescribeCluster (key 60), v0-v2 (KIP-700, KIP-919, KIP-1073).
//
// The cluster id, the controller (this node: a single node is its own
// controller, and Kafka answers a live broker id, never -1) and every
// registered broker with its endpoint on the listener the request came in
// on. v1 asks which kind of endpoint the client thinks it reached: this is
// a broker listener, so asking for controllers gets MISMATCHED_ENDPOINT_TYPE
// and an unknown kind UNSUPPORTED_ENDPOINT_TYPE. v2 may include fenced
// brokers; none is ever fenced on a single node. Without an authorizer every
// cluster operation is allowed.

import (
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Endpoint types of DescribeCluster v1+.
const (
	endpointBrokers     = 1
	endpointControllers = 2
)

func (b *Broker) handleDescribeCluster(r *protocol.Request) {
	req := r.Msg.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = endpointBrokers
	if req.Version >= 1 && req.EndpointType != endpointBrokers {
		code := kerr.UnsupportedEndpointType
		if req.EndpointType == endpointControllers {
			code = kerr.MismatchedEndpointType
		}
		resp.ErrorCode = code.Code
		resp.ErrorMessage = errMsg("This is a broker endpoint; it describes brokers only.")
		r.Respond(resp)
		return
	}
	im := b.ctrl.Image()
	resp.ClusterID = b.clusterID
	resp.ControllerID = b.nodeID
	for _, br := range im.Brokers() {
		ep, ok := br.Endpoint(r.Conn.Listener)
		if !ok {
			continue
		}
		db := kmsg.NewDescribeClusterResponseBroker()
		db.NodeID, db.Host, db.Port, db.Rack = br.ID, ep.Host, ep.Port, br.Rack
		resp.Brokers = append(resp.Brokers, db)
	}
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = clusterOperations
	}
	r.Respond(resp)
}
