package broker

// ElectLeaders (key 43), v0-v2 (KIP-183, KIP-460).
//
// Preferred election (type 0) makes a partition's first replica its leader
// when it is registered and in the ISR; unclean election (type 1) only acts
// on a partition without a leader. A partition whose leader is already the
// one the election would pick gets ELECTION_NOT_NEEDED, a preferred replica
// that cannot lead PREFERRED_LEADER_NOT_AVAILABLE, an unknown partition
// UNKNOWN_TOPIC_OR_PARTITION. A null topic list elects across every
// partition and, as Kafka's controller does, reports only the partitions
// whose leader changed. On a single node every partition is led by its
// only, preferred replica, so elections are never needed; the logic is the
// cluster's, so nothing changes here when brokers are added.

import (
	"slices"

	"github.com/potok-io/potok/metadata"
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	electionPreferred = 0
	electionUnclean   = 1
)

type electResult struct {
	topic     string
	partition int32
	err       *kerr.Error
	msg       string
}

func (b *Broker) handleElectLeaders(r *protocol.Request) {
	req := r.Msg.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	typ := int8(electionPreferred)
	if req.Version >= 1 {
		typ = req.ElectionType
	}
	if typ != electionPreferred && typ != electionUnclean {
		resp.ErrorCode = kerr.InvalidRequest.Code
		r.Respond(resp)
		return
	}
	var results []electResult
	_, err := b.ctrl.Commit(func(im *metadata.Image) ([]metadata.Record, error) {
		results = results[:0]
		var recs []metadata.Record
		elect := func(t *metadata.Topic, i int32, all bool) {
			rec, res := electLeader(im, t, i, typ)
			if rec != nil {
				recs = append(recs, rec)
			}
			if !all || res.err == nil {
				results = append(results, res)
			}
		}
		if req.Topics == nil {
			for _, name := range im.TopicNames() {
				t, _ := im.Topic(name)
				for i := range t.Partitions {
					elect(t, int32(i), true)
				}
			}
		} else {
			for _, rt := range req.Topics {
				t, ok := im.Topic(rt.Topic)
				for _, i := range rt.Partitions {
					if !ok || i < 0 || int(i) >= len(t.Partitions) {
						results = append(results, electResult{topic: rt.Topic, partition: i, err: kerr.UnknownTopicOrPartition,
							msg: "The partition does not exist."})
						continue
					}
					elect(t, i, false)
				}
			}
		}
		if len(recs) == 0 {
			return nil, metadata.ErrNoChange
		}
		return recs, nil
	})
	for _, res := range results {
		if err != nil && res.err == nil {
			res.err, res.msg = kerr.UnknownServerError, "metadata commit failed: "+err.Error()
		}
		var st *kmsg.ElectLeadersResponseTopic
		for i := range resp.Topics {
			if resp.Topics[i].Topic == res.topic {
				st = &resp.Topics[i]
			}
		}
		if st == nil {
			t := kmsg.NewElectLeadersResponseTopic()
			t.Topic = res.topic
			resp.Topics = append(resp.Topics, t)
			st = &resp.Topics[len(resp.Topics)-1]
		}
		sp := kmsg.NewElectLeadersResponseTopicPartition()
		sp.Partition = res.partition
		sp.ErrorCode = errCode(res.err)
		sp.ErrorMessage = errMsg(res.msg)
		st.Partitions = append(st.Partitions, sp)
	}
	r.Respond(resp)
}

// electLeader decides one partition's election and returns the record
// that makes it, if any.
func electLeader(im *metadata.Image, t *metadata.Topic, i int32, typ int8) (metadata.Record, electResult) {
	p := t.Partitions[i]
	res := electResult{topic: t.Name, partition: i}
	live := func(id int32) bool { _, ok := im.Broker(id); return ok }
	var target int32 = -1
	switch typ {
	case electionPreferred:
		if len(p.Replicas) == 0 {
			res.err, res.msg = kerr.PreferredLeaderNotAvailable, "The partition has no replicas."
			return nil, res
		}
		pref := p.Replicas[0]
		if p.Leader == pref {
			res.err = kerr.ElectionNotNeeded
			return nil, res
		}
		if !live(pref) || !slices.Contains(p.ISR, pref) {
			res.err, res.msg = kerr.PreferredLeaderNotAvailable, "The preferred replica is not in the ISR or not registered."
			return nil, res
		}
		target = pref
	case electionUnclean:
		if p.Leader >= 0 {
			res.err = kerr.ElectionNotNeeded
			return nil, res
		}
		for _, id := range p.Replicas {
			if live(id) {
				target = id
				break
			}
		}
		if target < 0 {
			res.err, res.msg = kerr.EligibleLeadersNotAvailable, "No replica of the partition is registered."
			return nil, res
		}
	}
	rec := &metadata.PartitionChangeRecord{TopicID: t.ID, Partition: i, Leader: &target}
	if !slices.Contains(p.ISR, target) {
		rec.ISR = []int32{target}
	}
	return rec, res
}
