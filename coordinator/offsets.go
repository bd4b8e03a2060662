package coordinator

// Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete, expiration,
// and dropping the offsets of deleted topics.
//
// An offset commit is written to the group's partition and applied in
// memory in the same step, under the shard lock, so records and memory
// change in the same order; the client is answered once the write is
// committed. Transactional commits (the coming TxnOffsetCommit) are kept
// apart per producer id until their transaction's marker, so that
// OffsetFetch with require_stable can answer UNSTABLE_OFFSET_COMMIT for
// them.

import (
	"slices"
	"strings"
	"sync/atomic"

	"github.com/potok-io/potok/records"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit handles an OffsetCommit request (v0-v9).
func (c *Groups) OffsetCommit(req *kmsg.OffsetCommitRequest, done func(*kmsg.OffsetCommitResponse)) {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	var codes []*int16
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			st.Partitions = append(st.Partitions, sp)
		}
		for j := range st.Partitions {
			codes = append(codes, &st.Partitions[j].ErrorCode)
		}
		resp.Topics = append(resp.Topics, st)
	}
	answer := answerEach(codes, func() { done(resp) })
	c.onShard(req.Group, answer, func(s *shard, p *pending) { s.commitLocked(req, resp, p) })
}

// answerEach returns the answer of an offset commit, whose response has an
// error code per partition: a non-zero code (a group-level error, or a
// failed write of all that was written) goes to every partition still
// without one, then done sends the response.
func answerEach(codes []*int16, done func()) func(code int16) {
	return func(code int16) {
		if code != 0 {
			for _, c := range codes {
				if *c == 0 {
					*c = code
				}
			}
		}
		done()
	}
}

func (s *shard) commitLocked(req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, p *pending) {
	gen, memberID := req.Generation, req.MemberID
	if req.Version == 0 {
		gen = -1
	}
	g := s.groupLocked(req.Group)
	var epochCheck func(t tp) bool // KIP-848 per-partition epoch check
	if g == nil {
		if gen >= 0 {
			if req.Version >= 9 {
				s.failLocked(p, kerr.GroupIDNotFound.Code)
			} else {
				s.failLocked(p, kerr.IllegalGeneration.Code)
			}
			return
		}
	} else {
		var code int16
		code, epochCheck = g.validateCommitLocked(gen, memberID, req.InstanceID)
		if code != 0 {
			s.failLocked(p, code)
			return
		}
	}
	now := s.now().UnixMilli()
	expire := int64(-1)
	if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis >= 0 {
		expire = now + req.RetentionTimeMillis
	}
	type staged struct {
		t tp
		o *offset
	}
	var recs []records.Record
	var stage []staged
	for i, rt := range req.Topics {
		for j, rp := range rt.Partitions {
			sp := &resp.Topics[i].Partitions[j]
			t := tp{rt.Topic, rp.Partition}
			epoch := int32(-1)
			if req.Version >= 6 {
				epoch = rp.LeaderEpoch
			}
			o, code := s.checkedOffset(t, rp.Offset, epoch, rp.Metadata, now, expire)
			if code == 0 && epochCheck != nil && !epochCheck(t) {
				code = kerr.StaleMemberEpoch.Code
			}
			if code != 0 {
				sp.ErrorCode = code
				continue
			}
			recs = append(recs, records.Record{Key: offsetKey(req.Group, t.topic, t.partition), Value: offsetValue(o)})
			stage = append(stage, staged{t, o})
		}
	}
	if len(stage) == 0 {
		s.replyLocked(p)
		return
	}
	if err := s.writeLocked(recs); err != nil {
		s.failLocked(p, kerr.NotCoordinator.Code)
		return
	}
	if g == nil {
		g = s.getOrCreateLocked(req.Group) // a "simple" group: offsets only
	}
	for _, st := range stage {
		st.o.at = s.lastEnd
		g.offsets[st.t] = st.o
	}
	s.replyLocked(p)
}

// checkedOffset validates one partition of an offset commit (known topic
// and partition, metadata size) and returns the offset to store, or the
// partition's error code.
func (s *shard) checkedOffset(t tp, at int64, leaderEpoch int32, metadata *string, now, expire int64) (*offset, int16) {
	var meta string
	if metadata != nil {
		meta = *metadata
	}
	_, nparts, known := s.c.topics.Topic(t.topic)
	switch {
	case !known || t.partition < 0 || t.partition >= nparts:
		return nil, kerr.UnknownTopicOrPartition.Code
	case len(meta) > s.c.cfg.OffsetMetadataMaxBytes:
		return nil, kerr.OffsetMetadataTooLarge.Code
	}
	return &offset{offset: at, leaderEpoch: leaderEpoch, metadata: meta, commitTime: now, expire: expire}, 0
}

// validateCommitLocked checks who commits (Kafka's
// ClassicGroup/ConsumerGroup.validateOffsetCommit). For a KIP-848 member
// committing with an older epoch it returns a per-partition check: the
// partition must have been assigned to the member at or before that epoch
// (KIP-1251).
func (g *group) validateCommitLocked(gen int32, memberID string, instanceID *string) (int16, func(tp) bool) {
	if g.kind == kindConsumer {
		cg := g.cg
		if gen < 0 && len(cg.members) == 0 {
			return 0, nil
		}
		m := cg.members[memberID]
		if m == nil {
			return kerr.UnknownMemberID.Code, nil
		}
		switch {
		case gen > m.epoch:
			return kerr.StaleMemberEpoch.Code, nil
		case gen < m.epoch:
			return 0, func(t tp) bool { return cg.assignedAtOrBeforeLocked(g.s.c.topics, m, t, gen) }
		}
		return 0, nil
	}
	if gen < 0 && g.state == stEmpty {
		return 0, nil // a "simple" commit: the group has no active members
	}
	if code := g.checkMemberLocked(memberID, instanceID); code != 0 {
		return code, nil
	}
	if gen != g.generation {
		return kerr.IllegalGeneration.Code, nil
	}
	if g.state == stCompleting {
		return kerr.RebalanceInProgress.Code, nil
	}
	return 0, nil
}

// OffsetFetch handles an OffsetFetch request (v0-v9): one group before v8,
// several from v8. Never-committed partitions get offset -1, metadata ""
// and no error. Group errors are per partition in v0-v1, top-level in
// v2-v7 and per group from v8.
func (c *Groups) OffsetFetch(req *kmsg.OffsetFetchRequest, done func(*kmsg.OffsetFetchResponse)) {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version < 8 {
		var topics []fetchTopic
		if req.Topics != nil || req.Version < 2 {
			topics = []fetchTopic{}
			for _, t := range req.Topics {
				topics = append(topics, fetchTopic{t.Topic, t.Partitions})
			}
		}
		c.fetchGroup(req.Group, nil, -1, topics, req.RequireStable, func(code int16, out []kmsg.OffsetFetchResponseGroupTopic) {
			switch {
			case code == 0:
				resp.Topics = oldFetchTopics(out)
			case req.Version >= 2:
				resp.ErrorCode = code
			default:
				for _, t := range topics {
					rt := kmsg.NewOffsetFetchResponseTopic()
					rt.Topic = t.topic
					for _, p := range t.partitions {
						rp := noOffset(p)
						rp.ErrorCode = code
						rt.Partitions = append(rt.Partitions, oldFetchPartition(rp))
					}
					resp.Topics = append(resp.Topics, rt)
				}
			}
			done(resp)
		})
		return
	}
	resp.Groups = make([]kmsg.OffsetFetchResponseGroup, len(req.Groups))
	if len(req.Groups) == 0 {
		done(resp)
		return
	}
	var left atomic.Int32
	left.Store(int32(len(req.Groups)))
	for i, rg := range req.Groups {
		rsg := &resp.Groups[i]
		*rsg = kmsg.NewOffsetFetchResponseGroup()
		rsg.Group = rg.Group
		var topics []fetchTopic
		if rg.Topics != nil {
			topics = []fetchTopic{}
			for _, t := range rg.Topics {
				topics = append(topics, fetchTopic{t.Topic, t.Partitions})
			}
		}
		c.fetchGroup(rg.Group, rg.MemberID, rg.MemberEpoch, topics, req.RequireStable, func(code int16, out []kmsg.OffsetFetchResponseGroupTopic) {
			rsg.ErrorCode = code
			rsg.Topics = out
			if left.Add(-1) == 0 {
				done(resp)
			}
		})
	}
}

type fetchTopic struct {
	topic      string
	partitions []int32
}

// fetchGroup reads one group's offsets: those of topics, or all of them if
// topics is nil. done gets a group-level error or the topics.
func (c *Groups) fetchGroup(id string, memberID *string, memberEpoch int32, topics []fetchTopic, requireStable bool,
	done func(code int16, out []kmsg.OffsetFetchResponseGroupTopic)) {
	if id == "" {
		done(kerr.InvalidGroupID.Code, nil)
		return
	}
	s, code := c.shardFor(id)
	if code != 0 {
		done(code, nil)
		return
	}
	var out []kmsg.OffsetFetchResponseGroupTopic
	p := s.newPending(func(code int16) {
		if code != 0 {
			out = nil
		}
		done(code, out)
	})
	if code := s.do(func() {
		if g := s.groupLocked(id); g != nil && g.kind == kindConsumer && (memberID != nil && *memberID != "" || memberEpoch >= 0) {
			m := g.cg.members[derefOr(memberID, "")]
			switch {
			case m == nil:
				s.failLocked(p, kerr.UnknownMemberID.Code)
				return
			case memberEpoch > m.epoch:
				s.failLocked(p, kerr.StaleMemberEpoch.Code)
				return
			}
		}
		out = s.readOffsetsLocked(id, topics, requireStable)
		s.replyLocked(p)
	}); code != 0 {
		p.fire(code)
	}
}

func derefOr(s *string, or string) string {
	if s == nil {
		return or
	}
	return *s
}

func noOffset(p int32) kmsg.OffsetFetchResponseGroupTopicPartition {
	rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p, -1, -1, strPtr("")
	return rp
}

func (s *shard) readOffsetsLocked(id string, topics []fetchTopic, requireStable bool) []kmsg.OffsetFetchResponseGroupTopic {
	g := s.groupLocked(id)
	unstable := func(t tp) bool {
		if !requireStable || g == nil {
			return false
		}
		for _, pend := range g.txnOffsets {
			if pend[t] != nil {
				return true
			}
		}
		return false
	}
	fill := func(t tp) kmsg.OffsetFetchResponseGroupTopicPartition {
		rp := noOffset(t.partition)
		if unstable(t) {
			rp.ErrorCode = kerr.UnstableOffsetCommit.Code
			return rp
		}
		if g != nil {
			if o := g.offsets[t]; o != nil {
				rp.Offset, rp.LeaderEpoch, rp.Metadata = o.offset, o.leaderEpoch, strPtr(o.metadata)
			}
		}
		return rp
	}
	out := []kmsg.OffsetFetchResponseGroupTopic{}
	if topics == nil {
		if g == nil {
			return out
		}
		all := map[tp]bool{}
		for t := range g.offsets {
			all[t] = true
		}
		if requireStable {
			for _, pend := range g.txnOffsets {
				for t := range pend {
					all[t] = true
				}
			}
		}
		byTopic := map[string][]int32{}
		for t := range all {
			byTopic[t.topic] = append(byTopic[t.topic], t.partition)
		}
		for _, name := range sortedKeys(byTopic) {
			parts := byTopic[name]
			slices.Sort(parts)
			topics = append(topics, fetchTopic{name, parts})
		}
	}
	for _, ft := range topics {
		rt := kmsg.NewOffsetFetchResponseGroupTopic()
		rt.Topic = ft.topic
		rt.Partitions = []kmsg.OffsetFetchResponseGroupTopicPartition{}
		for _, p := range ft.partitions {
			rt.Partitions = append(rt.Partitions, fill(tp{ft.topic, p}))
		}
		out = append(out, rt)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func oldFetchPartition(p kmsg.OffsetFetchResponseGroupTopicPartition) kmsg.OffsetFetchResponseTopicPartition {
	rp := kmsg.NewOffsetFetchResponseTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
	return rp
}

func oldFetchTopics(in []kmsg.OffsetFetchResponseGroupTopic) []kmsg.OffsetFetchResponseTopic {
	out := make([]kmsg.OffsetFetchResponseTopic, 0, len(in))
	for _, t := range in {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rt.Partitions = append(rt.Partitions, oldFetchPartition(p))
		}
		out = append(out, rt)
	}
	return out
}

// OffsetDelete handles an OffsetDelete request (v0): the offsets of a group
// with no member subscribed to their topic are deleted (tombstones).
func (c *Groups) OffsetDelete(req *kmsg.OffsetDeleteRequest, done func(*kmsg.OffsetDeleteResponse)) {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	answer := func(code int16) {
		if code != 0 {
			resp.ErrorCode = code
			resp.Topics = nil
		}
		done(resp)
	}
	c.onShard(req.Group, answer, func(s *shard, p *pending) { s.offsetDeleteLocked(req, resp, p) })
}

func (s *shard) offsetDeleteLocked(req *kmsg.OffsetDeleteRequest, resp *kmsg.OffsetDeleteResponse, p *pending) {
	g := s.groupLocked(req.Group)
	if g == nil {
		s.failLocked(p, kerr.GroupIDNotFound.Code)
		return
	}
	if g.kind == kindClassic && g.state != stEmpty && g.protocolType != "consumer" {
		s.failLocked(p, kerr.NonEmptyGroup.Code)
		return
	}
	subscribed := g.subscribedLocked()
	var recs []records.Record
	var gone []tp
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			t := tp{rt.Topic, rp.Partition}
			switch {
			case subscribed(rt.Topic):
				sp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			case g.offsets[t] != nil:
				recs = append(recs, records.Record{Key: offsetKey(g.id, t.topic, t.partition)})
				gone = append(gone, t)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if err := s.writeLocked(recs); err != nil {
		s.failLocked(p, kerr.NotCoordinator.Code)
		return
	}
	for _, t := range gone {
		delete(g.offsets, t)
	}
	s.replyLocked(p)
}

// subscribedLocked returns whether an active member of the group consumes
// a topic. For classic groups it reads the members' "consumer" protocol
// metadata; a group whose subscriptions cannot be read counts as
// subscribed to everything, as Kafka does.
func (g *group) subscribedLocked() func(topic string) bool {
	if g.kind == kindConsumer {
		subs := g.cg.subscribedTopicsLocked(g.s.c.topics)
		return func(t string) bool { return subs[t] }
	}
	if g.state == stEmpty || len(g.members) == 0 {
		return func(string) bool { return false }
	}
	if g.protocolType != "consumer" {
		return func(string) bool { return true }
	}
	subs := map[string]bool{}
	for _, m := range g.members {
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			return func(string) bool { return true }
		}
		for _, t := range meta.Topics {
			subs[t] = true
		}
	}
	return func(t string) bool { return subs[t] }
}

// expireLocked drops expired offsets (Kafka's OffsetExpirationCondition:
// offsets.retention.minutes after the group became empty, or after the
// commit for simple groups and for topics no member consumes) and deletes
// empty groups left with no offsets.
func (s *shard) expireLocked() {
	now := s.now().UnixMilli()
	retention := s.c.cfg.OffsetsRetention.Milliseconds()
	for _, id := range sortedKeys(s.groups) {
		g := s.groups[id]
		pendingTxn := map[tp]bool{}
		for _, pend := range g.txnOffsets {
			for t := range pend {
				pendingTxn[t] = true
			}
		}
		var base func(t tp, o *offset) (int64, bool)
		switch {
		case g.kind == kindClassic && g.protocolType == "":
			base = func(_ tp, o *offset) (int64, bool) { return o.commitTime, true }
		case g.kind == kindClassic && g.state == stEmpty:
			empty := g.stateTime.UnixMilli()
			base = func(tp, *offset) (int64, bool) { return empty, true }
		case g.kind == kindClassic && g.protocolType != "consumer":
			base = func(tp, *offset) (int64, bool) { return 0, false }
		default:
			subscribed := g.subscribedLocked()
			base = func(t tp, o *offset) (int64, bool) { return o.commitTime, !subscribed(t.topic) }
		}
		var recs []records.Record
		var gone []tp
		for _, t := range sortedTPs(g.offsets) {
			o := g.offsets[t]
			from, ok := base(t, o)
			if !ok || pendingTxn[t] {
				continue
			}
			if o.expire >= 0 && now >= o.expire || o.expire < 0 && now-from >= retention {
				recs = append(recs, records.Record{Key: offsetKey(g.id, t.topic, t.partition)})
				gone = append(gone, t)
			}
		}
		if len(recs) > 0 {
			if s.writeLocked(recs) != nil {
				continue
			}
			for _, t := range gone {
				delete(g.offsets, t)
			}
			s.c.log.Info("coordinator: offsets expired", "group", g.id, "partitions", len(gone))
		}
		s.maybeDeleteLocked(g)
	}
}

// maybeDeleteLocked deletes a group that has no member, no offset and no
// pending transactional offset, writing the tombstones of its records.
func (s *shard) maybeDeleteLocked(g *group) {
	if !g.isEmptyLocked() || len(g.offsets) > 0 || len(g.txnOffsets) > 0 {
		return
	}
	if g.kind == kindClassic && g.state != stEmpty {
		return
	}
	if s.writeLocked(g.tombstonesLocked()) != nil {
		return
	}
	g.stopTimersLocked()
	delete(s.groups, g.id)
}

// tombstonesLocked returns the records that delete the group's metadata
// (not its offsets).
func (g *group) tombstonesLocked() []records.Record {
	if g.kind == kindConsumer {
		return g.cg.tombstonesLocked(g.id)
	}
	return []records.Record{{Key: groupKey(g.id)}}
}

func sortedTPs[V any](m map[tp]V) []tp {
	out := make([]tp, 0, len(m))
	for t := range m {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b tp) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return int(a.partition) - int(b.partition)
	})
	return out
}

// TopicsDeleted drops the committed offsets of deleted topics, writing
// their tombstones, so that a topic created again under the same name
// starts without them (Kafka's onPartitionsDeleted).
func (c *Groups) TopicsDeleted(topics []string) {
	gone := map[string]bool{}
	for _, t := range topics {
		gone[t] = true
	}
	for _, s := range c.allShards() {
		s.do(func() { s.dropTopicsLocked(func(t string) bool { return gone[t] }) })
	}
}

// dropTopicsLocked deletes the offsets of the topics drop names.
func (s *shard) dropTopicsLocked(drop func(topic string) bool) {
	for _, id := range sortedKeys(s.groups) {
		g := s.groups[id]
		var recs []records.Record
		for _, t := range sortedTPs(g.offsets) {
			if drop(t.topic) {
				recs = append(recs, records.Record{Key: offsetKey(g.id, t.topic, t.partition)})
				delete(g.offsets, t)
			}
		}
		for pid, pend := range g.txnOffsets {
			for t := range pend {
				if drop(t.topic) {
					delete(pend, t)
				}
			}
			if len(pend) == 0 {
				delete(g.txnOffsets, pid)
			}
		}
		s.mustWriteLocked(recs)
	}
}

// completeTxnLocked ends a transaction of producer pid on this partition:
// its pending offsets become committed offsets (commit) or vanish (abort).
// Replay calls it on markers; the transaction coordinator will too.
func (s *shard) completeTxnLocked(pid int64, commit bool) {
	for _, g := range s.groups {
		pend := g.txnOffsets[pid]
		if pend == nil {
			continue
		}
		delete(g.txnOffsets, pid)
		if len(g.txnOffsets) == 0 {
			g.txnOffsets = nil
		}
		if !commit {
			continue
		}
		for t, o := range pend {
			// A commit written after the transaction's own, outside it,
			// stays (as in Kafka).
			if cur := g.offsets[t]; cur == nil || cur.at < o.at {
				g.offsets[t] = o
			}
		}
	}
}

// stageTxnOffsetLocked records a transactional offset commit of producer
// pid, visible only once its transaction commits.
func (g *group) stageTxnOffsetLocked(pid int64, t tp, o *offset) {
	if g.txnOffsets == nil {
		g.txnOffsets = map[int64]map[tp]*offset{}
	}
	if g.txnOffsets[pid] == nil {
		g.txnOffsets[pid] = map[tp]*offset{}
	}
	g.txnOffsets[pid][t] = o
}
