package coordinator

// The classic group protocol: JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
// following Kafka's GroupCoordinator (core, 3.x) and the classic half of
// GroupMetadataManager (group-coordinator, 4.x).
//
//	          join (first member)                 all members joined, or
//	 Empty ─────────────────────▶ PreparingRebalance ──── rebalance timeout ───▶ CompletingRebalance
//	   ▲    (initial delay when                ▲   │ no member left                    │ leader's SyncGroup
//	   │     the group was Empty)              │   ▼                                   ▼ (written, then answered)
//	   └──────────── last member gone ─────────┴── Empty ◀── member left/expired ── Stable
//	                                               new member, leader rejoins, changed metadata
//
// A member that does not heartbeat within its session timeout is removed.
// While a JoinGroup or SyncGroup of a member is parked, its session is
// paused (Kafka keeps such members alive); the join phase is bounded by the
// rebalance timeout, the sync phase too (members that do not sync are
// removed, as Kafka 3.2+ does).

import (
	"slices"
	"time"

	"github.com/potok-io/potok/records"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func ms(n int32) time.Duration { return time.Duration(n) * time.Millisecond }

// JoinGroup handles a JoinGroup request (v0-v9). done is called exactly once,
// possibly later and from another goroutine.
func (c *Groups) JoinGroup(cl Client, req *kmsg.JoinGroupRequest, done func(*kmsg.JoinGroupResponse)) {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.MemberID = req.MemberID
	answer := func(code int16) {
		if code != 0 {
			resp.ErrorCode = code
			resp.Generation = -1
			resp.ProtocolType, resp.Protocol = nil, nil
			resp.LeaderID = ""
			resp.Members = nil
		}
		done(resp)
	}
	session := ms(req.SessionTimeoutMillis)
	switch {
	case req.Group == "":
		answer(kerr.InvalidGroupID.Code)
		return
	case session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout:
		answer(kerr.InvalidSessionTimeout.Code)
		return
	case req.ProtocolType == "" || len(req.Protocols) == 0:
		answer(kerr.InconsistentGroupProtocol.Code)
		return
	}
	s, code := c.shardFor(req.Group)
	if code != 0 {
		answer(code)
		return
	}
	p := s.newPending(answer)
	if code := s.do(func() { s.joinLocked(cl, req, resp, p) }); code != 0 {
		p.fire(code)
	}
}

// joinRequest is what a JoinGroup asks, normalized across versions.
type joinRequest struct {
	cl               Client
	instanceID       *string
	sessionTimeout   int32
	rebalanceTimeout int32
	protocolType     string
	protocols        []protocol
}

func newJoinRequest(cl Client, req *kmsg.JoinGroupRequest) joinRequest {
	j := joinRequest{
		cl: cl, instanceID: cloneStrPtr(req.InstanceID), sessionTimeout: req.SessionTimeoutMillis,
		rebalanceTimeout: req.RebalanceTimeoutMillis, protocolType: req.ProtocolType,
	}
	// v0 has no rebalance timeout: the session timeout bounds rebalances.
	if req.Version == 0 || j.rebalanceTimeout <= 0 {
		j.rebalanceTimeout = j.sessionTimeout
	}
	for _, p := range req.Protocols {
		j.protocols = append(j.protocols, protocol{name: p.Name, metadata: slices.Clone(p.Metadata)})
	}
	return j
}

func (s *shard) joinLocked(cl Client, req *kmsg.JoinGroupRequest, resp *kmsg.JoinGroupResponse, p *pending) {
	j := newJoinRequest(cl, req)
	g := s.groupLocked(req.Group)
	if g != nil && g.kind == kindConsumer {
		if !g.isEmptyLocked() {
			// Kafka migrates between protocols online; Potok only
			// converts an empty group (see doc.go).
			s.failLocked(p, kerr.InconsistentGroupProtocol.Code)
			return
		}
		g.toClassicLocked()
	}
	if req.MemberID == "" {
		s.joinUnknownLocked(g, req, j, resp, p)
		return
	}
	if g == nil {
		s.failLocked(p, kerr.UnknownMemberID.Code)
		return
	}
	g.joinKnownLocked(req.MemberID, j, resp, p)
}

// supportsLocked reports whether a member with these protocols may join:
// the protocol type must match and at least one protocol must be supported
// by every other member (Kafka's ClassicGroup.supportsProtocols).
func (g *group) supportsLocked(except string, protocolType string, protocols []protocol) bool {
	others := 0
	counts := map[string]int{}
	for id, m := range g.members {
		if id == except {
			continue
		}
		others++
		for _, p := range m.protocols {
			counts[p.name]++
		}
	}
	if others == 0 {
		return protocolType != "" && len(protocols) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		if counts[p.name] == others {
			return true
		}
	}
	return false
}

func (s *shard) joinUnknownLocked(g *group, req *kmsg.JoinGroupRequest, j joinRequest, resp *kmsg.JoinGroupResponse, p *pending) {
	if g != nil && !g.supportsLocked("", j.protocolType, j.protocols) {
		s.failLocked(p, kerr.InconsistentGroupProtocol.Code)
		return
	}
	if g == nil {
		g = s.getOrCreateLocked(req.Group)
	}
	prefix := j.cl.ID
	if j.instanceID != nil {
		prefix = *j.instanceID
	}
	newID := prefix + "-" + s.c.uuid()
	if j.instanceID != nil {
		if old, ok := g.static[*j.instanceID]; ok && g.members[old] != nil {
			g.replaceStaticLocked(g.members[old], newID, j, resp, p)
			return
		}
	}
	if len(g.members)+len(g.pendingIDs) >= s.c.cfg.MaxGroupSize {
		s.failLocked(p, kerr.GroupMaxSizeReached.Code)
		return
	}
	if j.instanceID == nil && req.Version >= 4 {
		// KIP-394: the client must come back with this id, so a client
		// that dies before it does leaves no member behind.
		pid := &pendingID{}
		g.pendingIDs[newID] = pid
		s.armLocked(&pid.timer, ms(j.sessionTimeout), func() {
			if g.pendingIDs[newID] != pid {
				return
			}
			delete(g.pendingIDs, newID)
			if g.state == stPreparing {
				g.tryCompleteJoinLocked()
			}
		})
		resp.MemberID = newID
		s.failLocked(p, kerr.MemberIDRequired.Code)
		return
	}
	g.addMemberLocked(newID, j, resp, p)
}

// addMemberLocked adds a member that waits in the join phase and starts or
// advances a rebalance.
func (g *group) addMemberLocked(id string, j joinRequest, resp *kmsg.JoinGroupResponse, p *pending) {
	m := &member{id: id}
	m.update(j)
	if len(g.members) == 0 {
		g.protocolType = j.protocolType
	}
	if g.leader == "" || g.members[g.leader] == nil {
		g.leader = id
	}
	g.members[id] = m
	if m.instanceID != nil {
		g.static[*m.instanceID] = id
	}
	m.join = &joinWait{p: p, resp: resp}
	if g.state == stPreparing && g.generation == 0 {
		g.newMember = true
	}
	g.rebalanceLocked()
}

func (m *member) update(j joinRequest) {
	m.instanceID = j.instanceID
	m.clientID, m.clientHost = j.cl.ID, j.cl.Host
	m.sessionTimeout, m.rebalanceTimeout = j.sessionTimeout, j.rebalanceTimeout
	m.protocols = j.protocols
}

// matches reports whether a rejoin leaves the member's protocols unchanged.
func (m *member) matches(protocols []protocol) bool {
	return slices.EqualFunc(m.protocols, protocols, func(a, b protocol) bool {
		return a.name == b.name && string(a.metadata) == string(b.metadata)
	})
}

func (g *group) joinKnownLocked(id string, j joinRequest, resp *kmsg.JoinGroupResponse, p *pending) {
	s := g.s
	if g.kind != kindClassic {
		s.failLocked(p, kerr.UnknownMemberID.Code)
		return
	}
	if pid, ok := g.pendingIDs[id]; ok {
		if !g.supportsLocked("", j.protocolType, j.protocols) {
			s.failLocked(p, kerr.InconsistentGroupProtocol.Code)
			return
		}
		disarmLocked(&pid.timer)
		delete(g.pendingIDs, id)
		g.addMemberLocked(id, j, resp, p)
		return
	}
	m := g.members[id]
	if code := g.checkMemberLocked(id, j.instanceID); code != 0 {
		s.failLocked(p, code)
		return
	}
	if !g.supportsLocked(id, j.protocolType, j.protocols) {
		s.failLocked(p, kerr.InconsistentGroupProtocol.Code)
		return
	}
	switch g.state {
	case stPreparing:
		g.parkJoinLocked(m, j, resp, p)
		g.tryCompleteJoinLocked()
	case stCompleting:
		if m.matches(j.protocols) {
			// The member missed the join response: give it again.
			m.update(j)
			g.fillJoinLocked(m, resp, g.leader)
			s.replyLocked(p)
			g.armSessionLocked(m)
			return
		}
		g.parkJoinLocked(m, j, resp, p)
		g.rebalanceLocked()
	case stStable:
		if m.id == g.leader || !m.matches(j.protocols) {
			g.parkJoinLocked(m, j, resp, p)
			g.rebalanceLocked()
			return
		}
		m.update(j)
		g.fillJoinLocked(m, resp, g.leader)
		resp.Members = nil
		s.replyLocked(p)
		g.armSessionLocked(m)
	default:
		s.failLocked(p, kerr.UnknownMemberID.Code)
	}
}

// checkMemberLocked validates a member id and instance id against the
// group: UNKNOWN_MEMBER_ID, or FENCED_INSTANCE_ID when the instance id now
// belongs to another member (KIP-345).
func (g *group) checkMemberLocked(id string, instanceID *string) int16 {
	if instanceID != nil {
		if owner, ok := g.static[*instanceID]; ok && owner != id {
			return kerr.FencedInstanceID.Code
		}
	}
	m := g.members[id]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	if instanceID != nil && m.instanceID != nil && *m.instanceID != *instanceID {
		return kerr.FencedInstanceID.Code
	}
	return 0
}

// parkJoinLocked records a member's rejoin and parks its JoinGroup.
func (g *group) parkJoinLocked(m *member, j joinRequest, resp *kmsg.JoinGroupResponse, p *pending) {
	if m.join != nil {
		g.answerJoinLocked(m, kerr.RebalanceInProgress.Code)
	}
	m.update(j)
	m.join = &joinWait{p: p, resp: resp}
	disarmLocked(&m.session)
}

// replaceStaticLocked gives a known static member a new member id: the old
// id is fenced (KIP-345), and a Stable group whose protocol choice does not
// change keeps its assignment without a rebalance.
func (g *group) replaceStaticLocked(m *member, newID string, j joinRequest, resp *kmsg.JoinGroupResponse, p *pending) {
	s := g.s
	oldID, oldLeader := m.id, g.leader
	oldProtocols := m.protocols
	oldClient, oldHost, oldSession, oldRebalance := m.clientID, m.clientHost, m.sessionTimeout, m.rebalanceTimeout
	if m.join != nil {
		g.answerJoinLocked(m, kerr.FencedInstanceID.Code)
	}
	if m.sync != nil {
		g.answerSyncLocked(m, kerr.FencedInstanceID.Code)
	}
	g.renameLocked(m, newID)
	m.update(j)
	switch g.state {
	case stStable:
		if g.selectProtocolLocked() == g.protocol {
			if err := s.writeLocked([]records.Record{g.metadataRecordLocked()}); err != nil {
				// Undo, as Kafka does when the write fails.
				g.renameLocked(m, oldID)
				m.protocols, m.clientID, m.clientHost = oldProtocols, oldClient, oldHost
				m.sessionTimeout, m.rebalanceTimeout = oldSession, oldRebalance
				s.failLocked(p, kerr.NotCoordinator.Code)
				return
			}
			// The old leader id is returned even if this member
			// led, so that it does not compute an assignment a
			// Stable group would not pass on.
			g.fillJoinLocked(m, resp, oldLeader)
			resp.Members = nil
			s.replyLocked(p)
			g.armSessionLocked(m)
			return
		}
		m.join = &joinWait{p: p, resp: resp}
		disarmLocked(&m.session)
		g.rebalanceLocked()
	case stCompleting:
		// The leader may already have an assignment naming the old id.
		m.join = &joinWait{p: p, resp: resp}
		disarmLocked(&m.session)
		g.rebalanceLocked()
	case stPreparing:
		m.join = &joinWait{p: p, resp: resp}
		disarmLocked(&m.session)
		g.tryCompleteJoinLocked()
	default:
		panic("BUG: coordinator: a static member in an empty group")
	}
}

// renameLocked changes a member's id everywhere the group refers to it.
func (g *group) renameLocked(m *member, id string) {
	old := m.id
	delete(g.members, old)
	m.id = id
	g.members[id] = m
	if m.instanceID != nil {
		g.static[*m.instanceID] = id
	}
	if g.leader == old {
		g.leader = id
	}
	if g.pendingSync[old] {
		delete(g.pendingSync, old)
		g.pendingSync[id] = true
	}
}

// rebalanceLocked reacts to a member joining or rejoining: a rebalance
// starts, or the one in progress may be complete.
func (g *group) rebalanceLocked() {
	switch g.state {
	case stEmpty, stStable, stCompleting:
		g.prepareRebalanceLocked()
	case stPreparing:
		g.tryCompleteJoinLocked()
	}
}

// membersLeftLocked reacts to members leaving or expiring.
func (g *group) membersLeftLocked() {
	switch g.state {
	case stStable, stCompleting:
		g.prepareRebalanceLocked()
	case stPreparing:
		g.tryCompleteJoinLocked()
	}
}

// rebalanceTimeoutLocked is the largest rebalance timeout of the members.
func (g *group) rebalanceTimeoutLocked() time.Duration {
	var t int32
	for _, m := range g.members {
		t = max(t, m.rebalanceTimeout)
	}
	return ms(t)
}

func (g *group) prepareRebalanceLocked() {
	s := g.s
	if g.state == stCompleting {
		// The assignment being synced is void: members waiting for it
		// rejoin.
		for _, m := range g.members {
			m.assignment = nil
			if m.sync != nil {
				g.answerSyncLocked(m, kerr.RebalanceInProgress.Code)
			}
		}
	}
	disarmLocked(&g.syncTimer)
	g.pendingSync = nil
	timeout := g.rebalanceTimeoutLocked()
	delay := s.c.cfg.InitialRebalanceDelay
	if g.state == stEmpty && delay > 0 {
		// Kafka's InitialDelayedJoin: wait for more members, extending
		// the wait while they keep coming, up to the rebalance timeout.
		g.initialDelay = true
		g.newMember = false
		first := min(delay, timeout)
		g.delayLeft = max(timeout-delay, 0)
		s.armLocked(&g.joinTimer, first, g.initialDelayExpiredLocked)
	} else {
		g.initialDelay = false
		s.armLocked(&g.joinTimer, timeout, g.completeJoinLocked)
	}
	g.setStateLocked(stPreparing)
	g.tryCompleteJoinLocked()
}

func (g *group) setStateLocked(st classicState) {
	g.state = st
	g.stateTime = g.s.now()
}

func (g *group) initialDelayExpiredLocked() {
	if g.newMember && g.delayLeft > 0 {
		g.newMember = false
		d := min(g.s.c.cfg.InitialRebalanceDelay, g.delayLeft)
		g.delayLeft = max(g.delayLeft-d, 0)
		g.s.armLocked(&g.joinTimer, d, g.initialDelayExpiredLocked)
		return
	}
	g.completeJoinLocked()
}

// tryCompleteJoinLocked completes the join phase once every member has
// rejoined and no handed-out member id is outstanding.
func (g *group) tryCompleteJoinLocked() {
	if g.state != stPreparing || g.initialDelay {
		return
	}
	if len(g.pendingIDs) > 0 {
		return
	}
	for _, m := range g.members {
		if m.join == nil {
			return
		}
	}
	g.completeJoinLocked()
}

// completeJoinLocked ends the join phase: members that did not rejoin are
// dropped (static members stay, KIP-345), a new generation starts and the
// parked JoinGroups are answered, the leader's with every member.
func (g *group) completeJoinLocked() {
	s := g.s
	if g.state != stPreparing {
		return
	}
	disarmLocked(&g.joinTimer)
	g.initialDelay = false
	for _, m := range g.sortedMembers() {
		if m.join == nil && m.instanceID == nil {
			g.removeMemberLocked(m)
		}
	}
	if l := g.members[g.leader]; l == nil || l.join == nil {
		for _, m := range g.sortedMembers() {
			if m.join != nil {
				g.leader = m.id
				break
			}
		}
	}
	g.generation++
	if len(g.members) == 0 {
		g.protocol, g.leader = "", ""
		g.setStateLocked(stEmpty)
		s.mustWriteLocked([]records.Record{g.metadataRecordLocked()})
		return
	}
	g.protocol = g.selectProtocolLocked()
	g.setStateLocked(stCompleting)
	g.pendingSync = map[string]bool{}
	for id := range g.members {
		g.pendingSync[id] = true
	}
	s.armLocked(&g.syncTimer, g.rebalanceTimeoutLocked(), g.syncExpiredLocked)
	for _, m := range g.sortedMembers() {
		if m.join == nil {
			continue
		}
		g.fillJoinLocked(m, m.join.resp, g.leader)
		p := m.join.p
		m.join = nil
		s.replyLocked(p)
		g.armSessionLocked(m)
	}
}

// fillJoinLocked fills a successful JoinGroup response for m; the leader
// gets every member's metadata for the selected protocol.
func (g *group) fillJoinLocked(m *member, resp *kmsg.JoinGroupResponse, leader string) {
	resp.ErrorCode = 0
	resp.Generation = g.generation
	resp.ProtocolType = strPtr(g.protocolType)
	resp.Protocol = strPtr(g.protocol)
	resp.LeaderID = leader
	resp.MemberID = m.id
	resp.SkipAssignment = false
	resp.Members = nil
	if m.id != leader {
		return
	}
	for _, o := range g.sortedMembers() {
		rm := kmsg.NewJoinGroupResponseMember()
		rm.MemberID = o.id
		rm.InstanceID = cloneStrPtr(o.instanceID)
		rm.ProtocolMetadata = o.metadataFor(g.protocol)
		resp.Members = append(resp.Members, rm)
	}
}

func (m *member) metadataFor(name string) []byte {
	for _, p := range m.protocols {
		if p.name == name {
			return p.metadata
		}
	}
	return nil
}

// selectProtocolLocked picks the protocol every member supports that most
// members prefer (Kafka's ClassicGroup.selectProtocol); ties go to the
// leader's preference.
func (g *group) selectProtocolLocked() string {
	members := g.sortedMembers()
	if len(members) == 0 {
		return ""
	}
	counts := map[string]int{}
	for _, m := range members {
		for _, p := range m.protocols {
			counts[p.name]++
		}
	}
	supported := func(name string) bool { return counts[name] == len(members) }
	votes := map[string]int{}
	for _, m := range members {
		for _, p := range m.protocols {
			if supported(p.name) {
				votes[p.name]++
				break
			}
		}
	}
	order := members[0].protocols
	if l := g.members[g.leader]; l != nil {
		order = l.protocols
	}
	best, bestVotes := "", -1
	for _, p := range order {
		if supported(p.name) && votes[p.name] > bestVotes {
			best, bestVotes = p.name, votes[p.name]
		}
	}
	return best
}

// syncExpiredLocked removes the members that did not sync within the
// rebalance timeout and rebalances.
func (g *group) syncExpiredLocked() {
	if len(g.pendingSync) == 0 || (g.state != stCompleting && g.state != stStable) {
		return
	}
	for id := range g.pendingSync {
		if m := g.members[id]; m != nil {
			g.removeMemberLocked(m)
		}
	}
	g.pendingSync = nil
	g.prepareRebalanceLocked()
}

// armSessionLocked (re)starts a member's session timer, unless a request of
// the member is parked.
func (g *group) armSessionLocked(m *member) {
	if m.join != nil || m.sync != nil {
		disarmLocked(&m.session)
		return
	}
	g.s.armLocked(&m.session, ms(m.sessionTimeout), func() {
		if g.members[m.id] != m || g.s.groups[g.id] != g {
			return
		}
		g.s.c.log.Info("coordinator: member session expired", "group", g.id, "member", m.id)
		g.removeMemberLocked(m)
		g.membersLeftLocked()
	})
}

// removeMemberLocked drops a member, answering its parked requests with
// UNKNOWN_MEMBER_ID; a removed leader is replaced.
func (g *group) removeMemberLocked(m *member) {
	if m.join != nil {
		g.answerJoinLocked(m, kerr.UnknownMemberID.Code)
	}
	if m.sync != nil {
		g.answerSyncLocked(m, kerr.UnknownMemberID.Code)
	}
	disarmLocked(&m.session)
	delete(g.members, m.id)
	delete(g.pendingSync, m.id)
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
		rest := g.sortedMembers()
		for _, o := range rest {
			if o.join != nil {
				g.leader = o.id
				break
			}
		}
		if g.leader == "" && len(rest) > 0 {
			g.leader = rest[0].id
		}
	}
}

func (g *group) answerJoinLocked(m *member, code int16) {
	p := m.join.p
	m.join = nil
	g.s.failLocked(p, code)
	if g.members[m.id] == m {
		g.armSessionLocked(m)
	}
}

func (g *group) answerSyncLocked(m *member, code int16) {
	p := m.sync.p
	m.sync = nil
	g.s.failLocked(p, code)
	if g.members[m.id] == m {
		g.armSessionLocked(m)
	}
}

// metadataRecordLocked is the group's GroupMetadata record.
func (g *group) metadataRecordLocked() records.Record {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupMetadataVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		v.Protocol = strPtr(g.protocol)
	}
	if g.leader != "" {
		v.Leader = strPtr(g.leader)
	}
	v.CurrentStateTimestamp = g.stateTime.UnixMilli()
	for _, m := range g.sortedMembers() {
		mv := kmsg.NewGroupMetadataValueMember()
		mv.MemberID = m.id
		mv.InstanceID = m.instanceID
		mv.ClientID, mv.ClientHost = m.clientID, m.clientHost
		mv.RebalanceTimeoutMillis, mv.SessionTimeoutMillis = m.rebalanceTimeout, m.sessionTimeout
		mv.Subscription = m.metadataFor(g.protocol)
		if mv.Subscription == nil {
			mv.Subscription = []byte{}
		}
		mv.Assignment = m.assignment
		if mv.Assignment == nil {
			mv.Assignment = []byte{}
		}
		v.Members = append(v.Members, mv)
	}
	return records.Record{Key: groupKey(g.id), Value: v.AppendTo(nil)}
}

// SyncGroup handles a SyncGroup request (v0-v5).
func (c *Groups) SyncGroup(req *kmsg.SyncGroupRequest, done func(*kmsg.SyncGroupResponse)) {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	answer := func(code int16) {
		if code != 0 {
			resp.ErrorCode = code
			resp.MemberAssignment = []byte{}
			resp.ProtocolType, resp.Protocol = nil, nil
		}
		done(resp)
	}
	c.onShard(req.Group, answer, func(s *shard, p *pending) { s.syncLocked(req, resp, p) })
}

func (s *shard) syncLocked(req *kmsg.SyncGroupRequest, resp *kmsg.SyncGroupResponse, p *pending) {
	g := s.groupLocked(req.Group)
	if g == nil || g.kind != kindClassic {
		s.failLocked(p, kerr.UnknownMemberID.Code)
		return
	}
	if code := g.checkMemberLocked(req.MemberID, req.InstanceID); code != 0 {
		s.failLocked(p, code)
		return
	}
	m := g.members[req.MemberID]
	switch {
	case req.Generation != g.generation:
		s.failLocked(p, kerr.IllegalGeneration.Code)
		return
	case req.ProtocolType != nil && *req.ProtocolType != g.protocolType,
		req.Protocol != nil && *req.Protocol != g.protocol:
		s.failLocked(p, kerr.InconsistentGroupProtocol.Code)
		return
	}
	switch g.state {
	case stPreparing:
		s.failLocked(p, kerr.RebalanceInProgress.Code)
	case stCompleting:
		g.syncedLocked(m.id)
		if m.sync != nil {
			g.answerSyncLocked(m, kerr.RebalanceInProgress.Code)
		}
		m.sync = &syncWait{p: p, resp: resp}
		disarmLocked(&m.session)
		if m.id != g.leader {
			return
		}
		assigned := map[string][]byte{}
		for _, a := range req.GroupAssignment {
			assigned[a.MemberID] = slices.Clone(a.MemberAssignment)
		}
		for _, o := range g.members {
			o.assignment = assigned[o.id]
		}
		if err := s.writeLocked([]records.Record{g.metadataRecordLocked()}); err != nil {
			for _, o := range g.members {
				o.assignment = nil
				if o.sync != nil {
					g.answerSyncLocked(o, kerr.NotCoordinator.Code)
				}
			}
			g.prepareRebalanceLocked()
			return
		}
		g.setStateLocked(stStable)
		for _, o := range g.sortedMembers() {
			if o.sync == nil {
				continue
			}
			g.fillSyncLocked(o, o.sync.resp)
			sp := o.sync.p
			o.sync = nil
			s.replyLocked(sp)
			g.armSessionLocked(o)
		}
	case stStable:
		g.syncedLocked(m.id)
		g.fillSyncLocked(m, resp)
		s.replyLocked(p)
		g.armSessionLocked(m)
	default:
		s.failLocked(p, kerr.UnknownMemberID.Code)
	}
}

// syncedLocked notes that a member synced this generation.
func (g *group) syncedLocked(id string) {
	delete(g.pendingSync, id)
	if len(g.pendingSync) == 0 {
		disarmLocked(&g.syncTimer)
	}
}

// emptyConsumerAssignment is a valid ConsumerMemberAssignment with no
// partitions (version 0, no topics, null user data): what a "consumer"
// member the leader gave nothing gets instead of zero bytes, which Java,
// franz-go and sarama fail to parse (kfake, franz-go#1227).
var emptyConsumerAssignment = func() []byte {
	a := kmsg.NewConsumerMemberAssignment()
	return a.AppendTo(nil)
}()

func (g *group) fillSyncLocked(m *member, resp *kmsg.SyncGroupResponse) {
	resp.ErrorCode = 0
	resp.ProtocolType = strPtr(g.protocolType)
	resp.Protocol = strPtr(g.protocol)
	resp.MemberAssignment = m.assignment
	if len(resp.MemberAssignment) == 0 {
		resp.MemberAssignment = []byte{}
		if g.protocolType == "consumer" {
			resp.MemberAssignment = emptyConsumerAssignment
		}
	}
}

// Heartbeat handles a Heartbeat request (v0-v4).
func (c *Groups) Heartbeat(req *kmsg.HeartbeatRequest, done func(*kmsg.HeartbeatResponse)) {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		done(resp)
		return
	}
	s, code := c.shardFor(req.Group)
	if code == 0 {
		code = s.do(func() { resp.ErrorCode = s.heartbeatLocked(req) })
	}
	if code != 0 {
		resp.ErrorCode = code
	}
	done(resp)
}

func (s *shard) heartbeatLocked(req *kmsg.HeartbeatRequest) int16 {
	g := s.groupLocked(req.Group)
	if g == nil || g.kind != kindClassic {
		return kerr.UnknownMemberID.Code
	}
	if code := g.checkMemberLocked(req.MemberID, req.InstanceID); code != 0 {
		return code
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	m := g.members[req.MemberID]
	switch g.state {
	case stPreparing:
		g.armSessionLocked(m)
		return kerr.RebalanceInProgress.Code
	case stCompleting, stStable:
		g.armSessionLocked(m)
		return 0
	}
	return kerr.UnknownMemberID.Code
}

// LeaveGroup handles a LeaveGroup request (v0-v5; v3+ names several
// members, by member id or by instance id).
func (c *Groups) LeaveGroup(req *kmsg.LeaveGroupRequest, done func(*kmsg.LeaveGroupResponse)) {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	leaving := req.Members
	if req.Version < 3 {
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = req.MemberID
		leaving = []kmsg.LeaveGroupRequestMember{lm}
	}
	for _, l := range leaving {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = l.MemberID, l.InstanceID
		resp.Members = append(resp.Members, rm)
	}
	answer := func(code int16) {
		if code != 0 {
			resp.ErrorCode = code
		}
		if req.Version < 3 {
			if resp.ErrorCode == 0 {
				resp.ErrorCode = resp.Members[0].ErrorCode
			}
			resp.Members = nil
		}
		done(resp)
	}
	c.onShard(req.Group, answer, func(s *shard, p *pending) { s.leaveLocked(req.Group, leaving, resp, p) })
}

func (s *shard) leaveLocked(id string, leaving []kmsg.LeaveGroupRequestMember, resp *kmsg.LeaveGroupResponse, p *pending) {
	g := s.groupLocked(id)
	if g == nil || g.kind != kindClassic {
		s.failLocked(p, kerr.UnknownMemberID.Code)
		return
	}
	removed := false
	for i, l := range leaving {
		rm := &resp.Members[i]
		if l.InstanceID != nil {
			owner, ok := g.static[*l.InstanceID]
			switch {
			case !ok:
				rm.ErrorCode = kerr.UnknownMemberID.Code
			case l.MemberID != "" && l.MemberID != owner:
				rm.ErrorCode = kerr.FencedInstanceID.Code
			default:
				g.removeMemberLocked(g.members[owner])
				removed = true
			}
			continue
		}
		if pid, ok := g.pendingIDs[l.MemberID]; ok {
			disarmLocked(&pid.timer)
			delete(g.pendingIDs, l.MemberID)
			removed = true
			continue
		}
		m := g.members[l.MemberID]
		if m == nil {
			rm.ErrorCode = kerr.UnknownMemberID.Code
			continue
		}
		g.removeMemberLocked(m)
		removed = true
	}
	if removed {
		g.membersLeftLocked()
	}
	s.replyLocked(p)
}
