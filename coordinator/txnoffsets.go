package coordinator

// Offsets committed inside a transaction (TxnOffsetCommit, KIP-98 and
// KIP-447). They are written to the group's __consumer_offsets partition as
// a transactional batch of the producer, kept apart per producer id, and
// become the group's offsets when the transaction's COMMIT marker reaches the
// partition; an ABORT marker drops them. Until then OffsetFetch with
// require_stable answers UNSTABLE_OFFSET_COMMIT for those partitions.

import (
	"errors"

	"github.com/potok-io/potok/logstore"
	"github.com/potok-io/potok/records"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TxnOffsetCommit handles a TxnOffsetCommit request (v0-v4).
func (c *Groups) TxnOffsetCommit(req *kmsg.TxnOffsetCommitRequest, done func(*kmsg.TxnOffsetCommitResponse)) {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	var codes []*int16
	for _, rt := range req.Topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			st.Partitions = append(st.Partitions, sp)
		}
		for j := range st.Partitions {
			codes = append(codes, &st.Partitions[j].ErrorCode)
		}
		resp.Topics = append(resp.Topics, st)
	}
	answer := answerEach(codes, func() { done(resp) })
	c.onShard(req.Group, answer, func(s *shard, p *pending) { s.txnCommitLocked(req, resp, p) })
}

func (s *shard) txnCommitLocked(req *kmsg.TxnOffsetCommitRequest, resp *kmsg.TxnOffsetCommitResponse, p *pending) {
	g := s.groupLocked(req.Group)
	// KIP-447 (v3+): a producer fed by a group member is fenced when that
	// member is no longer part of the group's current generation.
	if req.Version >= 3 && req.Generation >= 0 {
		if g == nil {
			s.failLocked(p, kerr.UnknownMemberID.Code)
			return
		}
		if code, _ := g.validateCommitLocked(req.Generation, req.MemberID, req.InstanceID); code != 0 {
			s.failLocked(p, code)
			return
		}
	}
	now := s.now().UnixMilli()
	var recs []records.Record
	var stage []struct {
		t tp
		o *offset
	}
	for i, rt := range req.Topics {
		for j, rp := range rt.Partitions {
			sp := &resp.Topics[i].Partitions[j]
			t := tp{rt.Topic, rp.Partition}
			epoch := int32(-1)
			if req.Version >= 2 {
				epoch = rp.LeaderEpoch
			}
			o, code := s.checkedOffset(t, rp.Offset, epoch, rp.Metadata, now, -1)
			if code != 0 {
				sp.ErrorCode = code
				continue
			}
			recs = append(recs, records.Record{Key: offsetKey(req.Group, t.topic, t.partition), Value: offsetValue(o)})
			stage = append(stage, struct {
				t tp
				o *offset
			}{t, o})
		}
	}
	if len(stage) == 0 {
		s.replyLocked(p)
		return
	}
	if err := s.writeTxnLocked(recs, req.ProducerID, req.ProducerEpoch); err != nil {
		if errors.Is(err, logstore.ErrInvalidProducerEpoch) {
			s.failLocked(p, kerr.InvalidProducerEpoch.Code)
		} else {
			s.failLocked(p, kerr.NotCoordinator.Code)
		}
		return
	}
	if g == nil {
		g = s.getOrCreateLocked(req.Group)
	}
	for _, st := range stage {
		st.o.at = s.lastEnd
		g.stageTxnOffsetLocked(req.ProducerID, st.t, st.o)
	}
	s.replyLocked(p)
}

// writeTxnLocked writes offset records as a transactional batch of producer
// (pid, epoch). The batch carries no sequence: the log checks only the
// epoch of a coordinator's write.
func (s *shard) writeTxnLocked(recs []records.Record, pid int64, epoch int16) error {
	for i := range recs {
		recs[i].OffsetDelta = int32(i)
	}
	h := records.BatchHeader{BaseTimestamp: s.now().UnixMilli(), PartitionLeaderEpoch: -1, Attributes: records.AttrTransactional,
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: -1}
	batch, err := records.AppendBatch(nil, h, records.CodecNone, recs)
	if err != nil {
		return err
	}
	end, err := s.plog.Append(batch)
	if err != nil {
		return err
	}
	s.lastEnd = end
	return nil
}

// CompleteTxn applies a transaction marker just written to partition i of
// __consumer_offsets: producer pid's staged offsets become the group's
// offsets (commit) or are dropped (abort).
func (c *Groups) CompleteTxn(i int32, pid int64, commit bool) {
	c.mu.Lock()
	s := c.shards[i]
	c.mu.Unlock()
	if s == nil {
		return
	}
	// The transaction coordinator resumes prepared transactions while this
	// partition loads (at startup, both load at once). A marker dropped
	// then would leave the transaction's offsets staged, and a consumer
	// would read the group's offsets from before the transaction. A marker
	// the replay also read finds nothing staged any more, and no later
	// transaction of the producer can have staged offsets: it starts only
	// once this one is complete.
	s.doOrAfterLoad(func() { s.completeTxnLocked(pid, commit) })
}
