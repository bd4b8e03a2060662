// Package groups runs consumer groups of real clients against a real potok
// process: sarama's ConsumerGroup, segmentio/kafka-go's Reader with a
// GroupID, confluent-kafka-go subscribing with the classic protocol (eager
// range and cooperative-sticky) and with group.protocol=consumer (KIP-848),
// a kafkajs consumer and kcat -G. Each member is a process of its own
// (members_test.go), so a member can be killed with SIGKILL.
//
// Every client goes through the same scenarios:
//
//   - churn: members join and leave (1 → 3 → 2) while records are
//     produced; every record is processed exactly once, by one member, and
//     after every step the broker and the members agree on an assignment
//     that covers each partition once;
//   - kill: a member is SIGKILLed; it stays in the group until its session
//     times out, then its partitions move and nothing is lost or processed
//     twice;
//   - restart: committed offsets survive a clean broker restart and a
//     SIGKILL of the broker, with a member running through both and with
//     the group empty, and a new member resumes from them.
package groups

import (
	"context"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/potok-io/potok/compat-tests/harness"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMain(m *testing.M) {
	harness.Child(childRoles)
	harness.Main(m)
}

// client is one way of running group members.
type client struct {
	name string
	// command returns the command line of one member.
	command func(t *testing.T, a memberArgs) *exec.Cmd
	// stderrParser, if set, returns for each member a function that turns
	// a line of its stderr into a protocol line ("" to ignore it): kcat
	// reports rebalances there.
	stderrParser func() func(line string) string
	strategy     string
	version      string // the protocol version (sarama)
	kip848       bool   // the group uses the consumer protocol (KIP-848)
	// reportsAssignment says whether members print their assignment.
	reportsAssignment bool
	// quiescent says that this client may process a record twice, or not
	// at all, when the group changes while records arrive, however the
	// broker behaves; the scenarios change such a group only when nothing
	// is in flight. kafka-go's Reader keeps delivering messages of a
	// generation that has ended and sends their commits with the next
	// generation, after that generation fetched its offsets (see
	// Reader.unsubscribe in kafka-go's reader.go). kcat -G leaves a message that its
	// poll returned after SIGTERM unprinted (consume_cb returns when
	// !conf.run), while librdkafka has already stored its offset for the
	// commit on close.
	quiescent bool
	// static says that members can be static (group.instance.id).
	static bool
	// generations says that members print "generation N" when they join
	// one, and that a member running through a broker restart may only
	// be given records once it joined the next generation (kafka-go, for
	// the reason above).
	generations bool
}

// Session timeouts and heartbeats: short where a scenario waits for an
// eviction (sessionMs). The KIP-848 ones are broker settings. Elsewhere
// sessions are longer: a member that does not rejoin within its session
// after a rebalance began (sarama only rejoins once its handlers have
// returned) or cannot reach the coordinator for that long (a broker
// restart) loses its membership, and with it the commits of records it
// processed meanwhile, which happened on a loaded machine with 3s.
const (
	sessionMs        = 3000
	churnSessionMs   = 6000
	restartSessionMs = 10000
	heartMs          = 100
)

func brokerSettings(session int) map[string]string {
	return map[string]string{
		"group.initial.rebalance.delay.ms":     "0",
		"group.min.session.timeout.ms":         "500",
		"group.consumer.session.timeout.ms":    strconv.Itoa(session),
		"group.consumer.heartbeat.interval.ms": strconv.Itoa(heartMs),
		"offsets.topic.num.partitions":         "4",
	}
}

// ledger collects what the members print: which member processed which
// record, and what each member says it owns.
type ledger struct {
	mu        sync.Mutex
	processed map[int32]map[int64][]string // partition → offset → members, in order
	values    map[int32]map[int64]string   // partition → offset → value processed
	count     map[string]int               // member → records processed
	changes   map[string]int               // member → assignments it reported
	gen       map[string]int               // member → the last generation it reported
	owned     map[string][]int32           // member → its assignment as it last reported it
	refused   map[int32]map[int64]bool     // partition → offsets whose commit failed
	strays    []string                     // records a client delivered for a partition its member did not own
	garbage   []string                     // lines that did not parse
}

func newLedger() *ledger {
	return &ledger{
		processed: map[int32]map[int64][]string{},
		values:    map[int32]map[int64]string{},
		count:     map[string]int{},
		changes:   map[string]int{},
		gen:       map[string]int{},
		refused:   map[int32]map[int64]bool{},
		owned:     map[string][]int32{},
	}
}

func (l *ledger) line(member, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	verb, rest, _ := strings.Cut(line, " ")
	switch verb {
	case "assignment":
		var parts []int32
		for _, f := range strings.Split(rest, ",") {
			if f == "" {
				continue
			}
			p, err := strconv.Atoi(f)
			if err != nil {
				l.garbage = append(l.garbage, member+": "+line)
				return
			}
			parts = append(parts, int32(p))
		}
		l.owned[member] = parts
		l.changes[member]++
		return
	case "uncommitted":
		var p int32
		var o int64
		if n, _ := fmt.Sscanf(rest, "%d %d", &p, &o); n != 2 {
			break
		}
		if l.refused[p] == nil {
			l.refused[p] = map[int64]bool{}
		}
		l.refused[p][o] = true
		return
	case "stray":
		l.strays = append(l.strays, member+" "+rest)
		return
	case "generation":
		n, err := strconv.Atoi(rest)
		if err != nil {
			break
		}
		l.gen[member] = n
		return
	case "record":
		f := strings.SplitN(rest, " ", 3)
		if len(f) == 3 {
			p, err1 := strconv.Atoi(f[0])
			o, err2 := strconv.ParseInt(f[1], 10, 64)
			if err1 == nil && err2 == nil {
				if l.processed[int32(p)] == nil {
					l.processed[int32(p)] = map[int64][]string{}
					l.values[int32(p)] = map[int64]string{}
				}
				l.processed[int32(p)][o] = append(l.processed[int32(p)][o], member)
				l.values[int32(p)][o] = f[2]
				l.count[member]++
				return
			}
		}
	}
	l.garbage = append(l.garbage, member+": "+line)
}

func (l *ledger) processedBy(member string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count[member]
}

func (l *ledger) generation(member string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gen[member]
}

// missing reports the first offsets below ends that no member processed.
func (l *ledger) missing(ends map[int32]int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var miss []string
	n := 0
	for _, p := range slices.Sorted(maps.Keys(ends)) {
		for o := int64(0); o < ends[p]; o++ {
			if len(l.processed[p][o]) == 0 {
				if n++; len(miss) < 5 {
					miss = append(miss, fmt.Sprintf("%d/%d", p, o))
				}
			}
		}
	}
	if n > 0 {
		return fmt.Errorf("%d records not processed yet, e.g. %v", n, miss)
	}
	return nil
}

// check fails the test unless every record below ends was processed
// exactly once, with the value produced (produced[p][o]), and nothing
// else was. A record whose commit failed may have been processed twice.
func (l *ledger) check(t *testing.T, ends map[int32]int64, produced map[int32][]string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.garbage) > 0 {
		t.Errorf("members printed lines that do not parse: %q", l.garbage)
	}
	var dups, wrong, extra []string
	total, again := 0, 0
	for p, byOffset := range l.processed {
		for o, who := range byOffset {
			switch {
			case o >= ends[p]:
				extra = append(extra, fmt.Sprintf("%d/%d", p, o))
			case len(who) == 2 && l.refused[p][o]:
				again++
			case len(who) > 1:
				dups = append(dups, fmt.Sprintf("%d/%d by %v", p, o, who))
			}
			if o < int64(len(produced[p])) && l.values[p][o] != produced[p][o] {
				wrong = append(wrong, fmt.Sprintf("%d/%d is %q, want %q", p, o, l.values[p][o], produced[p][o]))
			}
			total += len(who)
		}
	}
	slices.Sort(dups)
	t.Logf("%d records processed by %v; %d processed again after their commit failed", total, l.count, again)
	if len(l.strays) > 0 {
		t.Logf("%d records of unowned partitions delivered and dropped by their members (member partition offset): %v", len(l.strays), l.strays)
	}
	if len(dups) > 0 {
		t.Errorf("%d records processed more than once: %v", len(dups), dups[:min(len(dups), 10)])
	}
	if len(wrong) > 0 {
		t.Errorf("%d records processed with the wrong value: %v", len(wrong), wrong[:min(len(wrong), 10)])
	}
	if len(extra) > 0 {
		t.Errorf("records processed beyond the end offsets: %v", extra)
	}
	for p, end := range ends {
		for o := int64(0); o < end; o++ {
			if len(l.processed[p][o]) == 0 {
				t.Errorf("record %d/%d was never processed", p, o)
			}
		}
	}
}

// member is one running member process.
type member struct {
	name string
	proc *harness.Proc
}

// group is one scenario's group: its broker, topic, members and ledger.
type group struct {
	t          *testing.T
	c          client
	b          *harness.Broker
	name       string
	topic      string
	partitions int32
	sessionMs  int
	l          *ledger

	mu       sync.Mutex
	produced map[int32][]string // guarded by mu: partition → values by offset
	next     int                // guarded by mu: the next value's number
	members  []*member          // guarded by mu: live members
}

func newGroup(t *testing.T, c client, partitions int32, session int) *group {
	b := harness.Start(t, harness.Options{Settings: brokerSettings(session)})
	g := &group{t: t, c: c, b: b, name: harness.Topic(t, "group"), topic: harness.Topic(t, ""), partitions: partitions, sessionMs: session,
		l: newLedger(), produced: map[int32][]string{}}
	harness.CreateTopic(t, b.Addr(), g.topic, partitions, nil)
	return g
}

// start starts a member called name.
func (g *group) start(name string) *member {
	g.t.Helper()
	return g.startStatic(name, "")
}

// startStatic starts a member called name, static if instance is not "".
func (g *group) startStatic(name, instance string) *member {
	g.t.Helper()
	a := memberArgs{Addr: g.b.Addr(), Group: g.name, Topic: g.topic, Name: name, Strategy: g.c.strategy, SessionMs: g.sessionMs, HeartMs: heartMs,
		Version: g.c.version, InstanceID: instance}
	var onStderr func(string)
	if g.c.stderrParser != nil {
		parse := g.c.stderrParser()
		onStderr = func(line string) {
			if l := parse(line); l != "" {
				g.l.line(name, l)
			}
		}
	}
	m := &member{name: name}
	m.proc = harness.StartProc(g.t, g.c.name+" member "+name, g.c.command(g.t, a), func(line string) { g.l.line(name, line) }, onStderr)
	g.mu.Lock()
	g.members = append(g.members, m)
	g.mu.Unlock()
	return m
}

func (g *group) drop(m *member) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.members = slices.DeleteFunc(g.members, func(x *member) bool { return x == m })
}

// stop stops a member with SIGTERM; it must leave and exit cleanly.
func (g *group) stop(m *member) {
	g.t.Helper()
	m.proc.Stop(20 * time.Second)
	if code := m.proc.ExitCode(); code != 0 {
		g.t.Errorf("member %s exited with %d", m.name, code)
	}
	g.drop(m)
}

// kill kills a member with SIGKILL: it does not leave the group.
func (g *group) kill(m *member) {
	m.proc.Kill()
	g.drop(m)
}

// checkAlive fails the test if a member that should be running exited.
func (g *group) checkAlive() {
	g.t.Helper()
	for _, m := range g.live() {
		select {
		case <-m.proc.Exited():
			g.t.Fatalf("member %s exited with %d:\n%s", m.name, m.proc.ExitCode(), m.proc.Stderr())
		default:
		}
	}
}

func (g *group) live() []*member {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.members)
}

// produce writes n records "v<k>", spread round robin over the
// partitions, and waits for them to be acknowledged.
func (g *group) produce(cl *kgo.Client, n int) {
	g.t.Helper()
	g.mu.Lock()
	var rs []*kgo.Record
	for i := 0; i < n; i++ {
		rs = append(rs, &kgo.Record{Topic: g.topic, Partition: int32(g.next % int(g.partitions)), Value: fmt.Appendf(nil, "v%d", g.next)})
		g.next++
	}
	g.mu.Unlock()
	res := cl.ProduceSync(harness.Ctx(g.t, 30*time.Second), rs...)
	if err := res.FirstErr(); err != nil {
		g.t.Fatalf("producing: %v", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range res {
		vals := g.produced[r.Record.Partition]
		if r.Record.Offset != int64(len(vals)) {
			g.t.Fatalf("record %s went to %d/%d, want offset %d", r.Record.Value, r.Record.Partition, r.Record.Offset, len(vals))
		}
		g.produced[r.Record.Partition] = append(vals, string(r.Record.Value))
	}
}

func (g *group) producer() *kgo.Client {
	return harness.Client(g.t, g.b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
}

// ends returns the end offset of every partition, as produced.
func (g *group) ends() map[int32]int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[int32]int64{}
	for p := int32(0); p < g.partitions; p++ {
		out[p] = int64(len(g.produced[p]))
	}
	return out
}

func (g *group) producedCopy() map[int32][]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[int32][]string{}
	for p, v := range g.produced {
		out[p] = slices.Clone(v)
	}
	return out
}

// committed returns the group's committed offsets, read with a fresh
// franz-go client.
func (g *group) committed() (map[int32]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.b.Addr()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	os, err := kadm.NewClient(cl).FetchOffsets(ctx, g.name)
	if err != nil {
		return nil, err
	}
	if err := os.Error(); err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	os.Each(func(o kadm.OffsetResponse) {
		if o.Topic == g.topic {
			out[o.Partition] = o.At
		}
	})
	return out, nil
}

// waitProcessed waits until every record produced so far was processed and
// the group's committed offsets are the end offsets.
func (g *group) waitProcessed() {
	g.t.Helper()
	ends := g.ends()
	harness.Eventually(g.t, 30*time.Second, func() error {
		g.checkAlive()
		if err := g.l.missing(ends); err != nil {
			return err
		}
		got, err := g.committed()
		if err != nil {
			return err
		}
		for p, end := range ends {
			if end > 0 && got[p] != end {
				return fmt.Errorf("committed %v, want %v", got, ends)
			}
		}
		return nil
	})
}

// brokerView returns the group's state and each member's assignment as
// the broker describes them, keyed by client id: DescribeGroups for a
// classic group, ConsumerGroupDescribe for a KIP-848 one.
func (g *group) brokerView() (string, map[string][]int32, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.b.Addr()))
	if err != nil {
		return "", nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	out := map[string][]int32{}
	if g.c.kip848 {
		ds, err := adm.DescribeConsumerGroups(ctx, g.name)
		if err != nil {
			return "", nil, err
		}
		d := ds[g.name]
		if d.Err != nil {
			return "", nil, d.Err
		}
		for _, m := range d.Members {
			if _, dup := out[m.ClientID]; dup {
				return "", nil, fmt.Errorf("two members with client id %s", m.ClientID)
			}
			owns, target := sorted(slices.Collect(maps.Keys(m.Assignment[g.topic]))), sorted(slices.Collect(maps.Keys(m.TargetAssignment[g.topic])))
			if !slices.Equal(owns, target) {
				return "", nil, fmt.Errorf("member %s owns %v, its target is %v", m.ClientID, owns, target)
			}
			out[m.ClientID] = owns
		}
		return d.State, out, nil
	}
	ds, err := adm.DescribeGroups(ctx, g.name)
	if err != nil {
		return "", nil, err
	}
	d := ds[g.name]
	if d.Err != nil {
		return "", nil, d.Err
	}
	for _, m := range d.Members {
		if _, dup := out[m.ClientID]; dup {
			return "", nil, fmt.Errorf("two members with client id %s", m.ClientID)
		}
		var parts []int32
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				if t.Topic == g.topic {
					parts = append(parts, t.Partitions...)
				}
			}
		}
		out[m.ClientID] = parts
	}
	return d.State, out, nil
}

func sorted(ps []int32) []int32 {
	ps = slices.Clone(ps)
	slices.Sort(ps)
	return ps
}

// balanced checks that an assignment gives every partition to exactly one
// of want (member names) and spreads them evenly.
func (g *group) balanced(view map[string][]int32, want []string) error {
	if got := slices.Sorted(maps.Keys(view)); !slices.Equal(got, sortedNames(want)) {
		return fmt.Errorf("members %v, want %v", got, sortedNames(want))
	}
	owner := map[int32]string{}
	for who, parts := range view {
		for _, p := range parts {
			if o, ok := owner[p]; ok {
				return fmt.Errorf("partition %d assigned to %s and %s", p, o, who)
			}
			owner[p] = who
		}
	}
	for p := int32(0); p < g.partitions; p++ {
		if _, ok := owner[p]; !ok {
			return fmt.Errorf("partition %d unassigned in %v", p, view)
		}
	}
	lo, hi := int(g.partitions)/len(want), (int(g.partitions)+len(want)-1)/len(want)
	for who, parts := range view {
		if len(parts) < lo || len(parts) > hi {
			return fmt.Errorf("%s has %d partitions, want %d to %d: %v", who, len(parts), lo, hi, view)
		}
	}
	return nil
}

func sortedNames(ns []string) []string {
	ns = slices.Clone(ns)
	slices.Sort(ns)
	return ns
}

// waitStable waits until the group is Stable with exactly the live
// members, the broker's assignment covers every partition once, and (for
// clients that report it) each member owns what the broker assigned it.
func (g *group) waitStable() {
	g.t.Helper()
	var names []string
	for _, m := range g.live() {
		names = append(names, m.name)
	}
	harness.Eventually(g.t, 45*time.Second, func() error {
		g.checkAlive()
		state, view, err := g.brokerView()
		if err != nil {
			return err
		}
		if !strings.EqualFold(state, "Stable") {
			return fmt.Errorf("group is %s: %v", state, view)
		}
		if err := g.balanced(view, names); err != nil {
			return fmt.Errorf("broker: %w", err)
		}
		if !g.c.reportsAssignment {
			return nil
		}
		g.l.mu.Lock()
		defer g.l.mu.Unlock()
		for _, n := range names {
			if got, want := sorted(g.l.owned[n]), sorted(view[n]); !slices.Equal(got, want) {
				return fmt.Errorf("member %s owns %v, the broker assigned it %v", n, got, want)
			}
		}
		return nil
	})
}

// waitEachProcesses waits until each live member processed at least n
// more records than it had at the start (while a producer runs).
func (g *group) waitEachProcesses(n int) {
	g.t.Helper()
	base := map[string]int{}
	ms := g.live()
	for _, m := range ms {
		base[m.name] = g.l.processedBy(m.name)
	}
	harness.Eventually(g.t, 30*time.Second, func() error {
		g.checkAlive()
		for _, m := range ms {
			if got := g.l.processedBy(m.name) - base[m.name]; got < n {
				return fmt.Errorf("member %s processed %d records, waiting for %d", m.name, got, n)
			}
		}
		return nil
	})
}

// background produces a record every few milliseconds until the returned
// function is called.
func (g *group) background() (stop func()) {
	cl := g.producer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				g.produce(cl, 1)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// change changes the group's members with f while records are produced in
// the background, waits until the group is stable again and every member
// processed some more. For a quiescent client, production stops and
// everything is processed before the change, and resumes after it.
func (g *group) change(stopProducing *func(), f func()) {
	g.t.Helper()
	if g.c.quiescent {
		(*stopProducing)()
		g.waitProcessed()
	}
	f()
	g.waitStable()
	if g.c.quiescent {
		*stopProducing = g.background()
	}
	g.waitEachProcesses(10)
}

// churn: one member, then three, then two; records are produced all along.
func churn(t *testing.T, c client) {
	g := newGroup(t, c, 6, churnSessionMs)
	stopProducing := g.background()
	var a, b, m3 *member
	g.change(&stopProducing, func() { a = g.start("a") })
	g.change(&stopProducing, func() { b, m3 = g.start("b"), g.start("c") })
	g.change(&stopProducing, func() { g.stop(b) })
	stopProducing()
	g.waitProcessed()
	g.stop(a)
	g.stop(m3)
	g.l.check(t, g.ends(), g.producedCopy())
}

// kill: two members; one is SIGKILLed while nothing is in flight. It stays
// in the group until its session times out; then the other takes its
// partitions and processes what follows.
func kill(t *testing.T, c client) {
	g := newGroup(t, c, 4, sessionMs)
	p := g.producer()
	// b joins once a has consumed from every partition: librdkafka
	// (2.11.1) can go on fetching a revoked partition whose start offset
	// it was still looking up (see confluentMember), so no member may be
	// looking one up when the other joins.
	a := g.start("a")
	g.waitStable()
	g.produce(p, int(g.partitions))
	g.waitProcessed()
	b := g.start("b")
	g.waitStable()
	g.produce(p, 40)
	g.waitProcessed()

	killed := time.Now()
	g.kill(b)
	// The broker keeps b until its session times out: a member is only
	// evicted by its session, never because its connection closed.
	g.waitStable()
	evicted := time.Since(killed)
	// b's session was last renewed before the kill: by its last
	// heartbeat, normally within a heartbeat interval, but on a loaded
	// machine possibly much earlier. Half the session tells an eviction
	// by session from one on the connection's close.
	if evicted < sessionMs*time.Millisecond/2 {
		t.Errorf("the killed member was evicted %v after the kill, long before its session timeout (%dms)", evicted, sessionMs)
	}
	t.Logf("the killed member was evicted and its partitions moved %v after the kill", evicted.Round(time.Millisecond))

	g.produce(p, 40)
	g.waitProcessed()
	g.stop(a)
	g.l.check(t, g.ends(), g.producedCopy())
}

// restart: offsets committed before a clean broker restart and before a
// broker SIGKILL are there afterwards, running members carry on through
// both, and a new member resumes where the group left off.
func restart(t *testing.T, c client) {
	g := newGroup(t, c, 3, restartSessionMs)
	a := g.start("a")
	g.waitStable()
	g.produce(g.producer(), 30)
	g.waitProcessed()

	g.restartBroker("a restart", a, g.b.Restart)
	g.produce(g.producer(), 30)
	g.waitProcessed()
	g.restartBroker("a SIGKILL", a, func() {
		g.b.Kill()
		g.b.Restart()
	})
	g.produce(g.producer(), 30)
	g.waitProcessed()
	g.stop(a)

	want := g.ends()
	g.b.Kill()
	g.b.Restart()
	if got, err := g.committed(); err != nil || !maps.Equal(got, want) {
		t.Fatalf("committed offsets after a SIGKILL of an empty group: %v %v, want %v", got, err, want)
	}
	// A new member starts at the committed offsets, not at the beginning
	// (its reset policy): nothing is processed twice.
	b := g.start("b")
	g.waitStable()
	g.produce(g.producer(), 30)
	g.waitProcessed()
	g.stop(b)
	g.l.check(t, g.ends(), g.producedCopy())
}

// restartBroker restarts the broker with restart while member m runs, and
// checks that the committed offsets survived. A client that needs it gets
// to join its next generation before records are produced again.
func (g *group) restartBroker(what string, m *member, restart func()) {
	g.t.Helper()
	want := g.ends()
	gen := g.l.generation(m.name)
	restart()
	if got, err := g.committed(); err != nil || !maps.Equal(got, want) {
		g.t.Fatalf("committed offsets after %s: %v %v, want %v", what, got, err, want)
	}
	if g.c.generations {
		harness.Eventually(g.t, 30*time.Second, func() error {
			if n := g.l.generation(m.name); n <= gen {
				return fmt.Errorf("the member is in generation %d, waiting for it to join the next one", n)
			}
			return nil
		})
		g.waitStable()
	}
}

// static: static members (KIP-345). One is SIGKILLed and comes back with
// the same instance id within its session timeout: it takes its place
// again without a rebalance, so the other member's assignment does not
// change. Killed again and not restarted, it is evicted when its session
// times out.
func static(t *testing.T, c client) {
	g := newGroup(t, c, 4, sessionMs)
	p := g.producer()
	a, b := g.startStatic("a", "instance-a"), g.startStatic("b", "instance-b")
	g.waitStable()
	g.produce(p, 40)
	g.waitProcessed()
	g.l.mu.Lock()
	changes, owned := g.l.changes["a"], g.l.owned["a"]
	g.l.mu.Unlock()

	g.kill(b)
	b = g.startStatic("b", "instance-b")
	g.waitStable()
	g.produce(p, 40)
	g.waitProcessed()
	g.l.mu.Lock()
	if g.l.changes["a"] != changes || !slices.Equal(g.l.owned["a"], owned) {
		t.Errorf("the other member's assignment changed from %v to %v (%d new assignments) when the static member came back",
			owned, g.l.owned["a"], g.l.changes["a"]-changes)
	}
	g.l.mu.Unlock()

	killed := time.Now()
	g.kill(b)
	g.waitStable()
	if evicted := time.Since(killed); evicted < sessionMs*time.Millisecond/2 {
		t.Errorf("the static member was evicted %v after the kill, long before its session timeout (%dms)", evicted, sessionMs)
	}
	g.produce(p, 40)
	g.waitProcessed()
	g.stop(a)
	g.l.check(t, g.ends(), g.producedCopy())
}

func runScenarios(t *testing.T, c client) {
	t.Run("churn", func(t *testing.T) { churn(t, c) })
	t.Run("kill", func(t *testing.T) { kill(t, c) })
	t.Run("restart", func(t *testing.T) { restart(t, c) })
	if c.static {
		t.Run("static", func(t *testing.T) { static(t, c) })
	}
}
