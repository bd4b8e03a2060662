package broker

// CreateTopics (key 19), v0-v7.
//
// Kafka's checks (ReplicationControlManager.createTopics): topic name rules
// and '.'/'_' collisions (INVALID_TOPIC_EXCEPTION), existing topics
// (TOPIC_ALREADY_EXISTS), a topic named twice in one request
// (INVALID_REQUEST for each), partitions and replication factor -1 meaning
// the broker defaults (KIP-464) and otherwise positive
// (INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR, which also covers more
// replicas than brokers), explicit assignments exclusive with both counts
// (INVALID_REQUEST) and naming registered brokers once each
// (INVALID_REPLICA_ASSIGNMENT), configs known and valid (INVALID_CONFIG).
// validate_only (v1+) runs every check and creates nothing. v5+ answers
// with the partitions, replication factor and every effective config; v7
// with the topic id. Creation is committed before the answer, so the topic
// is usable at once.
//
// The -1 defaults are taken at every version, as Kafka's controller does
// (KIP-464 only stops the Java client from sending them below v4): kafkajs
// speaks CreateTopics v3 and sends -1 when the caller names no counts.

import (
	"fmt"

	"github.com/potok-io/potok/config"
	"github.com/potok-io/potok/metadata"
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleCreateTopics(r *protocol.Request) {
	req := r.Msg.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	count := map[string]int{}
	for _, t := range req.Topics {
		count[t.Topic]++
	}
	var specs []topicSpec
	var specIndex []int
	results := make([]topicResult, len(req.Topics))
	for i, t := range req.Topics {
		if count[t.Topic] > 1 {
			results[i] = fail(kerr.InvalidRequest, "Duplicate topic name %s.", t.Topic)
			continue
		}
		s := topicSpec{name: t.Topic, partitions: t.NumPartitions, rf: t.ReplicationFactor, configs: map[string]string{}}
		for _, c := range t.Configs {
			if c.Value == nil {
				s.configErr = fmt.Sprintf("null value not supported for topic config %s", c.Name)
				break
			}
			s.configs[c.Name] = *c.Value
		}
		if len(t.ReplicaAssignment) > 0 {
			s.assignment = make([][]int32, len(t.ReplicaAssignment))
			ok := true
			for _, a := range t.ReplicaAssignment {
				if a.Partition < 0 || int(a.Partition) >= len(s.assignment) || s.assignment[a.Partition] != nil {
					ok = false
					break
				}
				s.assignment[a.Partition] = a.Replicas
			}
			if !ok {
				results[i] = fail(kerr.InvalidReplicaAssignment, "partitions of the assignment must be 0 to %d, each once", len(s.assignment)-1)
				continue
			}
		}
		specs = append(specs, s)
		specIndex = append(specIndex, i)
	}
	for j, res := range b.createTopics(specs, req.ValidateOnly) {
		results[specIndex[j]] = res
	}
	im := b.ctrl.Image()
	for i, t := range req.Topics {
		res := results[i]
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = t.Topic
		st.ErrorCode = errCode(res.err)
		if req.Version >= 1 {
			st.ErrorMessage = errMsg(res.msg)
		}
		if res.err == nil {
			st.TopicID = res.id
			st.NumPartitions = res.partitions
			st.ReplicationFactor = res.rf
			if req.Version >= 5 {
				var explicit map[string]string
				for _, s := range specs {
					if s.name == t.Topic {
						explicit = s.configs
					}
				}
				st.Configs = b.createdTopicConfigs(im, explicit)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	r.Respond(resp)
}

// createdTopicConfigs lists every config of a new topic with its effective
// value and source, as Kafka answers CreateTopics v5+.
func (b *Broker) createdTopicConfigs(im *metadata.Image, explicit map[string]string) []kmsg.CreateTopicsResponseTopicConfig {
	src := b.sources(im, "")
	src.Topic = explicit
	var out []kmsg.CreateTopicsResponseTopicConfig
	for _, d := range config.Topic.All() {
		v := src.TopicValue(d)
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name = d.Name
		val := v.Value
		c.Value = &val
		c.Source = int8(v.Source)
		c.IsSensitive = d.Sensitive
		out = append(out, c)
	}
	return out
}
