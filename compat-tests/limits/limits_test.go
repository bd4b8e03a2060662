// Package limits abuses a real potok process the ways a hostile or broken
// client can (oversize and garbage frames, thousands of connections, a
// client that never reads, decompression bombs, idle and half-open
// connections, more request bytes than the broker queues) and checks that
// the broker keeps serving other clients and that its memory stays bounded.
// Memory is the anonymous part of the process's RSS, sampled from /proc
// every few milliseconds: the pages of memory-mapped segments count in RSS
// too, but belong to the page cache.
package limits

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/potok-io/potok/compat-tests/harness"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestMain(m *testing.M) { harness.Main(m) }

const mib = 1 << 20

func start(t *testing.T, settings map[string]string) *harness.Broker {
	t.Helper()
	return harness.Start(t, harness.Options{Settings: settings})
}

// serves checks that a fresh franz-go client can write a record and read
// it back within 15 s.
func serves(t *testing.T, addr, topic string) {
	t.Helper()
	if err := servesErr(addr, topic); err != nil {
		t.Fatalf("a new client is not served: %v", err)
	}
}

func servesErr(addr, topic string, opts ...kgo.Opt) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	val := strconv.FormatInt(time.Now().UnixNano(), 10)
	r := &kgo.Record{Topic: topic, Partition: 0, Value: []byte(val)}
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	rd, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {0: kgo.NewOffset().At(r.Offset)}})}, opts...)...)
	if err != nil {
		return err
	}
	defer rd.Close()
	fs := rd.PollFetches(ctx)
	if err := fs.Err(); err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	if recs := fs.Records(); len(recs) == 0 || string(recs[0].Value) != val {
		return fmt.Errorf("fetch returned %d records", len(recs))
	}
	return nil
}

// closedWithin reports whether the broker closes c within d (reading and
// discarding whatever it sends).
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func frame(req kmsg.Request, corr int32) []byte {
	var f kmsg.RequestFormatter
	return f.AppendRequest(nil, req, corr)
}

// sample starts sampling the broker's process every 5 ms.
func sample(t *testing.T, b *harness.Broker) (harness.Usage, *harness.Sampler) {
	t.Helper()
	base, err := b.Usage()
	if err != nil {
		t.Fatal(err)
	}
	return base, harness.SampleUsage(b.PID(), 5*time.Millisecond)
}

func anonGrowth(base, peak harness.Usage) float64 { return float64(peak.Anon-base.Anon) / mib }

// TestOversizeAndGarbageFrames: frames above socket.request.max.bytes, a
// TLS ClientHello on the plaintext port, negative sizes and non-Produce
// frames above 8 MiB close their connection before anything is allocated;
// legal 100 MiB Produce frames whose bodies never come cost no resident
// memory; other clients are served throughout.
func TestOversizeAndGarbageFrames(t *testing.T) {
	b := start(t, nil)
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 1, nil)
	size := func(n uint32, rest ...byte) []byte { return append(binary.BigEndian.AppendUint32(nil, n), rest...) }
	base, s := sample(t, b)
	cases := []struct {
		name string
		raw  []byte
	}{
		{"2 GiB", size(1<<31 - 1)},
		{"100 MiB + 1", size(100*mib+1, 0, 0, 0, 7)},
		{"negative", size(0xffffffff)},
		{"TLS ClientHello", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}},
		{"9 MiB Metadata", size(9*mib, 0, 3, 0, 9, 0, 0, 0, 1)},
		{"9 MiB ApiVersions", size(9*mib, 0, 18, 0, 3, 0, 0, 0, 1)},
	}
	for _, tc := range cases {
		c := dial(t, b.Addr())
		c.Write(tc.raw)
		if !closedWithin(c, 5*time.Second) {
			t.Errorf("%s: connection still open after 5 s", tc.name)
		}
	}
	// Five legal Produce frames of 100 MiB whose bodies never arrive:
	// the budget (1 GiB) is charged, the memory is not touched.
	for range 5 {
		c := dial(t, b.Addr())
		c.Write(size(100*mib, 0, 0, 0, 7, 0, 0, 0, 1, 0xff, 0xff))
	}
	serves(t, b.Addr(), topic)
	peak := s.Stop()
	t.Logf("before: %v; peak: %v; anonymous memory grew by %.1f MiB", base, peak, anonGrowth(base, peak))
	if anonGrowth(base, peak) > 48 {
		t.Fatalf("anonymous memory grew by %.1f MiB", anonGrowth(base, peak))
	}
}

// TestMaxConnections: 2,000 connections against max.connections=1000. The
// broker holds at most 1,000 (the rest wait in the listen backlog, as with
// Kafka), a client connected before keeps being served, and the waiting
// connections are served as soon as others close.
func TestMaxConnections(t *testing.T) {
	b := start(t, map[string]string{"max.connections": "1000", "potok.http.listener": "127.0.0.1:0"})
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 1, nil)
	steady := harness.Client(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := steady.ProduceSync(harness.Ctx(t, 10*time.Second), &kgo.Record{Topic: topic, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	base, s := sample(t, b)
	const flood = 2000
	conns := make([]net.Conn, flood)
	for i := range conns {
		conns[i] = dial(t, b.Addr())
	}
	// Each asks for ApiVersions; the accepted ones are answered.
	answered := make([]atomic.Bool, flood)
	ask := func(i int, wait time.Duration) {
		c := conns[i]
		c.SetDeadline(time.Now().Add(wait))
		var hdr [8]byte
		if _, err := io.ReadFull(c, hdr[:]); err == nil {
			answered[i].Store(true)
			io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(hdr[:]))-4)
		}
	}
	var wg sync.WaitGroup
	for i, c := range conns {
		c.Write(frame(kmsg.NewPtrApiVersionsRequest(), int32(i)))
		wg.Add(1)
		go func() { defer wg.Done(); ask(i, 10*time.Second) }()
	}
	// The client connected before the flood is served meanwhile.
	for i := range 20 {
		if err := steady.ProduceSync(harness.Ctx(t, 10*time.Second), &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("the client connected before the flood: %v", err)
		}
	}
	wg.Wait()
	var served []int
	for i := range answered {
		if answered[i].Load() {
			served = append(served, i)
		}
	}
	during, _ := b.Usage()
	t.Logf("%d of %d connections served; broker: %v (before: %v)", len(served), flood, during, base)
	// The steady client and the admin client that created the topic
	// hold a few of the 1,000.
	if len(served) > 1000 || len(served) < 990 {
		t.Fatalf("%d connections served under max.connections=1000", len(served))
	}
	if during.FDs > base.FDs+1000 {
		t.Fatalf("the broker holds %d fds, %d before the flood", during.FDs, base.FDs)
	}
	// Closing the served ones lets the waiting ones in.
	for _, i := range served {
		conns[i].Close()
	}
	var late atomic.Int64
	for i := range conns {
		if !answered[i].Load() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ask(i, 15*time.Second)
				if answered[i].Load() {
					late.Add(1)
					conns[i].Close() // make room for the next
				}
			}()
		}
	}
	wg.Wait()
	peak := s.Stop()
	t.Logf("after closing them, %d of the %d waiting were served; peak %v, anonymous memory grew by %.1f MiB",
		late.Load(), flood-len(served), peak, anonGrowth(base, peak))
	if int(late.Load()) != flood-len(served) {
		t.Fatalf("%d of %d waiting connections were served", late.Load(), flood-len(served))
	}
	// About 40 KiB per connection (two goroutines, a 32 KiB read buffer).
	if anonGrowth(base, peak) > 160 {
		t.Fatalf("anonymous memory grew by %.1f MiB for 1,000 connections", anonGrowth(base, peak))
	}
	for _, c := range conns {
		c.Close()
	}
	serves(t, b.Addr(), topic)
}

// TestMaxConnectionsPerIP: 2,000 connections from one address against
// max.connections.per.ip=1000: the excess is closed at once, and a client
// from another address (127.0.0.2) is served.
func TestMaxConnectionsPerIP(t *testing.T) {
	b := start(t, map[string]string{"max.connections.per.ip": "1000"})
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 1, nil)
	base, s := sample(t, b)
	const flood = 2000
	conns := make([]net.Conn, flood)
	for i := range conns {
		conns[i] = dial(t, b.Addr())
	}
	var closed atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if closedWithin(c, 3*time.Second) {
				closed.Add(1)
			}
		}()
	}
	wg.Wait()
	other := kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
		return d.DialContext(ctx, network, host)
	})
	if err := servesErr(b.Addr(), topic, other); err != nil {
		t.Fatalf("a client from 127.0.0.2: %v", err)
	}
	peak := s.Stop()
	t.Logf("%d of %d connections from 127.0.0.1 closed at once; peak %v (before %v)", closed.Load(), flood, peak, base)
	// The admin client that created the topic holds a connection or two
	// from 127.0.0.1 as well.
	if n := closed.Load(); n < flood-1000 || n > flood-1000+4 {
		t.Fatalf("%d connections closed, want %d", n, flood-1000)
	}
	if peak.FDs > base.FDs+1000+20 {
		t.Fatalf("%d fds held (%d before)", peak.FDs, base.FDs)
	}
}

// TestSlowReader: a client pipelines 500 Fetch requests for 1 MiB each and
// never reads. The broker holds one response for it (the rest waits in the
// socket), keeps serving others, and closes it once a write has been stuck
// for connections.max.idle.ms.
func TestSlowReader(t *testing.T) {
	b := start(t, map[string]string{"connections.max.idle.ms": "3000"})
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 1, nil)
	cl := harness.Client(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(2*mib))
	val := bytes.Repeat([]byte("v"), 512<<10)
	for range 16 {
		if err := cl.ProduceSync(harness.Ctx(t, 10*time.Second), &kgo.Record{Topic: topic, Value: val}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version = 11
	fetch.ReplicaID, fetch.MaxBytes = -1, mib
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = mib
	ft.Partitions = []kmsg.FetchRequestTopicPartition{fp}
	fetch.Topics = []kmsg.FetchRequestTopic{ft}
	var burst []byte
	for i := range 500 {
		burst = append(burst, frame(fetch, int32(i))...)
	}
	base, s := sample(t, b)
	slow := dial(t, b.Addr())
	slow.(*net.TCPConn).SetReadBuffer(4 << 10)
	go slow.Write(burst) // the broker stops reading it too
	stuck := time.Now()
	for range 5 {
		serves(t, b.Addr(), topic)
	}
	// The broker closes its end once a write has been stuck for the idle
	// timeout: its socket leaves /proc/net/tcp. Reading only after that,
	// so the reading does not unstick it.
	harness.Eventually(t, 30*time.Second, func() error {
		if tr := keepalive(t, b.Addr(), slow.LocalAddr()); tr != "none" {
			return fmt.Errorf("the broker's socket is still open (timer %s)", tr)
		}
		return nil
	})
	got, err := countResponses(slow, 20*time.Second)
	peak := s.Stop()
	t.Logf("the slow reader got %d of 500 responses before the broker closed it (%v, %v after it stopped reading); peak %v, anonymous memory grew by %.1f MiB",
		got, err, time.Since(stuck).Round(time.Second), peak, anonGrowth(base, peak))
	if got >= 500 {
		t.Fatal("the broker never gave up on a client that does not read")
	}
	if anonGrowth(base, peak) > 48 {
		t.Fatalf("anonymous memory grew by %.1f MiB", anonGrowth(base, peak))
	}
}

// countResponses reads response frames until the connection ends.
func countResponses(c net.Conn, d time.Duration) (int, error) {
	c.SetReadDeadline(time.Now().Add(d))
	n := 0
	for {
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return n, err
		}
		if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(size[:]))); err != nil {
			return n, err
		}
		n++
	}
}

// batch builds an uncompressed-header record batch (magic 2) of count
// records whose records section is recs as given, marked with codec.
func batch(codec int16, recs []byte, count int32) []byte {
	rb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, Attributes: codec, LastOffsetDelta: count - 1,
		FirstTimestamp: time.Now().UnixMilli(), MaxTimestamp: time.Now().UnixMilli(),
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: count, Records: recs,
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// bombs returns record sections compressed with a streaming writer (no
// content size in the header) that expand far past the broker's limit.
func bombs(t *testing.T) map[string][]byte {
	zero := make([]byte, mib)
	out := map[string][]byte{}
	var zb bytes.Buffer
	zw, _ := zstd.NewWriter(&zb, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithWindowSize(mib))
	for range 1024 {
		zw.Write(zero)
	}
	zw.Close()
	out["zstd, 1 GiB"] = zb.Bytes()
	var gb bytes.Buffer
	gw, _ := gzip.NewWriterLevel(&gb, gzip.BestCompression)
	for range 512 {
		gw.Write(zero)
	}
	gw.Close()
	out["gzip, 512 MiB"] = gb.Bytes()
	for name, b := range out {
		t.Logf("bomb %s: %d bytes", name, len(b))
	}
	return out
}

// TestDecompressionBombs: sixteen clients keep producing batches that
// expand to 1 GiB (zstd) or 512 MiB (gzip). Each gets CORRUPT_MESSAGE, the
// broker's memory stays within its decompression budget (256 MiB, shared by
// all producers) and the GC's headroom, and other clients are served.
func TestDecompressionBombs(t *testing.T) {
	b := start(t, nil)
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 1, nil)
	reqs := map[string]*kmsg.ProduceRequest{}
	for name, comp := range bombs(t) {
		codec := int16(4)
		if strings.HasPrefix(name, "gzip") {
			codec = 1
		}
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 9, 1, 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batch(codec, comp, 1000)
		rt.Partitions = []kmsg.ProduceRequestTopicPartition{rp}
		req.Topics = []kmsg.ProduceRequestTopic{rt}
		reqs[name] = req
	}
	base, s := sample(t, b)
	ctx, stop := context.WithTimeout(context.Background(), 6*time.Second)
	defer stop()
	var sent, refused atomic.Int64
	const clients = 16
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		cl := harness.Client(t, b.Addr())
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				for name, req := range reqs {
					if i%2 == 0 && strings.HasPrefix(name, "gzip") {
						continue
					}
					resp, err := cl.Request(ctx, req)
					if err != nil {
						if ctx.Err() == nil {
							errs <- fmt.Errorf("%s: %w", name, err)
						}
						return
					}
					sent.Add(1)
					code := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
					if code != kerr.CorruptMessage.Code {
						errs <- fmt.Errorf("%s: error %v, want CORRUPT_MESSAGE", name, kerr.ErrorForCode(code))
						return
					}
					refused.Add(1)
				}
			}
		}()
	}
	serves(t, b.Addr(), topic)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	peak := s.Stop()
	t.Logf("%d bombs sent, %d refused with CORRUPT_MESSAGE; peak %v, anonymous memory grew by %.1f MiB (before %v)",
		sent.Load(), refused.Load(), peak, anonGrowth(base, peak), base)
	if refused.Load() < clients {
		t.Fatalf("only %d bombs refused", refused.Load())
	}
	// Each bomb is decoded up to its 64 MiB cap; all of them together
	// within the 256 MiB budget, and the heap may reach twice its live
	// bytes before the GC collects (GOGC=100). Before the budget, eight
	// clients grew it by 1.7 GiB, and more clients would grow it more.
	if anonGrowth(base, peak) > 3*256 {
		t.Fatalf("anonymous memory grew by %.1f MiB", anonGrowth(base, peak))
	}
	serves(t, b.Addr(), topic)
}

// keepalive reports the timer of the broker's side of the connection
// whose client end is local, from /proc/net/tcp: "02" is TCP keepalive,
// which is what finds a peer that vanished without a FIN.
func keepalive(t *testing.T, brokerAddr string, local net.Addr) string {
	t.Helper()
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp: %v", err)
	}
	_, bport, _ := net.SplitHostPort(brokerAddr)
	bp, _ := strconv.Atoi(bport)
	lp := local.(*net.TCPAddr).Port
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		if strings.HasSuffix(f[1], fmt.Sprintf(":%04X", bp)) && strings.HasSuffix(f[2], fmt.Sprintf(":%04X", lp)) {
			tr, _, _ := strings.Cut(f[5], ":")
			return tr
		}
	}
	return "none"
}

// TestIdleAndHalfOpenConnections: an idle connection is closed after
// connections.max.idle.ms; the broker's sockets have TCP keepalive on, so
// a peer that vanishes is found even between requests; and a peer that
// vanished in the middle of a frame loses its hold on
// queued.max.request.bytes at the idle timeout: another client's request
// that did not fit waited (reading paused, it did not fail) and is then
// served.
func TestIdleAndHalfOpenConnections(t *testing.T) {
	b := start(t, map[string]string{"connections.max.idle.ms": "1500", "queued.max.request.bytes": strconv.Itoa(16 * mib),
		"potok.http.listener": "127.0.0.1:0"})
	topic := harness.Topic(t, "")
	big := strconv.Itoa(10 * mib)
	harness.CreateTopic(t, b.Addr(), topic, 1, map[string]*string{"max.message.bytes": &big})

	idle := dial(t, b.Addr())
	began := time.Now()
	if !closedWithin(idle, 10*time.Second) {
		t.Fatal("an idle connection was not closed")
	}
	t.Logf("idle connection closed after %v", time.Since(began).Round(100*time.Millisecond))
	if d := time.Since(began); d < time.Second {
		t.Fatalf("closed after %v, before the idle timeout", d)
	}

	c := dial(t, b.Addr())
	c.Write(frame(kmsg.NewPtrApiVersionsRequest(), 1))
	// Until the broker accepts it (and sets keepalive), the socket has
	// no timer.
	harness.Eventually(t, 10*time.Second, func() error {
		if tr := keepalive(t, b.Addr(), c.LocalAddr()); tr != "02" {
			return fmt.Errorf("the broker's socket has timer %s, want 02 (keepalive)", tr)
		}
		return nil
	})

	// A 12 MiB Produce frame of which 1 KiB arrives: 12 of the 16 MiB
	// are charged until the idle timeout drops the connection.
	half := dial(t, b.Addr())
	hdr := append(binary.BigEndian.AppendUint32(nil, 12*mib), 0, 0, 0, 7, 0, 0, 0, 1, 0xff, 0xff)
	half.Write(append(hdr, make([]byte, 1024)...))
	inFlight := func() float64 {
		v, err := b.Metric("potok_request_bytes_in_flight")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	harness.Eventually(t, 10*time.Second, func() error {
		if v := inFlight(); v < 12*mib {
			return fmt.Errorf("%.0f bytes charged, waiting for the 12 MiB frame", v)
		}
		return nil
	})

	cl := harness.Client(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(10*mib),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	sent := time.Now()
	err := cl.ProduceSync(harness.Ctx(t, 20*time.Second), &kgo.Record{Topic: topic, Value: make([]byte, 8*mib)}).FirstErr()
	took := time.Since(sent)
	t.Logf("an 8 MiB produce behind a half-open 12 MiB frame (16 MiB budget) took %v: %v", took.Round(100*time.Millisecond), err)
	if err != nil {
		t.Fatalf("the produce failed instead of waiting: %v", err)
	}
	if took < time.Second {
		t.Fatalf("the produce took %v: the half-open frame held nothing", took)
	}
	if !closedWithin(half, 5*time.Second) {
		t.Fatal("the half-open connection is still open")
	}
	harness.Eventually(t, 10*time.Second, func() error {
		if v := inFlight(); v != 0 {
			return fmt.Errorf("%.0f bytes still charged", v)
		}
		return nil
	})
	serves(t, b.Addr(), topic)
}

// TestQueuedMaxRequestBytesBoundsMemory: twelve producers send 4 MiB
// records as fast as they can into a 24 MiB queued.max.request.bytes. Every
// record is acknowledged (reading pauses, nothing fails) and the broker's
// memory stays within a few budgets; the same load with a 1 GiB budget is
// the yardstick.
func TestQueuedMaxRequestBytesBoundsMemory(t *testing.T) {
	small := producersLoad(t, 24*mib)
	large := producersLoad(t, 1024*mib)
	t.Logf("anonymous memory grew by %.0f MiB with a 24 MiB budget, %.0f MiB with 1 GiB", small, large)
	// Frames in flight (24 MiB), their pooled buffers, GC headroom.
	if small > 160 {
		t.Fatalf("anonymous memory grew by %.0f MiB under a 24 MiB budget", small)
	}
}

func producersLoad(t *testing.T, budget int) float64 {
	b := start(t, map[string]string{"queued.max.request.bytes": strconv.Itoa(budget)})
	topic := harness.Topic(t, strconv.Itoa(budget))
	big := strconv.Itoa(5 * mib)
	harness.CreateTopic(t, b.Addr(), topic, 12, map[string]*string{"max.message.bytes": &big})
	base, s := sample(t, b)
	ctx, stop := context.WithTimeout(context.Background(), 6*time.Second)
	defer stop()
	var acked atomic.Int64
	errs := make(chan error, 12)
	var wg sync.WaitGroup
	val := make([]byte, 4*mib)
	for p := range int32(12) {
		cl := harness.Client(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(5*mib),
			kgo.MaxBufferedBytes(8*mib), kgo.ProducerBatchCompression(kgo.NoCompression()))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Partition: p, Value: val}).FirstErr()
				if err != nil {
					errs <- err
					return
				}
				acked.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a produce failed: %v", err)
	}
	peak := s.Stop()
	t.Logf("budget %d MiB: %d records of 4 MiB acknowledged in 6 s; peak %v (before %v)", budget/mib, acked.Load(), peak, base)
	return anonGrowth(base, peak)
}
