package broker

// Enforcing client quotas (quota package) where requests pass: the share
// of handler time at dispatch, produce bytes when a produce arrives, fetch
// bytes when a fetch is answered. A throttled client gets throttle_time_ms
// in its response and its connection stops being read for that long
// (KIP-219); a fetch over its byte rate is answered empty, as Kafka does,
// and its bytes are not counted. Nothing here measures anything while no
// quota of the kind is configured.

import (
	"time"

	"github.com/potok-io/potok/protocol"
	"github.com/potok-io/potok/quota"
)

// quotaExempt are the APIs Kafka never throttles for request time: a
// client must always be able to learn versions and authenticate.
func quotaExempt(key int16) bool { return key == 18 || key == 17 || key == 36 }

// serve runs a request's handler, charging its time to the client's
// request_percentage quota when one applies. The throttle is computed
// before the handler from what the client used so far, so it reaches this
// response.
func (b *Broker) serve(a *api, r *protocol.Request) {
	q := b.ops.quotas
	if !q.Active(quota.Request) || quotaExempt(r.Key) {
		a.serve(b, r)
		return
	}
	start := time.Now()
	if d := q.Throttle(quota.Request, quota.Anonymous, r.ClientID, start); d > 0 {
		b.ops.metrics.Throttled(int(quota.Request), d)
		r.Throttle(d)
	}
	a.serve(b, r)
	end := time.Now()
	// Percent of one thread: 1 s of handling in 1 s is 100.
	q.Record(quota.Request, quota.Anonymous, r.ClientID, end.Sub(start).Seconds()*100, end)
}

// throttleProduce charges a produce request's size to the producer's byte
// rate.
func (b *Broker) throttleProduce(r *protocol.Request) {
	if q := b.ops.quotas; q.Active(quota.Produce) {
		d := q.Record(quota.Produce, quota.Anonymous, r.ClientID, float64(r.Size()), b.now())
		if d > 0 {
			b.ops.metrics.Throttled(int(quota.Produce), d)
			r.Throttle(d)
		}
	}
}

// fetchAnswered is called just before a fetch response is sent. It charges
// the record bytes to the consumer's byte rate: over the quota, the response
// loses its data (the client fetches the same offsets again after the
// throttle) and the bytes are taken back. Either way the response carries
// the largest throttle asked for the request. What is sent is counted in
// the topic metrics.
func (b *Broker) fetchAnswered(r *protocol.Request, body *fetchBody) {
	if q := b.ops.quotas; q.Active(quota.Fetch) {
		size := 0
		for i := range body.chunks {
			size += len(body.chunks[i].Data)
		}
		now := b.now()
		if d := q.Record(quota.Fetch, quota.Anonymous, r.ClientID, float64(size), now); d > 0 {
			q.Unrecord(quota.Fetch, quota.Anonymous, r.ClientID, float64(size), now)
			b.ops.metrics.Throttled(int(quota.Fetch), d)
			r.Throttle(d)
			body.dropChunks()
			body.resp.Topics = body.resp.Topics[:0]
		}
	}
	if ms := r.ThrottleTime().Milliseconds(); ms > int64(body.resp.ThrottleMillis) {
		body.resp.ThrottleMillis = int32(min(ms, 1<<31-1))
	}
	b.countFetched(body.resp.Topics)
}
