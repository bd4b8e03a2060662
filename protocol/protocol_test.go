package protocol

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeHandler serves ApiVersions, Metadata (answered after a delay given in
// the request's topic count, to test ordering) and Produce (acks 0 / error).
type fakeHandler struct {
	served atomic.Int64
	mu     sync.Mutex
	order  []int32 // correlation ids in the order Serve saw them
	hold   chan struct{}
}

func (h *fakeHandler) Versions(key int16) (int16, int16, bool) { return testVersions(key) }

// testVersions is what the test handlers serve: Produce, Metadata and
// ApiVersions.
func testVersions(key int16) (int16, int16, bool) {
	switch key {
	case 0:
		return 3, 11, true
	case 3:
		return 0, 12, true
	case 18:
		return 0, 4, true
	}
	return 0, 0, false
}

func (h *fakeHandler) Serve(r *Request) {
	h.served.Add(1)
	h.mu.Lock()
	h.order = append(h.order, r.CorrelationID)
	h.mu.Unlock()
	switch req := r.Msg.(type) {
	case *kmsg.ApiVersionsRequest:
		r.Respond(req.ResponseKind())
	case *kmsg.MetadataRequest:
		resp := req.ResponseKind().(*kmsg.MetadataResponse)
		delay := time.Duration(len(req.Topics)) * 20 * time.Millisecond
		time.AfterFunc(delay, func() { r.Respond(resp) })
	case *kmsg.ProduceRequest:
		switch {
		case req.Acks == 0 && req.TimeoutMillis == 1:
			r.CloseConnection()
		case req.Acks == 0:
			r.NoResponse()
		case req.TimeoutMillis == 2:
			// Done with the bytes at once, answered later (an acks=all
			// produce waiting for durability).
			r.ReleaseFrame()
			r.ReleaseFrame()
			go func() {
				<-h.hold
				r.Respond(req.ResponseKind())
			}()
		default:
			resp := req.ResponseKind()
			time.AfterFunc(time.Duration(req.TimeoutMillis)*time.Millisecond, func() { r.Respond(resp) })
		}
	}
}

func startServer(t *testing.T, cfg Config) (*Server, *fakeHandler) {
	t.Helper()
	h := &fakeHandler{hold: make(chan struct{})}
	cfg.Listeners = []Listener{{Name: "PLAINTEXT", Address: "127.0.0.1:0"}}
	s := NewServer(cfg, h)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s, h
}

type client struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, s *Server) *client {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr("PLAINTEXT").String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, c: c, br: bufio.NewReader(c)}
}

func (c *client) send(req kmsg.Request, corr int32) {
	c.t.Helper()
	var f kmsg.RequestFormatter
	buf := f.AppendRequest(nil, req, corr)
	if _, err := c.c.Write(buf); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) sendRaw(b []byte) {
	if _, err := c.c.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// sendRefused writes a frame the server is expected to refuse from its
// size alone: the server may close the connection before the rest is
// written, so the write may fail (connection reset); expectClosed checks
// the outcome.
func (c *client) sendRefused(b []byte) {
	_, _ = c.c.Write(b)
}

// recv reads one response frame and returns its correlation id and body
// (after the header, which has tags when flexible).
func (c *client) recv() (int32, []byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(c.br, size[:]); err != nil {
		return 0, nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.br, b); err != nil {
		return 0, nil, err
	}
	return int32(binary.BigEndian.Uint32(b)), b[4:], nil
}

func (c *client) expectClosed() {
	c.t.Helper()
	if _, _, err := c.recv(); err == nil {
		c.t.Fatal("connection still open")
	}
}

func TestResponsesKeepRequestOrder(t *testing.T) {
	s, h := startServer(t, Config{})
	c := dial(t, s)
	// Request 1 answers after 60 ms, request 2 at once: 2 must wait.
	slow := kmsg.NewPtrMetadataRequest()
	for i := 0; i < 3; i++ {
		mt := kmsg.NewMetadataRequestTopic()
		name := "t"
		mt.Topic = &name
		slow.Topics = append(slow.Topics, mt)
	}
	c.send(slow, 1)
	c.send(kmsg.NewPtrApiVersionsRequest(), 2)
	for _, want := range []int32{1, 2} {
		corr, _, err := c.recv()
		if err != nil || corr != want {
			t.Fatalf("got correlation %d (%v), want %d", corr, err, want)
		}
	}
	if h.served.Load() != 2 {
		t.Fatal("served count")
	}
}

func TestProducesPipelineButOthersWait(t *testing.T) {
	s, h := startServer(t, Config{})
	c := dial(t, s)
	p := kmsg.NewPtrProduceRequest()
	p.Version = 7
	p.Acks, p.TimeoutMillis = 1, 100
	c.send(p, 1)
	p2 := kmsg.NewPtrProduceRequest()
	p2.Version = 7
	p2.Acks, p2.TimeoutMillis = 1, 0
	c.send(p2, 2)
	c.send(kmsg.NewPtrApiVersionsRequest(), 3)
	// Both produces are dispatched before the first answers; ApiVersions
	// only after both did.
	waitFor(t, func() bool { h.mu.Lock(); defer h.mu.Unlock(); return len(h.order) >= 2 })
	h.mu.Lock()
	if len(h.order) != 2 {
		h.mu.Unlock()
		t.Fatalf("dispatched %v before the first produce answered", h.order)
	}
	h.mu.Unlock()
	for _, want := range []int32{1, 2, 3} {
		corr, _, err := c.recv()
		if err != nil || corr != want {
			t.Fatalf("got %d (%v), want %d", corr, err, want)
		}
	}
}

func TestAcksZeroSendsNothing(t *testing.T) {
	s, _ := startServer(t, Config{})
	c := dial(t, s)
	p := kmsg.NewPtrProduceRequest()
	p.Version = 7
	p.Acks = 0
	c.send(p, 1)
	c.send(kmsg.NewPtrApiVersionsRequest(), 2)
	corr, _, err := c.recv()
	if err != nil || corr != 2 {
		t.Fatalf("first response is %d (%v), want 2: acks=0 must not answer", corr, err)
	}
	// A failed acks=0 produce closes the connection.
	p.TimeoutMillis = 1
	c.send(p, 3)
	c.expectClosed()
}

func TestApiVersionsAboveMaxAnswersV0(t *testing.T) {
	s, _ := startServer(t, Config{})
	c := dial(t, s)
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 9 // flexible: header v2, body never parsed
	req.ClientSoftwareName, req.ClientSoftwareVersion = "x", "1"
	c.send(req, 7)
	corr, body, err := c.recv()
	if err != nil || corr != 7 {
		t.Fatal(corr, err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("not a v0 body (header v0 has no tags): %v", err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) != 1 || resp.ApiKeys[0].ApiKey != 18 || resp.ApiKeys[0].MaxVersion != 4 {
		t.Fatalf("%+v", resp)
	}
	// The connection stays usable.
	c.send(kmsg.NewPtrApiVersionsRequest(), 8)
	if corr, _, err := c.recv(); err != nil || corr != 8 {
		t.Fatal(corr, err)
	}
}

func TestFlexibleResponseHeader(t *testing.T) {
	s, _ := startServer(t, Config{})
	c := dial(t, s)
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	req.Topics = []kmsg.MetadataRequestTopic{}
	c.send(req, 1)
	_, body, err := c.recv()
	if err != nil {
		t.Fatal(err)
	}
	if body[0] != 0 {
		t.Fatalf("flexible response header must carry an empty tag section")
	}
	resp := kmsg.NewPtrMetadataResponse()
	resp.Version = 12
	if err := resp.ReadFrom(body[1:]); err != nil {
		t.Fatal(err)
	}
}

func TestProtocolViolationsCloseTheConnection(t *testing.T) {
	s, _ := startServer(t, Config{MaxRequestBytes: 1 << 20})
	frame := func(key, version int16, body []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(key))
		b = binary.BigEndian.AppendUint16(b, uint16(version))
		b = binary.BigEndian.AppendUint32(b, 1)
		b = binary.BigEndian.AppendUint16(b, 0xffff) // null client id
		b = append(b, body...)
		binary.BigEndian.PutUint32(b, uint32(len(b)-4))
		return b
	}
	for name, raw := range map[string][]byte{
		"unknown key":         frame(9999, 0, nil),
		"unserved key":        frame(1, 4, nil),
		"version above max":   frame(3, 13, nil),
		"version below min":   frame(0, 2, nil),
		"truncated body":      frame(3, 1, []byte{0, 0, 0, 5}),
		"oversize frame":      {0x10, 0, 0, 0},
		"TLS hello":           {0x16, 0x03, 0x01, 0x02, 0, 1, 0, 0},
		"negative size":       {0xff, 0xff, 0xff, 0xff},
		"tiny frame":          {0, 0, 0, 3, 0, 0, 0},
		"client id too long":  append(binary.BigEndian.AppendUint32(nil, 10), 0, 3, 0, 1, 0, 0, 0, 1, 0, 50),
		"bad flexible header": frame(3, 9, []byte{0x80}),
	} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, s)
			c.sendRaw(raw)
			c.expectClosed()
		})
	}
	// Others are still served.
	c := dial(t, s)
	c.send(kmsg.NewPtrApiVersionsRequest(), 1)
	if _, _, err := c.recv(); err != nil {
		t.Fatal(err)
	}
}

func TestOversizeFrameIsNotAllocated(t *testing.T) {
	s, _ := startServer(t, Config{MaxRequestBytes: 1000})
	c := dial(t, s)
	c.sendRaw(binary.BigEndian.AppendUint32(nil, 1001))
	c.expectClosed()
	if s.InFlightBytes() != 0 {
		t.Fatalf("%d bytes held", s.InFlightBytes())
	}
}

func TestIdleConnectionsClose(t *testing.T) {
	s, _ := startServer(t, Config{IdleTimeout: 50 * time.Millisecond})
	c := dial(t, s)
	c.expectClosed()
}

func TestMaxConnectionsPerIP(t *testing.T) {
	s, _ := startServer(t, Config{MaxConnectionsPerIP: 2})
	a, b := dial(t, s), dial(t, s)
	for _, c := range []*client{a, b} {
		c.send(kmsg.NewPtrApiVersionsRequest(), 1)
		if _, _, err := c.recv(); err != nil {
			t.Fatal(err)
		}
	}
	third := dial(t, s)
	third.expectClosed()
}

func TestShutdownFinishesInFlightRequests(t *testing.T) {
	h := &fakeHandler{}
	srv := NewServer(Config{Listeners: []Listener{{Name: "PLAINTEXT", Address: "127.0.0.1:0"}}}, h)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	srv.Serve()
	c := dial(t, srv)
	p := kmsg.NewPtrProduceRequest()
	p.Version = 7
	p.Acks, p.TimeoutMillis = 1, 100
	c.send(p, 1)
	waitFor(t, func() bool { return h.served.Load() == 1 })
	done := make(chan error)
	go func() { done <- srv.Shutdown(context.Background()) }()
	if corr, _, err := c.recv(); err != nil || corr != 1 {
		t.Fatalf("in-flight request lost in shutdown: %d %v", corr, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", srv.Addr("PLAINTEXT").String()); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

func TestByteBudgetPausesReaders(t *testing.T) {
	bb := newByteBudget(100)
	if err := bb.acquire(80); err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	go func() {
		bb.acquire(50)
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("acquired past the budget")
	case <-time.After(20 * time.Millisecond):
	}
	bb.release(80)
	<-got
	// One request larger than the whole budget still proceeds alone.
	bb.release(50)
	if err := bb.acquire(500); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBufferReuse(t *testing.T) {
	for _, n := range []int{1, 511, 512, 513, 4096, 1 << 20} {
		b := getBuf(n)
		if len(b) != n || cap(b) != 1<<(class(n)+minShift) {
			t.Errorf("getBuf(%d): len %d cap %d", n, len(b), cap(b))
		}
		putBuf(b)
	}
	// Large frames: a buffer comes back for a frame of about the same
	// size, and the idle bytes stay bounded.
	b := getBuf(12_000_000)
	if len(b) != 12_000_000 || cap(b) < 12_000_000+12_000_000/5 {
		t.Fatalf("large buffer: len %d cap %d", len(b), cap(b))
	}
	p := &b[:1][0]
	putBuf(b)
	c := getBuf(13_000_000)
	if &c[:1][0] != p {
		t.Error("a slightly larger frame did not reuse the idle buffer")
	}
	if small := getBuf(2 << 20); cap(small) > 4<<20 {
		t.Errorf("a 2 MiB frame took a %d byte buffer", cap(small))
	}
	var held [][]byte
	for i := 0; i < 20; i++ {
		held = append(held, getBuf(10<<20))
	}
	for _, h := range held {
		putBuf(h)
	}
	large.mu.Lock()
	idle := large.idle
	large.mu.Unlock()
	if idle > maxIdleLarge {
		t.Errorf("%d bytes idle, limit %d", idle, maxIdleLarge)
	}
	if huge := getBuf(maxLargeSize + 1); len(huge) != maxLargeSize+1 {
		t.Error("frame above the largest pooled size")
	}
}

func TestReleaseFrameFreesTheBudgetBeforeTheAnswer(t *testing.T) {
	s, h := startServer(t, Config{QueuedMaxRequestBytes: 1 << 20})
	c := dial(t, s)
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = -1, 2
	c.send(req, 7)
	// Served and not answered (the handler holds the answer), yet its
	// bytes are no longer counted.
	waitFor(t, func() bool { return h.served.Load() == 1 && s.InFlightBytes() == 0 })
	close(h.hold)
	corr, _, err := c.recv()
	if err != nil || corr != 7 {
		t.Fatalf("response %d, %v", corr, err)
	}
	if n := s.InFlightBytes(); n != 0 {
		t.Fatalf("%d bytes still held after the answer", n)
	}
}
