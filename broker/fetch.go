package broker

// Fetch (key 1), v4-v17.
//
// Reads whole batches straight from the partition logs: the batch containing
// the fetch offset first (clients skip the records before their offset),
// never split or re-batched; the first batch of the first partition with data
// is returned whole even past max_bytes or partition_max_bytes (KIP-74).
// Consumers read up to the high watermark, read_committed consumers up to
// the last stable offset, with the aborted transactions of the range.
// Every requested partition appears in the response, with data or not.
//
// When less than min_bytes is available the request waits: it registers on
// each partition it reads and is woken by their high-watermark moves, or
// answers with what there is when max_wait_ms passes (Kafka's DelayedFetch).
//
// Fetch sessions (KIP-227) are answered with session id 0, the legal "no
// session" reply (Kafka gives it when its session cache is full); clients
// then send full fetches. An incremental fetch naming a session gets
// FETCH_SESSION_ID_NOT_FOUND and the client starts over.
//
// v13+ names topics by id; an unknown id gets UNKNOWN_TOPIC_ID. Replica
// fetches (replica id ≥ 0) are for clusters and are not served yet.

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/potok-io/potok/logstore"
	"github.com/potok-io/potok/metadata"
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleFetch(r *protocol.Request) {
	req := r.Msg.(*kmsg.FetchRequest)
	if req.Version >= 7 && req.SessionEpoch != 0 && req.SessionEpoch != -1 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		r.Respond(resp)
		return
	}
	w := &fetchWait{b: b, r: r, req: req}
	body, ready := w.read(false)
	if ready || req.MaxWaitMillis <= 0 || len(w.parts) == 0 {
		b.fetchAnswered(r, body) // quotas.go
		r.RespondBody(body)
		return
	}
	body.Release()
	// Wait: register on every partition read, then read once more in case
	// data arrived before the registration.
	w.mu.Lock()
	for _, p := range w.parts {
		p.addFetch(w)
	}
	w.timer = time.AfterFunc(time.Duration(req.MaxWaitMillis)*time.Millisecond, func() { w.try(true) })
	w.mu.Unlock()
	w.try(false)
}

// fetchWait is one fetch request, possibly waiting for data.
type fetchWait struct {
	b   *Broker
	r   *protocol.Request
	req *kmsg.FetchRequest

	mu    sync.Mutex
	done  bool         // guarded by mu
	parts []*partition // partitions read, registered on while waiting
	timer *time.Timer
}

// wake is called by a partition whose high watermark moved.
func (w *fetchWait) wake() {
	go w.try(false)
}

// try reads again and answers if enough data is there, or if final.
func (w *fetchWait) try(final bool) {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return
	}
	body, ready := w.read(true)
	if !ready && !final {
		w.mu.Unlock()
		body.Release()
		return
	}
	w.done = true
	if w.timer != nil {
		w.timer.Stop()
	}
	parts := w.parts
	w.mu.Unlock()
	for _, p := range parts {
		p.removeFetch(w)
	}
	w.b.fetchAnswered(w.r, body) // quotas.go
	w.r.RespondBody(body)
}

// read builds a response from what the logs hold now. ready reports whether
// it should be sent at once: min_bytes reached, or an error to report.
func (w *fetchWait) read(again bool) (body *fetchBody, ready bool) {
	b, req := w.b, w.req
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	body = &fetchBody{resp: resp}
	maxBytes := int64(b.fetchMaxBytes)
	if req.Version >= 3 && req.MaxBytes > 0 {
		maxBytes = min(maxBytes, int64(req.MaxBytes))
	}
	var total int64
	anyError := false
	resp.Topics = make([]kmsg.FetchResponseTopic, 0, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var ts *topicState
		if req.Version >= 13 {
			ts = b.topicByID(metadata.Uuid(rt.TopicID))
		} else {
			ts = b.topic(rt.Topic)
		}
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			*sp = kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.RecordBatches = []byte{}
			p := ts.partition(rp.Partition)
			switch {
			case ts == nil && req.Version >= 13:
				sp.ErrorCode = kerr.UnknownTopicID.Code
			case p == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case p.log == nil:
				sp.ErrorCode = kerr.KafkaStorageError.Code
			case req.Version >= 9 && rp.CurrentLeaderEpoch >= 0 && rp.CurrentLeaderEpoch < p.leaderEpoch.Load():
				sp.ErrorCode = kerr.FencedLeaderEpoch.Code
			case req.Version >= 9 && rp.CurrentLeaderEpoch > p.leaderEpoch.Load():
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			}
			if sp.ErrorCode != 0 {
				anyError = true
				continue
			}
			if !again {
				w.parts = append(w.parts, p)
			}
			n, err := body.readPartition(p, rp, sp, req.IsolationLevel == 1, min(int64(rp.PartitionMaxBytes), maxBytes-total), total == 0)
			if err != nil {
				anyError = true
				continue
			}
			total += n
		}
		resp.Topics = append(resp.Topics, st)
	}
	return body, anyError || total >= int64(req.MinBytes) && total > 0 || req.MinBytes <= 0
}

// readPartition fills sp from p's log and returns the bytes added.
func (body *fetchBody) readPartition(p *partition, rp *kmsg.FetchRequestTopicPartition, sp *kmsg.FetchResponseTopicPartition,
	committed bool, limit int64, first bool) (int64, error) {
	l := p.log
	sp.HighWatermark = l.HighWatermark()
	sp.LastStableOffset = l.LastStableOffset()
	sp.LogStartOffset = l.LogStartOffset()
	bound := sp.HighWatermark
	if committed {
		bound = sp.LastStableOffset
	}
	if limit < 0 {
		limit = 0
	}
	chunk, err := l.Read(rp.FetchOffset, logstore.ReadOptions{MaxOffset: bound, MaxBytes: int(limit), MinOneBatch: first})
	if err != nil {
		if errors.Is(err, logstore.ErrOffsetOutOfRange) {
			sp.ErrorCode = kerr.OffsetOutOfRange.Code
		} else {
			sp.ErrorCode = kerr.KafkaStorageError.Code
		}
		return 0, err
	}
	if len(chunk.Data) == 0 {
		chunk.Release()
		return 0, nil
	}
	sp.RecordBatches = chunk.Data
	body.chunks = append(body.chunks, chunk)
	if committed {
		for _, a := range l.AbortedTxns(chunk.FirstOffset, chunk.NextOffset) {
			at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
			at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
			sp.AbortedTransactions = append(sp.AbortedTransactions, at)
		}
	}
	return int64(len(chunk.Data)), nil
}

// fetchBody is a Fetch response whose record bytes are slices of the logs'
// memory maps, held until the response is written: writev sends them from
// the page cache without a copy through the heap.
type fetchBody struct {
	resp   *kmsg.FetchResponse
	chunks []logstore.Chunk
	enc    fetchEncoder
	bufs   net.Buffers
}

func (f *fetchBody) Buffers() net.Buffers {
	f.bufs = f.enc.encode(f.resp, f.bufs[:0])
	return f.bufs
}

func (f *fetchBody) Release() {
	for i := range f.chunks {
		f.chunks[i].Release()
	}
	f.chunks = nil
}
