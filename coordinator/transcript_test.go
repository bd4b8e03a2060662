package coordinator

// Transcript tests of the group state machines: testdata/*.txt hold
// commands and the expected output, with logical time. Regenerate the
// expected output with `go test ./coordinator -run TestTranscripts -rewrite`.

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/potok-io/potok/records"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestTranscripts(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		e := &env{t: t, clock: newLogicalClock(), log: &memLog{}, topics: newMemTopics()}
		defer func() {
			if e.c != nil {
				e.c.Close()
			}
		}()
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			e.t = t
			return e.run(td)
		})
	})
}

type env struct {
	t      *testing.T
	clock  *logicalClock
	log    *memLog
	topics *memTopics
	cfg    Config
	c      *Groups
	uuids  int
	logged int // records of the log already printed

	mu      sync.Mutex
	out     []string
	waiting map[string]bool
}

func (e *env) emit(label, format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.waiting, label)
	e.out = append(e.out, label+": "+fmt.Sprintf(format, args...))
}

func (e *env) issued(label string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.waiting == nil {
		e.waiting = map[string]bool{}
	}
	e.waiting[label] = true
}

func (e *env) flush() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.out
	e.out = nil
	for _, l := range sortedKeys(e.waiting) {
		out = append(out, l+": waiting")
	}
	if len(out) == 0 {
		return "ok\n"
	}
	return strings.Join(out, "\n") + "\n"
}

func arg(td *datadriven.TestData, key, def string) string {
	if a, ok := td.Arg(key); ok {
		if len(a.Vals) == 0 {
			return ""
		}
		return strings.Join(a.Vals, ",")
	}
	return def
}

func intArg(t *testing.T, td *datadriven.TestData, key string, def int64) int64 {
	s := arg(td, key, "")
	if s == "" {
		return def
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return n
}

func durArg(t *testing.T, td *datadriven.TestData, key string, def time.Duration) time.Duration {
	s := arg(td, key, "")
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return d
}

func optArg(td *datadriven.TestData, key string) *string {
	if !td.HasArg(key) {
		return nil
	}
	return strPtr(arg(td, key, ""))
}

func errName(code int16) string {
	if code == 0 {
		return "ok"
	}
	if e, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		return e.Message
	}
	return fmt.Sprintf("error %d", code)
}

// create makes a coordinator whose member ids are predictable.
func (e *env) create() {
	e.c = New(Options{Config: e.cfg, Topics: e.topics, Clock: e.clock})
	e.c.uuid = func() string {
		e.uuids++
		return fmt.Sprintf("uuid%d", e.uuids)
	}
}

func (e *env) start() {
	e.create()
	e.c.Host(0, e.log)
	waitFor(e.t, 10*time.Second, "the partition to load", func() bool {
		_, loaded := e.c.Hosted(0)
		return loaded
	})
}

func (e *env) run(td *datadriven.TestData) string {
	t := e.t
	switch td.Cmd {
	case "new":
		if e.c != nil {
			e.c.Close()
			e.flush()
		}
		e.clock, e.log, e.topics, e.uuids, e.logged = newLogicalClock(), &memLog{}, newMemTopics(), 0, 0
		e.cfg = DefaultConfig()
		e.cfg.InitialRebalanceDelay = durArg(t, td, "initial-delay", 0)
		e.cfg.MinSessionTimeout = durArg(t, td, "min-session", time.Second)
		e.cfg.OffsetsRetention = durArg(t, td, "retention", e.cfg.OffsetsRetention)
		e.cfg.RetentionCheckInterval = durArg(t, td, "retention-check", e.cfg.RetentionCheckInterval)
		e.cfg.MaxGroupSize = int(intArg(t, td, "max-size", int64(e.cfg.MaxGroupSize)))
		e.cfg.OffsetMetadataMaxBytes = int(intArg(t, td, "metadata-max", int64(e.cfg.OffsetMetadataMaxBytes)))
		e.cfg.ConsumerSessionTimeout = durArg(t, td, "cg-session", e.cfg.ConsumerSessionTimeout)
		e.cfg.ConsumerHeartbeatInterval = durArg(t, td, "cg-interval", e.cfg.ConsumerHeartbeatInterval)
		if a := arg(td, "assignors", ""); a != "" {
			e.cfg.ConsumerAssignors = strings.Split(a, ",")
		}
		e.start()
		return "ok\n"
	case "restart":
		e.c.Close()
		e.flush()
		e.start()
		return "ok\n"
	case "restart-loading":
		// Restart with a replay that waits for "finish-loading".
		e.c.Close()
		e.flush()
		e.log.mu.Lock()
		e.log.gate = make(chan struct{})
		e.log.mu.Unlock()
		e.create()
		e.c.Host(0, e.log)
		return "ok\n"
	case "finish-loading":
		e.log.mu.Lock()
		close(e.log.gate)
		e.log.gate = nil
		e.log.mu.Unlock()
		waitFor(e.t, 10*time.Second, "the partition to load", func() bool {
			_, loaded := e.c.Hosted(0)
			return loaded
		})
		return "ok\n"
	case "unhost":
		e.c.Unhost(0)
		return e.flush()
	case "topic":
		e.topics.set(arg(td, "name", ""), int32(intArg(t, td, "partitions", 1)))
		return "ok\n"
	case "delete-topic":
		name := arg(td, "name", "")
		e.topics.remove(name)
		e.c.TopicsDeleted([]string{name})
		return "ok\n"
	case "advance":
		d, err := time.ParseDuration(td.CmdArgs[0].Key)
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(d)
		return e.flush()
	case "hold":
		e.log.mu.Lock()
		e.log.hold = true
		e.log.mu.Unlock()
		return "ok\n"
	case "release":
		e.log.mu.Lock()
		e.log.hold = false
		e.log.mu.Unlock()
		e.log.Commit()
		return e.flush()
	case "fail-next-write":
		e.log.mu.Lock()
		e.log.failNext = true
		e.log.mu.Unlock()
		return "ok\n"
	case "log":
		return e.dumpLog()
	case "append-txn":
		// A transactional offset commit as TxnOffsetCommit will write it.
		var recs []records.Record
		offs := parseOffsets(t, arg(td, "offsets", ""))
		for _, topic := range sortedKeys(offs) {
			for p, o := range offs[topic] {
				v := offsetValue(&offset{offset: o, leaderEpoch: -1, expire: -1})
				recs = append(recs, records.Record{Key: offsetKey(arg(td, "group", "g"), topic, p), Value: v, OffsetDelta: int32(len(recs))})
			}
		}
		h := records.BatchHeader{Attributes: records.AttrTransactional, ProducerID: intArg(t, td, "pid", 1), BaseSequence: 0}
		b, err := records.AppendBatch(nil, h, records.CodecNone, recs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.log.Append(b); err != nil {
			t.Fatal(err)
		}
		return "ok\n"
	case "append-marker":
		b := records.AppendControlBatch(nil, intArg(t, td, "pid", 1), 0, td.HasArg("commit"), 0, 0)
		if _, err := e.log.Append(b); err != nil {
			t.Fatal(err)
		}
		return "ok\n"
	case "txn-commit":
		e.txnCommit(td)
	case "complete-txn":
		// What the broker does after writing a marker to the partition.
		e.c.CompleteTxn(0, intArg(t, td, "pid", 1), td.HasArg("commit"))
		return "ok\n"
	case "append-garbage":
		// Records no decoder accepts, and one that only looks right.
		recs := []records.Record{
			{Key: []byte{0, 1, 0xff}, Value: []byte("x")},
			{Key: nil, Value: []byte("no key")},
			{Key: offsetKey("g", "foo", 0), Value: []byte{0, 3, 1}, OffsetDelta: 2},
			{Key: groupKey("g"), Value: []byte{0, 9, 9, 9}, OffsetDelta: 3},
			{Key: consumerKey(recConsumerCurrent, "g", "m"), Value: []byte{0, 0, 0xff, 0xff, 0xff, 0xff, 0xff}, OffsetDelta: 4},
		}
		recs[1].OffsetDelta = 1
		h := records.BatchHeader{}
		h.NoProducer()
		b, err := records.AppendBatch(nil, h, records.CodecNone, recs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.log.Append(b); err != nil {
			t.Fatal(err)
		}
		return "ok\n"
	case "join":
		e.join(td)
	case "sync":
		e.sync(td)
	case "heartbeat":
		e.heartbeat(td)
	case "leave":
		e.leave(td)
	case "commit":
		e.commit(td)
	case "fetch":
		e.fetch(td)
	case "offset-delete":
		e.offsetDelete(td)
	case "describe":
		return e.describe(arg(td, "group", "g"))
	case "describe-api":
		e.describeAPI(td)
	case "list":
		e.list(td)
	case "delete-groups":
		e.deleteGroups(td)
	case "cgh":
		e.cgh(td)
	case "cgdescribe":
		return e.cgDescribe(arg(td, "group", "g"))
	case "cgdescribe-api":
		e.cgDescribeAPI(td)
	default:
		t.Fatalf("unknown command %q", td.Cmd)
	}
	return e.flush()
}

func (e *env) join(td *datadriven.TestData) {
	t := e.t
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = int16(intArg(t, td, "version", 9))
	req.Group = arg(td, "group", "g")
	req.MemberID = arg(td, "member", "")
	req.InstanceID = optArg(td, "instance")
	req.SessionTimeoutMillis = int32(durArg(t, td, "session", 10*time.Second).Milliseconds())
	req.RebalanceTimeoutMillis = int32(durArg(t, td, "rebalance", 30*time.Second).Milliseconds())
	req.ProtocolType = arg(td, "type", "consumer")
	for _, p := range strings.Split(arg(td, "protocols", "range"), ",") {
		name, meta, _ := strings.Cut(p, ":")
		rp := kmsg.NewJoinGroupRequestProtocol()
		rp.Name, rp.Metadata = name, []byte(meta)
		if topics := arg(td, "topics", ""); topics != "" {
			// A real consumer subscription.
			cm := kmsg.NewConsumerMemberMetadata()
			cm.Topics = strings.Split(topics, ",")
			rp.Metadata = cm.AppendTo(nil)
		}
		req.Protocols = append(req.Protocols, rp)
	}
	client := arg(td, "client", "c")
	label := arg(td, "as", "join "+client)
	e.issued(label)
	e.c.JoinGroup(Client{ID: client, Host: "/127.0.0.1"}, req, func(resp *kmsg.JoinGroupResponse) {
		if resp.ErrorCode != 0 {
			e.emit(label, "%s member=%s", errName(resp.ErrorCode), resp.MemberID)
			return
		}
		var ms []string
		for _, m := range resp.Members {
			s := m.MemberID
			if m.InstanceID != nil {
				s += "(" + *m.InstanceID + ")"
			}
			var cm kmsg.ConsumerMemberMetadata
			if cm.ReadFrom(m.ProtocolMetadata) == nil && len(cm.Topics) > 0 {
				ms = append(ms, s+"={"+strings.Join(cm.Topics, ",")+"}")
				continue
			}
			ms = append(ms, s+"="+string(m.ProtocolMetadata))
		}
		e.emit(label, "gen=%d member=%s leader=%s protocol=%s members=[%s]",
			resp.Generation, resp.MemberID, resp.LeaderID, derefOr(resp.Protocol, "<nil>"), strings.Join(ms, " "))
	})
}

func (e *env) sync(td *datadriven.TestData) {
	t := e.t
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = int16(intArg(t, td, "version", 5))
	req.Group = arg(td, "group", "g")
	req.MemberID = arg(td, "member", "")
	req.InstanceID = optArg(td, "instance")
	req.Generation = int32(intArg(t, td, "gen", 1))
	req.ProtocolType, req.Protocol = optArg(td, "ptype"), optArg(td, "pname")
	if a := arg(td, "assign", ""); a != "" {
		for _, kv := range strings.Split(a, ";") {
			id, val, _ := strings.Cut(kv, "=")
			ra := kmsg.NewSyncGroupRequestGroupAssignment()
			ra.MemberID, ra.MemberAssignment = id, []byte(val)
			req.GroupAssignment = append(req.GroupAssignment, ra)
		}
	}
	label := arg(td, "as", "sync "+req.MemberID)
	e.issued(label)
	e.c.SyncGroup(req, func(resp *kmsg.SyncGroupResponse) {
		if resp.ErrorCode != 0 {
			e.emit(label, "%s", errName(resp.ErrorCode))
			return
		}
		a := strconv.Quote(string(resp.MemberAssignment))
		if string(resp.MemberAssignment) == string(emptyConsumerAssignment) {
			a = "<empty consumer assignment>"
		}
		e.emit(label, "ok assignment=%s", a)
	})
}

func (e *env) heartbeat(td *datadriven.TestData) {
	t := e.t
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	req.Group = arg(td, "group", "g")
	req.MemberID = arg(td, "member", "")
	req.InstanceID = optArg(td, "instance")
	req.Generation = int32(intArg(t, td, "gen", 1))
	label := arg(td, "as", "heartbeat "+req.MemberID)
	e.issued(label)
	e.c.Heartbeat(req, func(resp *kmsg.HeartbeatResponse) { e.emit(label, "%s", errName(resp.ErrorCode)) })
}

func (e *env) leave(td *datadriven.TestData) {
	t := e.t
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version = int16(intArg(t, td, "version", 5))
	req.Group = arg(td, "group", "g")
	for _, m := range strings.Split(arg(td, "members", ""), ",") {
		lm := kmsg.NewLeaveGroupRequestMember()
		if inst, ok := strings.CutPrefix(m, "instance:"); ok {
			inst, lm.MemberID, _ = strings.Cut(inst, "=")
			lm.InstanceID = strPtr(inst)
		} else {
			lm.MemberID = m
		}
		req.Members = append(req.Members, lm)
	}
	if req.Version < 3 {
		req.MemberID = req.Members[0].MemberID
	}
	label := arg(td, "as", "leave")
	e.issued(label)
	e.c.LeaveGroup(req, func(resp *kmsg.LeaveGroupResponse) {
		var ms []string
		for _, m := range resp.Members {
			ms = append(ms, fmt.Sprintf("%s%s=%s", m.MemberID, fmtInstance(m.InstanceID), errName(m.ErrorCode)))
		}
		e.emit(label, "%s [%s]", errName(resp.ErrorCode), strings.Join(ms, " "))
	})
}

func fmtInstance(s *string) string {
	if s == nil {
		return ""
	}
	return "(" + *s + ")"
}

// parseOffsets parses "topic:partition=offset,...".
func parseOffsets(t *testing.T, s string) map[string]map[int32]int64 {
	out := map[string]map[int32]int64{}
	for _, kv := range strings.Split(s, ",") {
		tp, off, _ := strings.Cut(kv, "=")
		topic, p, _ := strings.Cut(tp, ":")
		pi, err1 := strconv.Atoi(p)
		o, err2 := strconv.ParseInt(off, 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("bad offset %q", kv)
		}
		if out[topic] == nil {
			out[topic] = map[int32]int64{}
		}
		out[topic][int32(pi)] = o
	}
	return out
}

func (e *env) commit(td *datadriven.TestData) {
	t := e.t
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = int16(intArg(t, td, "version", 9))
	req.Group = arg(td, "group", "g")
	req.MemberID = arg(td, "member", "")
	req.Generation = int32(intArg(t, td, "gen", -1))
	req.InstanceID = optArg(td, "instance")
	req.RetentionTimeMillis = durArg(t, td, "retention", -time.Millisecond).Milliseconds()
	meta := optArg(td, "metadata")
	offs := parseOffsets(t, arg(td, "offsets", ""))
	for _, topic := range sortedKeys(offs) {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		parts := offs[topic]
		keys := make([]int32, 0, len(parts))
		for p := range parts {
			keys = append(keys, p)
		}
		slices.Sort(keys)
		for _, p := range keys {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.Metadata = p, parts[p], meta
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	label := arg(td, "as", "commit")
	e.issued(label)
	e.c.OffsetCommit(req, func(resp *kmsg.OffsetCommitResponse) {
		var ps []string
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				ps = append(ps, fmt.Sprintf("%s:%d=%s", rt.Topic, rp.Partition, errName(rp.ErrorCode)))
			}
		}
		e.emit(label, "%s", strings.Join(ps, " "))
	})
}

// txnCommit sends TxnOffsetCommit for a producer outside any generation
// (the transaction coordinator's side is not modelled here).
func (e *env) txnCommit(td *datadriven.TestData) {
	t := e.t
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Version = 3
	req.Group = arg(td, "group", "g")
	req.TransactionalID = "txn"
	req.ProducerID, req.Generation = intArg(t, td, "pid", 1), -1
	offs := parseOffsets(t, arg(td, "offsets", ""))
	for _, topic := range sortedKeys(offs) {
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = topic
		for _, p := range slices.Sorted(maps.Keys(offs[topic])) {
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = p, offs[topic][p], -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	e.issued("txn-commit")
	e.c.TxnOffsetCommit(req, func(resp *kmsg.TxnOffsetCommitResponse) {
		var ps []string
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				ps = append(ps, fmt.Sprintf("%s:%d=%s", rt.Topic, rp.Partition, errName(rp.ErrorCode)))
			}
		}
		e.emit("txn-commit", "%s", strings.Join(ps, " "))
	})
}

func (e *env) fetch(td *datadriven.TestData) {
	t := e.t
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = int16(intArg(t, td, "version", 8))
	req.RequireStable = td.HasArg("stable")
	var topics []kmsg.OffsetFetchRequestTopic
	if a := arg(td, "topics", ""); a != "" {
		topics = []kmsg.OffsetFetchRequestTopic{}
		for _, tps := range strings.Split(a, ";") {
			name, parts, _ := strings.Cut(tps, ":")
			rt := kmsg.NewOffsetFetchRequestTopic()
			rt.Topic = name
			for _, p := range strings.Split(parts, ",") {
				n, _ := strconv.Atoi(p)
				rt.Partitions = append(rt.Partitions, int32(n))
			}
			topics = append(topics, rt)
		}
	}
	label := arg(td, "as", "fetch")
	groups := strings.Split(arg(td, "group", "g"), ",")
	if req.Version < 8 {
		req.Group, req.Topics = groups[0], topics
	} else {
		for _, g := range groups {
			rg := kmsg.NewOffsetFetchRequestGroup()
			rg.Group = g
			rg.MemberID = optArg(td, "member")
			rg.MemberEpoch = int32(intArg(t, td, "epoch", -1))
			for _, rt := range topics {
				gt := kmsg.NewOffsetFetchRequestGroupTopic()
				gt.Topic, gt.Partitions = rt.Topic, rt.Partitions
				rg.Topics = append(rg.Topics, gt)
			}
			if topics != nil && rg.Topics == nil {
				rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{}
			}
			req.Groups = append(req.Groups, rg)
		}
	}
	e.issued(label)
	e.c.OffsetFetch(req, func(resp *kmsg.OffsetFetchResponse) {
		fmtParts := func(topic string, p int32, off int64, epoch int32, meta *string, code int16) string {
			s := fmt.Sprintf("%s:%d=%d", topic, p, off)
			if epoch != -1 {
				s += fmt.Sprintf("@%d", epoch)
			}
			if meta == nil {
				s += "(nil)"
			} else if *meta != "" {
				s += "(" + *meta + ")"
			}
			if code != 0 {
				s += " " + errName(code)
			}
			return s
		}
		var lines []string
		if req.Version < 8 {
			var ps []string
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					ps = append(ps, fmtParts(rt.Topic, rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode))
				}
			}
			lines = append(lines, fmt.Sprintf("%s [%s]", errName(resp.ErrorCode), strings.Join(ps, " ")))
		}
		for _, rg := range resp.Groups {
			var ps []string
			for _, rt := range rg.Topics {
				for _, rp := range rt.Partitions {
					ps = append(ps, fmtParts(rt.Topic, rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode))
				}
			}
			lines = append(lines, fmt.Sprintf("%s %s [%s]", rg.Group, errName(rg.ErrorCode), strings.Join(ps, " ")))
		}
		e.emit(label, "%s", strings.Join(lines, "; "))
	})
}

func (e *env) offsetDelete(td *datadriven.TestData) {
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = arg(td, "group", "g")
	for _, tps := range strings.Split(arg(td, "topics", ""), ";") {
		name, parts, _ := strings.Cut(tps, ":")
		rt := kmsg.NewOffsetDeleteRequestTopic()
		rt.Topic = name
		for _, p := range strings.Split(parts, ",") {
			n, _ := strconv.Atoi(p)
			rp := kmsg.NewOffsetDeleteRequestTopicPartition()
			rp.Partition = int32(n)
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	label := arg(td, "as", "offset-delete")
	e.issued(label)
	e.c.OffsetDelete(req, func(resp *kmsg.OffsetDeleteResponse) {
		var ps []string
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				ps = append(ps, fmt.Sprintf("%s:%d=%s", rt.Topic, rp.Partition, errName(rp.ErrorCode)))
			}
		}
		e.emit(label, "%s [%s]", errName(resp.ErrorCode), strings.Join(ps, " "))
	})
}

func (e *env) describeAPI(td *datadriven.TestData) {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Version = int16(intArg(e.t, td, "version", 5))
	req.Groups = strings.Split(arg(td, "groups", "g"), ",")
	e.c.DescribeGroups(req, func(resp *kmsg.DescribeGroupsResponse) {
		for _, g := range resp.Groups {
			var ms []string
			for _, m := range g.Members {
				ms = append(ms, fmt.Sprintf("%s%s client=%s host=%s meta=%q assignment=%q", m.MemberID, fmtInstance(m.InstanceID),
					m.ClientID, m.ClientHost, m.ProtocolMetadata, m.MemberAssignment))
			}
			e.emit("describe "+g.Group, "%s state=%s type=%q protocol=%q members=[%s]", errName(g.ErrorCode), g.State,
				g.ProtocolType, g.Protocol, strings.Join(ms, "; "))
		}
	})
}

func (e *env) list(td *datadriven.TestData) {
	req := kmsg.NewPtrListGroupsRequest()
	req.Version = 5
	if a := arg(td, "states", ""); a != "" {
		req.StatesFilter = strings.Split(a, ",")
	}
	if a := arg(td, "types", ""); a != "" {
		req.TypesFilter = strings.Split(a, ",")
	}
	e.c.ListGroups(req, func(resp *kmsg.ListGroupsResponse) {
		var gs []string
		for _, g := range resp.Groups {
			gs = append(gs, fmt.Sprintf("%s(%s,%s,%q)", g.Group, g.GroupType, g.GroupState, g.ProtocolType))
		}
		e.emit("list", "%s [%s]", errName(resp.ErrorCode), strings.Join(gs, " "))
	})
}

func (e *env) deleteGroups(td *datadriven.TestData) {
	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Version = 2
	req.Groups = strings.Split(arg(td, "groups", "g"), ",")
	label := arg(td, "as", "delete-groups")
	e.issued(label)
	e.c.DeleteGroups(req, func(resp *kmsg.DeleteGroupsResponse) {
		var gs []string
		for _, g := range resp.Groups {
			gs = append(gs, g.Group+"="+errName(g.ErrorCode))
		}
		e.emit(label, "%s", strings.Join(gs, " "))
	})
}

// describe prints a classic group's internal state.
func (e *env) describe(id string) string {
	s, code := e.c.shardFor(id)
	if code != 0 {
		return errName(code) + "\n"
	}
	var b strings.Builder
	s.do(func() {
		g := s.groups[id]
		if g == nil {
			b.WriteString("no such group\n")
			return
		}
		if g.kind == kindConsumer {
			b.WriteString("a consumer group\n")
			return
		}
		fmt.Fprintf(&b, "state=%s gen=%d type=%q protocol=%q leader=%q\n", g.state, g.generation, g.protocolType, g.protocol, g.leader)
		for _, m := range g.sortedMembers() {
			fmt.Fprintf(&b, "  member %s%s session=%dms rebalance=%dms assignment=%q", m.id, fmtInstance(m.instanceID),
				m.sessionTimeout, m.rebalanceTimeout, m.assignment)
			if m.join != nil {
				b.WriteString(" joining")
			}
			if m.sync != nil {
				b.WriteString(" syncing")
			}
			if g.pendingSync[m.id] {
				b.WriteString(" unsynced")
			}
			b.WriteString("\n")
		}
		for _, id := range sortedKeys(g.pendingIDs) {
			fmt.Fprintf(&b, "  pending %s\n", id)
		}
		for _, t := range sortedTPs(g.offsets) {
			o := g.offsets[t]
			fmt.Fprintf(&b, "  offset %s:%d=%d\n", t.topic, t.partition, o.offset)
		}
	})
	return b.String()
}

func (e *env) topicName(id [16]byte) string {
	name, _, ok := e.topics.TopicByID(id)
	if !ok {
		return fmt.Sprintf("%x", id[:2])
	}
	return name
}

func (e *env) fmtSet(set map[tpid]bool) string {
	byTopic := map[string][]int32{}
	for t := range set {
		n := e.topicName(t.id)
		byTopic[n] = append(byTopic[n], t.partition)
	}
	var parts []string
	for _, n := range sortedKeys(byTopic) {
		ps := byTopic[n]
		slices.Sort(ps)
		var ss []string
		for _, p := range ps {
			ss = append(ss, strconv.Itoa(int(p)))
		}
		parts = append(parts, n+":"+strings.Join(ss, ","))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func (e *env) cgDescribe(id string) string {
	s, code := e.c.shardFor(id)
	if code != 0 {
		return errName(code) + "\n"
	}
	var b strings.Builder
	s.do(func() {
		g := s.groups[id]
		if g == nil || g.kind != kindConsumer {
			b.WriteString("no such consumer group\n")
			return
		}
		cg := g.cg
		fmt.Fprintf(&b, "state=%s epoch=%d assignment-epoch=%d assignor=%s\n", cg.stateLocked(), cg.epoch, cg.assignEpoch, cg.assignor)
		for _, mid := range sortedKeys(cg.members) {
			m := cg.members[mid]
			st := map[int8]string{memberStable: "stable", memberUnrevoked: "unrevoked", memberUnreleased: "unreleased"}[m.state]
			fmt.Fprintf(&b, "  member %s%s epoch=%d %s assigned=[%s] revoking=[%s] target=[%s]", m.id, fmtInstance(m.instanceID),
				m.epoch, st, e.fmtSet(setOf(m.assigned)), e.fmtSet(setOf(m.revoking)), e.fmtSet(cg.target[m.id]))
			if m.left {
				b.WriteString(" left")
			}
			b.WriteString("\n")
		}
	})
	return b.String()
}

func (e *env) cgh(td *datadriven.TestData) {
	t := e.t
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = int16(intArg(t, td, "version", 1))
	req.Group = arg(td, "group", "g")
	req.MemberID = arg(td, "member", "")
	req.MemberEpoch = int32(intArg(t, td, "epoch", 0))
	req.InstanceID = optArg(td, "instance")
	req.RackID = optArg(td, "rack")
	req.ServerAssignor = optArg(td, "assignor")
	req.SubscribedTopicRegex = optArg(td, "regex")
	req.RebalanceTimeoutMillis = -1
	if req.MemberEpoch == 0 {
		req.RebalanceTimeoutMillis = 30000
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	}
	if d := durArg(t, td, "rebalance", 0); d > 0 {
		req.RebalanceTimeoutMillis = int32(d.Milliseconds())
	}
	if td.HasArg("topics") {
		req.SubscribedTopicNames = []string{}
		if a := arg(td, "topics", ""); a != "" {
			req.SubscribedTopicNames = strings.Split(a, ",")
		}
	}
	if td.HasArg("owned") {
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		if a := arg(td, "owned", ""); a != "" {
			for _, tps := range strings.Split(a, ";") {
				name, parts, _ := strings.Cut(tps, ":")
				id, _, _ := e.topics.Topic(name)
				rt := kmsg.NewConsumerGroupHeartbeatRequestTopic()
				rt.TopicID = id
				for _, p := range strings.Split(parts, ",") {
					n, _ := strconv.Atoi(p)
					rt.Partitions = append(rt.Partitions, int32(n))
				}
				req.Topics = append(req.Topics, rt)
			}
		}
	}
	label := arg(td, "as", "cgh "+req.MemberID)
	e.issued(label)
	e.c.ConsumerGroupHeartbeat(Client{ID: "c", Host: "/127.0.0.1"}, req, func(resp *kmsg.ConsumerGroupHeartbeatResponse) {
		if resp.ErrorCode != 0 {
			msg := ""
			if resp.ErrorMessage != nil {
				msg = " (" + *resp.ErrorMessage + ")"
			}
			e.emit(label, "%s%s", errName(resp.ErrorCode), msg)
			return
		}
		a := "unchanged"
		if resp.Assignment != nil {
			set := map[tpid]bool{}
			for _, t := range resp.Assignment.Topics {
				for _, p := range t.Partitions {
					set[tpid{t.TopicID, p}] = true
				}
			}
			a = "[" + e.fmtSet(set) + "]"
		}
		e.emit(label, "epoch=%d assignment=%s", resp.MemberEpoch, a)
	})
}

func (e *env) cgDescribeAPI(td *datadriven.TestData) {
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Version = 1
	req.Groups = strings.Split(arg(td, "groups", "g"), ",")
	e.c.ConsumerGroupDescribe(req, func(resp *kmsg.ConsumerGroupDescribeResponse) {
		for _, g := range resp.Groups {
			var ms []string
			for _, m := range g.Members {
				var as []string
				for _, tp := range m.Assignment.TopicPartitions {
					as = append(as, fmt.Sprintf("%s:%v", tp.Topic, tp.Partitions))
				}
				ms = append(ms, fmt.Sprintf("%s epoch=%d topics=%v assigned=%v", m.MemberID, m.MemberEpoch, m.SubscribedTopics, as))
			}
			e.emit("cgdescribe "+g.Group, "%s state=%s epoch=%d assignment-epoch=%d assignor=%s members=[%s]", errName(g.ErrorCode),
				g.State, g.Epoch, g.AssignmentEpoch, g.AssignorName, strings.Join(ms, "; "))
		}
	})
}

// dumpLog prints the records written since the last dump.
func (e *env) dumpLog() string {
	var lines []string
	n := 0
	e.log.Replay(func(b records.Batch) error {
		rr := records.NewRecordReader(b.Records(), b.NumRecords())
		var rec records.Record
		for {
			ok, err := rr.Next(&rec)
			if err != nil || !ok {
				break
			}
			n++
			if n <= e.logged {
				continue
			}
			lines = append(lines, e.describeRecord(rec.Key, rec.Value))
		}
		return nil
	})
	e.logged = n
	if len(lines) == 0 {
		return "no new records\n"
	}
	return strings.Join(lines, "\n") + "\n"
}

func (e *env) describeRecord(key, value []byte) string {
	k, err := parseKey(key)
	if err != nil {
		return "bad key: " + err.Error()
	}
	if value == nil {
		switch k.typ {
		case recOffsetCommit:
			return fmt.Sprintf("tombstone offset %s %s:%d", k.group, k.topic, k.partition)
		case recGroupMetadata:
			return "tombstone group " + k.group
		default:
			return fmt.Sprintf("tombstone type %d %s %s", k.typ, k.group, k.member)
		}
	}
	switch k.typ {
	case recOffsetCommit:
		o, err := parseOffsetValue(value)
		if err != nil {
			return err.Error()
		}
		return fmt.Sprintf("offset %s %s:%d=%d", k.group, k.topic, k.partition, o.offset)
	case recGroupMetadata:
		v, err := parseGroupValue(value)
		if err != nil {
			return err.Error()
		}
		var ms []string
		for _, m := range v.Members {
			ms = append(ms, fmt.Sprintf("%s=%q", m.MemberID, m.Assignment))
		}
		return fmt.Sprintf("group %s gen=%d protocol=%s leader=%s members=[%s]", k.group, v.Generation,
			derefOr(v.Protocol, "<nil>"), derefOr(v.Leader, "<nil>"), strings.Join(ms, " "))
	case recConsumerGroup:
		v, _ := parseCGGroupValue(value)
		return fmt.Sprintf("consumer-group %s epoch=%d", k.group, v.epoch)
	case recConsumerMember:
		v, _ := parseCGMemberValue(value)
		return fmt.Sprintf("consumer-member %s %s topics=%v", k.group, k.member, v.topics)
	case recConsumerTargetMeta:
		epoch, _ := parseTargetMeta(value)
		return fmt.Sprintf("target-epoch %s %d", k.group, epoch)
	case recConsumerTarget:
		tps, _ := parseTarget(value)
		set := map[tpid]bool{}
		for _, t := range tps {
			for _, p := range t.partitions {
				set[tpid{t.id, p}] = true
			}
		}
		return fmt.Sprintf("target %s %s [%s]", k.group, k.member, e.fmtSet(set))
	case recConsumerCurrent:
		v, _ := parseCGCurrentValue(value)
		return fmt.Sprintf("current %s %s epoch=%d state=%d assigned=[%s] revoking=[%s]", k.group, k.member, v.epoch, v.state,
			e.fmtSet(setOf(fromTopicParts(v.assigned, 0))), e.fmtSet(setOf(fromTopicParts(v.revoking, 0))))
	}
	return fmt.Sprintf("type %d", k.typ)
}
