package coordinator

import (
	"crypto/rand"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

type groupKind int8

const (
	// kindClassic: JoinGroup/SyncGroup groups, and groups that only hold
	// offsets (Kafka's "simple" groups, an Empty classic group with no
	// protocol type).
	kindClassic groupKind = iota
	// kindConsumer: KIP-848 groups (ConsumerGroupHeartbeat).
	kindConsumer
)

// classicState is the state of a classic group (Kafka's ClassicGroupState;
// Dead is a group no longer in the map).
type classicState int8

const (
	stEmpty classicState = iota
	stPreparing
	stCompleting
	stStable
)

func (st classicState) String() string {
	switch st {
	case stEmpty:
		return "Empty"
	case stPreparing:
		return "PreparingRebalance"
	case stCompleting:
		return "CompletingRebalance"
	case stStable:
		return "Stable"
	}
	return "Unknown"
}

// tp is a topic partition.
type tp struct {
	topic     string
	partition int32
}

// offset is a committed offset.
type offset struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitTime  int64 // unix ms
	expire      int64 // unix ms from a v2-v4 retention time, or -1
	// at orders commits by where their records are in the log: the
	// offset just past the record's batch. A transaction's offsets take
	// effect at its marker only over older commits (Kafka's olderThan).
	at int64
}

// group is one group: its committed offsets, and its membership under the
// classic protocol or KIP-848.
type group struct {
	s    *shard
	id   string
	kind groupKind

	offsets map[tp]*offset
	// txnOffsets are transactional commits waiting for their transaction
	// to end, per producer id: a COMMIT marker moves them into offsets, an
	// ABORT drops them, and OffsetFetch with RequireStable answers
	// UNSTABLE_OFFSET_COMMIT for their partitions meanwhile. Only replay
	// fills them until the transaction coordinator exists.
	txnOffsets map[int64]map[tp]*offset

	// The classic protocol.
	state        classicState
	stateTime    time.Time
	protocolType string // "" for a group that only holds offsets
	protocol     string // selected protocol; "" while none
	generation   int32
	leader       string
	members      map[string]*member
	pendingIDs   map[string]*pendingID // KIP-394: ids handed out with MEMBER_ID_REQUIRED
	static       map[string]string     // group.instance.id → member id
	pendingSync  map[string]bool       // members that have not synced this generation
	joinTimer    deadline              // the join phase: rebalance timeout or initial delay
	syncTimer    deadline              // members must sync within the rebalance timeout
	initialDelay bool                  // the join phase is the initial rebalance delay
	delayLeft    time.Duration         // how far the initial delay may still be extended
	newMember    bool                  // a member joined during the initial delay

	// KIP-848.
	cg *consumerGroup
}

// member is a classic group member.
type member struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	sessionTimeout   int32 // ms
	rebalanceTimeout int32 // ms
	protocols        []protocol
	assignment       []byte
	join             *joinWait // a parked JoinGroup
	sync             *syncWait // a parked SyncGroup
	session          deadline
}

type protocol struct {
	name     string
	metadata []byte
}

type joinWait struct {
	p    *pending
	resp *kmsg.JoinGroupResponse
}

type syncWait struct {
	p    *pending
	resp *kmsg.SyncGroupResponse
}

// pendingID is a member id handed out with MEMBER_ID_REQUIRED; it expires
// if the client does not come back with it within its session timeout.
type pendingID struct {
	timer deadline
}

func newGroup(s *shard, id string) *group {
	return &group{
		s: s, id: id, kind: kindClassic, stateTime: s.now(),
		offsets: map[tp]*offset{}, members: map[string]*member{},
		pendingIDs: map[string]*pendingID{}, static: map[string]string{},
	}
}

// stopTimersLocked stops every timer of the group and its members.
func (g *group) stopTimersLocked() {
	disarmLocked(&g.joinTimer)
	disarmLocked(&g.syncTimer)
	for _, m := range g.members {
		disarmLocked(&m.session)
	}
	for _, p := range g.pendingIDs {
		disarmLocked(&p.timer)
	}
	if g.cg != nil {
		for _, m := range g.cg.members {
			disarmLocked(&m.session)
			disarmLocked(&m.revokeTimer)
		}
	}
}

// isEmptyLocked reports whether the group has no members of either kind.
func (g *group) isEmptyLocked() bool {
	if g.kind == kindConsumer {
		return len(g.cg.members) == 0
	}
	return len(g.members) == 0 && len(g.pendingIDs) == 0
}

// sortedMembers returns the classic members ordered by id, so that
// responses and records do not depend on map order.
func (g *group) sortedMembers() []*member {
	out := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *member) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	return out
}

// newUUID returns a random UUID in its text form, as Java's
// UUID.randomUUID().toString() makes member ids.
func newUUID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func strPtr(s string) *string { return &s }

func cloneStrPtr(s *string) *string {
	if s == nil {
		return nil
	}
	return strPtr(*s)
}

func ptrEq(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}
