package protocol

import (
	"context"
	"encoding/binary"
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
//
// Requests are pooled: once a handler has answered, it must not touch the
// request (nor, after ReleaseFrame or the answer, anything decoded from
// it). The reader and the writer of the connection each hold a reference;
// the request is reused when both are done with it.
type Request struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      string
	// Msg is the decoded body. Strings and byte slices in a Produce or
	// Fetch request alias the frame.
	Msg      kmsg.Request
	Conn     *Conn
	Received time.Time

	c     *conn
	frame []byte // the request bytes; Msg aliases them until the response is written
	mem   int64  // bytes charged to the server's in-flight budget
	// freed is set by whoever returns the frame to the pool: ReleaseFrame
	// or, after the response, the writer.
	freed atomic.Bool
	// pooled is Msg when it came from a message pool, returned with the
	// frame.
	pooled pooledMsg

	state    atomic.Uint32 // statePending, stateAnswering, stateAnswered
	out      []byte        // the encoded response (header and body), set by Respond
	body     Body
	close    bool
	noReply  bool
	throttle time.Duration
	refs     atomic.Int32 // the reader's and the writer's
	written  atomic.Bool  // the response is written or abandoned
	size     int64        // the frame's size
}

// A request's answer moves through these states; out, body, close and
// noReply are written while answering and read once answered.
const (
	statePending = iota
	stateAnswering
	stateAnswered
)

var requestPool = sync.Pool{New: func() any { return new(Request) }}

func newRequest(c *conn) *Request {
	r := requestPool.Get().(*Request)
	r.c, r.Conn = c, c.info
	r.refs.Store(2)
	return r
}

// unref drops one of the two references; the last one resets the request
// and returns it to the pool.
func (r *Request) unref() {
	switch n := r.refs.Add(-1); {
	case n > 0:
		return
	case n < 0:
		panic("BUG: protocol: request released twice")
	}
	r.Key, r.Version, r.CorrelationID, r.ClientID = 0, 0, 0, ""
	r.Msg, r.Conn, r.Received, r.c = nil, nil, time.Time{}, nil
	r.frame, r.mem, r.pooled = nil, 0, nil
	r.freed.Store(false)
	r.written.Store(false)
	r.size = 0
	r.state.Store(statePending)
	r.out, r.body, r.close, r.noReply, r.throttle = nil, nil, false, false, 0
	requestPool.Put(r)
}

// answered reports whether the request has its answer.
func (r *Request) answered() bool { return r.state.Load() == stateAnswered }

// begin starts answering; a second answer is a handler bug.
func (r *Request) begin() {
	if !r.state.CompareAndSwap(statePending, stateAnswering) {
		panic("BUG: protocol: request answered twice")
	}
}

// finishAnswer publishes the answer and wakes the connection's reader and
// writer. The request may be reused as soon as the state is stored, so
// the connection is read first.
func (r *Request) finishAnswer() {
	c := r.c
	r.state.Store(stateAnswered)
	if c != nil {
		c.wakeUp()
	}
}

// Context is canceled when the connection closes.
func (r *Request) Context() context.Context { return r.Conn.ctx }

// Respond sends resp as the answer. resp must be the response kind of the
// request at the request's version (kmsg's ResponseKind does that). A
// throttle asked with Throttle raises resp's throttle_time_ms. The response
// is encoded before Respond returns: the caller may reuse resp at once.
func (r *Request) Respond(resp kmsg.Response) {
	r.begin()
	if r.throttle > 0 {
		if tr, ok := resp.(kmsg.ThrottleResponse); ok {
			if ms, _ := tr.Throttle(); int64(ms) < r.throttle.Milliseconds() {
				resp.(kmsg.SetThrottleResponse).SetThrottle(int32(min(r.throttle.Milliseconds(), math.MaxInt32)))
			}
		}
	}
	r.out = encodeResponse(r.Key, r.CorrelationID, resp)
	r.finishAnswer()
}

// encodeResponse renders a response frame: size, header, body.
func encodeResponse(key int16, correlationID int32, resp kmsg.Response) []byte {
	out := getBuf(4096)[:0]
	out = append(out, 0, 0, 0, 0)
	out = binary.BigEndian.AppendUint32(out, uint32(correlationID))
	if responseHeaderFlexible(key, resp.IsFlexible()) {
		out = append(out, 0)
	}
	out = resp.AppendTo(out)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out
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
// bytes: neither Msg nor anything decoded from it (record batches, topic
// names) may be used afterwards. The frame goes back to the pool and leaves
// the queued.max.request.bytes budget now rather than once the response is
// written. A produce handler calls it when its appends are done, so that a
// request waiting for durability holds no buffer. Call it before
// answering; calling it again does nothing.
func (r *Request) ReleaseFrame() {
	if r.c != nil {
		r.releaseFrame(r.c.srv)
	}
}

func (r *Request) releaseFrame(s *Server) {
	if r.frame != nil && r.freed.CompareAndSwap(false, true) {
		s.mem.release(r.mem)
		putBuf(r.frame)
		if r.pooled != nil {
			r.pooled.release()
		}
	}
}

// Size is the size of the request frame in bytes (what Kafka counts
// against a producer's byte-rate quota).
func (r *Request) Size() int { return int(r.size) }

// RespondBody sends a pre-encoded body (without the response header).
func (r *Request) RespondBody(b Body) {
	r.begin()
	r.body = b
	r.finishAnswer()
}

// RespondThrottled sends resp and then keeps the connection from reading
// further requests for d (KIP-219 channel muting after a quota violation).
func (r *Request) RespondThrottled(resp kmsg.Response, d time.Duration) {
	r.Throttle(d)
	r.Respond(resp)
}

// NoResponse completes a request that gets no answer (Produce with acks=0).
func (r *Request) NoResponse() {
	r.begin()
	r.noReply = true
	r.finishAnswer()
}

// CloseConnection completes the request by closing the connection once every
// earlier response is written; Kafka does this for an acks=0 produce that
// failed, so the client refreshes its metadata.
func (r *Request) CloseConnection() {
	r.begin()
	r.close = true
	r.finishAnswer()
}

// Conn describes the client connection a request arrived on.
type Conn struct {
	Listener   string // listener name, e.g. "PLAINTEXT"
	RemoteAddr net.Addr
	LocalAddr  net.Addr
	ID         uint64

	ctx    context.Context
	cancel context.CancelFunc

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
