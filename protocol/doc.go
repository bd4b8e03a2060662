// Package protocol speaks Kafka's wire protocol on the broker's listeners: it
// accepts connections, frames and decodes requests, hands them to a Handler,
// and writes the responses back in request order. It knows API keys and
// versions, never topics or partitions.
//
// # A connection
//
// Each connection has one reader and one writer goroutine.
//
//	reader: size ─▶ limit check ─▶ reserve memory ─▶ body ─▶ header ─▶ decode ─▶ Handler.Serve
//	                                                                          │
//	                                          slot queue (request order) ◀────┘
//	writer: wait for the oldest slot's response ─▶ header + body ─▶ writev
//
// The frame size is checked against socket.request.max.bytes before anything
// is allocated (8 MiB for APIs other than Produce), and the memory of every
// request in flight counts against queued.max.request.bytes: when that
// budget is spent, readers stop reading (TCP pushes back on the client)
// instead of failing. A request is charged for what it decodes to, not for
// its bytes: kmsg can turn one byte into 96 (cost.go).
//
// # Order
//
// Kafka answers the requests of one connection in the order they arrived and
// processes them one at a time (brief §1.6). Potok keeps the order of
// responses strictly. It keeps the order of effects too: a request is handed
// to the handler only when every earlier request on the connection has its
// response, with one exception: Produce requests may follow each other while
// earlier ones wait for durability or replication, because a produce handler
// appends before it waits, so appends still happen in arrival order. This lets
// a producer with several requests in flight share one group commit. The
// reader reads the next request only once the response to the last one
// (other than Produce) is written, as Kafka mutes a connection until its
// response is sent: a client that never reads holds one response, not a
// queue of them.
//
// # Errors
//
// A Go error from decoding means the client broke the protocol: the
// connection is closed (an unknown API key, an unsupported version, a body
// that does not parse). Handlers report everything else as Kafka error codes
// inside responses. ApiVersions is special (KIP-511): a version above the
// highest served is answered with a v0 body carrying UNSUPPORTED_VERSION and
// the supported range of ApiVersions, so the client can retry lower.
package protocol
