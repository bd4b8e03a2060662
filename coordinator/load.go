package coordinator

// Loading a shard: the partition is replayed from its start and every
// record applied in order, the last record of a key winning and a tombstone
// deleting, which is what compaction would leave. A record that does not
// decode is skipped with a warning: a corrupt record must not take the
// coordinator down, nor hide the records after it. Transactional offset
// commits are held per producer id until their marker.

import (
	"errors"
	"slices"
	"time"

	"github.com/potok-io/potok/records"
)

// maxDecompressed bounds a compressed batch in __consumer_offsets.
const maxDecompressed = 64 << 20

var errStopped = errors.New("coordinator: shard closed while loading")

// load replays the partition, then starts serving.
func (s *shard) load() {
	start := time.Now()
	n := 0
	err := s.plog.Replay(func(b records.Batch) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.state == shardClosed {
			return errStopped
		}
		n++
		s.lastEnd = max(s.lastEnd, b.LastOffset()+1) // where the batch's commits are
		s.replayBatchLocked(b)
		return nil
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.state == shardClosed:
		return
	case err != nil:
		s.c.log.Error("coordinator: cannot load __consumer_offsets partition", "partition", s.index, "err", err)
		s.state = shardFailed
		s.groups = map[string]*group{}
		return
	}
	for _, fn := range s.afterLoad {
		fn()
	}
	s.afterLoad = nil
	s.finishLoadLocked()
	s.state = shardActive
	s.c.log.Debug("coordinator: partition loaded", "partition", s.index, "batches", n, "groups", len(s.groups), "took", time.Since(start))
}

func (s *shard) replayBatchLocked(b records.Batch) {
	if b.IsControl() {
		if b.HasProducerID() {
			switch b.MarkerType() {
			case records.ControlCommit:
				s.completeTxnLocked(b.ProducerID(), true)
			case records.ControlAbort:
				s.completeTxnLocked(b.ProducerID(), false)
			}
		}
		return
	}
	data := b.Records()
	if b.Codec() != records.CodecNone {
		var err error
		if data, err = records.Decompress(b.Codec(), data, nil, maxDecompressed); err != nil {
			s.c.log.Warn("coordinator: skipping a batch that does not decompress", "partition", s.index, "offset", b.BaseOffset(), "err", err)
			return
		}
	}
	txn := int64(-1)
	if b.IsTransactional() {
		txn = b.ProducerID()
	}
	rr := records.NewRecordReader(data, b.NumRecords())
	var rec records.Record
	for {
		ok, err := rr.Next(&rec)
		if err != nil {
			s.c.log.Warn("coordinator: skipping the rest of a malformed batch", "partition", s.index, "offset", b.BaseOffset(), "err", err)
			return
		}
		if !ok {
			return
		}
		if err := s.replayRecordLocked(rec.Key, rec.Value, txn); err != nil {
			s.c.log.Warn("coordinator: skipping a malformed record", "partition", s.index,
				"offset", b.BaseOffset()+int64(rec.OffsetDelta), "err", err)
		}
	}
}

// replayRecordLocked applies one record; txn is the producer id of a
// transactional batch, or -1.
func (s *shard) replayRecordLocked(key, value []byte, txn int64) error {
	if key == nil {
		return errBadRecord
	}
	k, err := parseKey(key)
	if err != nil {
		return err
	}
	switch k.typ {
	case recOffsetCommitV0, recOffsetCommit:
		return s.replayOffsetLocked(k, value, txn)
	case recGroupMetadata:
		return s.replayGroupLocked(k.group, value)
	case recConsumerGroup, recConsumerMember, recConsumerTargetMeta, recConsumerTarget, recConsumerCurrent:
		return s.replayConsumerLocked(k, value)
	}
	return nil // partition metadata, regular expressions, other group kinds
}

func (s *shard) replayOffsetLocked(k recordKey, value []byte, txn int64) error {
	t := tp{k.topic, k.partition}
	if value == nil {
		if g := s.groups[k.group]; g != nil {
			delete(g.offsets, t)
		}
		return nil
	}
	o, err := parseOffsetValue(value)
	if err != nil {
		return err
	}
	o.at = s.lastEnd
	g := s.getOrCreateLocked(k.group)
	if txn >= 0 {
		g.stageTxnOffsetLocked(txn, t, &o)
		return nil
	}
	g.offsets[t] = &o
	return nil
}

func (s *shard) replayGroupLocked(id string, value []byte) error {
	g := s.groups[id]
	if value == nil {
		if g != nil && g.kind == kindClassic {
			if len(g.offsets) == 0 && len(g.txnOffsets) == 0 {
				delete(s.groups, id) // the group was deleted
				return nil
			}
			g.members, g.static = map[string]*member{}, map[string]string{}
			g.state, g.protocolType, g.protocol, g.leader, g.generation = stEmpty, "", "", "", 0
		}
		return nil
	}
	v, err := parseGroupValue(value)
	if err != nil {
		return err
	}
	if g == nil {
		g = s.getOrCreateLocked(id)
	}
	g.kind, g.cg = kindClassic, nil
	g.protocolType = v.ProtocolType
	g.generation = v.Generation
	g.protocol = derefOr(v.Protocol, "")
	g.leader = derefOr(v.Leader, "")
	g.members, g.static = map[string]*member{}, map[string]string{}
	if v.CurrentStateTimestamp > 0 {
		g.stateTime = time.UnixMilli(v.CurrentStateTimestamp)
	}
	for _, mv := range v.Members {
		m := &member{
			id: mv.MemberID, instanceID: cloneStrPtr(mv.InstanceID), clientID: mv.ClientID, clientHost: mv.ClientHost,
			sessionTimeout: mv.SessionTimeoutMillis, rebalanceTimeout: mv.RebalanceTimeoutMillis,
			protocols:  []protocol{{name: g.protocol, metadata: slices.Clone(mv.Subscription)}},
			assignment: slices.Clone(mv.Assignment),
		}
		if m.rebalanceTimeout <= 0 {
			m.rebalanceTimeout = m.sessionTimeout
		}
		g.members[m.id] = m
		if m.instanceID != nil {
			g.static[*m.instanceID] = m.id
		}
	}
	g.state = stEmpty
	if len(g.members) > 0 {
		g.state = stStable
	}
	return nil
}

func (s *shard) replayConsumerLocked(k recordKey, value []byte) error {
	// Decode first: a record that does not decode changes nothing.
	var (
		gv      cgGroupValue
		mv      cgMemberValue
		cv      cgCurrentValue
		target  []topicParts
		tgEpoch int32
		err     error
	)
	if value != nil {
		switch k.typ {
		case recConsumerGroup:
			gv, err = parseCGGroupValue(value)
		case recConsumerTargetMeta:
			tgEpoch, err = parseTargetMeta(value)
		case recConsumerMember:
			mv, err = parseCGMemberValue(value)
		case recConsumerTarget:
			target, err = parseTarget(value)
		case recConsumerCurrent:
			cv, err = parseCGCurrentValue(value)
		}
		if err != nil {
			return err
		}
	}
	g := s.groups[k.group]
	if g == nil || g.kind != kindConsumer {
		if value == nil {
			return nil
		}
		if g == nil {
			g = s.getOrCreateLocked(k.group)
		}
		g.kind, g.cg = kindConsumer, newConsumerGroup()
	}
	cg := g.cg
	member := func() *cMember {
		m := cg.members[k.member]
		if m == nil {
			m = newCMember(k.member)
			cg.members[k.member] = m
		}
		return m
	}
	switch k.typ {
	case recConsumerGroup:
		if value == nil {
			// The group is deleted; offsets left, if any, stay with an
			// empty classic group.
			if len(g.offsets) == 0 && len(g.txnOffsets) == 0 {
				delete(s.groups, k.group)
				return nil
			}
			g.kind, g.cg = kindClassic, nil
			return nil
		}
		cg.epoch, cg.metaHash = gv.epoch, gv.metadataHash
	case recConsumerTargetMeta:
		if value != nil {
			cg.assignEpoch = tgEpoch
		}
	case recConsumerMember:
		if value == nil {
			delete(cg.members, k.member)
			return nil
		}
		m := member()
		m.instanceID, m.rackID, m.clientID, m.clientHost = mv.instanceID, mv.rackID, mv.clientID, mv.clientHost
		m.topics, m.regex, m.rebalanceTimeout, m.assignor = mv.topics, mv.regex, mv.rebalanceTimeout, mv.assignor
		m.re = nil
		if m.regex != nil {
			m.re, _ = compileRegex(*m.regex)
		}
	case recConsumerTarget:
		if value == nil {
			delete(cg.target, k.member)
			return nil
		}
		set := assignmentSet{}
		for _, t := range target {
			for _, p := range t.partitions {
				set[tpid{t.id, p}] = true
			}
		}
		cg.target[k.member] = set
	case recConsumerCurrent:
		if value == nil {
			if m := cg.members[k.member]; m != nil {
				m.assigned, m.revoking = map[tpid]int32{}, map[tpid]int32{}
			}
			return nil
		}
		m := member()
		m.epoch, m.prevEpoch, m.state, m.left = cv.epoch, cv.prevEpoch, cv.state, false
		if cv.epoch == epochStaticLeave {
			m.epoch, m.left = cv.prevEpoch, true
		}
		m.assigned, m.revoking = fromTopicParts(cv.assigned, m.epoch), fromTopicParts(cv.revoking, m.epoch)
	}
	return nil
}

func fromTopicParts(tps []topicParts, epoch int32) map[tpid]int32 {
	out := map[tpid]int32{}
	for _, t := range tps {
		for i, p := range t.partitions {
			e := epoch
			if t.epochs != nil {
				e = t.epochs[i]
			}
			out[tpid{t.id, p}] = e
		}
	}
	return out
}

// finishLoadLocked completes the groups replayed: offsets of topics that no
// longer exist are dropped, member sessions start, KIP-848 ownership is
// rebuilt.
func (s *shard) finishLoadLocked() {
	s.dropTopicsLocked(func(topic string) bool {
		_, _, ok := s.c.topics.Topic(topic)
		return !ok
	})
	for _, id := range sortedKeys(s.groups) {
		g := s.groups[id]
		switch g.kind {
		case kindClassic:
			for _, m := range g.members {
				g.armSessionLocked(m)
			}
		case kindConsumer:
			cg := g.cg
			for _, mid := range sortedKeys(cg.members) {
				m := cg.members[mid]
				if m.instanceID != nil {
					cg.static[*m.instanceID] = m.id
				}
				for t := range m.assigned {
					cg.owners[t] = m.id
				}
				for t := range m.revoking {
					cg.owners[t] = m.id
				}
				cg.armSessionLocked(g, m)
				if m.state == memberUnrevoked {
					cg.armRevokeLocked(g, m)
				}
			}
			cg.assignor = cg.chooseAssignorLocked(s.c.cfg.ConsumerAssignors)
		}
	}
	s.armExpiryLocked()
}
