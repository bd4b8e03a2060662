package broker

// AlterPartitionReassignments (key 45), v0, and ListPartitionReassignments
// (key 46), v0 (KIP-455).
//
// A reassignment whose target replicas are the partition's current
// replicas, in any order, completes at once: no data moves, the replica
// order (and so the preferred leader) is updated. On a single node that is
// every valid target, since the only broker already holds every partition.
// Targets that need data moved to another broker are refused with
// INVALID_REPLICA_ASSIGNMENT until replication exists; so no reassignment
// is ever in progress: cancelling one (null replicas) gets
// NO_REASSIGNMENT_IN_PROGRESS and the list is always empty. Other checks
// as Kafka's ReplicationControlManager: an empty target, a broker named
// twice or one that is not registered is INVALID_REPLICA_ASSIGNMENT, an
// unknown partition UNKNOWN_TOPIC_OR_PARTITION.

import (
	"slices"

	"github.com/potok-io/potok/metadata"
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleAlterPartitionReassignments(r *protocol.Request) {
	req := r.Msg.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	type result struct {
		err *kerr.Error
		msg string
	}
	results := make([][]result, len(req.Topics))
	_, err := b.ctrl.Commit(func(im *metadata.Image) ([]metadata.Record, error) {
		var recs []metadata.Record
		for i, rt := range req.Topics {
			results[i] = make([]result, len(rt.Partitions))
			t, ok := im.Topic(rt.Topic)
			for j, rp := range rt.Partitions {
				res := &results[i][j]
				if !ok || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions) {
					res.err, res.msg = kerr.UnknownTopicOrPartition, "The partition does not exist."
					continue
				}
				cur := t.Partitions[rp.Partition]
				if rp.Replicas == nil {
					res.err, res.msg = kerr.NoReassignmentInProgress, "No reassignment of this partition is in progress."
					continue
				}
				if e, msg := checkReassignment(im, cur, rp.Replicas); e != nil {
					res.err, res.msg = e, msg
					continue
				}
				if !slices.Equal(cur.Replicas, rp.Replicas) {
					recs = append(recs, &metadata.PartitionChangeRecord{TopicID: t.ID, Partition: rp.Partition,
						Replicas: slices.Clone(rp.Replicas)})
				}
			}
		}
		if len(recs) == 0 {
			return nil, metadata.ErrNoChange
		}
		return recs, nil
	})
	if err != nil {
		resp.ErrorCode = kerr.UnknownServerError.Code
		resp.ErrorMessage = errMsg("metadata commit failed: " + err.Error())
	}
	for i, rt := range req.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		for j, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = errCode(results[i][j].err)
			sp.ErrorMessage = errMsg(results[i][j].msg)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	r.Respond(resp)
}

// checkReassignment checks a target replica list against a partition.
func checkReassignment(im *metadata.Image, cur metadata.Partition, target []int32) (*kerr.Error, string) {
	if len(target) == 0 {
		return kerr.InvalidReplicaAssignment, "The target replica list is empty."
	}
	seen := map[int32]bool{}
	for _, id := range target {
		if seen[id] {
			return kerr.InvalidReplicaAssignment, "The target replica list names a broker twice."
		}
		seen[id] = true
		if _, ok := im.Broker(id); !ok {
			return kerr.InvalidReplicaAssignment, "The target replica list names a broker that is not registered."
		}
	}
	if len(target) != len(cur.Replicas) {
		return kerr.InvalidReplicaAssignment, "Changing the replication factor needs data moved between brokers, which is not supported yet."
	}
	for _, id := range cur.Replicas {
		if !seen[id] {
			return kerr.InvalidReplicaAssignment, "Moving replicas between brokers is not supported yet; only reordering the current replicas is."
		}
	}
	return nil, ""
}

func (b *Broker) handleListPartitionReassignments(r *protocol.Request) {
	req := r.Msg.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	// Reassignments complete within their request: none is ever ongoing.
	resp.Topics = []kmsg.ListPartitionReassignmentsResponseTopic{}
	r.Respond(resp)
}
