// Package crash kills a potok process with SIGKILL while producers write
// to it with acks=all, restarts it on the same data directory and port, and
// checks that every acknowledged record is still there exactly once and in
// order, and that an idempotent producer's retries across the restart
// created no duplicates.
package crash

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/potok-io/potok/compat-tests/harness"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMain(m *testing.M) { harness.Main(m) }

// writer produces "p<partition>-<seq>" records with increasing seq to one
// partition and remembers which were acknowledged.
type writer struct {
	partition  int32
	idempotent bool
	cl         *kgo.Client

	mu    sync.Mutex
	acked map[int]bool // guarded by mu
	n     atomic.Int64 // acknowledged so far
	errs  atomic.Int64 // failed records (not acknowledged)
}

func (w *writer) ack(seq int, err error) {
	if err != nil {
		w.errs.Add(1)
		return
	}
	w.mu.Lock()
	w.acked[seq] = true
	w.mu.Unlock()
	w.n.Add(1)
}

// maxSeq bounds each writer, whatever happens.
const maxSeq = 200000

// run produces until ctx ends. A plain writer sends each record at most
// once (no retries), so an acknowledged record must be stored exactly once;
// after a failure it waits for the broker to accept connections again. The
// idempotent writer retries without limit, and the broker must drop its
// duplicates.
func (w *writer) run(ctx context.Context, topic, addr string) {
	for seq := 0; seq < maxSeq && ctx.Err() == nil; {
		if w.idempotent {
			// Batches of 20, one request at a time: a batch in flight
			// at the kill is retried after the restart.
			var rs []*kgo.Record
			for i := 0; i < 20; i++ {
				rs = append(rs, &kgo.Record{Topic: topic, Partition: w.partition, Value: fmt.Appendf(nil, "p%d-%d", w.partition, seq+i)})
			}
			for i, res := range w.cl.ProduceSync(ctx, rs...) {
				w.ack(seq+i, res.Err)
			}
			seq += len(rs)
			continue
		}
		// Plain writers send one record per request, so a failed request
		// fails only that record.
		r := &kgo.Record{Topic: topic, Partition: w.partition, Value: fmt.Appendf(nil, "p%d-%d", w.partition, seq)}
		err := w.cl.ProduceSync(ctx, r).FirstErr()
		w.ack(seq, err)
		seq++
		if err != nil && ctx.Err() == nil {
			harness.Poll(30*time.Second, func() error {
				c, err := net.DialTimeout("tcp", addr, time.Second)
				if err != nil {
					return err
				}
				return c.Close()
			})
		}
	}
}

func TestKillAndRestart(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	const plain = 3
	harness.CreateTopic(t, b.Addr(), topic, plain+1, nil)

	var writers []*writer
	for p := int32(0); p <= plain; p++ {
		w := &writer{partition: p, idempotent: p == plain, acked: map[int]bool{}}
		opts := []kgo.Opt{kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.ProducerLinger(0), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond })}
		if !w.idempotent {
			opts = append(opts, kgo.DisableIdempotentWrite(), kgo.RecordRetries(0))
		}
		w.cl = harness.Client(t, b.Addr(), opts...)
		writers = append(writers, w)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	for _, w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(ctx, topic, b.Addr())
		}()
	}
	stopWriters := func() {
		stop()
		wg.Wait()
		for _, w := range writers {
			fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			w.cl.Flush(fctx)
			cancel()
		}
	}
	defer stopWriters()

	progress := func(min int64) func() error {
		return func() error {
			for _, w := range writers {
				if n := w.n.Load(); n < min {
					return fmt.Errorf("partition %d: %d records acknowledged, waiting for %d", w.partition, n, min)
				}
			}
			return nil
		}
	}
	harness.Eventually(t, 30*time.Second, progress(300))
	b.Kill()
	var atKill []int64
	for _, w := range writers {
		atKill = append(atKill, w.n.Load())
	}
	b.Restart()
	// Every writer must get going again after the restart.
	harness.Eventually(t, 60*time.Second, func() error {
		for i, w := range writers {
			if n := w.n.Load(); n < atKill[i]+300 {
				return fmt.Errorf("partition %d: %d acknowledged since the restart, waiting for 300", w.partition, n-atKill[i])
			}
		}
		return nil
	})
	stopWriters()

	for i, w := range writers {
		w.mu.Lock()
		acked := w.acked
		w.mu.Unlock()
		kind := "plain"
		if w.idempotent {
			kind = "idempotent"
		}
		t.Run(fmt.Sprintf("partition%d-%s", w.partition, kind), func(t *testing.T) {
			recs := harness.ReadPartition(t, b.Addr(), topic, w.partition)
			seen := map[int]int{}
			last, outOfOrder, dups := -1, 0, 0
			for _, r := range recs {
				seq, err := strconv.Atoi(strings.TrimPrefix(string(r.Value), fmt.Sprintf("p%d-", w.partition)))
				if err != nil {
					t.Fatalf("offset %d holds %q, which no writer of partition %d wrote", r.Offset, r.Value, w.partition)
				}
				seen[seq]++
				if seen[seq] > 1 {
					dups++
				} else if seq < last {
					outOfOrder++
				}
				last = max(last, seq)
			}
			var lost []int
			for seq := range acked {
				if seen[seq] == 0 {
					lost = append(lost, seq)
				}
			}
			sort.Ints(lost)
			t.Logf("%d acknowledged (%d before the kill), %d failed, %d stored", len(acked), atKill[i], w.errs.Load(), len(recs))
			if len(lost) > 0 {
				t.Errorf("%d acknowledged records are missing after the crash, e.g. seq %v", len(lost), lost[:min(len(lost), 10)])
			}
			if dups > 0 {
				t.Errorf("%d records are stored more than once", dups)
			}
			if outOfOrder > 0 {
				t.Errorf("%d records are stored out of order", outOfOrder)
			}
		})
	}
}

// TestStopAndRestart stops the broker cleanly (SIGTERM) after acknowledged
// writes to several partitions and checks that all of them, and the log
// end offsets, are there after the restart, and that writing continues at
// the old end.
func TestStopAndRestart(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 3, nil)
	cl := harness.Client(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	want := map[int32][]string{}
	var rs []*kgo.Record
	for p := int32(0); p < 3; p++ {
		for i := 0; i < 50; i++ {
			v := fmt.Sprintf("p%d-%d", p, i)
			want[p] = append(want[p], v)
			rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)})
		}
	}
	if err := cl.ProduceSync(harness.Ctx(t, 30*time.Second), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	b.Restart()
	harness.CheckPartitions(t, b.Addr(), topic, want)
	if err := cl.ProduceSync(harness.Ctx(t, 30*time.Second), &kgo.Record{Topic: topic, Partition: 0, Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("producing after the restart: %v", err)
	}
	want[0] = append(want[0], "after")
	harness.CheckPartitions(t, b.Addr(), topic, want)
}
