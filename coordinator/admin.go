package coordinator

// Group administration: DescribeGroups, ListGroups, DeleteGroups and
// ConsumerGroupDescribe.

import (
	"slices"
	"strings"
	"sync/atomic"

	"github.com/potok-io/potok/records"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupOperations is what an authorized client may do to a group (READ,
// DELETE, DESCRIBE in AclOperation codes): without an authorizer, all.
const groupOperations = 1<<3 | 1<<6 | 1<<8

// DescribeGroups handles a DescribeGroups request (v0-v6). A group that
// does not exist, or is a KIP-848 group (ConsumerGroupDescribe describes
// those), is reported Dead, with GROUP_ID_NOT_FOUND from v6 (KIP-1043).
func (c *Groups) DescribeGroups(req *kmsg.DescribeGroupsRequest, done func(*kmsg.DescribeGroupsResponse)) {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = id
		if req.IncludeAuthorizedOperations {
			dg.AuthorizedOperations = groupOperations
		}
		if id == "" {
			dg.ErrorCode = kerr.InvalidGroupID.Code
		} else if s, code := c.shardFor(id); code != 0 {
			dg.ErrorCode = code
		} else if code := s.do(func() { s.describeLocked(id, req.Version, &dg) }); code != 0 {
			dg.ErrorCode = code
		}
		resp.Groups = append(resp.Groups, dg)
	}
	done(resp)
}

func (s *shard) describeLocked(id string, version int16, dg *kmsg.DescribeGroupsResponseGroup) {
	g := s.groupLocked(id)
	if g == nil || g.kind != kindClassic {
		dg.State = "Dead"
		if version >= 6 {
			dg.ErrorCode = kerr.GroupIDNotFound.Code
			dg.ErrorMessage = strPtr("Group " + id + " not found.")
		}
		return
	}
	dg.State = g.state.String()
	dg.ProtocolType = g.protocolType
	stable := g.state == stStable
	if stable {
		dg.Protocol = g.protocol
	}
	for _, m := range g.sortedMembers() {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID, dm.InstanceID = m.id, cloneStrPtr(m.instanceID)
		dm.ClientID, dm.ClientHost = m.clientID, m.clientHost
		dm.ProtocolMetadata, dm.MemberAssignment = []byte{}, []byte{}
		if stable {
			if md := m.metadataFor(g.protocol); md != nil {
				dm.ProtocolMetadata = md
			}
			if m.assignment != nil {
				dm.MemberAssignment = m.assignment
			}
		}
		dg.Members = append(dg.Members, dm)
	}
}

// ListGroups handles a ListGroups request (v0-v5; v4 filters by state, v5
// by type "classic" or "consumer", both case-insensitively).
func (c *Groups) ListGroups(req *kmsg.ListGroupsRequest, done func(*kmsg.ListGroupsResponse)) {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	states := map[string]bool{}
	for _, st := range req.StatesFilter {
		states[strings.ToLower(st)] = true
	}
	types := map[string]bool{}
	for _, t := range req.TypesFilter {
		types[strings.ToLower(t)] = true
	}
	for _, s := range c.allShards() {
		code := s.do(func() {
			for _, id := range sortedKeys(s.groups) {
				g := s.groups[id]
				lg := kmsg.NewListGroupsResponseGroup()
				lg.Group = id
				if g.kind == kindConsumer {
					lg.ProtocolType, lg.GroupState, lg.GroupType = "consumer", g.cg.stateLocked(), "consumer"
				} else {
					lg.ProtocolType, lg.GroupState, lg.GroupType = g.protocolType, g.state.String(), "classic"
				}
				if len(states) > 0 && !states[strings.ToLower(lg.GroupState)] || len(types) > 0 && !types[lg.GroupType] {
					continue
				}
				resp.Groups = append(resp.Groups, lg)
			}
		})
		if code != 0 && resp.ErrorCode == 0 {
			resp.ErrorCode = code
		}
	}
	slices.SortFunc(resp.Groups, func(a, b kmsg.ListGroupsResponseGroup) int { return strings.Compare(a.Group, b.Group) })
	done(resp)
}

// DeleteGroups handles a DeleteGroups request (v0-v2): an empty group's
// offsets and metadata are deleted (tombstones), NON_EMPTY_GROUP while it
// has members.
func (c *Groups) DeleteGroups(req *kmsg.DeleteGroupsRequest, done func(*kmsg.DeleteGroupsResponse)) {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	resp.Groups = make([]kmsg.DeleteGroupsResponseGroup, len(req.Groups))
	if len(req.Groups) == 0 {
		done(resp)
		return
	}
	var left atomic.Int32
	left.Store(int32(len(req.Groups)))
	finish := func() {
		if left.Add(-1) == 0 {
			done(resp)
		}
	}
	for i, id := range req.Groups {
		dg := &resp.Groups[i]
		*dg = kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = id
		if id == "" {
			dg.ErrorCode = kerr.InvalidGroupID.Code
			finish()
			continue
		}
		s, code := c.shardFor(id)
		if code != 0 {
			dg.ErrorCode = code
			finish()
			continue
		}
		p := s.newPending(func(code int16) {
			dg.ErrorCode = code
			finish()
		})
		if code := s.do(func() { s.deleteGroupLocked(id, p) }); code != 0 {
			p.fire(code)
		}
	}
}

func (s *shard) deleteGroupLocked(id string, p *pending) {
	g := s.groupLocked(id)
	switch {
	case g == nil:
		s.failLocked(p, kerr.GroupIDNotFound.Code)
		return
	case g.kind == kindClassic && (g.state != stEmpty || len(g.members) > 0),
		g.kind == kindConsumer && len(g.cg.members) > 0:
		s.failLocked(p, kerr.NonEmptyGroup.Code)
		return
	}
	var recs []records.Record
	for _, t := range sortedTPs(g.offsets) {
		recs = append(recs, records.Record{Key: offsetKey(id, t.topic, t.partition)})
	}
	recs = append(recs, g.tombstonesLocked()...)
	if err := s.writeLocked(recs); err != nil {
		s.failLocked(p, kerr.NotCoordinator.Code)
		return
	}
	g.stopTimersLocked()
	for pid := range g.pendingIDs {
		delete(g.pendingIDs, pid)
	}
	delete(s.groups, id)
	s.replyLocked(p)
}

// ConsumerGroupDescribe handles a ConsumerGroupDescribe request (v0-v1).
func (c *Groups) ConsumerGroupDescribe(req *kmsg.ConsumerGroupDescribeRequest, done func(*kmsg.ConsumerGroupDescribeResponse)) {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewConsumerGroupDescribeResponseGroup()
		dg.Group = id
		if req.IncludeAuthorizedOperations {
			dg.AuthorizedOperations = groupOperations
		}
		if id == "" {
			dg.ErrorCode = kerr.InvalidGroupID.Code
		} else if s, code := c.shardFor(id); code != 0 {
			dg.ErrorCode = code
		} else if code := s.do(func() { s.consumerDescribeLocked(id, &dg) }); code != 0 {
			dg.ErrorCode = code
		}
		resp.Groups = append(resp.Groups, dg)
	}
	done(resp)
}

func (s *shard) consumerDescribeLocked(id string, dg *kmsg.ConsumerGroupDescribeResponseGroup) {
	g := s.groupLocked(id)
	if g == nil || g.kind != kindConsumer {
		dg.ErrorCode = kerr.GroupIDNotFound.Code
		dg.ErrorMessage = strPtr("Group " + id + " not found.")
		return
	}
	cg := g.cg
	dg.State, dg.Epoch, dg.AssignmentEpoch = cg.stateLocked(), cg.epoch, cg.assignEpoch
	dg.AssignorName = cg.assignor
	if dg.AssignorName == "" {
		dg.AssignorName = s.c.cfg.ConsumerAssignors[0]
	}
	for _, mid := range sortedKeys(cg.members) {
		m := cg.members[mid]
		dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.RackID = m.id, cloneStrPtr(m.instanceID), cloneStrPtr(m.rackID)
		dm.MemberEpoch = m.epoch
		if m.left {
			dm.MemberEpoch = epochStaticLeave
		}
		dm.ClientID, dm.ClientHost = m.clientID, m.clientHost
		dm.SubscribedTopics = slices.Clone(m.topics)
		if dm.SubscribedTopics == nil {
			dm.SubscribedTopics = []string{}
		}
		dm.SubscribedTopicRegex = cloneStrPtr(m.regex)
		dm.Assignment = s.describeAssignment(setOf(m.assigned))
		dm.TargetAssignment = s.describeAssignment(cg.target[m.id])
		dm.MemberType = 1 // a member of the consumer protocol
		dg.Members = append(dg.Members, dm)
	}
}

func (s *shard) describeAssignment(set assignmentSet) kmsg.Assignment {
	a := kmsg.NewAssignment()
	a.TopicPartitions = []kmsg.AssignmentTopicPartition{}
	for _, tps := range toTopicParts(set, nil) {
		at := kmsg.NewAssignmentTopicPartition()
		at.TopicID, at.Partitions = tps.id, tps.partitions
		at.Topic, _, _ = s.c.topics.TopicByID(tps.id)
		a.TopicPartitions = append(a.TopicPartitions, at)
	}
	return a
}

// EachCommittedOffset calls fn for every committed offset of every group
// hosted here (for the consumer lag metric). It holds one partition's lock
// at a time.
func (c *Groups) EachCommittedOffset(fn func(group, topic string, partition int32, offset int64)) {
	for _, s := range c.allShards() {
		s.do(func() {
			for _, id := range sortedKeys(s.groups) {
				g := s.groups[id]
				for _, t := range sortedTPs(g.offsets) {
					fn(id, t.topic, t.partition, g.offsets[t].offset)
				}
			}
		})
	}
}
