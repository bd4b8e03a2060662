package broker

// Fetch (key 1), v4-v17.
//
// Reads whole batches straight from the partition logs: the batch containing
// the fetch offset first (clients skip the records before their offset),
// never split or re-batched; the first batch of the first partition with data
// is returned whole even past max_bytes or partition_max_bytes (KIP-74).
// Consumers read up to the high watermark, read_committed consumers up to
// the last stable offset, with the aborted transactions of the range. Every
// partition of a full fetch appears in the response, with data or not; an
// incremental fetch (fetchsession.go) answers only what changed.
//
// When less than min_bytes is available the request waits: it registers on
// each partition it reads and is woken by their high-watermark moves, or
// answers with what there is when max_wait_ms passes (Kafka's DelayedFetch).
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
	w := &fetchWait{b: b, r: r, req: req}
	if code := w.prepare(); code != 0 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = code
		r.Respond(resp)
		return
	}
	body, ready := w.read()
	if ready || req.MaxWaitMillis <= 0 || len(w.parts) == 0 {
		w.send(body)
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
	// A broker shutting down answers at once rather than hold its
	// connections open for max_wait_ms.
	w.try(b.closed.Load())
}

// fetchTarget is one partition a fetch reads.
type fetchTarget struct {
	key         sessionKey
	fetchOffset int64
	maxBytes    int32
	leaderEpoch int32
	cached      *sessionPartition // incremental fetches: what the client was last told
}

// fetchWait is one fetch request, possibly waiting for data.
type fetchWait struct {
	b   *Broker
	r   *protocol.Request
	req *kmsg.FetchRequest

	targets    []fetchTarget
	sess       *fetchSession // incremental fetch
	newSession bool          // full fetch asking for a session

	mu    sync.Mutex
	done  bool         // guarded by mu
	parts []*partition // partitions to wait on
	timer *time.Timer
}

// prepare resolves the session and the partitions to read; it returns a
// top-level error code for session errors.
func (w *fetchWait) prepare() int16 {
	req := w.req
	byID := req.Version >= 13
	if req.Version < 7 || req.SessionEpoch == 0 || req.SessionEpoch == -1 {
		if req.Version >= 7 && req.SessionID != 0 {
			w.b.sessions.remove(req.SessionID)
		}
		w.newSession = req.Version >= 7 && req.SessionEpoch == 0
		for i := range req.Topics {
			rt := &req.Topics[i]
			for _, rp := range rt.Partitions {
				w.targets = append(w.targets, fetchTarget{key: keyOf(rt, rp.Partition, byID),
					fetchOffset: rp.FetchOffset, maxBytes: rp.PartitionMaxBytes, leaderEpoch: rp.CurrentLeaderEpoch})
			}
		}
		return 0
	}
	s := w.b.sessions.get(req.SessionID)
	if s == nil {
		return kerr.FetchSessionIDNotFound.Code
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return kerr.FetchSessionIDNotFound.Code
	case s.epoch != req.SessionEpoch:
		return kerr.InvalidFetchSessionEpoch.Code
	case s.byID != byID:
		return kerr.FetchSessionTopicIDError.Code
	}
	for i := range req.Topics {
		rt := &req.Topics[i]
		for _, rp := range rt.Partitions {
			s.upsert(keyOf(rt, rp.Partition, byID), rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch)
		}
	}
	for _, ft := range req.ForgottenTopics {
		for _, p := range ft.Partitions {
			k := sessionKey{part: p}
			if byID {
				k.id = metadata.Uuid(ft.TopicID)
			} else {
				k.topic = ft.Topic
			}
			s.forget(k)
		}
	}
	if s.epoch++; s.epoch <= 0 {
		s.epoch = 1
	}
	w.sess = s
	for _, sp := range s.parts {
		w.targets = append(w.targets, fetchTarget{key: sp.key, fetchOffset: sp.fetchOffset, maxBytes: sp.maxBytes,
			leaderEpoch: sp.leaderEpoch, cached: sp})
	}
	return 0
}

func keyOf(rt *kmsg.FetchRequestTopic, partition int32, byID bool) sessionKey {
	if byID {
		return sessionKey{id: metadata.Uuid(rt.TopicID), part: partition}
	}
	return sessionKey{topic: rt.Topic, part: partition}
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
	body, ready := w.read()
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
	w.send(body)
}

// send records in the session what the client is told and answers.
func (w *fetchWait) send(body *fetchBody) {
	resp := body.resp
	switch {
	case w.sess != nil:
		w.sess.mu.Lock()
		for _, r := range body.results {
			if r.included && r.target.cached != nil {
				r.target.cached.sentHW, r.target.cached.sentLSO, r.target.cached.sentLogStart = r.hw, r.lso, r.logStart
			}
		}
		w.sess.mu.Unlock()
		resp.SessionID = w.sess.id
	case w.newSession:
		if s := w.b.sessions.create(w.req.Version >= 13); s != nil {
			s.mu.Lock()
			for _, r := range body.results {
				s.upsert(r.target.key, r.target.fetchOffset, r.target.maxBytes, r.target.leaderEpoch)
				sp := s.index[r.target.key]
				sp.sentHW, sp.sentLSO, sp.sentLogStart = r.hw, r.lso, r.logStart
			}
			s.mu.Unlock()
			resp.SessionID = s.id
		}
	}
	body.results = nil
	w.b.fetchAnswered(w.r, body) // quotas.go
	w.r.RespondBody(body)
}

// partResult is what one read found for a target.
type partResult struct {
	target            fetchTarget
	included          bool
	hw, lso, logStart int64
}

// read builds a response from what the logs hold now. ready reports whether
// it should be sent at once: min_bytes reached, or an error to report.
func (w *fetchWait) read() (body *fetchBody, ready bool) {
	b, req := w.b, w.req
	first := w.parts == nil
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	body = &fetchBody{resp: resp}
	maxBytes := int64(b.fetchMaxBytes)
	if req.Version >= 3 && req.MaxBytes > 0 {
		maxBytes = min(maxBytes, int64(req.MaxBytes))
	}
	var total int64
	anyError := false
	var st *kmsg.FetchResponseTopic
	for _, tg := range w.targets {
		var ts *topicState
		if req.Version >= 13 {
			ts = b.topicByID(tg.key.id)
		} else {
			ts = b.topic(tg.key.topic)
		}
		sp := kmsg.NewFetchResponseTopicPartition()
		sp.Partition = tg.key.part
		sp.RecordBatches = []byte{}
		p := ts.partition(tg.key.part)
		switch {
		case ts == nil && req.Version >= 13:
			sp.ErrorCode = kerr.UnknownTopicID.Code
		case p == nil:
			sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		case p.log == nil:
			sp.ErrorCode = kerr.KafkaStorageError.Code
		case req.Version >= 9 && tg.leaderEpoch >= 0 && tg.leaderEpoch < p.leaderEpoch.Load():
			sp.ErrorCode = kerr.FencedLeaderEpoch.Code
		case req.Version >= 9 && tg.leaderEpoch > p.leaderEpoch.Load():
			sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
		default:
			if first {
				w.parts = append(w.parts, p)
			}
			n, err := body.readPartition(p, &tg, &sp, req.IsolationLevel == 1, min(int64(tg.maxBytes), maxBytes-total), total == 0)
			if err == nil {
				total += n
			}
		}
		res := partResult{target: tg, hw: sp.HighWatermark, lso: sp.LastStableOffset, logStart: sp.LogStartOffset}
		// An incremental response carries only what changed.
		res.included = tg.cached == nil || sp.ErrorCode != 0 || len(sp.RecordBatches) > 0 ||
			sp.HighWatermark != tg.cached.sentHW || sp.LastStableOffset != tg.cached.sentLSO || sp.LogStartOffset != tg.cached.sentLogStart
		body.results = append(body.results, res)
		if sp.ErrorCode != 0 {
			anyError = true
		}
		if !res.included {
			continue
		}
		if st == nil || st.Topic != tg.key.topic || st.TopicID != tg.key.id {
			resp.Topics = append(resp.Topics, kmsg.NewFetchResponseTopic())
			st = &resp.Topics[len(resp.Topics)-1]
			st.Topic, st.TopicID = tg.key.topic, tg.key.id
		}
		st.Partitions = append(st.Partitions, sp)
	}
	if w.parts == nil {
		w.parts = []*partition{}
	}
	return body, anyError || total >= int64(req.MinBytes) && total > 0 || req.MinBytes <= 0
}

// readPartition fills sp from p's log and returns the bytes added.
func (body *fetchBody) readPartition(p *partition, tg *fetchTarget, sp *kmsg.FetchResponseTopicPartition,
	committed bool, limit int64, first bool) (int64, error) {
	l := p.log
	sp.HighWatermark = l.HighWatermark()
	sp.LastStableOffset = l.LastStableOffset()
	sp.LogStartOffset = l.LogStartOffset()
	bound := sp.HighWatermark
	if committed {
		bound = sp.LastStableOffset
	}
	chunk, err := l.Read(tg.fetchOffset, logstore.ReadOptions{MaxOffset: bound, MaxBytes: int(max(limit, 0)), MinOneBatch: first})
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
	resp    *kmsg.FetchResponse
	results []partResult
	chunks  []logstore.Chunk
	enc     fetchEncoder
	bufs    net.Buffers
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
