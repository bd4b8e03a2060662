package broker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/potok-io/potok/logstore"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestTransactionsCommitAndAbort(t *testing.T) {
	b := testBroker(t)
	createTopic(t, b, "tx", 2, nil)
	p := newClient(t, b, kgo.TransactionalID("producer-1"), kgo.DefaultProduceTopic("tx"), kgo.TransactionTimeout(10*time.Second))
	ctx := ctxT(t)
	produceTxn := func(prefix string, n int, commit bool) {
		t.Helper()
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			if err := p.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("%s-%d", prefix, i))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	produceTxn("committed", 10, true)
	produceTxn("aborted", 10, false)
	produceTxn("later", 5, true)

	committed := consume(t, b, "tx", 15, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	for _, r := range committed {
		if len(r.Value) >= 7 && string(r.Value[:7]) == "aborted" {
			t.Fatalf("read_committed consumer saw aborted record %s", r.Value)
		}
	}
	if len(committed) != 15 {
		t.Fatalf("read_committed: %d records, want 15", len(committed))
	}
	all := consume(t, b, "tx", 25, kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
	if len(all) != 25 {
		t.Fatalf("read_uncommitted: %d records, want 25", len(all))
	}

	// The transaction's state is visible to admin tools.
	adm := kadm.NewClient(newClient(t, b))
	eventually(t, 5*time.Second, "the last transaction completes", func() error {
		desc, err := adm.DescribeTransactions(ctx, "producer-1")
		if err != nil {
			return err
		}
		if d, ok := desc["producer-1"]; !ok || d.State != "CompleteCommit" || len(d.Topics) != 0 {
			return fmt.Errorf("describe: %+v", desc)
		}
		return nil
	})
}

func TestTransactionZombieIsFenced(t *testing.T) {
	b := testBroker(t)
	createTopic(t, b, "fence", 1, nil)
	ctx := ctxT(t)
	old := newClient(t, b, kgo.TransactionalID("same"), kgo.DefaultProduceTopic("fence"), kgo.RecordRetries(1))
	if err := old.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := old.ProduceSync(ctx, &kgo.Record{Value: []byte("zombie")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// A new incarnation with the same id aborts the open transaction and
	// fences the old producer.
	fresh := newClient(t, b, kgo.TransactionalID("same"), kgo.DefaultProduceTopic("fence"))
	if err := fresh.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := fresh.ProduceSync(ctx, &kgo.Record{Value: []byte("fresh")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := fresh.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if err := old.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("the zombie committed")
	}
	got := consume(t, b, "fence", 1, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if string(got[0].Value) != "fresh" {
		t.Fatalf("read_committed saw %s", got[0].Value)
	}
}

// TestExactlyOncePipeline runs franz-go's GroupTransactSession: consume an
// input topic, transform, produce to an output topic with offsets committed
// in the same transaction; the output holds each input exactly once.
func TestExactlyOncePipeline(t *testing.T) {
	b := testBroker(t, "group.initial.rebalance.delay.ms=0")
	createTopic(t, b, "in", 3, nil)
	createTopic(t, b, "out", 3, nil)
	ctx := ctxT(t)
	const n = 300
	p := newClient(t, b, kgo.DefaultProduceTopic("in"))
	for i := 0; i < n; i++ {
		p.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprint(i))}, nil)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(b.addr()), kgo.TransactionalID("eos"), kgo.ConsumerGroup("eos-group"), kgo.ConsumeTopics("in"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.DefaultProduceTopic("out"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.SessionTimeout(6*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	done := 0
	for done < n {
		fs := sess.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("processed %d of %d", done, n)
		}
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			sess.Produce(ctx, &kgo.Record{Key: r.Key, Value: append([]byte("out-"), r.Value...)}, nil)
		})
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			t.Fatal(err)
		}
		if committed {
			done += len(fs.Records())
		}
	}
	out := consume(t, b, "out", n, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	seen := map[string]int{}
	for _, r := range out {
		seen[string(r.Value)]++
	}
	var dups []string
	for v, c := range seen {
		if c > 1 {
			dups = append(dups, v)
		}
	}
	sort.Strings(dups)
	if len(seen) != n || len(dups) > 0 {
		t.Fatalf("%d distinct outputs of %d, duplicates %v", len(seen), n, dups)
	}
	adm := kadm.NewClient(newClient(t, b))
	offs, err := adm.FetchOffsets(context.Background(), "eos-group")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	offs.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != n {
		t.Fatalf("committed offsets sum to %d, want %d", total, n)
	}
}

// TestTransactionalIDExpires: an id idle for transactional.id.expiration.ms
// is forgotten (ListTransactions and DescribeTransactions no longer show
// it, also after a restart), and a producer using it again starts afresh
// with a new producer id.
func TestTransactionalIDExpires(t *testing.T) {
	dir := t.TempDir()
	settings := []string{"transactional.id.expiration.ms=1000", "transaction.remove.expired.transaction.cleanup.interval.ms=100"}
	b := startBroker(t, dir, settings...)
	createTopic(t, b, "exp", 1, nil)
	ctx := ctxT(t)
	commitOne := func(b *Broker) int64 {
		t.Helper()
		p := newClient(t, b, kgo.TransactionalID("fleeting"), kgo.DefaultProduceTopic("exp"))
		defer p.Close()
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
		pid, _, err := p.ProducerID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}
	adm := kadm.NewClient(newClient(t, b))
	first := commitOne(b)
	listed := func(adm *kadm.Client) (bool, error) {
		l, err := adm.ListTransactions(ctx, nil, nil)
		if err != nil {
			return false, err
		}
		_, ok := l["fleeting"]
		return ok, nil
	}
	gone := func() error {
		if ok, err := listed(adm); err != nil || ok {
			return fmt.Errorf("still listed (%v)", err)
		}
		return nil
	}
	if ok, err := listed(adm); err != nil || !ok {
		t.Fatalf("fleeting not listed after its commit: %v", err)
	}
	eventually(t, 10*time.Second, "the idle id expires", gone)
	desc, err := adm.DescribeTransactions(ctx, "fleeting")
	if err != nil {
		t.Fatal(err)
	}
	if d := desc["fleeting"]; !errors.Is(d.Err, kerr.TransactionalIDNotFound) {
		t.Fatalf("an expired id is described with %v, want TRANSACTIONAL_ID_NOT_FOUND", d.Err)
	}
	second := commitOne(b)
	if second == first {
		t.Fatalf("the id kept producer id %d after expiring", first)
	}
	// After a restart the replayed tombstone keeps the id forgotten once
	// it expires again.
	eventually(t, 10*time.Second, "the id expires again", gone)
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	b2 := startBroker(t, dir, append(settings, "transaction.remove.expired.transaction.cleanup.interval.ms=3600000")...)
	if ok, err := listed(kadm.NewClient(newClient(t, b2))); err != nil || ok {
		t.Fatalf("an expired id is back after a restart (listed %v, %v)", ok, err)
	}
}

// TestPreparedCommitResumedAtStartup: a commit prepared on
// __transaction_state whose marker did not reach __consumer_offsets before
// the broker stopped is finished when the broker starts again, and its
// offsets are what OffsetFetch without require_stable answers (kafkajs and
// sarama read offsets so). The marker is written while __consumer_offsets
// loads; a replay that stops before it must not lose it, or the group goes
// back to its offsets from before the transaction and processes its input
// again.
func TestPreparedCommitResumedAtStartup(t *testing.T) {
	dir := t.TempDir()
	var logs lockedBuffer
	b, ffs := startFaultBroker(t, dir, &logs)
	createTopic(t, b, "in", 1, nil)
	ctx := ctxT(t)
	cl := newClient(t, b)

	initReq := kmsg.NewPtrInitProducerIDRequest()
	initReq.Version, initReq.TransactionalID, initReq.TransactionTimeoutMillis = 4, kmsg.StringPtr("prepared"), 60000
	initResp, err := initReq.RequestWith(ctx, cl)
	if err != nil || initResp.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v %v", err, kerr.ErrorForCode(initResp.ErrorCode))
	}
	pid, epoch := initResp.ProducerID, initResp.ProducerEpoch
	addReq := kmsg.NewPtrAddOffsetsToTxnRequest()
	addReq.Version, addReq.TransactionalID, addReq.ProducerID, addReq.ProducerEpoch, addReq.Group = 3, "prepared", pid, epoch, "resumed"
	if resp, err := addReq.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("AddOffsetsToTxn: %v %v", err, resp)
	}
	commitReq := kmsg.NewPtrTxnOffsetCommitRequest()
	commitReq.Version, commitReq.TransactionalID, commitReq.Group = 3, "prepared", "resumed"
	commitReq.ProducerID, commitReq.ProducerEpoch, commitReq.Generation = pid, epoch, -1
	ct := kmsg.NewTxnOffsetCommitRequestTopic()
	ct.Topic = "in"
	cp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	cp.Partition, cp.Offset, cp.LeaderEpoch = 0, 5, -1
	ct.Partitions = append(ct.Partitions, cp)
	commitReq.Topics = append(commitReq.Topics, ct)
	commitResp, err := commitReq.RequestWith(ctx, cl)
	if err != nil || commitResp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("TxnOffsetCommit: %v %v", err, commitResp)
	}

	// The commit is prepared, but its marker cannot be written to
	// __consumer_offsets: EndTxn is not answered (Potok answers once the
	// markers are written) and the marker is retried until the broker
	// stops.
	ffs.SetFault(logstore.FaultWriteError, "__consumer_offsets")
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		end := kmsg.NewPtrEndTxnRequest()
		end.Version, end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = 3, "prepared", pid, epoch, true
		end.RequestWith(ctx, cl) // fails when cl closes
	}()
	adm := kadm.NewClient(cl)
	state := func(adm *kadm.Client, want string) func() error {
		return func() error {
			d, err := adm.DescribeTransactions(ctx, "prepared")
			if err != nil {
				return err
			}
			if got := d["prepared"].State; got != want {
				return fmt.Errorf("the transaction is %s, want %s", got, want)
			}
			return nil
		}
	}
	eventually(t, 10*time.Second, "the commit to be prepared", state(adm, "PrepareCommit"))
	eventually(t, 10*time.Second, "a failed marker write", func() error {
		if ffs.Hits() == 0 {
			return errors.New("no write to __consumer_offsets failed yet")
		}
		return nil
	})
	cl.Close()
	<-ended
	if err := b.Shutdown(ctx); err != nil {
		t.Logf("shutdown with a failing disk: %v", err)
	}

	b2 := startBroker(t, dir)
	cl2 := newClient(t, b2)
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version, fetch.Group = 5, "resumed" // before require_stable
	ft := kmsg.NewOffsetFetchRequestTopic()
	ft.Topic, ft.Partitions = "in", []int32{0}
	fetch.Topics = append(fetch.Topics, ft)
	eventually(t, 10*time.Second, "the transaction's offset", func() error {
		resp, err := fetch.RequestWith(ctx, cl2)
		if err != nil {
			return err
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return err
		}
		p := resp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
			return err
		}
		if p.Offset != 5 {
			return fmt.Errorf("committed offset %d, want 5", p.Offset)
		}
		return nil
	})
	eventually(t, 10*time.Second, "the commit to complete", state(kadm.NewClient(cl2), "CompleteCommit"))
}
