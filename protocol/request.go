package protocol

import (
	"context"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Handler serves decoded requests. The broker implements it.
type Handler interface {
	// Versions returns the range of versions served for an API key.
	Versions(key int16) (min, max int16, ok bool)
	// Serve handles one request and must call exactly one of req's Respond
	// methods, now or later, from any goroutine.
	Serve(req *Request)
}

// Body is a response body that writes itself as buffers, for responses that
// carry large byte ranges the broker does not copy (Fetch records served from
// memory maps). Buffers must not change once returned; Release is called
// after they are written or when the connection closes.
type Body interface {
	Buffers() net.Buffers
	Release()
}

// Request is one decoded request on a connection.
type Request struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      string
	Msg           kmsg.Request
	Conn          *Conn
	Received      time.Time

	frame []byte // the request bytes; Msg aliases them until the response is written
	mem   int64  // bytes charged to the server's in-flight budget
	// freed is set by whoever returns the frame to the pool: ReleaseFrame
	// or, after the response, the writer.
	freed atomic.Bool

	done     chan struct{}
	resp     kmsg.Response
	body     Body
	close    bool
	noReply  bool
	throttle time.Duration
	answered atomic.Bool
}

// Context is canceled when the connection closes.
func (r *Request) Context() context.Context { return r.Conn.ctx }

// Respond sends resp as the answer. resp must be the response kind of the
// request at the request's version (kmsg's ResponseKind does that). A
// throttle asked with Throttle raises resp's throttle_time_ms.
func (r *Request) Respond(resp kmsg.Response) {
	if !r.answered.CompareAndSwap(false, true) {
		panic("BUG: protocol: request answered twice")
	}
	if r.throttle > 0 {
		if tr, ok := resp.(kmsg.ThrottleResponse); ok {
			if ms, _ := tr.Throttle(); int64(ms) < r.throttle.Milliseconds() {
				resp.(kmsg.SetThrottleResponse).SetThrottle(int32(min(r.throttle.Milliseconds(), math.MaxInt32)))
			}
		}
	}
	r.resp = resp
	close(r.done)
}

// Throttle asks for the connection to stop reading requests for d after
// this request (KIP-219 channel muting after a quota violation); Respond
// also reports it as the response's throttle_time_ms. Call it before
// answering, and for Produce before Serve returns; the longest of several
// calls wins.
func (r *Request) Throttle(d time.Duration) {
	r.throttle = max(r.throttle, d)
}

// ThrottleTime returns the throttle asked so far, for callers of
// RespondBody, whose pre-encoded bodies carry their own throttle_time_ms.
func (r *Request) ThrottleTime() time.Duration { return r.throttle }

// ReleaseFrame tells the server that the handler is done with the request's
// bytes: neither Msg nor anything decoded from it that aliases the frame
// (record batches) may be used afterwards. The frame goes back to the pool
// and leaves the queued.max.request.bytes budget now rather than once the
// response is written. A produce handler calls it when its appends are done,
// so that a request waiting for durability holds no buffer. Call it before
// answering; calling it again does nothing.
func (r *Request) ReleaseFrame() {
	if r.Conn != nil && r.Conn.srv != nil {
		r.releaseFrame(r.Conn.srv)
	}
}

func (r *Request) releaseFrame(s *Server) {
	if r.frame != nil && r.freed.CompareAndSwap(false, true) {
		s.mem.release(r.mem)
		putBuf(r.frame)
	}
}

// Size is the size of the request frame in bytes (what Kafka counts
// against a producer's byte-rate quota).
func (r *Request) Size() int { return int(r.mem) }

// RespondBody sends a pre-encoded body (without the response header).
func (r *Request) RespondBody(b Body) {
	if !r.answered.CompareAndSwap(false, true) {
		panic("BUG: protocol: request answered twice")
	}
	r.body = b
	close(r.done)
}

// RespondThrottled sends resp and then keeps the connection from reading
// further requests for d (KIP-219 channel muting after a quota violation).
func (r *Request) RespondThrottled(resp kmsg.Response, d time.Duration) {
	r.Throttle(d)
	r.Respond(resp)
}

// NoResponse completes a request that gets no answer (Produce with acks=0).
func (r *Request) NoResponse() {
	if !r.answered.CompareAndSwap(false, true) {
		panic("BUG: protocol: request answered twice")
	}
	r.noReply = true
	close(r.done)
}

// CloseConnection completes the request by closing the connection once every
// earlier response is written; Kafka does this for an acks=0 produce that
// failed, so the client refreshes its metadata.
func (r *Request) CloseConnection() {
	if !r.answered.CompareAndSwap(false, true) {
		panic("BUG: protocol: request answered twice")
	}
	r.close = true
	close(r.done)
}

// Conn describes the client connection a request arrived on.
type Conn struct {
	Listener   string // listener name, e.g. "PLAINTEXT"
	RemoteAddr net.Addr
	LocalAddr  net.Addr
	ID         uint64

	ctx    context.Context
	cancel context.CancelFunc
	srv    *Server

	mu              sync.Mutex
	softwareName    string // client_software_name from ApiVersions v3+
	softwareVersion string
}

// SetClientSoftware records what ApiVersions v3+ said about the client.
func (c *Conn) SetClientSoftware(name, version string) {
	c.mu.Lock()
	c.softwareName, c.softwareVersion = name, version
	c.mu.Unlock()
}

// ClientSoftware returns what SetClientSoftware recorded.
func (c *Conn) ClientSoftware() (name, version string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.softwareName, c.softwareVersion
}
