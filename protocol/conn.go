package protocol

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxPipelined bounds the produce requests a connection may have waiting for
// their responses before its reader stops reading.
const maxPipelined = 32

// conn is one client connection: its reader runs in serve, its writer in
// writeLoop. The reader owns pending; the writer owns the write side of nc.
type conn struct {
	srv  *Server
	nc   net.Conn
	info *Conn
	br   *bufio.Reader

	slots   chan *Request // dispatched requests, in arrival order
	pending []*Request    // dispatched produce requests not yet answered
	// mutedUntil is when the reader may read again after a throttled
	// request (KIP-219 channel muting); owned by the reader.
	mutedUntil time.Time

	wdone chan struct{} // closed when the writer exits

	// Answers wake the reader (waiting for an earlier request's answer)
	// and the writer (waiting for the oldest slot's). Capacity 1: a wake
	// only says "look again".
	rwake, wwake chan struct{}

	clientS string      // the last client id read, reused while it repeats
	wbufs   net.Buffers // the writer's writev argument (a field: its address does not escape)
}

func (s *Server) newConn(nc net.Conn, listener string, id uint64) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		srv: s,
		nc:  nc,
		info: &Conn{Listener: listener, RemoteAddr: nc.RemoteAddr(), LocalAddr: nc.LocalAddr(), ID: id,
			ctx: ctx, cancel: cancel},
		br:    bufio.NewReaderSize(nc, 32<<10),
		slots: make(chan *Request, maxPipelined+1),
		wdone: make(chan struct{}),
		rwake: make(chan struct{}, 1),
		wwake: make(chan struct{}, 1),
	}
}

// wakeUp tells the reader and the writer that a request was answered.
func (c *conn) wakeUp() {
	select {
	case c.rwake <- struct{}{}:
	default:
	}
	select {
	case c.wwake <- struct{}{}:
	default:
	}
}

// waitReader blocks the reader until r is answered.
func (c *conn) waitReader(r *Request) {
	for !r.answered() {
		<-c.rwake
	}
}

// waitWritten blocks the reader until r's response is written (or
// abandoned).
func (c *conn) waitWritten(r *Request) {
	for !r.written.Load() {
		<-c.rwake
	}
}

// wakeReader tells the reader that a response was written.
func (c *conn) wakeReader() {
	select {
	case c.rwake <- struct{}{}:
	default:
	}
}

// serve runs the reader until the connection ends, then waits for the
// writer to finish the responses already owed.
func (c *conn) serve() {
	s := c.srv
	s.goroutine(c.writeLoop)
	err := c.readLoop()
	close(c.slots)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !s.closing.Load() {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			s.logLimited("idle", "closing idle connection", "remote", c.info.RemoteAddr, "listener", c.info.Listener)
		} else {
			s.logLimited("conn", "closing connection", "remote", c.info.RemoteAddr, "listener", c.info.Listener, "err", err)
		}
		// A protocol violation or read error: stop writing too.
		c.nc.Close()
	}
	<-c.wdone
	c.nc.Close()
	c.info.cancel()
	for _, p := range c.pending {
		p.unref()
	}
	c.pending = nil
}

func (c *conn) readLoop() error {
	s := c.srv
	var size [4]byte
	for {
		if d := time.Until(c.mutedUntil); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-s.stop:
				t.Stop()
			}
		}
		if s.closing.Load() {
			return nil
		}
		if s.cfg.IdleTimeout > 0 {
			c.nc.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		}
		if _, err := io.ReadFull(c.br, size[:]); err != nil {
			if s.closing.Load() {
				return nil
			}
			return err
		}
		n := int64(int32(binary.BigEndian.Uint32(size[:])))
		if n < minFrame || n > int64(s.cfg.MaxRequestBytes) {
			return fmt.Errorf("%w: frame of %d bytes (limit %d)", errMalformed, n, s.cfg.MaxRequestBytes)
		}
		req, err := c.readRequest(n) // read.go: limits and memory charge
		if req == nil || err != nil {
			return err
		}
		if err := c.dispatch(req); err != nil {
			return err
		}
	}
}

// decode parses one frame into a request, or returns an error that closes
// the connection (the frame is released then). An ApiVersions request at an
// unsupported version comes back already answered (KIP-511).
func (c *conn) decode(frame []byte, size int64) (*Request, error) {
	h, rest, err := parseHeader(frame)
	if err != nil {
		c.srv.mem.release(size)
		putBuf(frame)
		return nil, err
	}
	return c.decodeParsed(h, rest, frame, size)
}

// decodeParsed is decode after the header was parsed into h and rest.
func (c *conn) decodeParsed(h header, rest, frame []byte, size int64) (*Request, error) {
	fail := func(err error) (*Request, error) {
		c.srv.mem.release(size)
		putBuf(frame)
		return nil, err
	}
	if h.key < 0 || h.key > kmsg.MaxKey {
		return fail(fmt.Errorf("%w: unknown api key %d", errMalformed, h.key))
	}
	min, max, ok := c.srv.handler.Versions(h.key)
	if h.key == 18 && ok && h.version > max {
		req := c.newRequest(h, frame, size)
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = 18, min, max
		resp.ApiKeys = append(resp.ApiKeys, k)
		resp.SetVersion(0)
		req.Msg = kmsg.RequestForKey(18)
		req.out = encodeResponse(18, h.correlation, resp)
		req.state.Store(stateAnswered)
		return req, nil
	}
	if !ok || h.version < min || h.version > max {
		return fail(fmt.Errorf("%w: %s (key %d) version %d not served", errMalformed, kmsg.NameForKey(h.key), h.key, h.version))
	}
	rest, err := requestBody(h, rest)
	if err != nil {
		return fail(err)
	}
	switch h.key {
	case 0: // Produce
		m := produceMsgs.Get().(*produceMsg)
		if !decodeProduce(m, h.version, rest) {
			m.release()
			return fail(fmt.Errorf("%w: Produce v%d: %v", errMalformed, h.version, errNotEnoughData))
		}
		req := c.newRequest(h, frame, size)
		req.Msg, req.pooled = &m.ProduceRequest, m
		return req, nil
	case 1: // Fetch
		m := fetchMsgs.Get().(*fetchMsg)
		if !decodeFetch(m, h.version, rest) {
			m.release()
			return fail(fmt.Errorf("%w: Fetch v%d: %v", errMalformed, h.version, errNotEnoughData))
		}
		req := c.newRequest(h, frame, size)
		req.Msg, req.pooled = &m.FetchRequest, m
		return req, nil
	}
	msg := kmsg.RequestForKey(h.key)
	if msg == nil {
		return fail(fmt.Errorf("%w: unknown api key %d", errMalformed, h.key))
	}
	msg.SetVersion(h.version)
	if err := readFrom(msg, rest); err != nil {
		return fail(fmt.Errorf("%w: %s v%d: %v", errMalformed, kmsg.NameForKey(h.key), h.version, err))
	}
	req := c.newRequest(h, frame, size)
	req.Msg = msg
	return req, nil
}

// errNotEnoughData is what kmsg reports for a body that does not parse.
var errNotEnoughData = errors.New("not enough data")

// flexibleRequest reports whether a request uses header v2 (with tags).
var flexibleVersions = func() [kmsg.MaxKey + 1]int16 {
	var v [kmsg.MaxKey + 1]int16
	for k := range v {
		v[k] = -1
		if r := kmsg.RequestForKey(int16(k)); r != nil {
			for ver := int16(0); ver <= r.MaxVersion(); ver++ {
				r.SetVersion(ver)
				if r.IsFlexible() {
					v[k] = ver
					break
				}
			}
		}
	}
	return v
}()

func flexibleRequest(key, version int16) bool {
	f := flexibleVersions[key]
	return f >= 0 && version >= f
}

// newRequest takes a pooled request for a parsed header.
func (c *conn) newRequest(h header, frame []byte, size int64) *Request {
	r := newRequest(c)
	r.Key, r.Version, r.CorrelationID = h.key, h.version, h.correlation
	if string(h.clientID) != c.clientS {
		c.clientS = string(h.clientID)
	}
	r.ClientID = c.clientS
	r.Received = time.Now()
	r.frame, r.mem = frame, size
	return r
}

// readFrom decodes a body, turning a decoder panic into an error: one odd
// client must never take the broker down.
func readFrom(msg kmsg.Request, b []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panic: %v", r)
		}
	}()
	return msg.ReadFrom(b)
}

// dispatch hands a request to the handler, keeping the order of effects
// described in the package doc.
func (c *conn) dispatch(req *Request) error {
	produce := req.Key == 0
	c.prunePending()
	if !produce || len(c.pending) >= maxPipelined {
		for _, p := range c.pending {
			c.waitReader(p)
			p.unref()
		}
		clear(c.pending)
		c.pending = c.pending[:0]
	}
	c.slots <- req
	if req.answered() { // answered during decode (ApiVersions fallback)
		c.waitWritten(req)
		req.unref()
		return nil
	}
	c.srv.serveRequest(req)
	if produce {
		// A produce's throttle is decided before it waits for
		// durability, so it is known here.
		c.mute(req)
		c.pending = append(c.pending, req)
		return nil
	}
	// Read on only once the response is written, as Kafka mutes a
	// connection until its response is sent: a client that never reads
	// holds one response here, not a queue of them.
	c.waitWritten(req)
	c.mute(req)
	req.unref()
	return nil
}

// mute stops the reader for a throttled request's throttle time: the
// client's next request waits in the socket, whether or not the client
// honours throttle_time_ms (KIP-219; Kafka mutes the channel the same way).
func (c *conn) mute(req *Request) {
	if req.throttle > 0 {
		c.mutedUntil = time.Now().Add(req.throttle)
	}
}

func (c *conn) prunePending() {
	live := c.pending[:0]
	for _, p := range c.pending {
		if p.answered() {
			p.unref()
		} else {
			live = append(live, p)
		}
	}
	clear(c.pending[len(live):])
	c.pending = live
}

// writeLoop writes responses in request order, coalescing those that are
// ready into one writev.
func (c *conn) writeLoop() {
	defer close(c.wdone)
	var (
		bufs   net.Buffers
		done   []*Request
		broken bool
		held   *Request
	)
	flush := func() {
		if len(bufs) > 0 && !broken {
			if c.srv.cfg.IdleTimeout > 0 {
				c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.IdleTimeout))
			}
			// WriteTo consumes its receiver: give it a copy of the
			// slice header, in a field so that its address does not
			// escape to a new allocation.
			c.wbufs = bufs
			if _, err := c.wbufs.WriteTo(c.nc); err != nil {
				broken = true
				c.nc.Close()
			}
			c.wbufs = nil
		}
		for _, r := range done {
			c.finish(r)
		}
		clear(bufs)
		clear(done)
		bufs, done = bufs[:0], done[:0]
	}
	for {
		req := held
		held = nil
		if req == nil {
			var ok bool
			if req, ok = <-c.slots; !ok {
				flush()
				return
			}
		}
		for !req.answered() {
			<-c.wwake
		}
	batch:
		for {
			if req.close {
				flush()
				broken = true
				c.nc.Close()
				c.finish(req)
				break batch
			}
			if !req.noReply && !broken {
				bufs = c.encode(req, bufs)
			}
			done = append(done, req)
			if len(bufs) >= 64 {
				break batch
			}
			// Coalesce the next response only if it is already answered.
			select {
			case next, ok := <-c.slots:
				if !ok {
					flush()
					return
				}
				if next.answered() {
					req = next
					continue batch
				}
				held = next
				break batch
			default:
				break batch
			}
		}
		flush()
	}
}

// encode appends req's response to bufs: the frame Respond encoded, or the
// header and the buffers of a Body.
func (c *conn) encode(req *Request, bufs net.Buffers) net.Buffers {
	if req.out != nil {
		return append(bufs, req.out)
	}
	flexible := flexibleResponse(req.Key, req.Version)
	hdr := getBuf(64)[:0]
	hdr = append(hdr, 0, 0, 0, 0)
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(req.CorrelationID))
	if responseHeaderFlexible(req.Key, flexible) {
		hdr = append(hdr, 0)
	}
	body := req.body.Buffers()
	size := len(hdr) - 4
	for _, b := range body {
		size += len(b)
	}
	binary.BigEndian.PutUint32(hdr, uint32(size))
	req.out = hdr
	bufs = append(bufs, hdr)
	return append(bufs, body...)
}

// flexibleResponse reports whether the response to key at version is
// flexible (the same versions as the request).
func flexibleResponse(key, version int16) bool { return flexibleRequest(key, version) }

// finish releases what a request held once its response is written or
// abandoned, and drops the writer's reference.
func (c *conn) finish(r *Request) {
	c.srv.cfg.Observer.RequestDone(r.Key, time.Since(r.Received))
	if r.body != nil {
		r.body.Release()
		r.body = nil
	}
	r.releaseFrame(c.srv)
	if r.out != nil {
		putBuf(r.out)
		r.out = nil
	}
	// The reader still holds its reference when it waits for this.
	r.written.Store(true)
	c.wakeReader()
	r.unref()
}
