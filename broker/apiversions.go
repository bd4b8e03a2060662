package broker

// ApiVersions (key 18), v0-v4.
//
// The answer comes from the registry, so only served APIs are advertised.
// v3+ checks client_software_name/version against Kafka's pattern
// (INVALID_REQUEST otherwise, and librdkafka then retries at v0) and keeps
// them on the connection. A version above v4 never reaches this handler:
// the protocol layer answers it with a v0 UNSUPPORTED_VERSION body (KIP-511).
// v3+ lists the supported and finalized features (updatefeatures.go):
// transaction.version is never finalized above 0, so every client uses the
// classic transaction protocol, which is the one served.

import (
	"regexp"

	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// softwarePattern is Kafka's ApiVersionsRequest.SOFTWARE_NAME_VERSION_PATTERN.
var softwarePattern = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

func (b *Broker) handleApiVersions(r *protocol.Request) {
	req := r.Msg.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if req.Version >= 3 {
		if !softwarePattern.MatchString(req.ClientSoftwareName) || !softwarePattern.MatchString(req.ClientSoftwareVersion) {
			resp.ErrorCode = kerr.InvalidRequest.Code
			r.Respond(resp)
			return
		}
		r.Conn.SetClientSoftware(req.ClientSoftwareName, req.ClientSoftwareVersion)
	}
	for _, a := range b.apis.list {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.key, a.min, a.max
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	if req.Version >= 3 {
		b.fillFeatures(resp) // updatefeatures.go
	}
	r.Respond(resp)
}
