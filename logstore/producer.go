package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/potok-io/potok/records"
)

// numBatchesToRetain is how many recent batches per producer the log keeps
// for duplicate detection: Kafka's ProducerStateEntry.NUM_BATCHES_TO_RETAIN,
// the reason producers keep at most five requests in flight.
const numBatchesToRetain = 5

// batchMeta is one remembered batch of a producer.
type batchMeta struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
	maxTs                   int64
}

// producerEntry is the state of one producer id in one partition, Kafka's
// ProducerStateEntry.
type producerEntry struct {
	pid        int64
	epoch      int16
	batches    [numBatchesToRetain]batchMeta // oldest first
	n          int                           // batches in use
	lastTs     int64
	coordEpoch int32
	txnFirst   int64 // first offset of the ongoing transaction, -1 if none
}

func (e *producerEntry) last() *batchMeta {
	if e.n == 0 {
		return nil
	}
	return &e.batches[e.n-1]
}

// lastDataOffset is the last offset this producer wrote, -1 if unknown.
func (e *producerEntry) lastDataOffset() int64 {
	if b := e.last(); b != nil {
		return b.lastOffset
	}
	return -1
}

func (e *producerEntry) addBatch(m batchMeta) {
	if e.n == numBatchesToRetain {
		copy(e.batches[:], e.batches[1:])
		e.n--
	}
	e.batches[e.n] = m
	e.n++
}

func (e *producerEntry) findDuplicate(firstSeq, lastSeq int32) *batchMeta {
	for i := e.n - 1; i >= 0; i-- {
		if e.batches[i].firstSeq == firstSeq && e.batches[i].lastSeq == lastSeq {
			return &e.batches[i]
		}
	}
	return nil
}

// ProducerState describes one producer of a partition (DescribeProducers).
type ProducerState struct {
	ProducerID       int64
	Epoch            int16
	LastSequence     int32 // -1 when no batch is remembered
	LastTimestamp    int64
	CoordinatorEpoch int32
	TxnStartOffset   int64 // -1 when no transaction is open
}

func (e *producerEntry) state() ProducerState {
	ps := ProducerState{ProducerID: e.pid, Epoch: e.epoch, LastSequence: -1, LastTimestamp: e.lastTs,
		CoordinatorEpoch: e.coordEpoch, TxnStartOffset: e.txnFirst}
	if b := e.last(); b != nil {
		ps.LastSequence = b.lastSeq
	}
	return ps
}

// producers is a partition's producer state: Kafka's ProducerStateManager.
// Guarded by the log (mutated with the append lock and mutex held).
type producers struct {
	m map[int64]*producerEntry
	// ongoing maps producer id to the first offset of its open transaction.
	ongoing map[int64]int64
}

func newProducers() producers {
	return producers{m: make(map[int64]*producerEntry), ongoing: make(map[int64]int64)}
}

// pendingBatch is one checked but not yet applied producer update: Append
// checks every batch first and applies them only once the bytes are written.
type pendingBatch struct {
	pid      int64
	epoch    int16
	meta     batchMeta
	txn      bool
	control  bool
	marker   int16 // control type for control batches, -1 if unreadable
	coord    int32
	firstOff int64
}

// errDuplicate reports a retried batch still in the producer's cache; the
// append succeeds without writing and answers with the original offsets.
type errDuplicate struct{ first, last int64 }

func (e *errDuplicate) Error() string { return "duplicate batch" }

// check validates one leader-appended batch against the producer's state and
// the updates already pending from earlier batches of the same append
// (Kafka's ProducerAppendInfo: checkProducerEpoch, checkSequence, and
// UnifiedLog.analyzeAndValidateProducerState for duplicates).
func (p *producers) check(b records.Batch, pend []pendingBatch) error {
	pid := b.ProducerID()
	e := p.m[pid]
	epoch, lastSeq, known := int16(0), int32(-1), false
	if e != nil {
		epoch, known = e.epoch, true
		if l := e.last(); l != nil {
			lastSeq = l.lastSeq
		}
	}
	// Earlier batches of this append come after the stored state.
	for i := range pend {
		if pend[i].pid == pid {
			if !known || pend[i].epoch != epoch {
				lastSeq = -1
			}
			epoch, known = pend[i].epoch, true
			if !pend[i].control {
				lastSeq = pend[i].meta.lastSeq
			}
		}
	}
	be := b.ProducerEpoch()
	if b.IsControl() {
		if known && be < epoch {
			return fmt.Errorf("%w: marker epoch %d is older than producer %d's epoch %d", ErrInvalidProducerEpoch, be, pid, epoch)
		}
		return nil
	}
	if known && be < epoch {
		return fmt.Errorf("%w: epoch %d is older than producer %d's epoch %d", ErrInvalidProducerEpoch, be, pid, epoch)
	}
	first, last := b.BaseSequence(), b.LastSequence()
	if first < 0 {
		// A coordinator's own write (transactional offset commits in
		// __consumer_offsets) carries no sequence; only its epoch is
		// checked, as Kafka does for AppendOrigin.COORDINATOR. Produce
		// requests never get here: validation refuses a producer id
		// without a sequence.
		return nil
	}
	if e != nil && be == e.epoch && len(pend) == 0 {
		if d := e.findDuplicate(first, last); d != nil {
			return &errDuplicate{d.firstOffset, d.lastOffset}
		}
	}
	switch {
	case !known:
		// A producer the log does not know (new, expired or removed with
		// its data): any sequence is accepted (Kafka 2.5+).
	case be != epoch:
		// An epoch bump (KIP-360) must restart the sequence.
		if first != 0 {
			return fmt.Errorf("%w: producer %d bumped epoch to %d with first sequence %d", ErrOutOfOrderSequence, pid, be, first)
		}
	case lastSeq < 0:
		// Known epoch (e.g. from a marker) but no batch remembered.
	case first != records.IncrementSequence(lastSeq, 1):
		if e != nil && e.n > 0 && len(pend) == 0 && last < e.batches[0].firstSeq && first >= 0 {
			return fmt.Errorf("%w: producer %d sequence %d-%d is older than the %d remembered batches (from %d)",
				ErrDuplicateSequence, pid, first, last, e.n, e.batches[0].firstSeq)
		}
		return fmt.Errorf("%w: producer %d epoch %d: expected sequence %d, got %d",
			ErrOutOfOrderSequence, pid, be, records.IncrementSequence(lastSeq, 1), first)
	}
	return nil
}

// pending describes what applying batch b (already at its final offsets)
// will change.
func pendingFor(b records.Batch) pendingBatch {
	pb := pendingBatch{
		pid:      b.ProducerID(),
		epoch:    b.ProducerEpoch(),
		txn:      b.IsTransactional(),
		control:  b.IsControl(),
		marker:   -1,
		firstOff: b.BaseOffset(),
		meta: batchMeta{firstSeq: b.BaseSequence(), lastSeq: b.LastSequence(),
			firstOffset: b.BaseOffset(), lastOffset: b.LastOffset(), maxTs: b.MaxTimestamp()},
	}
	if pb.control {
		pb.marker, pb.coord = markerInfo(b)
	}
	return pb
}

// markerInfo reads the type and coordinator epoch of a transaction marker.
func markerInfo(b records.Batch) (typ int16, coordEpoch int32) {
	if b.Codec() != records.CodecNone {
		return -1, -1
	}
	r := records.NewRecordReader(b.Records(), b.NumRecords())
	var rec records.Record
	if ok, err := r.Next(&rec); !ok || err != nil {
		return -1, -1
	}
	typ = records.ControlType(rec.Key)
	coordEpoch = -1
	if len(rec.Value) >= 6 {
		coordEpoch = int32(binary.BigEndian.Uint32(rec.Value[2:]))
	}
	return typ, coordEpoch
}

// apply updates the state for one batch at its final offsets. For an abort
// marker it returns the aborted transaction for the transaction index, with
// the last stable offset as Kafka computes it (the first offset of the
// earliest other open transaction, or the offset after the marker).
func (p *producers) apply(pb *pendingBatch) (AbortedTxn, bool) {
	e := p.m[pb.pid]
	if e == nil {
		e = &producerEntry{pid: pb.pid, epoch: pb.epoch, txnFirst: -1, coordEpoch: -1}
		p.m[pb.pid] = e
	}
	if pb.epoch != e.epoch {
		if pb.epoch > e.epoch || e.n == 0 {
			e.n = 0
		}
		e.epoch = pb.epoch
	}
	if pb.meta.maxTs > e.lastTs {
		e.lastTs = pb.meta.maxTs
	}
	if pb.control {
		var out AbortedTxn
		aborted := false
		if pb.marker == records.ControlAbort || pb.marker == records.ControlCommit {
			first := e.txnFirst
			if first < 0 {
				first = pb.firstOff
			}
			delete(p.ongoing, pb.pid)
			if pb.marker == records.ControlAbort {
				lso := pb.meta.lastOffset + 1
				for _, o := range p.ongoing {
					lso = min(lso, o)
				}
				out = AbortedTxn{ProducerID: pb.pid, FirstOffset: first, LastOffset: pb.meta.lastOffset, LastStableOffset: lso}
				aborted = true
			}
			e.txnFirst = -1
			e.coordEpoch = pb.coord
		}
		return out, aborted
	}
	if pb.txn && e.txnFirst < 0 {
		e.txnFirst = pb.firstOff
		p.ongoing[pb.pid] = pb.firstOff
	}
	if pb.meta.firstSeq >= 0 {
		if l := e.last(); l != nil && pb.meta.firstSeq != records.IncrementSequence(l.lastSeq, 1) {
			// A break in the sequence within one epoch: the producer was
			// forgotten and started over (or a follower copied it so); the
			// old batches are no longer its recent history.
			e.n = 0
		}
		e.addBatch(pb.meta)
	}
	return AbortedTxn{}, false
}

// firstUnstable is the first offset of the earliest open transaction, or -1.
func (p *producers) firstUnstable() int64 {
	first := int64(-1)
	for _, o := range p.ongoing {
		if first < 0 || o < first {
			first = o
		}
	}
	return first
}

// evictBefore drops producers whose every batch lies below logStart (Kafka's
// ProducerStateManager.onLogStartOffsetIncremented), and expired ones.
func (p *producers) evict(logStart, now, expirationMs int64) {
	for pid, e := range p.m {
		last := e.lastDataOffset()
		expired := expirationMs >= 0 && e.txnFirst < 0 && now-e.lastTs >= expirationMs
		if (last >= 0 && last < logStart && e.txnFirst < 0) || expired {
			delete(p.m, pid)
		}
		if e.txnFirst >= 0 && e.txnFirst < logStart && last < logStart {
			delete(p.m, pid)
			delete(p.ongoing, pid)
		}
	}
}

func (p *producers) list() []ProducerState {
	out := make([]ProducerState, 0, len(p.m))
	for _, e := range p.m {
		out = append(out, e.state())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProducerID < out[j].ProducerID })
	return out
}

// Snapshot file: Potok's own layout, in the spirit of Kafka's
// ProducerStateManager snapshot (version, CRC-32C over the rest, entries).
//
//	magic "PTKP" | version int16 = 1 | crc uint32 | count int32 | entries...
//	entry: pid int64 | epoch int16 | lastTs int64 | coordEpoch int32 |
//	       txnFirst int64 | n int8 | n x (firstSeq int32, lastSeq int32,
//	       firstOffset int64, lastOffset int64, maxTs int64)
const (
	snapshotMagic   = "PTKP"
	snapshotVersion = 1
	snapHeader      = 4 + 2 + 4 + 4
	snapEntryFixed  = 8 + 2 + 8 + 4 + 8 + 1
	snapBatchSize   = 4 + 4 + 8 + 8 + 8
)

func (p *producers) encode() []byte {
	pids := make([]int64, 0, len(p.m))
	for pid := range p.m {
		pids = append(pids, pid)
	}
	sort.Slice(pids, func(i, j int) bool { return pids[i] < pids[j] })
	buf := make([]byte, snapHeader, snapHeader+len(pids)*(snapEntryFixed+numBatchesToRetain*snapBatchSize))
	copy(buf, snapshotMagic)
	binary.BigEndian.PutUint16(buf[4:], snapshotVersion)
	binary.BigEndian.PutUint32(buf[10:], uint32(len(pids)))
	for _, pid := range pids {
		e := p.m[pid]
		buf = binary.BigEndian.AppendUint64(buf, uint64(e.pid))
		buf = binary.BigEndian.AppendUint16(buf, uint16(e.epoch))
		buf = binary.BigEndian.AppendUint64(buf, uint64(e.lastTs))
		buf = binary.BigEndian.AppendUint32(buf, uint32(e.coordEpoch))
		buf = binary.BigEndian.AppendUint64(buf, uint64(e.txnFirst))
		buf = append(buf, byte(e.n))
		for i := 0; i < e.n; i++ {
			m := &e.batches[i]
			buf = binary.BigEndian.AppendUint32(buf, uint32(m.firstSeq))
			buf = binary.BigEndian.AppendUint32(buf, uint32(m.lastSeq))
			buf = binary.BigEndian.AppendUint64(buf, uint64(m.firstOffset))
			buf = binary.BigEndian.AppendUint64(buf, uint64(m.lastOffset))
			buf = binary.BigEndian.AppendUint64(buf, uint64(m.maxTs))
		}
	}
	binary.BigEndian.PutUint32(buf[6:], records.CRC(buf[10:]))
	return buf
}

var errBadSnapshot = errors.New("logstore: bad producer snapshot")

// decodeSnapshot parses a snapshot; any inconsistency is an error (the file
// is then ignored and the state rebuilt from the log).
func decodeSnapshot(buf []byte) (producers, error) {
	p := newProducers()
	if len(buf) < snapHeader || string(buf[:4]) != snapshotMagic {
		return p, fmt.Errorf("%w: header", errBadSnapshot)
	}
	if v := binary.BigEndian.Uint16(buf[4:]); v != snapshotVersion {
		return p, fmt.Errorf("%w: version %d", errBadSnapshot, v)
	}
	if records.CRC(buf[10:]) != binary.BigEndian.Uint32(buf[6:]) {
		return p, fmt.Errorf("%w: CRC mismatch", errBadSnapshot)
	}
	count := int(binary.BigEndian.Uint32(buf[10:]))
	rest := buf[snapHeader:]
	if count < 0 || count > len(rest)/snapEntryFixed {
		return p, fmt.Errorf("%w: %d entries", errBadSnapshot, count)
	}
	for i := 0; i < count; i++ {
		if len(rest) < snapEntryFixed {
			return p, fmt.Errorf("%w: short entry", errBadSnapshot)
		}
		e := &producerEntry{
			pid:        int64(binary.BigEndian.Uint64(rest)),
			epoch:      int16(binary.BigEndian.Uint16(rest[8:])),
			lastTs:     int64(binary.BigEndian.Uint64(rest[10:])),
			coordEpoch: int32(binary.BigEndian.Uint32(rest[18:])),
			txnFirst:   int64(binary.BigEndian.Uint64(rest[22:])),
			n:          int(rest[30]),
		}
		rest = rest[snapEntryFixed:]
		if e.n > numBatchesToRetain || len(rest) < e.n*snapBatchSize || e.pid < 0 {
			return p, fmt.Errorf("%w: entry %d", errBadSnapshot, i)
		}
		for j := 0; j < e.n; j++ {
			e.batches[j] = batchMeta{
				firstSeq:    int32(binary.BigEndian.Uint32(rest)),
				lastSeq:     int32(binary.BigEndian.Uint32(rest[4:])),
				firstOffset: int64(binary.BigEndian.Uint64(rest[8:])),
				lastOffset:  int64(binary.BigEndian.Uint64(rest[16:])),
				maxTs:       int64(binary.BigEndian.Uint64(rest[24:])),
			}
			rest = rest[snapBatchSize:]
		}
		if _, dup := p.m[e.pid]; dup {
			return p, fmt.Errorf("%w: producer %d twice", errBadSnapshot, e.pid)
		}
		p.m[e.pid] = e
		if e.txnFirst >= 0 {
			p.ongoing[e.pid] = e.txnFirst
		}
	}
	if len(rest) != 0 {
		return p, fmt.Errorf("%w: %d trailing bytes", errBadSnapshot, len(rest))
	}
	return p, nil
}
