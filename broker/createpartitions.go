package broker

// CreatePartitions (key 37), v0-v3.
//
// The new count must exceed the current one (INVALID_PARTITIONS); explicit
// assignments cover exactly the new partitions with registered brokers and
// the topic's replication factor (INVALID_REPLICA_ASSIGNMENT); a topic named
// twice gets INVALID_REQUEST; validate_only checks and changes nothing.

import (
	"github.com/potok-io/potok/metadata"
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleCreatePartitions(r *protocol.Request) {
	req := r.Msg.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	count := map[string]int{}
	for _, t := range req.Topics {
		count[t.Topic]++
	}
	results := make([]topicResult, len(req.Topics))
	b.ctrl.Commit(func(im *metadata.Image) ([]metadata.Record, error) {
		var recs []metadata.Record
		brokers := im.Brokers()
		for i, rt := range req.Topics {
			t, ok := im.Topic(rt.Topic)
			switch {
			case count[rt.Topic] > 1:
				results[i] = fail(kerr.InvalidRequest, "Duplicate topic name %s.", rt.Topic)
				continue
			case !ok:
				results[i] = fail(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", rt.Topic)
				continue
			case rt.Count < int32(len(t.Partitions)):
				results[i] = fail(kerr.InvalidPartitions, "Topic currently has %d partitions, which is higher than the requested %d.", len(t.Partitions), rt.Count)
				continue
			case rt.Count == int32(len(t.Partitions)):
				results[i] = fail(kerr.InvalidPartitions, "Topic already has %d partitions.", len(t.Partitions))
				continue
			}
			add := int(rt.Count) - len(t.Partitions)
			rf := len(t.Partitions[0].Replicas)
			var assignment [][]int32
			if rt.Assignment != nil {
				if len(rt.Assignment) != add {
					results[i] = fail(kerr.InvalidReplicaAssignment, "Increasing the number of partitions by %d but %d assignments provided.", add, len(rt.Assignment))
					continue
				}
				bad := false
				for _, a := range rt.Assignment {
					seen := map[int32]bool{}
					for _, id := range a.Replicas {
						if _, ok := im.Broker(id); !ok || seen[id] {
							bad = true
						}
						seen[id] = true
					}
					if len(a.Replicas) != rf {
						bad = true
					}
					assignment = append(assignment, a.Replicas)
				}
				if bad {
					results[i] = fail(kerr.InvalidReplicaAssignment, "assignments must name %d distinct registered brokers each", rf)
					continue
				}
			}
			if rf > len(brokers) {
				results[i] = fail(kerr.InvalidReplicationFactor, "only %d broker(s) are registered", len(brokers))
				continue
			}
			if req.ValidateOnly {
				continue
			}
			start := int(t.ID[0]) % len(brokers)
			for k := 0; k < add; k++ {
				p := len(t.Partitions) + k
				var replicas []int32
				if assignment != nil {
					replicas = assignment[k]
				} else {
					for j := 0; j < rf; j++ {
						replicas = append(replicas, brokers[(start+p+j)%len(brokers)].ID)
					}
				}
				recs = append(recs, &metadata.PartitionRecord{TopicID: t.ID, Partition: int32(p), Replicas: replicas,
					ISR: append([]int32(nil), replicas...), Leader: replicas[0]})
			}
		}
		if len(recs) == 0 {
			return nil, metadata.ErrNoChange
		}
		return recs, nil
	})
	for i, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		st.ErrorCode = errCode(results[i].err)
		st.ErrorMessage = errMsg(results[i].msg)
		resp.Topics = append(resp.Topics, st)
	}
	r.Respond(resp)
}
