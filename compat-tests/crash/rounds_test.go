package crash

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/potok-io/potok/compat-tests/harness"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCrashRounds is `make crash`: CRASH_ROUNDS rounds (skipped when unset)
// of load on one broker, a SIGKILL at a random moment, a restart and a
// check. The load in every round:
//
//   - three idempotent producers (acks=all) writing to four partitions,
//     each record "d|round|producer|partition|seq" with seq increasing per
//     producer and partition, kept alive across the kill so that their
//     retries meet the restarted broker;
//   - a transactional producer (one transactional id for the whole run)
//     writing transactions of three records to each of two partitions,
//     committing 70% and aborting the rest;
//   - a group consumer of the four partitions committing its position
//     every 100 ms.
//
// After the restart each client must make progress, then the round stops
// them and checks what was written since the last round: every
// acknowledged record is there exactly once and in order per producer and
// partition, no record appears twice, the group's committed offsets are at
// least every commit acknowledged so far (they never go backwards), and
// every transaction read with read_committed is whole: all six records or
// none, all six for every acknowledged commit and none for every
// acknowledged abort. A final pass rereads every partition from the start,
// so a later crash losing an earlier round's records is caught too.
func TestCrashRounds(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("CRASH_ROUNDS"))
	if rounds <= 0 {
		t.Skip("set CRASH_ROUNDS (make crash) to run")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("CRASH_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	b := harness.Start(t, harness.Options{Settings: map[string]string{
		"group.initial.rebalance.delay.ms": "0",
		// Small segments, so recovery meets many of them.
		"log.segment.bytes": strconv.Itoa(1 << 20),
	}})
	c := &checker{t: t, b: b, acked: map[string][]int{}, seqs: map[string]*seqState{},
		txns: map[string]txnOutcome{}, commits: map[int32]int64{}, dataEnd: map[int32]int64{}, txnEnd: map[int32]int64{}}
	harness.CreateTopic(t, b.Addr(), dataTopic, dataPartitions, nil)
	harness.CreateTopic(t, b.Addr(), txnTopic, 2, nil)

	start := time.Now()
	for r := 1; r <= rounds && !t.Failed(); r++ {
		c.round(r, time.Duration(500+rng.IntN(2500))*time.Millisecond, rng.Float64)
	}
	if !t.Failed() {
		c.final()
	}
	t.Logf("TOTALS after %d rounds in %v: %d records acknowledged, %d lost, %d duplicates, %d out of order; "+
		"%d commits acknowledged, %d offsets regressed; %d transactions committed, %d aborted, %d of unknown outcome, %d partial",
		c.roundsRun, time.Since(start).Round(time.Second), c.total.acked, c.total.lost, c.total.dups, c.total.disorder,
		c.commitAcks, c.total.regressed, c.total.committed, c.total.aborted, c.total.unknown, c.total.partial)
}

const (
	dataTopic      = "crash-data"
	dataPartitions = 4
	txnTopic       = "crash-txn"
	group          = "crash-group"
	producers      = 3
)

type txnOutcome int

const (
	txnUnknown txnOutcome = iota
	txnCommitted
	txnAborted
)

// seqState is what the check has seen of one producer on one partition.
type seqState struct {
	last int
	seen []uint64 // bitset of seqs seen
}

func (s *seqState) has(seq int) bool {
	return seq/64 < len(s.seen) && s.seen[seq/64]&(1<<(seq%64)) != 0
}

func (s *seqState) add(seq int) {
	for seq/64 >= len(s.seen) {
		s.seen = append(s.seen, 0)
	}
	s.seen[seq/64] |= 1 << (seq % 64)
}

type checker struct {
	t *testing.T
	b *harness.Broker

	mu      sync.Mutex
	acked   map[string][]int // "round|producer|partition" -> acknowledged seqs; guarded by mu
	txns    map[string]txnOutcome
	commits map[int32]int64 // partition -> highest acknowledged commit; guarded by mu
	// commitAcks counts partition offsets whose commit was acknowledged;
	// guarded by mu.
	commitAcks int

	seqs    map[string]*seqState // what the reads have seen
	dataEnd map[int32]int64      // checked up to (exclusive), per partition
	txnEnd  map[int32]int64

	roundsRun int
	total     struct {
		acked, lost, dups, disorder int
		regressed                   int
		committed, aborted, unknown int
		partial                     int
	}
}

func (c *checker) ack(key string, seq int) {
	c.mu.Lock()
	c.acked[key] = append(c.acked[key], seq)
	c.mu.Unlock()
}

// round runs one round: load, a kill after killAfter, a restart, progress,
// stop, check.
func (c *checker) round(r int, killAfter time.Duration, coin func() float64) {
	t := c.t
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	var progress [producers + 2]atomic.Int64 // producers, consumer commits, transactions

	// Idempotent producers.
	var prods []*kgo.Client
	for i := range producers {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond), kgo.MaxBufferedRecords(2000),
			kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
		if err != nil {
			t.Fatal(err)
		}
		prods = append(prods, cl)
		wg.Add(1)
		go func() {
			defer wg.Done()
			seq := [dataPartitions]int{}
			// About 2,000 records a second: enough load for every kill
			// to land among writes in flight, little enough that 100
			// rounds stay a few million records.
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for n := 0; ctx.Err() == nil; n++ {
				if n%20 == 0 {
					select {
					case <-tick.C:
					case <-ctx.Done():
						return
					}
				}
				p := int32(n % dataPartitions)
				s := seq[p]
				seq[p]++
				key := fmt.Sprintf("%d|%d|%d", r, i, p)
				rec := &kgo.Record{Topic: dataTopic, Partition: p, Value: fmt.Appendf(nil, "d|%s|%d", key, s)}
				cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
					if err == nil {
						c.ack(key, s)
						progress[i].Add(1)
					}
				})
			}
		}()
	}

	// The group consumer, committing every 100 ms.
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.b.Addr()), kgo.ConsumerGroup(group), kgo.ConsumeTopics(dataTopic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		last := time.Now()
		for ctx.Err() == nil {
			pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			cons.PollFetches(pctx)
			cancel()
			if time.Since(last) < 100*time.Millisecond {
				continue
			}
			last = time.Now()
			done := make(chan struct{})
			cons.CommitOffsets(ctx, cons.UncommittedOffsets(), func(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
				defer close(done)
				if err != nil {
					return
				}
				for i, rt := range resp.Topics {
					for j, rp := range rt.Partitions {
						if rp.ErrorCode != 0 {
							continue
						}
						off := req.Topics[i].Partitions[j].Offset
						c.mu.Lock()
						c.commits[rp.Partition] = max(c.commits[rp.Partition], off)
						c.commitAcks++
						c.mu.Unlock()
						progress[producers].Add(1)
					}
				}
			})
			<-done
		}
	}()

	// The transactional producer.
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.transactions(ctx, r, coin, &progress[producers+1])
	}()

	// The kill: at a random moment chosen by the round, not a wait for
	// something to happen.
	time.Sleep(killAfter)
	var before [len(progress)]int64
	for i := range progress {
		before[i] = progress[i].Load()
	}
	c.b.Kill()
	if os.Getenv("CRASH_SABOTAGE") != "" && r == 1 {
		c.sabotage()
	}
	c.b.Restart()
	harness.Eventually(t, 90*time.Second, func() error {
		for i := range progress {
			need := int64(100)
			if i >= producers {
				need = 2
			}
			if n := progress[i].Load() - before[i]; n < need {
				return fmt.Errorf("round %d: client %d made %d steps since the restart, waiting for %d", r, i, n, need)
			}
		}
		return nil
	})
	stop()
	wg.Wait()
	for _, cl := range prods {
		fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cl.Flush(fctx)
		cancel()
		cl.Close()
	}
	cons.Close()
	c.check(r)
	c.roundsRun++
}

// transactions runs transactions until ctx ends, finishing the one in
// flight; after any error it starts over with a new client (its
// InitProducerId fences the old one and ends its transaction).
func (c *checker) transactions(ctx context.Context, r int, coin func() float64, progress *atomic.Int64) {
	newClient := func() *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.b.Addr()), kgo.TransactionalID("crash-txn"),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(10*time.Second),
			kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
		if err != nil {
			c.t.Error(err)
			return nil
		}
		return cl
	}
	cl := newClient()
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	failed := false
	for n := 0; cl != nil && (ctx.Err() == nil || failed); n++ {
		id := fmt.Sprintf("%d-%d", r, n)
		// Finishing a transaction is not cut short by the round's end;
		// after the end, a failed one is followed by an aborted one on
		// a new client, whose InitProducerId ends the failed one rather
		// than leaving it open until its timeout.
		commit := coin() < 0.7 && ctx.Err() == nil
		tctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		outcome, err := c.oneTxn(tctx, cl, id, commit)
		cancel()
		c.mu.Lock()
		c.txns[id] = outcome
		c.mu.Unlock()
		failed = err != nil
		if failed {
			cl.Close()
			cl = newClient()
			if n > 1000 {
				c.t.Errorf("round %d: transactions keep failing: %v", r, err)
				return
			}
			continue
		}
		progress.Add(1)
	}
}

func (c *checker) oneTxn(ctx context.Context, cl *kgo.Client, id string, commit bool) (txnOutcome, error) {
	if err := cl.BeginTransaction(); err != nil {
		return txnUnknown, err
	}
	var rs []*kgo.Record
	for p := range int32(2) {
		for i := range 3 {
			rs = append(rs, &kgo.Record{Topic: txnTopic, Partition: p, Value: fmt.Appendf(nil, "t|%s|%d|%d", id, p, i)})
		}
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		cl.AbortBufferedRecords(ctx)
		cl.EndTransaction(ctx, kgo.TryAbort)
		return txnUnknown, err
	}
	end := kgo.TryAbort
	if commit {
		end = kgo.TryCommit
	}
	if err := cl.EndTransaction(ctx, end); err != nil {
		return txnUnknown, err
	}
	if commit {
		return txnCommitted, nil
	}
	return txnAborted, nil
}

// check reads what was written since the last round and checks it.
func (c *checker) check(r int) {
	t := c.t
	acl, err := kgo.NewClient(kgo.SeedBrokers(c.b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer acl.Close()
	adm := kadm.NewClient(acl)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Committed offsets never go backwards: the group holds at least
	// every commit that was acknowledged, in this round or before.
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("round %d: fetch offsets: %v", r, err)
	}
	c.mu.Lock()
	commits := map[int32]int64{}
	for p, o := range c.commits {
		commits[p] = o
	}
	c.mu.Unlock()
	regressed := 0
	for p, want := range commits {
		got, ok := offs.Lookup(dataTopic, p)
		if !ok || got.At < want {
			regressed++
			t.Errorf("round %d: partition %d: committed offset %d, but %d was acknowledged", r, p, got.At, want)
		}
	}
	c.total.regressed += regressed

	// Data: new records since the last check.
	lost, dups, disorder, acked := 0, 0, 0, 0
	for p := range int32(dataPartitions) {
		for _, rec := range c.read(dataTopic, p, c.dataEnd[p], false) {
			c.dataEnd[p] = rec.Offset + 1
			d, o := c.see(string(rec.Value), rec.Offset)
			dups += d
			disorder += o
		}
	}
	c.mu.Lock()
	for key, seqs := range c.acked {
		if !strings.HasPrefix(key, strconv.Itoa(r)+"|") {
			continue
		}
		s := c.seqs[key]
		for _, seq := range seqs {
			acked++
			if s == nil || !s.has(seq) {
				lost++
				if lost <= 5 {
					t.Errorf("round %d: acknowledged record d|%s|%d is missing", r, key, seq)
				}
			}
		}
	}
	c.mu.Unlock()

	// Transactions: read committed up to a sentinel written after the
	// last transaction was decided.
	seen := map[string]int{}
	for p := range int32(2) {
		for _, rec := range c.read(txnTopic, p, c.txnEnd[p], true) {
			c.txnEnd[p] = rec.Offset + 1
			v := string(rec.Value)
			if strings.HasPrefix(v, "t|") {
				f := strings.Split(v, "|")
				seen[f[1]]++
			}
		}
	}
	committed, aborted, unknown, partial := 0, 0, 0, 0
	c.mu.Lock()
	for id, outcome := range c.txns {
		if !strings.HasPrefix(id, strconv.Itoa(r)+"-") {
			continue
		}
		n := seen[id]
		switch {
		case n != 0 && n != 6:
			partial++
			t.Errorf("round %d: transaction %s shows %d of its 6 records", r, id, n)
		case outcome == txnCommitted && n != 6:
			partial++
			t.Errorf("round %d: committed transaction %s is missing", r, id)
		case outcome == txnAborted && n != 0:
			partial++
			t.Errorf("round %d: aborted transaction %s is visible", r, id)
		}
		switch outcome {
		case txnCommitted:
			committed++
		case txnAborted:
			aborted++
		default:
			unknown++
		}
	}
	for id := range seen {
		if _, ok := c.txns[id]; !ok {
			t.Errorf("round %d: transaction %s was read but never written", r, id)
		}
	}
	c.mu.Unlock()
	c.total.acked += acked
	c.total.lost += lost
	c.total.dups += dups
	c.total.disorder += disorder
	c.total.committed += committed
	c.total.aborted += aborted
	c.total.unknown += unknown
	c.total.partial += partial
	c.mu.Lock()
	commitAcks := c.commitAcks
	c.mu.Unlock()
	t.Logf("round %d: %d records acknowledged, %d lost, %d duplicates, %d out of order; %d commits acknowledged so far, committed offsets %v, %d regressed; transactions %d committed, %d aborted, %d unknown, %d partial",
		r, acked, lost, dups, disorder, commitAcks, commits, regressed, committed, aborted, unknown, partial)
}

// see records a data record and returns whether it was a duplicate or
// out of order for its producer and partition.
func (c *checker) see(v string, off int64) (dup, disorder int) {
	f := strings.Split(v, "|")
	if len(f) != 5 || f[0] != "d" {
		c.t.Errorf("offset %d holds %q, which no producer wrote", off, v)
		return 0, 0
	}
	key := f[1] + "|" + f[2] + "|" + f[3]
	seq, _ := strconv.Atoi(f[4])
	s := c.seqs[key]
	if s == nil {
		s = &seqState{last: -1}
		c.seqs[key] = s
	}
	switch {
	case s.has(seq):
		c.t.Errorf("record %s stored twice (again at offset %d)", v, off)
		return 1, 0
	case seq < s.last:
		c.t.Errorf("record %s at offset %d comes after seq %d", v, off, s.last)
		disorder = 1
	}
	s.add(seq)
	s.last = max(s.last, seq)
	return 0, disorder
}

// read returns the records of a partition from offset from to its end. With
// committed, it reads with read_committed up to a sentinel record it writes
// first (aborted records and markers leave no record at the end to wait
// for).
func (c *checker) read(topic string, p int32, from int64, committed bool) []*kgo.Record {
	t := c.t
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctl, err := kgo.NewClient(kgo.SeedBrokers(c.b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	opts := []kgo.Opt{kgo.SeedBrokers(c.b.Addr()), kgo.FetchMaxBytes(32 << 20),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(from)}})}
	var sentinel string
	if committed {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		sentinel = fmt.Sprintf("s|%d|%d", time.Now().UnixNano(), p)
		if err := ctl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte(sentinel)}).FirstErr(); err != nil {
			t.Fatalf("sentinel to %s/%d: %v", topic, p, err)
		}
	}
	ends, err := kadm.NewClient(ctl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	end, _ := ends.Lookup(topic, p)
	if end.Offset <= from {
		return nil
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s/%d from %d: %d records, end %d: %v", topic, p, from, len(out), end.Offset, ctx.Err())
		}
		if err := fs.Err(); err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("reading %s/%d: %v", topic, p, err)
		}
		for _, r := range fs.Records() {
			out = append(out, r)
			if committed && string(r.Value) == sentinel || !committed && r.Offset >= end.Offset-1 {
				return out
			}
		}
	}
}

// final rereads every partition from the start: what later rounds' crashes
// could have taken from earlier rounds is checked against everything ever
// acknowledged.
func (c *checker) final() {
	t := c.t
	seen := map[string]*seqState{}
	for p := range int32(dataPartitions) {
		for _, rec := range c.read(dataTopic, p, 0, false) {
			f := strings.Split(string(rec.Value), "|")
			key := f[1] + "|" + f[2] + "|" + f[3]
			seq, _ := strconv.Atoi(f[4])
			if seen[key] == nil {
				seen[key] = &seqState{}
			}
			if seen[key].has(seq) {
				t.Errorf("final pass: %s stored twice", rec.Value)
			}
			seen[key].add(seq)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.acked))
	for k := range c.acked {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lost := 0
	for _, key := range keys {
		for _, seq := range c.acked[key] {
			if seen[key] == nil || !seen[key].has(seq) {
				lost++
			}
		}
	}
	if lost > 0 {
		t.Errorf("final pass: %d acknowledged records missing", lost)
	}
	txnSeen := map[string]int{}
	for p := range int32(2) {
		for _, rec := range c.read(txnTopic, p, 0, true) {
			if f := strings.Split(string(rec.Value), "|"); f[0] == "t" {
				txnSeen[f[1]]++
			}
		}
	}
	partial := 0
	for id, outcome := range c.txns {
		n := txnSeen[id]
		if n != 0 && n != 6 || outcome == txnCommitted && n != 6 || outcome == txnAborted && n != 0 {
			partial++
		}
	}
	if partial > 0 {
		t.Errorf("final pass: %d transactions not whole", partial)
	}
	t.Logf("final pass over every partition: %d acknowledged records missing, %d transactions not whole", lost, partial)
}

// sabotage cuts 4 KiB off the end of partition 0's newest segment while
// the broker is down: CRASH_SABOTAGE=1 shows that the checker does find
// lost records.
func (c *checker) sabotage() {
	segs, _ := filepath.Glob(filepath.Join(c.b.Dir(), dataTopic+"-0", "*.log"))
	sort.Strings(segs)
	if len(segs) == 0 {
		c.t.Fatal("no segment to sabotage")
	}
	last := segs[len(segs)-1]
	fi, err := os.Stat(last)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := os.Truncate(last, max(0, fi.Size()-4096)); err != nil {
		c.t.Fatal(err)
	}
	c.t.Logf("sabotage: cut %s from %d to %d bytes", last, fi.Size(), max(0, fi.Size()-4096))
}
