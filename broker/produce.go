package broker

// Produce (key 0), v0-v11 advertised; v3-v11 served.
//
// Per partition, in Kafka's order (UnifiedLog.analyzeAndValidateRecords,
// LogValidator): the partition exists and is not internal, the records are
// one well-formed v2 batch within max.message.bytes, CRC, counts, codec and
// timestamps check out (records.ValidateProduce), the topic's
// compression.type is applied (recompressing when it names a codec), then
// the log appends it, checking the producer's epoch and sequence and
// answering a retried batch with its original offsets.
//
// acks=0 gets no response; if any partition failed the connection is closed
// instead, so the producer refreshes its metadata (KafkaApis). acks=1 answers
// after the append. acks=all answers once the high watermark covers the
// batch, which on a single node means it is on disk; a timeout gives
// REQUEST_TIMED_OUT for the partitions still waiting (their data may still
// commit). v0-v2 (magic 0/1 message sets) are advertised but answered
// UNSUPPORTED_VERSION, as Kafka 4 does.

import (
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/potok-io/potok/coordinator"
	"github.com/potok-io/potok/logstore"
	"github.com/potok-io/potok/protocol"
	"github.com/potok-io/potok/records"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// maxPooledScratch is the largest decompression buffer kept for reuse.
const maxPooledScratch = 8 << 20

func (b *Broker) handleProduce(r *protocol.Request) {
	req := r.Msg.(*kmsg.ProduceRequest)
	w := newProduceWait(r, req.Version)
	resp := &w.resp
	b.throttleProduce(r) // quotas.go
	failed := false
	scratch := scratchPool.Get().(*[]byte)
	now := b.now()
	// The response is filled in place, reusing the pooled slices; the
	// pointers to its partitions taken below stay valid because nothing
	// grows after this.
	resp.Topics = growSlice(resp.Topics, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		parts := st.Partitions
		*st = kmsg.NewProduceResponseTopic()
		ts := b.topic(rt.Topic)
		// Names in the request alias its frame, released below: the
		// response takes the topic table's own string.
		if ts != nil {
			st.Topic = ts.name
		} else {
			st.Topic = strings.Clone(rt.Topic)
		}
		st.Partitions = growSlice(parts, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			var p *partition
			var end int64
			switch {
			case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
				sp.ErrorCode = kerr.InvalidRequiredAcks.Code
			case req.Version < 3:
				sp.ErrorCode = kerr.UnsupportedVersion.Code
			case req.Acks == -1 && b.belowMinISR(ts, rp.Partition):
				sp.ErrorCode = kerr.NotEnoughReplicas.Code
			default:
				p, end = b.produceTo(ts, rp, req.Version, req.TransactionID, now, sp, scratch)
			}
			if sp.ErrorCode != 0 {
				failed = true
				continue
			}
			if req.Acks == -1 {
				w.acks = append(w.acks, pendingAck{p: p, sp: sp, offset: end})
			}
		}
	}
	if cap(*scratch) <= maxPooledScratch { // a high-ratio batch's buffer is not kept
		scratchPool.Put(scratch)
	}
	acks, timeout := req.Acks, time.Duration(req.TimeoutMillis)*time.Millisecond
	// Every batch is in the log (or refused): the request's bytes are no
	// longer needed, and an acks=all wait must not hold them.
	r.ReleaseFrame()
	switch {
	case acks == 0 && failed:
		r.CloseConnection()
		w.free()
	case acks == 0:
		r.NoResponse()
		w.free()
	case acks == -1 && len(w.acks) > 0:
		w.start(timeout)
	default:
		r.Respond(resp)
		w.free()
	}
}

// growSlice returns s with length n, keeping its capacity (and the slices
// inside the elements it keeps).
func growSlice[T any](s []T, n int) []T {
	if n <= cap(s) {
		return s[:n]
	}
	return append(s[:cap(s)], make([]T, n-cap(s))...)
}

// produceTo validates and appends one partition's batch, filling sp. When
// the append succeeded it returns the partition and the offset just past the
// batch, which acks=all waits for.
func (b *Broker) produceTo(ts *topicState, rp *kmsg.ProduceRequestTopicPartition, version int16, txnID *string, now time.Time,
	sp *kmsg.ProduceResponseTopicPartition, scratch *[]byte) (*partition, int64) {
	p := ts.partition(rp.Partition)
	switch {
	case p == nil:
		sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return nil, 0
	case ts.internal:
		// Only the coordinators write to internal topics.
		sp.ErrorCode = kerr.InvalidTopicException.Code
		return nil, 0
	case p.log == nil:
		sp.ErrorCode = kerr.KafkaStorageError.Code
		return nil, 0
	}
	s := ts.settings.Load()
	opts := records.ValidateOptions{
		MaxBatchBytes:   int(s.MaxMessageBytes),
		AllowZstd:       version >= 7,
		RequireKeys:     s.CleanupCompact,
		LogAppendTime:   s.LogAppendTime,
		Now:             now.UnixMilli(),
		BeforeMaxMs:     s.TimestampBeforeMaxMs,
		AfterMaxMs:      s.TimestampAfterMaxMs,
		MaxDecompressed: maxDecompressed(s),
		Budget:          b.decompress,
	}
	target, recompress := records.ParseCodec(s.CompressionType)
	opts.KeepRaw = recompress
	v, sc, verr := records.ValidateProduce(rp.Records, &opts, *scratch)
	*scratch = sc[:0]
	if verr != nil {
		setRecordError(sp, verr, version)
		return nil, 0
	}
	if v.Batch.IsTransactional() {
		// KIP-890 part 1: a transactional batch is written only to a
		// partition of the producer's ongoing transaction, so a late
		// write cannot leave a transaction hanging.
		if txnID == nil {
			sp.ErrorCode = kerr.InvalidRecord.Code
			return nil, 0
		}
		if e := b.txn.VerifyPartition(*txnID, v.Batch.ProducerID(), v.Batch.ProducerEpoch(),
			coordinator.TopicPartition{Topic: ts.name, Partition: rp.Partition}); e != nil {
			sp.ErrorCode = e.Code
			return nil, 0
		}
	}
	batch := []byte(v.Batch)
	if recompress && v.Batch.Codec() != target {
		var err error
		if batch, err = rebuild(v, target); err != nil {
			sp.ErrorCode = kerr.CorruptMessage.Code
			return nil, 0
		}
	}
	res, err := p.log.Append(batch, logstore.AppendOptions{LeaderEpoch: p.leaderEpoch.Load()})
	if err != nil {
		sp.ErrorCode = appendErrorCode(err)
		if sp.ErrorCode == kerr.KafkaStorageError.Code {
			b.log.Error("append failed", "topic", ts.name, "partition", p.index, "err", err)
		}
		return nil, 0
	}
	sp.BaseOffset = res.FirstOffset
	sp.LogAppendTime = res.LogAppendTime
	sp.LogStartOffset = res.LogStartOffset
	p.appended()
	b.countProduced(ts, batch) // ops.go
	return p, res.LastOffset + 1
}

// maxDecompressed bounds how far one batch may expand: generous for real
// data, fatal for a decompression bomb.
func maxDecompressed(s *topicSettings) int {
	return max(64<<20, 8*int(s.MaxMessageBytes))
}

// rebuild re-encodes a validated batch with the topic's codec (Kafka's
// LogValidator does the same when compression.type names a codec).
func rebuild(v records.Validated, codec records.Codec) ([]byte, error) {
	src := v.Batch
	h := records.BatchHeader{
		Attributes:    src.Attributes(),
		BaseTimestamp: src.BaseTimestamp(),
		MaxTimestamp:  src.MaxTimestamp(),
		ProducerID:    src.ProducerID(),
		ProducerEpoch: src.ProducerEpoch(),
		BaseSequence:  src.BaseSequence(),
	}
	return records.AppendRawBatch(nil, h, codec, v.Raw, src.NumRecords(), src.LastOffsetDelta())
}

func setRecordError(sp *kmsg.ProduceResponseTopicPartition, e *records.Error, version int16) {
	sp.ErrorCode = e.Code.Code
	if version < 8 {
		return
	}
	msg := e.Message
	sp.ErrorMessage = &msg
	if e.RecordIndex >= 0 {
		re := kmsg.NewProduceResponseTopicPartitionErrorRecord()
		re.RelativeOffset = int32(e.RecordIndex)
		re.ErrorMessage = &msg
		sp.ErrorRecords = append(sp.ErrorRecords, re)
	}
}

// appendErrorCode maps a log error to the Kafka error a producer expects.
func appendErrorCode(err error) int16 {
	switch {
	case errors.Is(err, logstore.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, logstore.ErrDuplicateSequence):
		return kerr.DuplicateSequenceNumber.Code
	case errors.Is(err, logstore.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, logstore.ErrCorrupt):
		return kerr.CorruptMessage.Code
	case errors.Is(err, logstore.ErrStorage), errors.Is(err, logstore.ErrClosed):
		return kerr.KafkaStorageError.Code
	}
	return kerr.UnknownServerError.Code
}

// produceWait is a produce request's response being built and, for
// acks=all, waiting for its partitions' high watermarks. Pooled: it is
// reused once answered, its timer stopped or run, and every registration
// on a partition fired (a timed-out wait leaves registrations behind that
// fire later).
type produceWait struct {
	r    *protocol.Request
	resp kmsg.ProduceResponse
	acks []pendingAck // partitions waiting; fixed once start is called

	mu        sync.Mutex
	left      int  // acks not yet fired; guarded by mu
	regs      int  // registrations not yet called back; guarded by mu
	done      bool // answered; guarded by mu
	timerLive bool // timer armed or its function running; guarded by mu
	timer     *time.Timer
}

type pendingAck struct {
	p      *partition
	sp     *kmsg.ProduceResponseTopicPartition
	offset int64
	fired  bool // guarded by mu
}

var produceWaits sync.Pool

func newProduceWait(r *protocol.Request, version int16) *produceWait {
	w, _ := produceWaits.Get().(*produceWait)
	if w == nil {
		w = new(produceWait)
		w.timer = time.AfterFunc(time.Hour, w.expire)
		w.timer.Stop()
	}
	w.r = r
	topics := w.resp.Topics
	w.resp = kmsg.NewProduceResponse()
	w.resp.Topics = topics
	w.resp.SetVersion(version)
	return w
}

// free returns w to the pool; the caller is its last user.
func (w *produceWait) free() {
	w.r = nil
	clear(w.acks)
	w.acks = w.acks[:0]
	w.left, w.regs, w.done = 0, 0, false
	for i := range w.resp.Topics {
		t := &w.resp.Topics[i]
		t.Topic = ""
		clear(t.Partitions)
	}
	produceWaits.Put(w)
}

// start arms the timeout and registers the waits.
func (w *produceWait) start(timeout time.Duration) {
	w.mu.Lock()
	w.left, w.regs = len(w.acks), len(w.acks)
	w.timerLive = true
	w.timer.Reset(max(timeout, 0))
	w.mu.Unlock()
	// The slice is fixed from here on, and the timer may answer (and
	// stop using it) at any moment: index by position.
	for i := range w.acks {
		a := &w.acks[i]
		a.p.waitFor(a.offset, w, i)
	}
}

// hwReached is the partition's callback for acks[i].
func (w *produceWait) hwReached(i int, ok bool) {
	w.mu.Lock()
	w.regs--
	if a := &w.acks[i]; !w.done && !a.fired {
		a.fired = true
		if !ok {
			a.sp.ErrorCode = kerr.NotLeaderForPartition.Code
		}
		if w.left--; w.left == 0 {
			w.done = true
			if w.timer.Stop() {
				w.timerLive = false
			}
			w.r.Respond(&w.resp)
		}
	}
	w.releaseLocked()
}

func (w *produceWait) expire() {
	w.mu.Lock()
	w.timerLive = false
	if !w.done {
		w.done = true
		for i := range w.acks {
			if !w.acks[i].fired {
				w.acks[i].sp.ErrorCode = kerr.RequestTimedOut.Code
			}
		}
		w.r.Respond(&w.resp)
	}
	w.releaseLocked()
}

// releaseLocked unlocks mu and frees w if nothing refers to it any more.
func (w *produceWait) releaseLocked() {
	last := w.done && w.regs == 0 && !w.timerLive
	w.mu.Unlock()
	if last {
		w.free()
	}
}
