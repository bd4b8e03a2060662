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

func (b *Broker) handleProduce(r *protocol.Request) {
	req := r.Msg.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	b.throttleProduce(r) // quotas.go
	var w *produceWait
	if req.Acks == -1 {
		w = &produceWait{r: r, resp: resp}
	}
	failed := false
	scratch := scratchPool.Get().(*[]byte)
	now := b.now()
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		*st = kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		ts := b.topic(rt.Topic)
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
			if w != nil {
				w.pending = append(w.pending, pendingAck{p: p, sp: sp, offset: end})
			}
		}
	}
	scratchPool.Put(scratch)
	// Every batch is in the log (or refused): the request's bytes are no
	// longer needed, and an acks=all wait must not hold them.
	r.ReleaseFrame()
	switch {
	case req.Acks == 0 && failed:
		r.CloseConnection()
	case req.Acks == 0:
		r.NoResponse()
	case w != nil:
		w.start(time.Duration(req.TimeoutMillis) * time.Millisecond)
	default:
		r.Respond(resp)
	}
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

// produceWait is an acks=all produce waiting for its partitions' high
// watermarks.
type produceWait struct {
	r    *protocol.Request
	resp *kmsg.ProduceResponse

	mu      sync.Mutex
	waiting map[*kmsg.ProduceResponseTopicPartition]bool // guarded by mu
	pending []pendingAck                                 // before start
	done    bool                                         // guarded by mu
	timer   *time.Timer
}

type pendingAck struct {
	p      *partition
	sp     *kmsg.ProduceResponseTopicPartition
	offset int64
}

// start registers the waits and arms the timeout.
func (w *produceWait) start(timeout time.Duration) {
	w.mu.Lock()
	w.waiting = make(map[*kmsg.ProduceResponseTopicPartition]bool, len(w.pending))
	for _, a := range w.pending {
		w.waiting[a.sp] = true
	}
	pending := w.pending
	w.pending = nil
	if len(w.waiting) == 0 {
		w.done = true
		w.mu.Unlock()
		w.r.Respond(w.resp)
		return
	}
	w.timer = time.AfterFunc(max(timeout, 0), w.expire)
	w.mu.Unlock()
	for _, a := range pending {
		sp := a.sp
		a.p.waitFor(a.offset, func(ok bool) { w.acked(sp, ok) })
	}
}

func (w *produceWait) acked(sp *kmsg.ProduceResponseTopicPartition, ok bool) {
	w.mu.Lock()
	if w.done || !w.waiting[sp] {
		w.mu.Unlock()
		return
	}
	delete(w.waiting, sp)
	if !ok {
		sp.ErrorCode = kerr.NotLeaderForPartition.Code
	}
	finished := len(w.waiting) == 0
	if finished {
		w.done = true
		w.timer.Stop()
	}
	w.mu.Unlock()
	if finished {
		w.r.Respond(w.resp)
	}
}

func (w *produceWait) expire() {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return
	}
	w.done = true
	for sp := range w.waiting {
		sp.ErrorCode = kerr.RequestTimedOut.Code
	}
	w.mu.Unlock()
	w.r.Respond(w.resp)
}
