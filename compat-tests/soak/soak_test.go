// Package soak runs mixed load on a real potok process for SOAK_DURATION
// (make soak) and fails if its memory, goroutines or file descriptors keep
// growing after the warm-up.
package soak

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/potok-io/potok/compat-tests/harness"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestMain(m *testing.M) { harness.Main(m) }

const (
	topic      = "soak"
	partitions = 6
)

// sample is one look at the broker process.
type sample struct {
	at         time.Duration
	proc       harness.Usage
	goroutines int
}

// load counts what the clients did, for the report.
type load struct {
	produced, produceErrs atomic.Int64
	consumed              atomic.Int64
	joins, topics, conns  atomic.Int64
	txns, txnErrs         atomic.Int64
	shortLived, shortErrs atomic.Int64
}

// TestSoak: two idempotent producers (about 2,000 records a second between
// them), a consumer group of two members committing automatically, a second
// group whose members join and leave every few seconds, short-lived
// producers, a transactional producer, topics created and deleted, and bare
// connections opened and closed, for SOAK_DURATION. The broker's anonymous
// memory, total RSS, goroutines and fds are sampled every 5 s; the median
// of the minute after the warm-up (the first fifth of the run, at least two
// minutes) is compared with the median of the last minute.
//
// Tolerances: anonymous memory may differ by 25% + 16 MiB (the heap moves
// between its live size and twice that between collections, so medians of
// a minute still wander); RSS by 50% + 32 MiB (it also holds the pages of
// mapped segments, which retention replaces as the log turns over);
// goroutines and fds by 10% + 20 (a sample lands among connections and
// segments being opened and closed by the churn). A leak of one goroutine
// or one fd per churn step (every 100 ms) would grow them by 600 a minute.
func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("SOAK_DURATION"))
	if err != nil || d <= 0 {
		t.Skip("set SOAK_DURATION (make soak) to run")
	}
	warmup := max(d/5, 2*time.Minute)
	if d < warmup+2*time.Minute {
		t.Fatalf("SOAK_DURATION %v is too short: the warm-up (%v) and two minutes to compare are needed", d, warmup)
	}
	b := harness.Start(t, harness.Options{Settings: map[string]string{
		"potok.http.listener":              "127.0.0.1:0",
		"group.initial.rebalance.delay.ms": "0",
		"log.retention.check.interval.ms":  "5000",
		"auto.create.topics.enable":        "false",
	}})
	// Retention keeps the log, and so its fds and the mapped pages that
	// count in RSS, bounded: 4 MiB of 1 MiB segments per partition, which
	// the producers fill within the first minute.
	seg, ret := strconv.Itoa(1<<20), strconv.Itoa(4<<20)
	harness.CreateTopic(t, b.Addr(), topic, partitions, map[string]*string{"segment.bytes": &seg, "retention.bytes": &ret})

	ctx, stop := context.WithTimeout(context.Background(), d)
	defer stop()
	var l load
	var wg sync.WaitGroup
	run := func(f func(context.Context, *harness.Broker, *load)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx, b, &l) }()
	}
	run(producer)
	run(producer)
	run(groupMember)
	run(groupMember)
	run(groupChurn)
	run(shortLivedProducers)
	run(transactions)
	run(topicChurn)
	run(connectionChurn)

	// Every kind of load must keep making progress: a client stuck on
	// the broker is a failure too (a transaction hung this way once).
	counters := map[string]*atomic.Int64{"produced": &l.produced, "consumed": &l.consumed, "group joins": &l.joins,
		"topics": &l.topics, "connections": &l.conns, "transactions": &l.txns, "short-lived producers": &l.shortLived}
	seen := map[string]int64{}
	var samples []sample
	start := time.Now()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
		}
		p, err := b.Usage()
		if err != nil {
			t.Fatalf("the broker is gone: %v", err)
		}
		g, err := b.Metric("go_goroutines")
		if err != nil {
			t.Fatalf("goroutines: %v", err)
		}
		s := sample{at: time.Since(start).Round(time.Second), proc: p, goroutines: int(g)}
		samples = append(samples, s)
		if len(samples)%12 == 0 && !done {
			for name, c := range counters {
				if n := c.Load(); n == seen[name] {
					t.Errorf("%v: no %s in the last minute (%d in all)", s.at, name, n)
				} else {
					seen[name] = n
				}
			}
		}
		if len(samples)%12 == 0 {
			t.Logf("%v: %v, %d goroutines; produced %d (%d errors), consumed %d, %d joins, %d topics, %d connections, %d transactions (%d errors), %d short-lived producers (%d errors)",
				s.at, p, s.goroutines, l.produced.Load(), l.produceErrs.Load(), l.consumed.Load(), l.joins.Load(), l.topics.Load(),
				l.conns.Load(), l.txns.Load(), l.txnErrs.Load(), l.shortLived.Load(), l.shortErrs.Load())
		}
	}
	stopped := make(chan struct{})
	go func() { wg.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(2 * time.Minute):
		t.Fatal("the load's clients did not stop within 2 minutes of the end: one is stuck")
	}

	window := func(from, to time.Duration) []sample {
		var out []sample
		for _, s := range samples {
			if s.at >= from && s.at < to {
				out = append(out, s)
			}
		}
		return out
	}
	first := window(warmup, warmup+time.Minute)
	last := window(d-time.Minute, d+time.Hour)
	type metric struct {
		name          string
		get           func(sample) float64
		ratio, offset float64
		unit          string
	}
	mib := func(v int64) float64 { return float64(v) / (1 << 20) }
	metrics := []metric{
		{"anonymous memory", func(s sample) float64 { return mib(s.proc.Anon) }, 0.25, 16, "MiB"},
		{"RSS", func(s sample) float64 { return mib(s.proc.RSS) }, 0.5, 32, "MiB"},
		{"goroutines", func(s sample) float64 { return float64(s.goroutines) }, 0.10, 20, ""},
		{"file descriptors", func(s sample) float64 { return float64(s.proc.FDs) }, 0.10, 20, ""},
	}
	t.Logf("load over %v: produced %d records (%d errors), consumed %d, %d group joins, %d topics created and deleted, %d bare connections, %d transactions (%d errors), %d short-lived producers (%d errors)",
		d, l.produced.Load(), l.produceErrs.Load(), l.consumed.Load(), l.joins.Load(), l.topics.Load(), l.conns.Load(),
		l.txns.Load(), l.txnErrs.Load(), l.shortLived.Load(), l.shortErrs.Load())
	for _, m := range metrics {
		a, z := median(first, m.get), median(last, m.get)
		peak := slices.MaxFunc(samples, func(x, y sample) int { return cmpf(m.get(x), m.get(y)) })
		t.Logf("%s: %.1f%s after the warm-up (median of %v-%v), %.1f%s at the end (median of the last minute); peak %.1f%s at %v",
			m.name, a, m.unit, warmup, warmup+time.Minute, z, m.unit, m.get(peak), m.unit, peak.at)
		if z > a*(1+m.ratio)+m.offset {
			t.Errorf("%s grew from %.1f to %.1f%s, beyond %.0f%% + %.0f", m.name, a, z, m.unit, 100*m.ratio, m.offset)
		}
	}
	if l.produceErrs.Load() > 0 {
		t.Errorf("%d records failed to produce", l.produceErrs.Load())
	}
	if l.consumed.Load() == 0 || l.joins.Load() == 0 || l.txns.Load() == 0 {
		t.Error("part of the load did nothing")
	}
}

func median(ss []sample, get func(sample) float64) float64 {
	if len(ss) == 0 {
		return 0
	}
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = get(s)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

func cmpf(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func newClient(b *harness.Broker, opts ...kgo.Opt) *kgo.Client {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr()), kgo.MetadataMinAge(time.Second)}, opts...)...)
	if err != nil {
		panic("BUG: kgo options: " + err.Error())
	}
	return cl
}

// producer writes about 1,000 records of 200 random bytes a second,
// uncompressed, idempotent, acks=all: 200 KB/s that retention must keep
// turning over.
func producer(ctx context.Context, b *harness.Broker, l *load) {
	cl := newClient(b, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	defer cl.Close()
	val := make([]byte, 200)
	crand.Read(val)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			cl.Flush(fctx)
			cancel()
			return
		case <-tick.C:
		}
		for range 10 {
			cl.Produce(ctx, &kgo.Record{Topic: topic, Value: val}, func(_ *kgo.Record, err error) {
				switch {
				case err == nil:
					l.produced.Add(1)
				case ctx.Err() == nil:
					l.produceErrs.Add(1)
				}
			})
		}
	}
}

// groupMember consumes in group soak-steady, committing automatically.
func groupMember(ctx context.Context, b *harness.Broker, l *load) {
	cl := newClient(b, kgo.ConsumerGroup("soak-steady"), kgo.ConsumeTopics(topic), kgo.AutoCommitInterval(time.Second))
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		l.consumed.Add(int64(fs.NumRecords()))
	}
}

// groupChurn keeps two or three members in group soak-churn, starting a
// new one and closing the oldest every 3 s: a rebalance each time.
func groupChurn(ctx context.Context, b *harness.Broker, l *load) {
	type member struct {
		cl   *kgo.Client
		done chan struct{}
	}
	var members []member
	defer func() {
		for _, m := range members {
			m.cl.Close()
			<-m.done
		}
	}()
	tick := time.NewTicker(3 * time.Second)
	defer tick.Stop()
	for {
		cl := newClient(b, kgo.ConsumerGroup("soak-churn"), kgo.ConsumeTopics(topic), kgo.AutoCommitInterval(500*time.Millisecond),
			kgo.SessionTimeout(6*time.Second), kgo.RebalanceTimeout(6*time.Second))
		m := member{cl: cl, done: make(chan struct{})}
		go func() {
			defer close(m.done)
			for {
				fs := cl.PollFetches(ctx)
				if fs.IsClientClosed() || ctx.Err() != nil {
					return
				}
				l.consumed.Add(int64(fs.NumRecords()))
			}
		}()
		members = append(members, m)
		l.joins.Add(1)
		if len(members) > 2 {
			members[0].cl.Close()
			<-members[0].done
			members = members[1:]
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// shortLivedProducers connects, produces ten records and disconnects, every
// 500 ms.
func shortLivedProducers(ctx context.Context, b *harness.Broker, l *load) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cl := newClient(b)
		var rs []*kgo.Record
		for i := range 10 {
			rs = append(rs, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))})
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := cl.ProduceSync(pctx, rs...).FirstErr(); err != nil && ctx.Err() == nil {
			l.shortErrs.Add(1)
		}
		cancel()
		cl.Close()
		l.shortLived.Add(1)
	}
}

// transactions commits (or, one in four, aborts) a transaction of five
// records every 100 ms.
func transactions(ctx context.Context, b *harness.Broker, l *load) {
	cl := newClient(b, kgo.TransactionalID("soak-txn"), kgo.TransactionTimeout(10*time.Second))
	defer cl.Close()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		tctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := cl.BeginTransaction()
		if err == nil {
			var rs []*kgo.Record
			for i := range 5 {
				rs = append(rs, &kgo.Record{Topic: topic, Value: []byte("txn-" + strconv.Itoa(i))})
			}
			err = cl.ProduceSync(tctx, rs...).FirstErr()
			end := kgo.TryCommit
			if err != nil || n%4 == 3 {
				end = kgo.TryAbort
				cl.AbortBufferedRecords(tctx)
			}
			if eerr := cl.EndTransaction(tctx, end); err == nil {
				err = eerr
			}
		}
		cancel()
		if err != nil {
			l.txnErrs.Add(1)
			cl.Close()
			cl = newClient(b, kgo.TransactionalID("soak-txn"), kgo.TransactionTimeout(10*time.Second))
			continue
		}
		l.txns.Add(1)
	}
}

// topicChurn creates a topic, writes to it and deletes it, every 5 s.
func topicChurn(ctx context.Context, b *harness.Broker, l *load) {
	cl := newClient(b)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		name := fmt.Sprintf("soak-tmp-%d", n)
		if _, err := adm.CreateTopic(ctx, 2, 1, nil, name); err != nil {
			continue
		}
		cl.ProduceSync(ctx, &kgo.Record{Topic: name, Value: []byte("x")})
		adm.DeleteTopic(ctx, name)
		l.topics.Add(1)
	}
}

// connectionChurn opens a bare connection, asks for ApiVersions, and
// closes it, every 100 ms; one in ten closes without reading the answer,
// one in ten sends half a request first.
func connectionChurn(ctx context.Context, b *harness.Broker, l *load) {
	rng := rand.New(rand.NewPCG(1, 2))
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var f kmsg.RequestFormatter
	req := f.AppendRequest(nil, kmsg.NewPtrApiVersionsRequest(), 1)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		c, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
		if err != nil {
			continue
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		switch x := rng.IntN(10); {
		case x == 0:
			c.Write(req[:len(req)/2])
		case x == 1:
			c.Write(req)
		default:
			c.Write(req)
			var size [4]byte
			if _, err := c.Read(size[:]); err == nil {
				buf := make([]byte, binary.BigEndian.Uint32(size[:]))
				c.Read(buf)
			}
		}
		c.Close()
		l.conns.Add(1)
	}
}
