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
	w := newFetchWait(b, r, req)
	if code := w.prepare(); code != 0 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = code
		r.Respond(resp)
		w.mu.Lock()
		w.done = true
		w.releaseLocked()
		return
	}
	w.mu.Lock()
	gen := w.gen
	ready := w.read()
	if ready || req.MaxWaitMillis <= 0 || len(w.parts) == 0 {
		w.answerLocked()
		return
	}
	w.body.dropChunks()
	// Wait: register on every partition read, then read once more in case
	// data arrived before the registration.
	for _, p := range w.parts {
		p.addFetch(w, gen)
	}
	w.timerLive = true
	w.timer.Reset(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	w.mu.Unlock()
	// A broker shutting down answers at once rather than hold its
	// connections open for max_wait_ms.
	w.try(gen, b.closed.Load(), false)
}

// fetchTarget is one partition a fetch reads.
type fetchTarget struct {
	key         sessionKey
	fetchOffset int64
	maxBytes    int32
	leaderEpoch int32
	cached      *sessionPartition // incremental fetches: what the client was last told
}

// fetchWait is one fetch request, possibly waiting for data. Pooled: it
// is reused once answered, its body released by the connection and its
// timer stopped or run. gen tells its uses apart: a partition may still
// hold (and wake) a fetch that was answered meanwhile, and such a late
// wake must not touch the request it serves now.
type fetchWait struct {
	b          *Broker
	r          *protocol.Request
	req        *kmsg.FetchRequest
	targets    []fetchTarget
	sess       *fetchSession // incremental fetch
	newSession bool          // full fetch asking for a session
	body       fetchBody     // the response being built

	mu        sync.Mutex
	gen       uint64       // guarded by mu
	done      bool         // guarded by mu: answered
	bodyOut   bool         // guarded by mu: the body is with the connection until Release
	timerLive bool         // guarded by mu: timer armed or its function running
	parts     []*partition // guarded by mu: partitions read (and, once waiting, registered on)
	first     bool         // guarded by mu: the first read, which collects parts
	timer     *time.Timer
}

var fetchWaits sync.Pool

func newFetchWait(b *Broker, r *protocol.Request, req *kmsg.FetchRequest) *fetchWait {
	w, _ := fetchWaits.Get().(*fetchWait)
	if w == nil {
		w = new(fetchWait)
		w.body.w = w
		w.timer = time.AfterFunc(time.Hour, w.expire)
		w.timer.Stop()
	}
	w.mu.Lock()
	w.gen++
	w.b, w.r, w.req = b, r, req
	w.first = true
	w.mu.Unlock()
	return w
}

// releaseLocked unlocks mu and returns w to the pool once nothing refers
// to it: answered, body released, timer done.
func (w *fetchWait) releaseLocked() {
	last := w.done && !w.bodyOut && !w.timerLive
	if last {
		// A late wake of this use must find another generation, even
		// before the next use begins.
		w.gen++
		w.b, w.r, w.req, w.sess, w.newSession = nil, nil, nil, nil, false
		clear(w.targets)
		w.targets = w.targets[:0]
		clear(w.parts)
		w.parts = w.parts[:0]
		w.done = false
		w.body.reset()
	}
	w.mu.Unlock()
	if last {
		fetchWaits.Put(w)
	}
}

// prepare resolves the session and the partitions to read; it returns a
// top-level error code for session errors.
func (w *fetchWait) prepare() int16 {
	req := w.req
	byID := req.Version >= 13
	w.targets = w.targets[:0]
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

// wake is called by a partition whose high watermark moved, with the
// generation the fetch registered with. It answers on the caller's
// goroutine (the flusher's, or a producer's): a ready consumer gets its
// data without a hand-off. The fetch path takes only leaf locks (the
// fetch's own, sessions, quotas, metrics).
func (w *fetchWait) wake(gen uint64) {
	w.try(gen, false, false)
}

func (w *fetchWait) expire() {
	w.mu.Lock()
	gen := w.gen
	w.mu.Unlock()
	w.try(gen, true, true)
}

// try reads again and answers if enough data is there, or if final.
func (w *fetchWait) try(gen uint64, final, fromTimer bool) {
	w.mu.Lock()
	if fromTimer {
		w.timerLive = false
	}
	if w.gen != gen || w.done {
		w.releaseLocked()
		return
	}
	if !w.read() && !final {
		w.body.dropChunks()
		w.mu.Unlock()
		return
	}
	if w.timerLive && w.timer.Stop() {
		w.timerLive = false
	}
	for _, p := range w.parts {
		p.removeFetch(w)
	}
	w.answerLocked()
}

// answerLocked records in the session what the client is told, answers,
// and unlocks mu.
func (w *fetchWait) answerLocked() {
	body := &w.body
	resp := &body.resp
	switch {
	case w.sess != nil:
		w.sess.mu.Lock()
		for i := range body.results {
			r := &body.results[i]
			if r.included && r.target.cached != nil {
				r.target.cached.sentHW, r.target.cached.sentLSO, r.target.cached.sentLogStart = r.hw, r.lso, r.logStart
			}
		}
		w.sess.mu.Unlock()
		resp.SessionID = w.sess.id
	case w.newSession:
		if s := w.b.sessions.create(w.req.Version >= 13); s != nil {
			s.mu.Lock()
			for i := range body.results {
				r := &body.results[i]
				s.upsert(r.target.key, r.target.fetchOffset, r.target.maxBytes, r.target.leaderEpoch)
				sp := s.index[r.target.key]
				sp.sentHW, sp.sentLSO, sp.sentLogStart = r.hw, r.lso, r.logStart
			}
			s.mu.Unlock()
			resp.SessionID = s.id
		}
	}
	w.b.fetchAnswered(w.r, body) // quotas.go
	w.done, w.bodyOut = true, true
	r := w.r
	w.mu.Unlock()
	// From here the connection owns the body; Release frees w.
	r.RespondBody(body)
}

// partResult is what one read found for a target.
type partResult struct {
	target            fetchTarget
	included          bool
	hw, lso, logStart int64
}

// read fills w.body from what the logs hold now (mu held). It reports
// whether to answer at once: min_bytes reached, or an error to report.
// The first read also collects the partitions to wait on.
func (w *fetchWait) read() (ready bool) {
	b, req := w.b, w.req
	first := w.first
	w.first = false
	body := &w.body
	body.begin(req.Version)
	resp := &body.resp
	maxBytes := int64(b.fetchMaxBytes)
	if req.Version >= 3 && req.MaxBytes > 0 {
		maxBytes = min(maxBytes, int64(req.MaxBytes))
	}
	var total int64
	anyError := false
	var st *kmsg.FetchResponseTopic
	for i := range w.targets {
		tg := &w.targets[i]
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
			n, err := body.readPartition(p, tg, &sp, req.IsolationLevel == 1, min(int64(tg.maxBytes), maxBytes-total), total == 0)
			if err == nil {
				total += n
			}
		}
		res := partResult{target: *tg, hw: sp.HighWatermark, lso: sp.LastStableOffset, logStart: sp.LogStartOffset}
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
			st = body.addTopic()
			st.Topic, st.TopicID = tg.key.topic, tg.key.id
		}
		body.addPartition(st, &sp)
	}
	_ = resp
	return anyError || total >= int64(req.MinBytes) && total > 0 || req.MinBytes <= 0
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
	if committed {
		aborted, err := l.AbortedTxns(chunk.FirstOffset, chunk.NextOffset)
		if err != nil {
			chunk.Release()
			sp.ErrorCode = kerr.KafkaStorageError.Code
			return 0, err
		}
		for _, a := range aborted {
			at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
			at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
			sp.AbortedTransactions = append(sp.AbortedTransactions, at)
		}
	}
	sp.RecordBatches = chunk.Data
	body.chunks = append(body.chunks, chunk)
	return int64(len(chunk.Data)), nil
}

// fetchBody is a Fetch response whose record bytes are slices of the logs'
// memory maps, held until the response is written: writev sends them from
// the page cache without a copy through the heap. It lives in its
// fetchWait and is reused with it, slices and all.
type fetchBody struct {
	w       *fetchWait
	resp    kmsg.FetchResponse
	results []partResult
	chunks  []logstore.Chunk
	enc     fetchEncoder
	bufs    net.Buffers
}

// begin starts a response at version, keeping the slices of the last.
func (f *fetchBody) begin(version int16) {
	topics := f.resp.Topics[:0]
	f.resp = kmsg.NewFetchResponse()
	f.resp.Topics = topics
	f.resp.SetVersion(version)
	clear(f.results)
	f.results = f.results[:0]
}

// addTopic appends a topic to the response, reusing a slot's partitions.
func (f *fetchBody) addTopic() *kmsg.FetchResponseTopic {
	n := len(f.resp.Topics)
	if n < cap(f.resp.Topics) {
		f.resp.Topics = f.resp.Topics[:n+1]
		t := &f.resp.Topics[n]
		parts := t.Partitions[:0]
		*t = kmsg.NewFetchResponseTopic()
		t.Partitions = parts
		return t
	}
	f.resp.Topics = append(f.resp.Topics, kmsg.NewFetchResponseTopic())
	return &f.resp.Topics[n]
}

// addPartition appends a copy of sp to t.
func (f *fetchBody) addPartition(t *kmsg.FetchResponseTopic, sp *kmsg.FetchResponseTopicPartition) {
	t.Partitions = append(t.Partitions, *sp)
}

// dropChunks lets go of the maps a read took (a read that is not sent).
func (f *fetchBody) dropChunks() {
	for i := range f.chunks {
		f.chunks[i].Release()
	}
	clear(f.chunks)
	f.chunks = f.chunks[:0]
}

// reset clears what a used body refers to, before the pool keeps it.
func (f *fetchBody) reset() {
	f.dropChunks()
	for i := range f.resp.Topics[:cap(f.resp.Topics)] {
		t := &f.resp.Topics[:cap(f.resp.Topics)][i]
		t.Topic = ""
		clear(t.Partitions[:cap(t.Partitions)])
		t.Partitions = t.Partitions[:0]
	}
	f.resp.Topics = f.resp.Topics[:0]
	clear(f.results)
	f.results = f.results[:0]
	clear(f.bufs)
	f.bufs = f.bufs[:0]
	f.enc.reset()
}

func (f *fetchBody) Buffers() net.Buffers {
	f.bufs = f.enc.encode(&f.resp, f.bufs[:0])
	return f.bufs
}

// Release is the connection's: the body is written (or abandoned).
func (f *fetchBody) Release() {
	w := f.w
	w.mu.Lock()
	f.dropChunks()
	w.bodyOut = false
	w.releaseLocked()
}
