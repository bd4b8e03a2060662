// Package txn runs transactions of real clients against a real potok
// process: confluent-kafka-go (librdkafka), sarama's transactional
// producer, kafkajs (js/kafkajs-txn.js) and franz-go. Every client goes
// through the same scenarios:
//
//   - commit-abort: committed and aborted transactions, with offsets sent to
//     a group in them, read back by the client's own consumer with
//     read_committed and read_uncommitted (and by franz-go), exactly;
//   - fencing: a second producer with the same transactional id aborts the
//     first one's transaction and fences it;
//   - broker-kill: the broker is SIGKILLed with transactions committed,
//     aborted, open, open with a short timeout, and committing in a loop;
//     after the restart the last stable offset stops at the first open
//     transaction, committed transactions are whole, the open ones are
//     aborted (by a new producer with the same id, or by the coordinator
//     when they time out) and invisible to read_committed, and producers
//     carry on after initialising again;
//   - pipeline: consume → transform → produce with the consumed offsets
//     sent in each transaction, in a child process that is SIGKILLed with a
//     transaction open and started again; the output holds every input
//     record exactly once;
//   - pipeline-broker-kill: the same pipeline while the broker is SIGKILLed
//     and restarted.
package txn

import (
	"context"
	"fmt"
	"maps"
	"os/exec"
	"slices"
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

// rec is a record as the scenarios write and read it.
type rec struct {
	P          int32
	Key, Value string
}

func (r rec) String() string { return fmt.Sprintf("%d:%s=%s", r.P, r.Key, r.Value) }

// producer is one transactional producer whose InitTransactions is done.
type producer interface {
	begin() error
	// send writes records in the open transaction and returns once the
	// broker acknowledged all of them.
	send(topic string, recs []rec) error
	// sendOffsets adds the offsets of group (partition → next offset of
	// topic) to the open transaction.
	sendOffsets(group, topic string, offsets map[int32]int64) error
	commit() error
	abort() error
	close()
}

// txnClient is one client library.
type txnClient struct {
	name string
	// producer returns a producer for id whose transactions time out
	// after timeout.
	producer func(t *testing.T, addr, id string, timeout time.Duration) producer
	// read reads every partition of topic from the beginning, with
	// read_committed or read_uncommitted, until it has seen a record with
	// value sentinel in each, and returns the records in offset order.
	read func(t *testing.T, addr, topic string, partitions int32, committed bool, sentinel string) []rec
	// fenced reports whether err is what the client reports to a fenced
	// producer at its commit or at its next send (at is "commit" or
	// "send").
	fenced func(at string, err error) bool
	// pipeline returns the command of one pipeline process.
	pipeline func(t *testing.T, a pipelineArgs) *exec.Cmd
}

// pipelineArgs are what a pipeline process is told: consume In in Group
// with read_committed, and for each poll produce "out-<value>" to Out and
// commit it with the consumed offsets in one transaction of TxnID. Before
// committing transaction PauseAt (1-based; 0 never) it prints "paused" and
// waits to be killed. After each commit it prints "committed <records so
// far>".
type pipelineArgs struct {
	Addr, Group, In, Out, TxnID string
	PauseAt                     int
	SessionMs                   int
	Version                     string // the protocol version (sarama)
}

func settings() map[string]string {
	return map[string]string{
		"group.initial.rebalance.delay.ms":                            "0",
		"group.min.session.timeout.ms":                                "500",
		"offsets.topic.num.partitions":                                "4",
		"transaction.state.log.num.partitions":                        "4",
		"transaction.abort.timed.out.transaction.cleanup.interval.ms": "500",
	}
}

func start(t *testing.T) *harness.Broker {
	return harness.Start(t, harness.Options{Settings: settings()})
}

// spread returns n records "<prefix><i>" spread round robin over the
// partitions, keyed by their number.
func spread(prefix string, n int, partitions int32) []rec {
	out := make([]rec, n)
	for i := range out {
		out[i] = rec{P: int32(i) % partitions, Key: fmt.Sprint(i), Value: fmt.Sprintf("%s%d", prefix, i)}
	}
	return out
}

// sentinels is one record with value s per partition.
func sentinels(s string, partitions int32) []rec {
	var out []rec
	for p := int32(0); p < partitions; p++ {
		out = append(out, rec{P: p, Key: "end", Value: s})
	}
	return out
}

// byPartition orders records as a consumer of each partition sees them:
// stable by partition, keeping the order within one.
func byPartition(rs ...[]rec) []rec {
	var out []rec
	for _, r := range rs {
		out = append(out, r...)
	}
	slices.SortStableFunc(out, func(a, b rec) int { return int(a.P - b.P) })
	return out
}

func sameRecs(t *testing.T, what string, got, want []rec) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\ngot  %v\nwant %v", what, got, want)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// txn runs one transaction: records, then offsets if any, then commit or
// abort.
func txn(t *testing.T, p producer, topic string, recs []rec, group string, offsets map[int32]int64, commit bool) {
	t.Helper()
	must(t, "begin", p.begin())
	if len(recs) > 0 {
		must(t, "send", p.send(topic, recs))
	}
	if offsets != nil {
		must(t, "sendOffsets", p.sendOffsets(group, topic, offsets))
	}
	if commit {
		must(t, "commit", p.commit())
	} else {
		must(t, "abort", p.abort())
	}
}

// franzRead reads topic with franz-go as txnClient.read does.
func franzRead(t *testing.T, addr, topic string, partitions int32, committed bool, sentinel string) []rec {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl := harness.Client(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(iso), kgo.FetchMaxWait(100*time.Millisecond))
	defer cl.Close()
	ctx := harness.Ctx(t, 30*time.Second)
	done := map[int32]bool{}
	var out []rec
	for len(done) < int(partitions) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("franz-go reading %s: sentinel seen in %d of %d partitions after 30s; read %v", topic, len(done), partitions, out)
		}
		if err := fs.Err0(); err != nil {
			t.Fatalf("franz-go reading %s: %v", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if done[r.Partition] {
				t.Errorf("franz-go read %s/%d at %d after the sentinel", r.Value, r.Partition, r.Offset)
			}
			out = append(out, rec{P: r.Partition, Key: string(r.Key), Value: string(r.Value)})
			if string(r.Value) == sentinel {
				done[r.Partition] = true
			}
		})
	}
	return byPartition(out)
}

// committedOffsets returns a group's committed offsets of topic.
func committedOffsets(t *testing.T, addr, group, topic string) map[int32]int64 {
	t.Helper()
	os, err := harness.Admin(t, addr).FetchOffsets(harness.Ctx(t, 10*time.Second), group)
	if err != nil {
		t.Fatalf("FetchOffsets %s: %v", group, err)
	}
	out := map[int32]int64{}
	os.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic {
			out[o.Partition] = o.At
		}
	})
	return out
}

// commitAbort: committed, aborted and committed again, each with offsets
// for a group; read back with both isolation levels.
func commitAbort(t *testing.T, c txnClient) {
	b := start(t)
	topic, group := harness.Topic(t, ""), harness.Topic(t, "group")
	harness.CreateTopic(t, b.Addr(), topic, 2, nil)
	p := c.producer(t, b.Addr(), harness.Topic(t, "id"), 30*time.Second)
	defer p.close()
	first, aborted, second := spread("committed-", 6, 2), spread("aborted-", 6, 2), spread("later-", 4, 2)
	txn(t, p, topic, first, group, map[int32]int64{0: 3, 1: 3}, true)
	if got := committedOffsets(t, b.Addr(), group, topic); !maps.Equal(got, map[int32]int64{0: 3, 1: 3}) {
		t.Errorf("offsets after the first commit: %v", got)
	}
	txn(t, p, topic, aborted, group, map[int32]int64{0: 6, 1: 6}, false)
	if got := committedOffsets(t, b.Addr(), group, topic); !maps.Equal(got, map[int32]int64{0: 3, 1: 3}) {
		t.Errorf("offsets after the abort: %v, want the first commit's", got)
	}
	txn(t, p, topic, second, group, map[int32]int64{0: 10, 1: 10}, true)
	// A transaction of offsets only.
	txn(t, p, topic, nil, group, map[int32]int64{0: 11, 1: 11}, true)
	txn(t, p, topic, sentinels("end", 2), "", nil, true)
	if got := committedOffsets(t, b.Addr(), group, topic); !maps.Equal(got, map[int32]int64{0: 11, 1: 11}) {
		t.Errorf("offsets after the last commit: %v", got)
	}

	wantCommitted := byPartition(first, second, sentinels("end", 2))
	wantAll := byPartition(first, aborted, second, sentinels("end", 2))
	sameRecs(t, c.name+" read_committed", c.read(t, b.Addr(), topic, 2, true, "end"), wantCommitted)
	sameRecs(t, c.name+" read_uncommitted", c.read(t, b.Addr(), topic, 2, false, "end"), wantAll)
	sameRecs(t, "franz-go read_committed", franzRead(t, b.Addr(), topic, 2, true, "end"), wantCommitted)
	sameRecs(t, "franz-go read_uncommitted", franzRead(t, b.Addr(), topic, 2, false, "end"), wantAll)
}

// fencing: a second producer with the same transactional id aborts the
// first one's open transaction and fences it: the zombie's commit (EndTxn
// with the old epoch, at the transaction coordinator) fails, and so does
// another zombie's next send (Produce with the old epoch, at the
// partition).
func fencing(t *testing.T, c txnClient) {
	b := start(t)
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 2, nil)
	for _, at := range []string{"commit", "send"} {
		id := harness.Topic(t, at)
		old := c.producer(t, b.Addr(), id, 30*time.Second)
		defer old.close()
		must(t, "begin", old.begin())
		must(t, "send", old.send(topic, spread("zombie-"+at+"-", 4, 2)))

		fresh := c.producer(t, b.Addr(), id, 30*time.Second)
		defer fresh.close()
		txn(t, fresh, topic, spread("fresh-"+at+"-", 4, 2), "", nil, true)

		var err error
		if at == "send" {
			err = old.send(topic, spread("late-", 2, 2))
		} else {
			err = old.commit()
		}
		t.Logf("the fenced producer's %s: %v", at, err)
		if err == nil || !c.fenced(at, err) {
			t.Errorf("the fenced producer's %s: %v, want the client's error for a fenced producer", at, err)
		}
	}
	p := c.producer(t, b.Addr(), harness.Topic(t, "end"), 30*time.Second)
	defer p.close()
	txn(t, p, topic, sentinels("end", 2), "", nil, true)
	sameRecs(t, c.name+" read_committed", c.read(t, b.Addr(), topic, 2, true, "end"),
		byPartition(spread("fresh-commit-", 4, 2), spread("fresh-send-", 4, 2), sentinels("end", 2)))
	// The zombies' records stay in the log, aborted.
	sameRecs(t, "franz-go read_uncommitted", franzRead(t, b.Addr(), topic, 2, false, "end"),
		byPartition(spread("zombie-commit-", 4, 2), spread("fresh-commit-", 4, 2), spread("zombie-send-", 4, 2), spread("fresh-send-", 4, 2), sentinels("end", 2)))
}

// loop commits transactions of two records (one per partition) until
// stopped or until a call fails, and remembers which commits were
// acknowledged.
type loop struct {
	mu      sync.Mutex
	acked   [][]rec // guarded by mu
	pending []rec   // guarded by mu: the transaction whose commit was not acknowledged
	err     error   // guarded by mu: what ended the loop
	done    chan struct{}
}

func runLoop(p producer, topic string, stop <-chan struct{}) *loop {
	l := &loop{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			rs := []rec{{P: 0, Key: "loop", Value: fmt.Sprintf("loop-%d-a", i)}, {P: 1, Key: "loop", Value: fmt.Sprintf("loop-%d-b", i)}}
			l.mu.Lock()
			l.pending = rs
			l.mu.Unlock()
			err := p.begin()
			if err == nil {
				err = p.send(topic, rs)
			}
			if err == nil {
				err = p.commit()
			}
			l.mu.Lock()
			if err != nil {
				l.err = err
				l.mu.Unlock()
				return
			}
			l.acked = append(l.acked, rs)
			l.pending = nil
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *loop) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// brokerKill: SIGKILL the broker with transactions in every state.
func brokerKill(t *testing.T, c txnClient) {
	b := start(t)
	topic := harness.Topic(t, "")
	id := func(s string) string { return harness.Topic(t, s) }
	harness.CreateTopic(t, b.Addr(), topic, 2, nil)
	addr := b.Addr()

	committed := c.producer(t, addr, id("committed"), time.Minute)
	txn(t, committed, topic, spread("committed-", 4, 2), "", nil, true)
	aborted := c.producer(t, addr, id("aborted"), time.Minute)
	txn(t, aborted, topic, spread("aborted-", 4, 2), "", nil, false)
	open := c.producer(t, addr, id("open"), time.Minute)
	must(t, "begin", open.begin())
	must(t, "send", open.send(topic, spread("open-", 4, 2)))
	const timeout = 3 * time.Second
	timingOut := c.producer(t, addr, id("timeout"), timeout)
	must(t, "begin", timingOut.begin())
	must(t, "send", timingOut.send(topic, spread("timeout-", 4, 2)))

	looper := c.producer(t, addr, id("loop"), time.Minute)
	stop := make(chan struct{})
	l := runLoop(looper, topic, stop)
	harness.Eventually(t, 30*time.Second, func() error {
		if n := l.count(); n < 5 {
			select {
			case <-l.done:
				return fmt.Errorf("the loop stopped after %d transactions: %v", n, l.err)
			default:
			}
			return fmt.Errorf("%d transactions committed in the loop, waiting for 5", n)
		}
		return nil
	})
	b.Kill()
	close(stop)
	b.Restart()

	// The open transactions were rebuilt from the log: the last stable
	// offset of each partition is the first offset of "open", the oldest
	// open transaction.
	firstOpen := map[int32]int64{}
	cl := harness.Client(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	for len(firstOpen) < 2 {
		fs := cl.PollFetches(harness.Ctx(t, 10*time.Second))
		if err := fs.Err0(); err != nil {
			t.Fatalf("reading after the restart: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if _, ok := firstOpen[r.Partition]; !ok && strings.HasPrefix(string(r.Value), "open-") {
				firstOpen[r.Partition] = r.Offset
			}
		})
	}
	cl.Close()
	lso, err := harness.Admin(t, addr).ListCommittedOffsets(harness.Ctx(t, 10*time.Second), topic)
	must(t, "ListOffsets read_committed", err)
	gotLSO := map[int32]int64{}
	lso.Each(func(o kadm.ListedOffset) { gotLSO[o.Partition] = o.Offset })
	if !maps.Equal(gotLSO, firstOpen) {
		t.Errorf("last stable offsets after the restart: %v, want the first offsets of the open transaction %v", gotLSO, firstOpen)
	}

	select {
	case <-l.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the transaction loop did not end within 60s of the restart")
	}
	l.mu.Lock()
	acked, pending, loopErr := l.acked, l.pending, l.err
	l.mu.Unlock()
	t.Logf("%d transactions committed in the loop before the kill; the loop ended with %v", len(acked), loopErr)
	for _, p := range []producer{committed, aborted, open, timingOut, looper} {
		p.close()
	}

	// New producers with the same ids abort what was open and carry on;
	// nobody takes "timeout" over: the coordinator aborts it.
	open2 := c.producer(t, addr, id("open"), time.Minute)
	defer open2.close()
	txn(t, open2, topic, spread("open-again-", 4, 2), "", nil, true)
	looper2 := c.producer(t, addr, id("loop"), time.Minute)
	defer looper2.close()
	txn(t, looper2, topic, spread("loop-again-", 2, 2), "", nil, true)
	committed2 := c.producer(t, addr, id("committed"), time.Minute)
	defer committed2.close()
	txn(t, committed2, topic, append(spread("committed-again-", 4, 2), sentinels("end", 2)...), "", nil, true)

	var loopRecs []rec
	for _, rs := range acked {
		loopRecs = append(loopRecs, rs...)
	}
	after := byPartition(spread("open-again-", 4, 2), spread("loop-again-", 2, 2), append(spread("committed-again-", 4, 2), sentinels("end", 2)...))
	// The transaction the loop was committing at the kill is whole: in or
	// out entirely.
	check := func(who string, got []rec, committed bool) {
		t.Helper()
		var inDoubt []rec
		got = slices.DeleteFunc(slices.Clone(got), func(r rec) bool {
			if slices.Contains(pending, r) {
				inDoubt = append(inDoubt, r)
				return true
			}
			return false
		})
		if committed && len(inDoubt) != 0 && len(inDoubt) != len(pending) {
			t.Errorf("%s: the transaction committing at the kill is partly visible: %v of %v", who, inDoubt, pending)
		}
		var want []rec
		if committed {
			want = byPartition(spread("committed-", 4, 2), loopRecs)
		} else {
			want = byPartition(spread("committed-", 4, 2), spread("aborted-", 4, 2), spread("open-", 4, 2), spread("timeout-", 4, 2), loopRecs)
		}
		// What was written before the kill comes first in each
		// partition, then what was written after it.
		want = byPartition(want, after)
		iso := "read_uncommitted"
		if committed {
			iso = "read_committed"
		}
		sameRecs(t, who+" "+iso, got, want)
	}
	// The coordinator aborts the transaction nobody took over once it
	// is older than its timeout. Reading only then also keeps kafkajs
	// away from a bug of its own: it drops the records of an aborted
	// transaction only if the fetch response's aborted list starts no
	// more than one entry per record before them
	// (filterAbortedMessages.js), which a fetch that starts while this
	// transaction holds the last stable offset back does not give it.
	admin := harness.Admin(t, addr)
	harness.Eventually(t, 30*time.Second, func() error {
		ds, err := admin.DescribeTransactions(context.Background(), id("timeout"))
		if err != nil {
			return err
		}
		if d := ds[id("timeout")]; d.State != "CompleteAbort" {
			return fmt.Errorf("the transaction left to time out is %s", d.State)
		}
		return nil
	})
	check(c.name, c.read(t, addr, topic, 2, true, "end"), true)
	check("franz-go", franzRead(t, addr, topic, 2, true, "end"), true)
	check("franz-go", franzRead(t, addr, topic, 2, false, "end"), false)
}

// pipelineSetup creates a pipeline's topics, writes its n input records
// "0".."n-1" (keyed the same) over 3 partitions in several produce
// requests, so that consumers see several batches, and returns its
// arguments.
func pipelineSetup(t *testing.T, b *harness.Broker, n int) pipelineArgs {
	in, out := harness.Topic(t, "in"), harness.Topic(t, "out")
	harness.CreateTopic(t, b.Addr(), in, 3, nil)
	harness.CreateTopic(t, b.Addr(), out, 3, nil)
	var rs []*kgo.Record
	for i := 0; i < n; i++ {
		rs = append(rs, &kgo.Record{Topic: in, Partition: int32(i % 3), Key: fmt.Appendf(nil, "%d", i), Value: fmt.Appendf(nil, "%d", i)})
	}
	prod := harness.Client(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	for i := 0; i < n; i += 30 {
		must(t, "producing the input", prod.ProduceSync(harness.Ctx(t, 10*time.Second), rs[i:i+30]...).FirstErr())
	}
	return pipelineArgs{Addr: b.Addr(), Group: harness.Topic(t, "group"), In: in, Out: out, TxnID: harness.Topic(t, "id"), SessionMs: 3000}
}

// pipelineProgress follows what pipeline processes print.
type pipelineProgress struct {
	mu        sync.Mutex
	paused    bool // guarded by mu
	committed int  // guarded by mu: records committed by the current process
}

func (pp *pipelineProgress) line(line string) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	switch {
	case line == "paused":
		pp.paused = true
	case strings.HasPrefix(line, "committed "):
		fmt.Sscan(strings.TrimPrefix(line, "committed "), &pp.committed)
	}
}

func (pp *pipelineProgress) get() (paused bool, committed int) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	return pp.paused, pp.committed
}

// pipelineOutput waits until the output topic's read_committed view holds
// n records (alive says whether to keep waiting), then checks that it holds
// each input's transformation exactly once and that the group committed
// the input's end offsets.
func pipelineOutput(t *testing.T, b *harness.Broker, a pipelineArgs, n int, alive func() error) {
	t.Helper()
	adm := harness.Admin(t, b.Addr())
	var got []rec
	harness.Eventually(t, time.Duration(90+n/200)*time.Second, func() error {
		if err := alive(); err != nil {
			t.Fatal(err)
		}
		lso, err := adm.ListCommittedOffsets(context.Background(), a.Out)
		if err != nil {
			return err
		}
		total := int64(0)
		lso.Each(func(o kadm.ListedOffset) { total += o.Offset })
		if total < int64(n) {
			return fmt.Errorf("the output's last stable offsets add up to %d", total)
		}
		got = nil
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics(a.Out), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(100*time.Millisecond))
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(2+n/5000)*time.Second)
		defer cancel()
		for len(got) < n && ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				got = append(got, rec{P: r.Partition, Key: string(r.Key), Value: string(r.Value)})
			})
		}
		if len(got) < n {
			return fmt.Errorf("read_committed output has %d records", len(got))
		}
		return nil
	})
	seen := map[string]int{}
	for _, r := range got {
		if r.Value != "out-"+r.Key {
			t.Errorf("output record %v is not a transformed input", r)
		}
		seen[r.Value]++
	}
	var missing, dups []string
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("out-%d", i)
		switch seen[v] {
		case 0:
			missing = append(missing, v)
		case 1:
		default:
			dups = append(dups, v)
		}
	}
	if len(missing) > 0 || len(dups) > 0 || len(got) != n {
		t.Errorf("output of %d records: missing %v, more than once %v", len(got), missing, dups)
	}
	harness.Eventually(t, 10*time.Second, func() error {
		if got := committedOffsets(t, b.Addr(), a.Group, a.In); !maps.Equal(got, map[int32]int64{0: int64(n / 3), 1: int64(n / 3), 2: int64(n / 3)}) {
			return fmt.Errorf("the group's committed offsets: %v, want %d on each partition", got, n/3)
		}
		return nil
	})
}

// pipeline: a consume-transform-produce process is SIGKILLed with a
// transaction open (records produced, offsets sent where the client sends
// them before the commit) and started again.
func pipeline(t *testing.T, c txnClient) {
	b := start(t)
	const n = 300
	a := pipelineSetup(t, b, n)
	a.PauseAt = 4
	var pp pipelineProgress
	first := harness.StartProc(t, c.name+" pipeline 1", c.pipeline(t, a), pp.line, nil)
	harness.Eventually(t, 60*time.Second, func() error {
		select {
		case <-first.Exited():
			t.Fatalf("the pipeline exited with %d", first.ExitCode())
		default:
		}
		if paused, n := pp.get(); !paused {
			return fmt.Errorf("the pipeline committed %d records and has not paused", n)
		}
		return nil
	})
	_, before := pp.get()
	first.Kill()
	if before == 0 || before >= n {
		t.Fatalf("the pipeline committed %d of %d records before it was killed", before, n)
	}
	t.Logf("%d records committed before the kill", before)

	a.PauseAt = 0
	second := harness.StartProc(t, c.name+" pipeline 2", c.pipeline(t, a), pp.line, nil)
	pipelineOutput(t, b, a, n, func() error {
		select {
		case <-second.Exited():
			return fmt.Errorf("the second pipeline exited with %d", second.ExitCode())
		default:
		}
		return nil
	})
	second.Stop(30 * time.Second)
}

// pipelineBrokerKill: the broker is SIGKILLed while a pipeline process
// commits transactions. The process carries on after the restart, or, if
// its client gives up, a new one takes over; either way the output holds
// each input once.
func pipelineBrokerKill(t *testing.T, c txnClient) {
	b := start(t)
	const n = 1800
	a := pipelineSetup(t, b, n)
	var pp pipelineProgress
	procs := []*harness.Proc{harness.StartProc(t, c.name+" pipeline 1", c.pipeline(t, a), pp.line, nil)}
	harness.Eventually(t, 60*time.Second, func() error {
		if _, k := pp.get(); k < 100 {
			return fmt.Errorf("the pipeline committed %d records, waiting for 100", k)
		}
		return nil
	})
	b.Kill()
	_, atKill := pp.get()
	t.Logf("the broker was killed with %d records committed", atKill)
	if atKill >= n {
		t.Fatalf("the pipeline committed all %d records before the broker was killed", n)
	}
	b.Restart()
	pipelineOutput(t, b, a, n, func() error {
		last := procs[len(procs)-1]
		select {
		case <-last.Exited():
			if len(procs) == 3 {
				return fmt.Errorf("the pipeline exited %d times", len(procs))
			}
			t.Logf("pipeline %d exited with %d; starting another", len(procs), last.ExitCode())
			procs = append(procs, harness.StartProc(t, fmt.Sprintf("%s pipeline %d", c.name, len(procs)+1), c.pipeline(t, a), pp.line, nil))
		default:
		}
		return nil
	})
	procs[len(procs)-1].Stop(30 * time.Second)
}

func runScenarios(t *testing.T, c txnClient) {
	t.Run("commit-abort", func(t *testing.T) { commitAbort(t, c) })
	t.Run("fencing", func(t *testing.T) { fencing(t, c) })
	t.Run("broker-kill", func(t *testing.T) { brokerKill(t, c) })
	t.Run("pipeline", func(t *testing.T) { pipeline(t, c) })
	t.Run("pipeline-broker-kill", func(t *testing.T) { pipelineBrokerKill(t, c) })
}
