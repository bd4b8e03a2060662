package broker

// Consumer groups with a real client (franz-go): eager and cooperative
// classic groups, KIP-848 groups, static members, commits, evictions,
// restarts, many groups at once. Timers are short so the suite stays fast.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupSettings make rebalances quick: no initial delay, short sessions.
var groupSettings = []string{
	"group.initial.rebalance.delay.ms=0",
	"group.min.session.timeout.ms=500",
	"group.consumer.heartbeat.interval.ms=100",
	"group.consumer.session.timeout.ms=2000",
	"offsets.topic.num.partitions=8",
}

func groupBroker(t testing.TB, extra ...string) *Broker {
	return testBroker(t, append(slices.Clone(groupSettings), extra...)...)
}

// ledger tracks who owns which partition across the members of a group,
// from their assignment callbacks, and notes any partition owned twice.
type ledger struct {
	mu         sync.Mutex
	owner      map[int32]string
	violations []string
	consumed   map[int32]map[int64]int // partition → offset → times seen
}

func newLedger() *ledger {
	return &ledger{owner: map[int32]string{}, consumed: map[int32]map[int64]int{}}
}

func (l *ledger) assigned(who string, parts []int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range parts {
		if o := l.owner[p]; o != "" && o != who {
			l.violations = append(l.violations, fmt.Sprintf("partition %d given to %s while %s holds it", p, who, o))
		}
		l.owner[p] = who
	}
}

func (l *ledger) released(who string, parts []int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range parts {
		if l.owner[p] == who {
			delete(l.owner, p)
		}
	}
}

func (l *ledger) record(r *kgo.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.consumed[r.Partition] == nil {
		l.consumed[r.Partition] = map[int64]int{}
	}
	l.consumed[r.Partition][r.Offset]++
}

// covers reports whether the members own exactly the partitions 0..n-1,
// each once.
func (l *ledger) covers(n int32, members []*member) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.violations) > 0 {
		return fmt.Errorf("%s", strings.Join(l.violations, "; "))
	}
	seen := map[int32]string{}
	for _, m := range members {
		for _, p := range m.ownedNow() {
			if o, ok := seen[p]; ok {
				return fmt.Errorf("partition %d owned by %s and %s", p, o, m.name)
			}
			seen[p] = m.name
		}
	}
	for p := int32(0); p < n; p++ {
		if _, ok := seen[p]; !ok {
			return fmt.Errorf("partition %d unowned (%d of %d owned)", p, len(seen), n)
		}
	}
	// Every assignor used here balances: each member has n/m or n/m+1.
	lo, hi := int(n)/len(members), (int(n)+len(members)-1)/len(members)
	for _, m := range members {
		if k := len(m.ownedNow()); k < lo || k > hi {
			return fmt.Errorf("%s owns %d partitions, not %d-%d", m.name, k, lo, hi)
		}
	}
	return nil
}

// check reports double ownership seen so far, lost records below the
// given end offsets, and records consumed more than once.
func (l *ledger) check(ends map[int32]int64) (lost, dups int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.violations) > 0 {
		return 0, 0, fmt.Errorf("%s", strings.Join(l.violations, "; "))
	}
	for p, end := range ends {
		for o := int64(0); o < end; o++ {
			switch n := l.consumed[p][o]; {
			case n == 0:
				lost++
			case n > 1:
				dups += n - 1
			}
		}
	}
	return lost, dups, nil
}

// member is one group consumer, polling on its own goroutine.
type member struct {
	name     string
	cl       *kgo.Client
	stopping *atomic.Bool
	done     chan struct{}

	mu       sync.Mutex
	owned    map[int32]bool
	assigned int // partitions handed to it over its life
}

func (m *member) ownedNow() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int32
	for p := range m.owned {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func (m *member) assignedEver() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.assigned
}

func (m *member) stop() {
	m.stopping.Store(true)
	<-m.done
	m.cl.Close()
}

// startMember starts a consumer of topic in group. With exact, it blocks
// rebalances while it processes a poll and commits before allowing them
// again, so that each record is processed once.
func startMember(t testing.TB, b *Broker, l *ledger, name, group, topic string, exact bool, opts ...kgo.Opt) *member {
	t.Helper()
	m := &member{name: name, owned: map[int32]bool{}, done: make(chan struct{})}
	parts := func(a map[string][]int32) []int32 { return a[topic] }
	base := []kgo.Opt{
		kgo.SeedBrokers(b.addr()), kgo.MetadataMinAge(50 * time.Millisecond), kgo.ClientID(name),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(3 * time.Second), kgo.HeartbeatInterval(100 * time.Millisecond), kgo.RebalanceTimeout(5 * time.Second),
		kgo.FetchMaxWait(100 * time.Millisecond), kgo.AutoCommitInterval(100 * time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			l.assigned(name, parts(a))
			m.mu.Lock()
			for _, p := range parts(a) {
				m.owned[p] = true
			}
			m.assigned += len(parts(a))
			m.mu.Unlock()
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, a map[string][]int32) {
			if !exact {
				cl.CommitUncommittedOffsets(ctx)
			}
			m.mu.Lock()
			for _, p := range parts(a) {
				delete(m.owned, p)
			}
			m.mu.Unlock()
			l.released(name, parts(a))
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.mu.Lock()
			for _, p := range parts(a) {
				delete(m.owned, p)
			}
			m.mu.Unlock()
			l.released(name, parts(a))
		}),
	}
	if exact {
		base = append(base, kgo.BlockRebalanceOnPoll(), kgo.DisableAutoCommit())
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	m.cl = cl
	m.stopping = new(atomic.Bool)
	go func() {
		defer close(m.done)
		for !m.stopping.Load() {
			// Short polls, so that stopping never interrupts a commit.
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			fs := cl.PollFetches(ctx)
			cancel()
			if !exact {
				fs.EachRecord(l.record)
				continue
			}
			// A record counts as processed once its offset is committed.
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
				if err := cl.CommitUncommittedOffsets(context.Background()); err == nil {
					fs.EachRecord(l.record)
					break
				}
			}
			cl.AllowRebalance()
		}
	}()
	return m
}

// produceLoop produces to topic until stopped, returning how many records
// each partition got.
func produceLoop(t testing.TB, b *Broker, topic string) (stop func() map[int32]int64) {
	cl := newClient(t, b, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			rs := make([]*kgo.Record, 20)
			for j := range rs {
				rs[j] = &kgo.Record{Value: []byte(fmt.Sprint(i, j))}
			}
			cl.ProduceSync(ctx, rs...)
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return func() map[int32]int64 {
		cancel()
		<-done
		return endOffsets(t, b, topic)
	}
}

func endOffsets(t testing.TB, b *Broker, topic string) map[int32]int64 {
	t.Helper()
	adm := kadm.NewClient(newClient(t, b))
	ends, err := adm.ListEndOffsets(ctxT(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// churn runs members 1 → 5 → 2 on a 12-partition topic while producing,
// checking after each step that every partition has exactly one owner, and
// at the end that every record was consumed exactly once.
func churn(t *testing.T, wantType string, opts ...kgo.Opt) {
	b := groupBroker(t)
	const parts = 12
	createTopic(t, b, "churn", parts, nil)
	l := newLedger()
	stopProducing := produceLoop(t, b, "churn")
	var members []*member
	add := func(n int) {
		for i := 0; i < n; i++ {
			members = append(members, startMember(t, b, l, fmt.Sprintf("m%d", len(members)), "churn-group", "churn", true, opts...))
		}
	}
	settle := func() {
		eventually(t, 20*time.Second, fmt.Sprintf("%d members to own all partitions", len(members)), func() error {
			return l.covers(parts, members)
		})
	}
	add(1)
	settle()
	if typ := groupType(t, b, "churn-group"); typ != wantType {
		t.Fatalf("group type %q, want %q", typ, wantType)
	}
	add(4)
	settle()
	for _, m := range members[:3] {
		m.stop()
	}
	members = members[3:]
	settle()
	ends := stopProducing()
	eventually(t, 20*time.Second, "every record consumed", func() error {
		lost, dups, err := l.check(ends)
		if err != nil {
			return err
		}
		if lost > 0 {
			return fmt.Errorf("%d records not consumed yet", lost)
		}
		if dups > 0 {
			t.Fatalf("%d records consumed twice", dups)
		}
		return nil
	})
	for _, m := range members {
		m.stop()
	}
}

func TestGroupEagerRangeChurn(t *testing.T) {
	churn(t, "classic", kgo.Balancers(kgo.RangeBalancer()))
}

func TestGroupCooperativeStickyChurn(t *testing.T) {
	churn(t, "classic", kgo.Balancers(kgo.CooperativeStickyBalancer()))
}

func TestGroupKIP848Churn(t *testing.T) {
	churn(t, "consumer", kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.ServerSideBalancer())
}

func TestGroupKIP848RangeAssignor(t *testing.T) {
	churn(t, "consumer", kgo.Balancers(kgo.RangeBalancer()), kgo.ServerSideBalancer())
}

// groupType returns a group's type as ListGroups v5 reports it.
func groupType(t testing.TB, b *Broker, group string) string {
	t.Helper()
	req := kmsg.NewPtrListGroupsRequest()
	resp, err := req.RequestWith(ctxT(t), newClient(t, b))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range resp.Groups {
		if g.Group == group {
			return g.GroupType
		}
	}
	return ""
}
