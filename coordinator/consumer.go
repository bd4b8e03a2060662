package coordinator

// KIP-848 consumer groups: ConsumerGroupHeartbeat and the server-side
// assignment, following Kafka's GroupMetadataManager and
// CurrentAssignmentBuilder (group-coordinator, 4.x), with v1 semantics
// (KIP-1082: the client makes its member id).
//
// Three epochs drive a group. The group epoch moves when membership,
// subscriptions or the subscribed topics change; the target assignment is
// then computed again by the server assignor and takes the group epoch as
// its assignment epoch. Each member reconciles towards its target on its
// own heartbeats:
//
//	partitions to give up?  yes ─▶ UNREVOKED: the member keeps epoch and is told its
//	        │                         smaller assignment; once its heartbeat no
//	        │ no                      longer reports the revoked partitions, they
//	        ▼                         are released and it moves on
//	epoch := assignment epoch; new partitions another member still holds are
//	withheld (UNRELEASED) and handed over on a later heartbeat, once released.
//
// So a partition never has two owners: it goes to its new owner only after
// the previous one stopped reporting it. A member that does not heartbeat
// within group.consumer.session.timeout.ms, or does not revoke within its
// rebalance timeout, is fenced: removed, its partitions released.

import (
	"hash/fnv"
	"regexp"
	"slices"
	"strings"

	"github.com/potok-io/potok/records"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Member states, as Kafka's MemberState codes them in records.
const (
	memberStable     int8 = 0
	memberUnrevoked  int8 = 1
	memberUnreleased int8 = 2
)

// Member epochs with a meaning in ConsumerGroupHeartbeat.
const (
	epochJoin        int32 = 0
	epochLeave       int32 = -1
	epochStaticLeave int32 = -2
)

type consumerGroup struct {
	epoch       int32
	assignEpoch int32
	metaHash    uint64
	assignor    string
	members     map[string]*cMember
	static      map[string]string        // instance id → member id
	target      map[string]assignmentSet // member id → target assignment
	owners      map[tpid]string          // partition → member holding it (assigned or revoking)
}

type cMember struct {
	id               string
	instanceID       *string
	rackID           *string
	clientID         string
	clientHost       string
	topics           []string // subscribed names, sorted
	regex            *string
	re               *regexp.Regexp
	assignor         *string
	rebalanceTimeout int32
	epoch, prevEpoch int32
	state            int8
	assigned         map[tpid]int32 // partition → member epoch when it was assigned
	revoking         map[tpid]int32
	left             bool // a static member gone with epoch -2, kept until its session expires or its instance rejoins
	session          deadline
	revokeTimer      deadline
	sent             string // the assignment last sent, to send it only when it changed
}

func newConsumerGroup() *consumerGroup {
	return &consumerGroup{
		members: map[string]*cMember{}, static: map[string]string{},
		target: map[string]assignmentSet{}, owners: map[tpid]string{},
	}
}

func newCMember(id string) *cMember {
	return &cMember{id: id, rebalanceTimeout: -1, assigned: map[tpid]int32{}, revoking: map[tpid]int32{}}
}

// compileRegex compiles a KIP-848 subscription pattern; Kafka matches whole
// topic names (RE2J's matches()), so the pattern is anchored.
func compileRegex(pattern string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + pattern + ")$")
}

// ConsumerGroupHeartbeat handles a ConsumerGroupHeartbeat request (v0-v1).
func (c *Groups) ConsumerGroupHeartbeat(cl Client, req *kmsg.ConsumerGroupHeartbeatRequest, done func(*kmsg.ConsumerGroupHeartbeatResponse)) {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	resp.HeartbeatIntervalMillis = int32(c.cfg.ConsumerHeartbeatInterval.Milliseconds())
	answer := func(code int16) {
		if code != 0 {
			resp.ErrorCode = code
			resp.Assignment = nil
		}
		done(resp)
	}
	invalid := func(msg string) {
		resp.ErrorMessage = strPtr(msg)
		answer(kerr.InvalidRequest.Code)
	}
	switch {
	case req.Group == "":
		invalid("GroupId can't be empty.")
		return
	case req.InstanceID != nil && *req.InstanceID == "":
		invalid("InstanceId can't be empty.")
		return
	case req.RackID != nil && *req.RackID == "":
		invalid("RackId can't be empty.")
		return
	case req.MemberEpoch < epochStaticLeave:
		invalid("MemberEpoch is invalid.")
		return
	case req.MemberID == "" && (req.Version >= 1 || req.MemberEpoch != epochJoin):
		invalid("MemberId can't be empty.")
		return
	}
	if req.MemberEpoch == epochJoin {
		switch {
		case req.RebalanceTimeoutMillis == -1:
			invalid("RebalanceTimeoutMs must be provided in first request.")
			return
		case req.Topics == nil || len(req.Topics) > 0:
			invalid("TopicPartitions must be empty when (re-)joining.")
			return
		case req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
			invalid("SubscribedTopicNames or SubscribedTopicRegex must be set in first request.")
			return
		}
	}
	if req.ServerAssignor != nil && !slices.Contains(c.cfg.ConsumerAssignors, *req.ServerAssignor) {
		resp.ErrorMessage = strPtr("ServerAssignor " + *req.ServerAssignor + " is not supported.")
		answer(kerr.UnsupportedAssignor.Code)
		return
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != "" {
		if _, err := compileRegex(*req.SubscribedTopicRegex); err != nil {
			resp.ErrorMessage = strPtr("SubscribedTopicRegex is not a valid regular expression: " + err.Error())
			answer(kerr.InvalidRegularExpression.Code)
			return
		}
	}
	s, code := c.shardFor(req.Group)
	if code != 0 {
		answer(code)
		return
	}
	memberID := req.MemberID
	if memberID == "" {
		memberID = c.uuid() // v0 join: the coordinator names the member
	}
	p := s.newPending(answer)
	if code := s.do(func() { s.consumerHeartbeatLocked(cl, memberID, req, resp, p) }); code != 0 {
		p.fire(code)
	}
}

func (s *shard) consumerHeartbeatLocked(cl Client, memberID string, req *kmsg.ConsumerGroupHeartbeatRequest,
	resp *kmsg.ConsumerGroupHeartbeatResponse, p *pending) {
	g := s.groupLocked(req.Group)
	switch {
	case g == nil && req.MemberEpoch != epochJoin:
		resp.ErrorMessage = strPtr("Consumer group " + req.Group + " not found.")
		s.failLocked(p, kerr.GroupIDNotFound.Code)
		return
	case g == nil:
		g = s.getOrCreateLocked(req.Group)
		g.kind, g.cg = kindConsumer, newConsumerGroup()
	case g.kind == kindClassic && !g.isEmptyLocked():
		resp.ErrorMessage = strPtr("Group " + g.id + " is not a consumer group.")
		s.failLocked(p, kerr.GroupIDNotFound.Code)
		return
	case g.kind == kindClassic && req.MemberEpoch != epochJoin:
		resp.ErrorMessage = strPtr("Group " + g.id + " is not a consumer group.")
		s.failLocked(p, kerr.GroupIDNotFound.Code)
		return
	case g.kind == kindClassic:
		g.toConsumerLocked()
	}
	var recs []records.Record
	var code int16
	if req.MemberEpoch == epochLeave || req.MemberEpoch == epochStaticLeave {
		code = g.cg.leaveLocked(g, memberID, req, resp, &recs)
	} else {
		code = g.cg.heartbeatLocked(g, cl, memberID, req, resp, &recs)
	}
	if err := s.writeLocked(recs); err != nil && code == 0 {
		code = kerr.NotCoordinator.Code
	}
	if code != 0 {
		s.failLocked(p, code)
		return
	}
	s.replyLocked(p)
}

// toConsumerLocked turns an empty classic group (offsets only) into a
// consumer group, keeping its offsets.
func (g *group) toConsumerLocked() {
	g.s.mustWriteLocked([]records.Record{{Key: groupKey(g.id)}})
	g.stopTimersLocked()
	g.kind, g.cg = kindConsumer, newConsumerGroup()
	g.state, g.protocolType, g.protocol, g.leader, g.generation = stEmpty, "", "", "", 0
}

// toClassicLocked turns an empty consumer group into a classic one.
func (g *group) toClassicLocked() {
	g.s.mustWriteLocked(g.cg.tombstonesLocked(g.id))
	g.stopTimersLocked()
	g.kind, g.cg = kindClassic, nil
	g.state, g.protocolType, g.protocol, g.leader, g.generation = stEmpty, "", "", "", 0
	g.stateTime = g.s.now()
}

func (cg *consumerGroup) leaveLocked(g *group, memberID string, req *kmsg.ConsumerGroupHeartbeatRequest,
	resp *kmsg.ConsumerGroupHeartbeatResponse, recs *[]records.Record) int16 {
	m := cg.members[memberID]
	if req.InstanceID != nil {
		owner, ok := cg.static[*req.InstanceID]
		switch {
		case !ok:
			return kerr.UnknownMemberID.Code
		case owner != memberID:
			return kerr.FencedInstanceID.Code
		}
	}
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	resp.MemberID = strPtr(memberID)
	resp.MemberEpoch = req.MemberEpoch
	if req.MemberEpoch == epochStaticLeave && m.instanceID != nil {
		// KIP-345 for KIP-848: the member keeps its partitions until its
		// session expires, so a restart with the same instance id takes
		// them back without a rebalance.
		m.left = true
		*recs = append(*recs, cg.currentRecord(g.id, m))
		return 0
	}
	cg.fenceLocked(g, m, recs)
	return 0
}

// fenceLocked removes a member: its partitions are released, the group
// epoch moves and a new target assignment is computed.
func (cg *consumerGroup) fenceLocked(g *group, m *cMember, recs *[]records.Record) {
	disarmLocked(&m.session)
	disarmLocked(&m.revokeTimer)
	for t := range m.assigned {
		if cg.owners[t] == m.id {
			delete(cg.owners, t)
		}
	}
	for t := range m.revoking {
		if cg.owners[t] == m.id {
			delete(cg.owners, t)
		}
	}
	delete(cg.members, m.id)
	delete(cg.target, m.id)
	if m.instanceID != nil && cg.static[*m.instanceID] == m.id {
		delete(cg.static, *m.instanceID)
	}
	*recs = append(*recs,
		records.Record{Key: consumerKey(recConsumerCurrent, g.id, m.id)},
		records.Record{Key: consumerKey(recConsumerTarget, g.id, m.id)},
		records.Record{Key: consumerKey(recConsumerMember, g.id, m.id)})
	cg.bumpLocked(g, recs)
}

func (cg *consumerGroup) heartbeatLocked(g *group, cl Client, memberID string, req *kmsg.ConsumerGroupHeartbeatRequest,
	resp *kmsg.ConsumerGroupHeartbeatResponse, recs *[]records.Record) int16 {
	s := g.s
	m := cg.members[memberID]
	join := req.MemberEpoch == epochJoin
	created := false
	if req.InstanceID != nil {
		owner, known := cg.static[*req.InstanceID]
		switch {
		case !join && (!known || owner != memberID):
			if m == nil {
				return kerr.UnknownMemberID.Code
			}
			return kerr.FencedInstanceID.Code
		case join && known && owner != memberID:
			old := cg.members[owner]
			if old != nil && !old.left {
				return kerr.UnreleasedInstanceID.Code
			}
			if old != nil {
				// The new incarnation of a static member takes over
				// its predecessor's partitions and epoch.
				cg.renameLocked(g, old, memberID, recs)
				m = old
			}
		}
	}
	if m == nil {
		if !join {
			return kerr.UnknownMemberID.Code
		}
		if len(cg.members) >= s.c.cfg.MaxGroupSize {
			return kerr.GroupMaxSizeReached.Code
		}
		m = newCMember(memberID)
		cg.members[memberID] = m
		created = true
	}
	if !join {
		if req.MemberEpoch > m.epoch {
			return kerr.FencedMemberEpoch.Code
		}
		if req.MemberEpoch < m.epoch && (req.MemberEpoch != m.prevEpoch || !ownsSubset(req.Topics, m.assigned)) {
			return kerr.FencedMemberEpoch.Code
		}
		if req.MemberEpoch < m.epoch {
			m.sent = "" // the last answer was lost: send it again
		}
	}
	if m.left {
		m.left = false
		*recs = append(*recs, cg.currentRecord(g.id, m))
	}
	if req.InstanceID != nil {
		cg.static[*req.InstanceID] = memberID
	}
	changed := created
	metaChanged := created || m.clientID != cl.ID || m.clientHost != cl.Host
	m.clientID, m.clientHost = cl.ID, cl.Host
	if req.InstanceID != nil && !ptrEq(m.instanceID, req.InstanceID) {
		m.instanceID, metaChanged = cloneStrPtr(req.InstanceID), true
	}
	if req.RackID != nil && !ptrEq(m.rackID, req.RackID) {
		m.rackID, changed = cloneStrPtr(req.RackID), true
	}
	if req.RebalanceTimeoutMillis > 0 && req.RebalanceTimeoutMillis != m.rebalanceTimeout {
		m.rebalanceTimeout, metaChanged = req.RebalanceTimeoutMillis, true
	}
	if req.SubscribedTopicNames != nil {
		names := slices.Clone(req.SubscribedTopicNames)
		slices.Sort(names)
		names = slices.Compact(names)
		if !slices.Equal(names, m.topics) {
			m.topics, changed = names, true
		}
	}
	if req.SubscribedTopicRegex != nil {
		var regex *string
		if *req.SubscribedTopicRegex != "" {
			regex = cloneStrPtr(req.SubscribedTopicRegex)
		}
		if !ptrEq(regex, m.regex) {
			m.regex, m.re, changed = regex, nil, true
			if regex != nil {
				m.re, _ = compileRegex(*regex) // checked before
			}
		}
	}
	if req.ServerAssignor != nil && !ptrEq(req.ServerAssignor, m.assignor) {
		m.assignor, changed = cloneStrPtr(req.ServerAssignor), true
	}
	if changed || metaChanged {
		*recs = append(*recs, cg.memberRecord(g.id, m))
	}
	if hash := cg.metadataHashLocked(s.c.topics); changed || hash != cg.metaHash {
		cg.bumpLocked(g, recs)
	}
	cg.armSessionLocked(g, m)
	before := cg.currentRecord(g.id, m)
	var owned map[tpid]bool
	if req.Topics != nil {
		owned = map[tpid]bool{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				owned[tpid{t.TopicID, p}] = true
			}
		}
	}
	cg.reconcileLocked(g, m, owned, join)
	if after := cg.currentRecord(g.id, m); created || string(after.Value) != string(before.Value) {
		*recs = append(*recs, after)
	}
	resp.MemberID = strPtr(m.id)
	resp.MemberEpoch = m.epoch
	full := req.RebalanceTimeoutMillis != -1 && (req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Topics != nil
	if a := assignmentKey(m.assigned); join || full || a != m.sent {
		m.sent = a
		resp.Assignment = responseAssignment(m.assigned)
	}
	return 0
}

// ownsSubset reports whether the partitions a member reports are all
// assigned to it (a member retrying with its previous epoch).
func ownsSubset(owned []kmsg.ConsumerGroupHeartbeatRequestTopic, assigned map[tpid]int32) bool {
	if owned == nil {
		return false
	}
	for _, t := range owned {
		for _, p := range t.Partitions {
			if _, ok := assigned[tpid{t.TopicID, p}]; !ok {
				return false
			}
		}
	}
	return true
}

// renameLocked gives a static member's state to its new member id.
func (cg *consumerGroup) renameLocked(g *group, m *cMember, id string, recs *[]records.Record) {
	old := m.id
	*recs = append(*recs,
		records.Record{Key: consumerKey(recConsumerCurrent, g.id, old)},
		records.Record{Key: consumerKey(recConsumerTarget, g.id, old)},
		records.Record{Key: consumerKey(recConsumerMember, g.id, old)})
	delete(cg.members, old)
	m.id = id
	m.sent = ""
	cg.members[id] = m
	for t, o := range cg.owners {
		if o == old {
			cg.owners[t] = id
		}
	}
	if tgt, ok := cg.target[old]; ok {
		delete(cg.target, old)
		cg.target[id] = tgt
		*recs = append(*recs, records.Record{Key: consumerKey(recConsumerTarget, g.id, id), Value: encodeTarget(toTopicParts(tgt, nil))})
	}
	m.left = false
	*recs = append(*recs, cg.memberRecord(g.id, m), cg.currentRecord(g.id, m))
}

// armSessionLocked restarts a member's session.
func (cg *consumerGroup) armSessionLocked(g *group, m *cMember) {
	g.s.armLocked(&m.session, g.s.c.cfg.ConsumerSessionTimeout, func() {
		if g.cg != cg || cg.members[m.id] != m || g.s.groups[g.id] != g {
			return
		}
		g.s.c.log.Info("coordinator: consumer group member session expired", "group", g.id, "member", m.id)
		cg.expireLocked(g, m)
	})
}

// expireLocked fences a member from a timer and writes what changed.
func (cg *consumerGroup) expireLocked(g *group, m *cMember) {
	var recs []records.Record
	cg.fenceLocked(g, m, &recs)
	g.s.mustWriteLocked(recs)
}

// bumpLocked moves the group epoch and computes the target assignment for
// it.
func (cg *consumerGroup) bumpLocked(g *group, recs *[]records.Record) {
	s := g.s
	cg.epoch++
	cg.metaHash = cg.metadataHashLocked(s.c.topics)
	gv := cgGroupValue{epoch: cg.epoch, metadataHash: cg.metaHash}
	*recs = append(*recs, records.Record{Key: consumerKey(recConsumerGroup, g.id), Value: gv.encode()})
	topics := cg.resolvedTopicsLocked(s.c.topics)
	byName := map[string]topicInfo{}
	for _, t := range topics {
		byName[t.name] = t
	}
	var members []assignMember
	for _, m := range cg.members {
		am := assignMember{id: m.id, topics: map[[16]byte]bool{}, prev: cg.target[m.id]}
		for _, name := range cg.memberTopicsLocked(m, s.c.topics) {
			if t, ok := byName[name]; ok {
				am.topics[t.id] = true
			}
		}
		members = append(members, am)
	}
	cg.assignor = cg.chooseAssignorLocked(s.c.cfg.ConsumerAssignors)
	next := assign(cg.assignor, members, topics)
	for _, id := range sortedKeys(next) {
		if !sameSet(next[id], cg.target[id]) || cg.target[id] == nil {
			*recs = append(*recs, records.Record{Key: consumerKey(recConsumerTarget, g.id, id), Value: encodeTarget(toTopicParts(next[id], nil))})
		}
	}
	cg.target = next
	cg.assignEpoch = cg.epoch
	*recs = append(*recs, records.Record{Key: consumerKey(recConsumerTargetMeta, g.id), Value: encodeTargetMeta(cg.assignEpoch)})
}

func sameSet(a, b assignmentSet) bool {
	if len(a) != len(b) {
		return false
	}
	for t := range a {
		if !b[t] {
			return false
		}
	}
	return true
}

// chooseAssignorLocked picks the server assignor the most members asked
// for, ties and no preference going to the configured order.
func (cg *consumerGroup) chooseAssignorLocked(configured []string) string {
	votes := map[string]int{}
	for _, m := range cg.members {
		if m.assignor != nil {
			votes[*m.assignor]++
		}
	}
	best, bestVotes := configured[0], 0
	for _, name := range configured {
		if votes[name] > bestVotes {
			best, bestVotes = name, votes[name]
		}
	}
	return best
}

// memberTopicsLocked returns the topic names a member subscribes to: its
// names, and every topic its pattern matches. Internal topics are not
// excluded: Kafka resolves the pattern against every topic, and franz-go's
// suite (Test848RegexBrokerResolves) checks that a pattern naming
// __consumer_offsets gets it assigned.
func (cg *consumerGroup) memberTopicsLocked(m *cMember, topics Topics) []string {
	out := slices.Clone(m.topics)
	if m.re != nil {
		for _, name := range topics.TopicNames() {
			if m.re.MatchString(name) {
				out = append(out, name)
			}
		}
	}
	return out
}

// subscribedTopicsLocked returns every topic name some member subscribes to.
func (cg *consumerGroup) subscribedTopicsLocked(topics Topics) map[string]bool {
	subs := map[string]bool{}
	for _, m := range cg.members {
		for _, t := range cg.memberTopicsLocked(m, topics) {
			subs[t] = true
		}
	}
	return subs
}

// resolvedTopicsLocked returns the subscribed topics that exist, sorted by
// name.
func (cg *consumerGroup) resolvedTopicsLocked(topics Topics) []topicInfo {
	subs := cg.subscribedTopicsLocked(topics)
	var out []topicInfo
	for _, name := range sortedKeys(subs) {
		if id, n, ok := topics.Topic(name); ok {
			out = append(out, topicInfo{id: id, name: name, partitions: n})
		}
	}
	return out
}

// metadataHashLocked hashes the subscribed topics (name, id, partition
// count): when it changes, topics appeared, vanished or grew, and the group
// rebalances (Kafka 4.1's metadata hash, KIP-1101).
func (cg *consumerGroup) metadataHashLocked(topics Topics) uint64 {
	h := fnv.New64a()
	var b []byte
	for _, t := range cg.resolvedTopicsLocked(topics) {
		b = kbin.AppendString(b[:0], t.name)
		b = append(b, t.id[:]...)
		b = kbin.AppendInt32(b, t.partitions)
		h.Write(b)
	}
	return h.Sum64()
}

// reconcileLocked moves a member's current assignment towards its target
// (Kafka's CurrentAssignmentBuilder). owned is what the member reports it
// holds, nil if it did not say.
func (cg *consumerGroup) reconcileLocked(g *group, m *cMember, owned map[tpid]bool, join bool) {
	if join {
		// A (re)joining member holds nothing: what it was giving up is
		// given up.
		owned = map[tpid]bool{}
	}
	if m.state == memberUnrevoked {
		if owned == nil {
			return
		}
		for t := range m.revoking {
			if owned[t] {
				return
			}
		}
		cg.releaseRevokedLocked(m)
	}
	target := cg.target[m.id]
	if m.epoch != cg.assignEpoch {
		revoke := map[tpid]int32{}
		for t, e := range m.assigned {
			if !target[t] {
				revoke[t] = e
			}
		}
		for t := range revoke {
			delete(m.assigned, t)
		}
		switch {
		case len(revoke) == 0:
		case owned != nil && !ownsAny(owned, revoke):
			// The member already let them go.
			for t := range revoke {
				if cg.owners[t] == m.id {
					delete(cg.owners, t)
				}
			}
		default:
			m.revoking = revoke
			m.state = memberUnrevoked
			cg.armRevokeLocked(g, m)
			return
		}
		m.prevEpoch, m.epoch = m.epoch, cg.assignEpoch
	}
	// Take the target partitions that are free.
	waiting := false
	for _, t := range sortedTPIDs(target) {
		if _, ok := m.assigned[t]; ok {
			continue
		}
		if o := cg.owners[t]; o != "" && o != m.id {
			waiting = true
			continue
		}
		cg.owners[t] = m.id
		m.assigned[t] = m.epoch
	}
	m.state = memberStable
	if waiting {
		m.state = memberUnreleased
	}
}

// releaseRevokedLocked frees the partitions a member has revoked.
// armRevokeLocked bounds how long a member may take to revoke: its
// rebalance timeout, after which it is fenced.
func (cg *consumerGroup) armRevokeLocked(g *group, m *cMember) {
	g.s.armLocked(&m.revokeTimer, ms(max(m.rebalanceTimeout, 0)), func() {
		if g.cg != cg || cg.members[m.id] != m || m.state != memberUnrevoked {
			return
		}
		g.s.c.log.Info("coordinator: consumer group member did not revoke in time", "group", g.id, "member", m.id)
		cg.expireLocked(g, m)
	})
}

func ownsAny(owned map[tpid]bool, set map[tpid]int32) bool {
	for t := range set {
		if owned[t] {
			return true
		}
	}
	return false
}

func (cg *consumerGroup) releaseRevokedLocked(m *cMember) {
	for t := range m.revoking {
		if cg.owners[t] == m.id {
			delete(cg.owners, t)
		}
	}
	m.revoking = map[tpid]int32{}
	m.state = memberStable
	disarmLocked(&m.revokeTimer)
}

// assignedAtOrBeforeLocked reports whether partition t was assigned to m
// at or before member epoch epoch.
func (cg *consumerGroup) assignedAtOrBeforeLocked(topics Topics, m *cMember, t tp, epoch int32) bool {
	id, _, ok := topics.Topic(t.topic)
	if !ok {
		return false
	}
	k := tpid{id, t.partition}
	if e, ok := m.assigned[k]; ok && e <= epoch {
		return true
	}
	if e, ok := m.revoking[k]; ok && e <= epoch {
		return true
	}
	return false
}

func sortedTPIDs[V any](m map[tpid]V) []tpid {
	out := make([]tpid, 0, len(m))
	for t := range m {
		out = append(out, t)
	}
	slices.SortFunc(out, cmpTPID)
	return out
}

// toTopicParts groups partitions by topic; epochs, if given, adds each
// partition's assignment epoch.
func toTopicParts(set assignmentSet, epochs map[tpid]int32) []topicParts {
	var out []topicParts
	keys := make([]tpid, 0, len(set))
	for t := range set {
		keys = append(keys, t)
	}
	slices.SortFunc(keys, cmpTPID)
	for _, t := range keys {
		if len(out) == 0 || out[len(out)-1].id != t.id {
			out = append(out, topicParts{id: t.id})
		}
		last := &out[len(out)-1]
		last.partitions = append(last.partitions, t.partition)
		if epochs != nil {
			last.epochs = append(last.epochs, epochs[t])
		}
	}
	return out
}

func setOf(m map[tpid]int32) assignmentSet {
	out := make(assignmentSet, len(m))
	for t := range m {
		out[t] = true
	}
	return out
}

// assignmentKey is a compact identity of an assignment, to tell whether it
// changed since it was last sent.
func assignmentKey(m map[tpid]int32) string {
	var b strings.Builder
	for _, t := range sortedTPIDs(m) {
		b.Write(t.id[:])
		b.Write(kbin.AppendInt32(nil, t.partition))
	}
	return "a" + b.String()
}

func responseAssignment(m map[tpid]int32) *kmsg.ConsumerGroupHeartbeatResponseAssignment {
	a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
	a.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
	for _, tps := range toTopicParts(setOf(m), nil) {
		t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
		t.TopicID, t.Partitions = tps.id, tps.partitions
		a.Topics = append(a.Topics, t)
	}
	return &a
}

func (cg *consumerGroup) memberRecord(group string, m *cMember) records.Record {
	v := cgMemberValue{
		instanceID: m.instanceID, rackID: m.rackID, clientID: m.clientID, clientHost: m.clientHost,
		topics: m.topics, regex: m.regex, rebalanceTimeout: m.rebalanceTimeout, assignor: m.assignor,
	}
	if v.topics == nil {
		v.topics = []string{}
	}
	return records.Record{Key: consumerKey(recConsumerMember, group, m.id), Value: v.encode()}
}

// currentRecord is a member's CurrentMemberAssignment; a static member that
// left is written with epoch -2 and its real epoch as the previous one.
func (cg *consumerGroup) currentRecord(group string, m *cMember) records.Record {
	v := cgCurrentValue{
		epoch: m.epoch, prevEpoch: m.prevEpoch, state: m.state,
		assigned: toTopicParts(setOf(m.assigned), m.assigned),
		revoking: toTopicParts(setOf(m.revoking), m.revoking),
	}
	if m.left {
		v.epoch, v.prevEpoch = epochStaticLeave, m.epoch
	}
	return records.Record{Key: consumerKey(recConsumerCurrent, group, m.id), Value: v.encode()}
}

// tombstonesLocked deletes every record of the group but its offsets.
func (cg *consumerGroup) tombstonesLocked(group string) []records.Record {
	var recs []records.Record
	for _, id := range sortedKeys(cg.members) {
		recs = append(recs,
			records.Record{Key: consumerKey(recConsumerCurrent, group, id)},
			records.Record{Key: consumerKey(recConsumerTarget, group, id)},
			records.Record{Key: consumerKey(recConsumerMember, group, id)})
	}
	return append(recs,
		records.Record{Key: consumerKey(recConsumerTargetMeta, group)},
		records.Record{Key: consumerKey(recConsumerGroup, group)})
}

// stateLocked is the group state ConsumerGroupDescribe and ListGroups
// report.
func (cg *consumerGroup) stateLocked() string {
	switch {
	case len(cg.members) == 0:
		return "Empty"
	case cg.assignEpoch < cg.epoch:
		return "Assigning"
	}
	for _, m := range cg.members {
		if m.epoch != cg.assignEpoch || m.state != memberStable {
			return "Reconciling"
		}
	}
	return "Stable"
}
