package protocol

import (
	"context"
	"encoding/binary"
	"net"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// echoHandler answers ApiVersions, Metadata and Produce at once with empty
// responses.
type echoHandler struct{ served atomic.Int64 }

func (h *echoHandler) Versions(key int16) (int16, int16, bool) { return testVersions(key) }

func (h *echoHandler) Serve(r *Request) {
	h.served.Add(1)
	r.Respond(r.Msg.ResponseKind())
}

func startEcho(t *testing.T, cfg Config) (*Server, *echoHandler) {
	t.Helper()
	h := &echoHandler{}
	cfg.Listeners = []Listener{{Name: "PLAINTEXT", Address: "127.0.0.1:0"}}
	s := NewServer(cfg, h)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s, h
}

// taggedMetadata returns a Metadata v9 request of about size bytes made of
// empty topic names with one unknown tagged field each: the request that
// costs the most memory per byte (96 heap bytes per wire byte).
func taggedMetadata(size int) []byte {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 9
	n := size / 4
	req.Topics = make([]kmsg.MetadataRequestTopic, n)
	empty := ""
	for i := range req.Topics {
		req.Topics[i].Topic = &empty
		req.Topics[i].UnknownTags.Set(uint32(i%100+1), nil)
	}
	var f kmsg.RequestFormatter
	return f.AppendRequest(nil, req, 1)
}

// tinyPartitions returns a Produce v3 request of about size bytes naming
// as many partitions as fit, each with null records.
func tinyPartitions(size int) []byte {
	req := kmsg.NewPtrProduceRequest()
	req.Version = 3
	req.Acks = 1
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "t"
	rt.Partitions = make([]kmsg.ProduceRequestTopicPartition, size/8)
	req.Topics = []kmsg.ProduceRequestTopic{rt}
	var f kmsg.RequestFormatter
	return f.AppendRequest(nil, req, 1)
}

// heapPeak samples the live heap every millisecond until stop is called,
// and returns the largest value seen above the heap at the start.
func heapPeak(t *testing.T) (stop func() int64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() int64 {
		metrics.Read(sample)
		return int64(sample[0].Value.Uint64())
	}
	runtime.GC()
	base := read()
	var peak atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if v := read() - base; v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		wg.Wait()
		return peak.Load()
	}
}

func checkServed(t *testing.T, s *Server) {
	t.Helper()
	c := dial(t, s)
	c.send(kmsg.NewPtrApiVersionsRequest(), 42)
	if corr, _, err := c.recv(); err != nil || corr != 42 {
		t.Fatalf("a fresh client is not served: %d %v", corr, err)
	}
}

// TestNonProduceFrameLimit: frames of APIs other than Produce are limited
// to MaxOtherRequestBytes, Produce to socket.request.max.bytes.
func TestNonProduceFrameLimit(t *testing.T) {
	s, h := startEcho(t, Config{MaxOtherRequestBytes: 1 << 20})
	c := dial(t, s)
	c.sendRefused(taggedMetadata(1<<20 + 100))
	c.expectClosed()
	// A Produce of 2 MiB (one partition of 2 MiB of records) passes.
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks = 7, 1
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = make([]byte, 2<<20)
	rt.Partitions = []kmsg.ProduceRequestTopicPartition{rp}
	req.Topics = []kmsg.ProduceRequestTopic{rt}
	c = dial(t, s)
	c.send(req, 5)
	if corr, _, err := c.recv(); err != nil || corr != 5 {
		t.Fatalf("2 MiB produce: %d %v", corr, err)
	}
	if h.served.Load() != 1 {
		t.Fatalf("served %d", h.served.Load())
	}
}

// TestProduceOfTinyPartitionsRefused: a Produce request is charged for the
// partitions it names; 20 MiB of empty partitions (2.6 million of them,
// 620 MiB once decoded and answered) is refused under a 64 MiB budget
// before it is decoded.
func TestProduceOfTinyPartitionsRefused(t *testing.T) {
	s, h := startEcho(t, Config{QueuedMaxRequestBytes: 64 << 20})
	frame := tinyPartitions(20 << 20)
	stop := heapPeak(t)
	c := dial(t, s)
	c.c.Write(frame)
	c.expectClosed()
	peak := stop()
	t.Logf("20 MiB of empty partitions: heap grew by at most %.1f MiB", float64(peak)/(1<<20))
	if h.served.Load() != 0 || peak > 48<<20 {
		t.Fatalf("served %d, heap +%d", h.served.Load(), peak)
	}
	checkServed(t, s)
}

// TestAmplifiedRequestsShareTheBudget: 16 clients at once send Metadata
// requests that each decode to about 55 MiB. Each fits a 64 MiB budget
// alone, so each is served, but they decode one after another. The same
// load without a budget is the yardstick.
func TestAmplifiedRequestsShareTheBudget(t *testing.T) {
	frame := taggedMetadata(600 << 10)
	limited := amplifiedLoad(t, frame, 64<<20)
	unlimited := amplifiedLoad(t, frame, 0)
	t.Logf("16 requests of %d KiB (55 MiB decoded each): heap grew by %.0f MiB without a budget, %.0f MiB with 64 MiB",
		len(frame)>>10, float64(unlimited)/(1<<20), float64(limited)/(1<<20))
	// The heap also holds garbage not yet collected: up to the live
	// bytes again with GOGC=100.
	if limited > 3*64<<20 {
		t.Fatalf("heap grew by %.0f MiB under a 64 MiB budget", float64(limited)/(1<<20))
	}
	if unlimited < 2*limited {
		t.Fatalf("the budget made no difference: %d vs %d", limited, unlimited)
	}
}

// amplifiedLoad sends frame from 16 clients at once and returns the heap's
// peak growth.
func amplifiedLoad(t *testing.T, frame []byte, budget int64) int64 {
	const clients = 16
	s, h := startEcho(t, Config{QueuedMaxRequestBytes: budget})
	var conns []*client
	for range clients {
		c := dial(t, s)
		// The budget serializes the decodes, 55 MiB each: under the race
		// detector on two busy cores the last answer may come after dial's
		// 10 s, which is there to catch a hang, not to time this.
		c.c.SetDeadline(time.Now().Add(2 * time.Minute))
		conns = append(conns, c)
	}
	stop := heapPeak(t)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.c.Write(frame); err != nil {
				errs <- err
				return
			}
			if _, _, err := c.recv(); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	peak := stop()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if h.served.Load() != clients {
		t.Fatalf("served %d", h.served.Load())
	}
	// The charge is released once each response is written.
	waitFor(t, func() bool { return s.InFlightBytes() == 0 })
	return peak
}

// TestDecodedChargeShrinks: once decoded, a request holds the budget for
// what it decoded to, not for the worst case.
func TestDecodedChargeShrinks(t *testing.T) {
	h := &holdHandler{got: make(chan *Request, 1)}
	s := NewServer(Config{Listeners: []Listener{{Name: "PLAINTEXT", Address: "127.0.0.1:0"}}, QueuedMaxRequestBytes: 1 << 30}, h)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	defer s.Shutdown(context.Background())
	c := dial(t, s)
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	for range 100 {
		mt := kmsg.NewMetadataRequestTopic()
		name := "a-topic-name"
		mt.Topic = &name
		req.Topics = append(req.Topics, mt)
	}
	var f kmsg.RequestFormatter
	frame := f.AppendRequest(nil, req, 3)
	c.sendRaw(frame)
	r := <-h.got
	held := s.InFlightBytes()
	n := int64(len(frame) - 4)
	t.Logf("a %d byte Metadata request holds %d bytes (worst case %d)", n, held, n*decodeAmplification)
	if held < n || held > 10*n {
		t.Fatalf("holds %d for a frame of %d", held, n)
	}
	r.Respond(r.Msg.ResponseKind())
	if _, _, err := c.recv(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return s.InFlightBytes() == 0 })
}

type holdHandler struct{ got chan *Request }

func (h *holdHandler) Versions(key int16) (int16, int16, bool) { return testVersions(key) }
func (h *holdHandler) Serve(r *Request)                        { h.got <- r }

// TestBudgetAdjustNeverHoldsAndWaits: two readers holding part of the
// budget and both wanting more do not wait for each other.
func TestBudgetAdjustNeverHoldsAndWaits(t *testing.T) {
	b := newByteBudget(100)
	if err := b.acquire(60); err != nil {
		t.Fatal(err)
	}
	if err := b.acquire(30); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		b.adjust(60, 80) // gives back 60, waits for 80
		close(done)
	}()
	waitFor(t, func() bool { return b.held() == 30 })
	b.release(30) // the other reader finishes
	<-done
	if b.held() != 80 {
		t.Fatalf("held %d", b.held())
	}
	b.adjust(80, 10)
	if b.held() != 10 {
		t.Fatalf("held %d after shrinking", b.held())
	}
}

func TestFrameLimitsChecked(t *testing.T) {
	s := NewServer(Config{MaxRequestBytes: 1 << 20, MaxOtherRequestBytes: 1 << 22}, &echoHandler{})
	if s.frameLimit(3) != 1<<20 || s.frameLimit(0) != 1<<20 {
		t.Fatal("socket.request.max.bytes must bound every API")
	}
	b := binary.BigEndian.AppendUint16(nil, 0)
	if _, _, _, ok := produceShape(3, b); ok {
		t.Fatal("a 2 byte produce body has a shape")
	}
}

// bigHandler answers every Metadata request with a fresh response of
// partitions partitions (about 190 heap bytes and 30 wire bytes each).
type bigHandler struct {
	partitions int
	served     atomic.Int64
}

func (h *bigHandler) Versions(key int16) (int16, int16, bool) { return testVersions(key) }
func (h *bigHandler) Serve(r *Request) {
	resp, ok := r.Msg.ResponseKind().(*kmsg.MetadataResponse)
	if !ok {
		r.Respond(r.Msg.ResponseKind())
		return
	}
	h.served.Add(1)
	{
		t := kmsg.NewMetadataResponseTopic()
		name := "topic"
		t.Topic = &name
		for i := range h.partitions {
			p := kmsg.NewMetadataResponseTopicPartition()
			p.Partition = int32(i)
			p.Replicas, p.ISR = []int32{1, 2, 3}, []int32{1, 2, 3}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	r.Respond(resp)
}

// TestSlowReaderHoldsOneResponse: a client that sends requests and never
// reads the responses holds one response in the broker (Kafka mutes the
// connection until a response is sent), not a queue of them, and others
// are served meanwhile.
func TestSlowReaderHoldsOneResponse(t *testing.T) {
	const (
		slow     = 4
		requests = 60
	)
	h := &bigHandler{partitions: 5000}
	s := NewServer(Config{Listeners: []Listener{{Name: "PLAINTEXT", Address: "127.0.0.1:0"}}}, h)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	var f kmsg.RequestFormatter
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 7
	var burst []byte
	for i := range requests {
		burst = append(burst, f.AppendRequest(nil, req, int32(i))...)
	}
	runtime.GC()
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	base := int64(ms0.HeapAlloc)
	stop := heapPeak(t)
	var conns []*client
	for range slow {
		c := dial(t, s)
		c.c.(*net.TCPConn).SetReadBuffer(4 << 10)
		c.sendRaw(burst)
		conns = append(conns, c)
	}
	// Wait until the broker stops serving them: every connection is
	// stuck writing.
	var last int64 = -1
	for {
		time.Sleep(200 * time.Millisecond) // sampled, not waited on: the count must stop moving
		n := h.served.Load()
		if n == last {
			break
		}
		last = n
	}
	checkServed(t, s)
	peak := stop()
	// What the stuck connections hold: the live heap once garbage (the
	// peak counts it too, and how much depends on when the collector ran
	// on a loaded machine) is collected.
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	held := int64(ms.HeapAlloc) - base
	t.Logf("%d clients sent %d requests each without reading: %d answered, heap peak +%.1f MiB, held +%.1f MiB",
		slow, requests, last, float64(peak)/(1<<20), float64(held)/(1<<20))
	// Responses the kernel took into socket buffers were answered too;
	// the heap holds at most one more per connection (about 2 MiB each),
	// and up to 64 MiB of idle frame buffers may be pooled.
	if held > 24<<20 {
		t.Fatalf("heap holds %.0f MiB more for %d connections that read nothing", float64(held)/(1<<20), slow)
	}
	for _, c := range conns {
		c.c.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestLegalFramesLargerThanTheBudgetAreServed: every frame within the frame
// limits is served, however small queued.max.request.bytes: alone, once
// nothing else is charged (as Kafka would pause, never fail).
func TestLegalFramesLargerThanTheBudgetAreServed(t *testing.T) {
	s, h := startEcho(t, Config{QueuedMaxRequestBytes: 1 << 20})
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks = 7, 1
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = make([]byte, 6<<20)
	rt.Partitions = []kmsg.ProduceRequestTopicPartition{rp}
	req.Topics = []kmsg.ProduceRequestTopic{rt}
	c := dial(t, s)
	c.send(req, 1)
	// 2 MiB of Metadata topics: charged 200 MiB while decoding.
	meta := kmsg.NewPtrMetadataRequest()
	meta.Version = 4
	empty := ""
	meta.Topics = make([]kmsg.MetadataRequestTopic, 1<<20)
	for i := range meta.Topics {
		meta.Topics[i].Topic = &empty
	}
	c.send(meta, 2)
	for _, want := range []int32{1, 2} {
		if corr, _, err := c.recv(); err != nil || corr != want {
			t.Fatalf("response %d: %d %v", want, corr, err)
		}
	}
	if h.served.Load() != 2 {
		t.Fatalf("served %d", h.served.Load())
	}
	waitFor(t, func() bool { return s.InFlightBytes() == 0 })
}
