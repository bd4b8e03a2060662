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
}

func (s *Server) newConn(nc net.Conn, listener string, id uint64) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		srv: s,
		nc:  nc,
		info: &Conn{Listener: listener, RemoteAddr: nc.RemoteAddr(), LocalAddr: nc.LocalAddr(), ID: id,
			ctx: ctx, cancel: cancel, srv: s},
		br:    bufio.NewReaderSize(nc, 32<<10),
		slots: make(chan *Request, maxPipelined+1),
		wdone: make(chan struct{}),
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
		if err := s.mem.acquire(n); err != nil {
			return nil // shutting down
		}
		frame := getBuf(int(n))
		if _, err := io.ReadFull(c.br, frame); err != nil {
			s.mem.release(n)
			putBuf(frame)
			return err
		}
		req, err := c.decode(frame)
		if err != nil {
			s.mem.release(n)
			putBuf(frame)
			return err
		}
		req.mem = n
		if err := c.dispatch(req); err != nil {
			return err
		}
	}
}

// decode parses one frame into a request, or returns an error that closes
// the connection. An ApiVersions request at an unsupported version comes
// back already answered (KIP-511).
func (c *conn) decode(frame []byte) (req *Request, err error) {
	h, rest, err := parseHeader(frame)
	if err != nil {
		return nil, err
	}
	req = &Request{Key: h.key, Version: h.version, CorrelationID: h.correlation, ClientID: h.clientID,
		Conn: c.info, Received: time.Now(), frame: frame, done: make(chan struct{})}
	msg := kmsg.RequestForKey(h.key)
	if msg == nil {
		return nil, fmt.Errorf("%w: unknown api key %d", errMalformed, h.key)
	}
	min, max, ok := c.srv.handler.Versions(h.key)
	if h.key == 18 && ok && h.version > max {
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = 18, min, max
		resp.ApiKeys = append(resp.ApiKeys, k)
		resp.SetVersion(0)
		req.Msg = msg
		req.resp = resp
		req.answered.Store(true)
		close(req.done)
		return req, nil
	}
	if !ok || h.version < min || h.version > max {
		return nil, fmt.Errorf("%w: %s (key %d) version %d not served", errMalformed, kmsg.NameForKey(h.key), h.key, h.version)
	}
	msg.SetVersion(h.version)
	if msg.IsFlexible() {
		if rest, err = skipHeaderTags(rest); err != nil {
			return nil, err
		}
	}
	if err := readFrom(msg, rest); err != nil {
		return nil, fmt.Errorf("%w: %s v%d: %v", errMalformed, kmsg.NameForKey(h.key), h.version, err)
	}
	req.Msg = msg
	return req, nil
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
			<-p.done
		}
		c.pending = c.pending[:0]
	}
	c.slots <- req
	if req.answered.Load() { // answered during decode (ApiVersions fallback)
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
	<-req.done
	c.mute(req)
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
		select {
		case <-p.done:
		default:
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
		bufs    net.Buffers
		done    []*Request
		headers [][]byte
		broken  bool
		held    *Request
	)
	flush := func() {
		if len(bufs) > 0 && !broken {
			if c.srv.cfg.IdleTimeout > 0 {
				c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.IdleTimeout))
			}
			b := bufs
			if _, err := b.WriteTo(c.nc); err != nil {
				broken = true
				c.nc.Close()
			}
		}
		for _, r := range done {
			c.finish(r)
		}
		for _, h := range headers {
			putBuf(h)
		}
		clear(bufs)
		bufs, done, headers = bufs[:0], done[:0], headers[:0]
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
		<-req.done
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
				var hdr []byte
				hdr, bufs = c.encode(req, bufs)
				headers = append(headers, hdr)
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
				select {
				case <-next.done:
					req = next
					continue batch
				default:
					held = next
					break batch
				}
			default:
				break batch
			}
		}
		flush()
	}
}

// encode renders req's response header and body. The header buffer is
// returned for release after the write.
func (c *conn) encode(req *Request, bufs net.Buffers) ([]byte, net.Buffers) {
	flexible := false
	if req.resp != nil {
		flexible = req.resp.IsFlexible()
	} else {
		flexible = req.Msg.IsFlexible()
	}
	hdr := getBuf(64)[:0]
	hdr = append(hdr, 0, 0, 0, 0)
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(req.CorrelationID))
	if responseHeaderFlexible(req.Key, flexible) {
		hdr = append(hdr, 0)
	}
	if req.resp != nil {
		hdr = req.resp.AppendTo(hdr)
		binary.BigEndian.PutUint32(hdr, uint32(len(hdr)-4))
		return hdr, append(bufs, hdr)
	}
	body := req.body.Buffers()
	size := len(hdr) - 4
	for _, b := range body {
		size += len(b)
	}
	binary.BigEndian.PutUint32(hdr, uint32(size))
	bufs = append(bufs, hdr)
	return hdr, append(bufs, body...)
}

// finish releases what a request held once its response is written or
// abandoned.
func (c *conn) finish(r *Request) {
	c.srv.cfg.Observer.RequestDone(r.Key, time.Since(r.Received))
	if r.body != nil {
		r.body.Release()
		r.body = nil
	}
	r.releaseFrame(c.srv)
	r.Msg, r.resp = nil, nil
}
