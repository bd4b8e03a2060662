package logstore

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/potok-io/potok/records"
)

// TopicPartition names a partition; its directory is "<topic>-<partition>".
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Log is one partition's log: an ordered list of segments, the last of which
// (the active segment) takes appends.
//
// Locks, in the order they are taken:
//
//	cleanMu   one compaction pass at a time.
//	appendMu  serializes everything that writes: Append, Roll, truncation,
//	          retention, DeleteRecords, the compaction swap, Close.
//	syncMu    held while files are synced or closed, so the flusher never
//	          syncs a file another goroutine closes under it.
//	mu        guards the fields below; readers take it shared.
//	dmu       guards the durability waiters (never held with the others).
//
// The appender writes file bytes with appendMu alone and publishes the new
// sizes and offsets under mu, so a reader sees a batch only once it is whole.
type Log struct {
	m       *Manager
	fs      FS
	tp      TopicPartition
	topicID [16]byte
	dir     string
	dataDir string
	logger  *slog.Logger

	appendMu sync.Mutex
	syncMu   sync.Mutex
	cleanMu  sync.Mutex

	mu       sync.RWMutex
	cfg      Config
	segs     []*segment
	leo      int64
	logStart int64
	hw       int64
	epochs   epochCache
	prod     producers
	closed   bool
	// broken is set when a failed write could not be cut back, or a sync
	// failed: appends fail until a repair succeeds. Guarded by mu.
	broken error
	// truncGen counts truncations; a sync that started before one must not
	// advance the durable offset past the new end.
	truncGen uint64
	// unflushed counts records appended since the last sync was queued.
	unflushed int64
	lastFlush int64 // ms, for flush.ms
	// recoveryPoint: everything below it is synced with its indexes.
	recoveryPoint     int64
	cleanerCheckpoint int64
	// persistedRP is the recovery point last written to the checkpoint
	// file: what a crash would recover from.
	persistedRP int64

	durable atomic.Int64
	queued  atomic.Bool // in the flusher's queue

	dmu   sync.Mutex
	dcond sync.Cond
	// syncErr is the last sync failure; durable waiters whose offset it did
	// not cover return it. syncErrGen counts failures (and truncations);
	// it changes under dmu but is read atomically where dmu cannot be
	// taken.
	syncErr    error
	syncErrGen atomic.Uint64

	// Scratch reused by Append (guarded by appendMu) so that a steady
	// stream of appends allocates nothing.
	pend    []pendingBatch
	idxBuf  []byte
	tidxBuf []byte
	txnBuf  []byte
}

func (l *Log) TopicPartition() TopicPartition { return l.tp }
func (l *Log) TopicID() [16]byte              { return l.topicID }
func (l *Log) Dir() string                    { return l.dir }

func (l *Log) Config() Config {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cfg
}

// SetConfig changes the log's settings; they apply from the next decision
// that reads them (roll, retention pass, flush, compaction).
func (l *Log) SetConfig(c Config) {
	c = c.sane()
	l.appendMu.Lock()
	l.mu.Lock()
	l.cfg = c
	if n := len(l.segs); n > 0 {
		act := l.segs[n-1]
		act.mapMu.Lock()
		act.activate(&l.cfg)
		act.mapMu.Unlock()
	}
	l.mu.Unlock()
	l.appendMu.Unlock()
}

func (l *Log) LogStartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.logStart
}

func (l *Log) LogEndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.leo
}

// DurableOffset is the offset below which every record is on disk.
func (l *Log) DurableOffset() int64 { return l.durable.Load() }

func (l *Log) HighWatermark() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.hw
}

// SetHighWatermark sets the high watermark, clamped to [log start, log end].
// It is written to replication-offset-checkpoint with the next checkpoint.
func (l *Log) SetHighWatermark(hw int64) {
	l.mu.Lock()
	l.hw = min(max(hw, l.logStart), l.leo)
	l.mu.Unlock()
}

// LastStableOffset is min(first offset of every open transaction, HW).
func (l *Log) LastStableOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.lsoLocked()
}

func (l *Log) lsoLocked() int64 {
	if f := l.prod.firstUnstable(); f >= 0 && f < l.hw {
		return f
	}
	return l.hw
}

func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segs {
		n += s.log.size
	}
	return n
}

func (l *Log) NumSegments() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.segs)
}

func (l *Log) LatestEpoch() int32 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.latest()
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch (LeaderEpochFileCache.endOffsetFor).
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.endOffsetFor(epoch, l.leo)
}

// EpochForOffset returns the leader epoch that wrote offset, -1 if unknown.
func (l *Log) EpochForOffset(offset int64) int32 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.epochFor(offset)
}

func (l *Log) Producer(pid int64) (ProducerState, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	e := l.prod.m[pid]
	if e == nil {
		return ProducerState{}, false
	}
	return e.state(), true
}

func (l *Log) Producers() []ProducerState {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.prod.list()
}

// AbortedTxns returns every aborted transaction overlapping [from, to),
// sorted by first offset, for read_committed fetches. An index that cannot
// be read is an error: without it a reader would take aborted records for
// committed ones.
func (l *Log) AbortedTxns(from, to int64) ([]AbortedTxn, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []AbortedTxn
	var err error
	for _, s := range l.segs {
		if s.txnCount == 0 {
			continue
		}
		// An aborted transaction is indexed in the segment of its marker,
		// which is at or after its data, so segments ending before from
		// cannot hold one overlapping [from, to).
		if s.next <= from {
			continue
		}
		if out, err = s.abortedTxns(out, from, to); err != nil {
			return nil, fmt.Errorf("logstore: %s: reading the transaction index of segment %d: %w", l.tp, s.base, err)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FirstOffset < out[j].FirstOffset })
	return out, nil
}

// AppendOptions say who appends and whether to wait for the disk.
type AppendOptions struct {
	LeaderEpoch int32 // stamped into every batch (leader appends); ignored AsFollower
	AsFollower  bool  // keep the batches' offsets and epochs (replication)
	Durable     bool  // return only once the data is fdatasynced (group commit)
}

// AppendResult describes an append.
type AppendResult struct {
	FirstOffset, LastOffset int64 // of the appended (or, for a duplicate, the original) batches
	LogAppendTime           int64 // -1 unless the topic uses LogAppendTime
	LogStartOffset          int64
	Duplicate               bool
}

// Append appends one or more concatenated magic-2 batches, already validated
// by the caller (records.ValidateProduce). A leader append assigns offsets
// from the log end by patching baseOffset and partitionLeaderEpoch in the
// caller's buffer (fields outside the CRC) and stores the bytes verbatim. A
// retried batch of an idempotent producer is not appended again: the result
// carries the original offsets and Duplicate.
func (l *Log) Append(batches []byte, o AppendOptions) (AppendResult, error) {
	l.appendMu.Lock()
	res, gen, err := l.appendLocked(batches, &o)
	l.appendMu.Unlock()
	if err != nil || !o.Durable {
		return res, err
	}
	return res, l.waitDurable(res.LastOffset+1, gen)
}

// appendLocked appends (appendMu held). gen is the sync failure generation
// when the batches became visible to syncs: a failure after it may have
// covered them.
func (l *Log) appendLocked(batches []byte, o *AppendOptions) (res AppendResult, gen uint64, err error) {
	res = AppendResult{LogAppendTime: -1}
	if l.closed {
		return res, 0, ErrClosed
	}
	l.mu.RLock()
	broken := l.broken // set by a failed sync, under mu, while appends go on
	l.mu.RUnlock()
	if broken != nil {
		if err := l.repairLocked(broken); err != nil {
			return res, 0, err
		}
	}
	cfg := &l.cfg
	now := l.m.nowMs()

	// Pass 1: split, check, assign offsets and collect producer updates.
	l.pend = l.pend[:0]
	next := l.leo
	first := int64(-1)
	var nrec int64
	var firstMaxTs int64
	// Followers learn epochs from the batches; the copy is made only when
	// one is new, which is rare.
	var newEpochs *epochCache
	rest := batches
	for len(rest) > 0 {
		b, r, err := records.Next(rest)
		if err != nil || len(b) < records.HeaderSize || b.LastOffsetDelta() < 0 {
			if err == nil {
				err = errors.New("batch shorter than its header or with a negative offset delta")
			}
			return res, 0, fmt.Errorf("%w: at byte %d: %v", ErrInvalidBatch, len(batches)-len(rest), err)
		}
		rest = r
		if o.AsFollower {
			if b.BaseOffset() < next {
				return res, 0, fmt.Errorf("%w: follower batch at offset %d, log end is %d", ErrInvalidBatch, b.BaseOffset(), next)
			}
			latest := l.epochs.latest()
			if newEpochs != nil {
				latest = newEpochs.latest()
			}
			if ep := b.PartitionLeaderEpoch(); ep > latest {
				if newEpochs == nil {
					newEpochs = &epochCache{entries: append(l.epochBuf(), l.epochs.entries...)}
				}
				newEpochs.assign(ep, b.BaseOffset())
			}
		} else {
			if b.HasProducerID() {
				if err := l.prod.check(b, l.pend); err != nil {
					var dup *errDuplicate
					if errors.As(err, &dup) {
						// The original may still be on its way to the disk.
						return AppendResult{FirstOffset: dup.first, LastOffset: dup.last, LogAppendTime: -1,
							LogStartOffset: l.logStart, Duplicate: true}, l.syncErrGen.Load(), nil
					}
					return res, 0, err
				}
			}
			b.SetBaseOffset(next)
			b.SetPartitionLeaderEpoch(o.LeaderEpoch)
			if cfg.LogAppendTime {
				b.SetLogAppendTime(now)
				res.LogAppendTime = now
			}
		}
		if first < 0 {
			first = b.BaseOffset()
			firstMaxTs = b.MaxTimestamp()
		}
		if b.LastOffset()-first > math.MaxInt32 {
			return res, 0, fmt.Errorf("%w: batches span more than 2^31 offsets", ErrInvalidBatch)
		}
		next = b.LastOffset() + 1
		nrec += int64(b.LastOffsetDelta()) + 1
		if b.HasProducerID() {
			l.pend = append(l.pend, pendingFor(b))
		}
	}
	if first < 0 {
		return res, 0, fmt.Errorf("%w: no batches", ErrInvalidBatch)
	}

	// Roll first if the batches do not belong in the active segment.
	act := l.segs[len(l.segs)-1]
	if l.shouldRoll(act, int64(len(batches)), first, next-1, firstMaxTs, now) {
		// The new segment starts at the log end, not at the first batch
		// (Kafka's choice): a follower's gap then lies inside a segment, so
		// every segment ends where the next begins and recovery can tell
		// a lost tail (a hole between segments) from a gap.
		base := l.leo
		if next-1-base > math.MaxInt32 {
			base = first
		}
		if err := l.rollLocked(base); err != nil {
			return res, 0, err
		}
		act = l.segs[len(l.segs)-1]
	}

	// A new leader epoch starts at the first offset it writes (Kafka
	// assigns it before the append too).
	if o.AsFollower {
		if newEpochs != nil {
			if err := l.setEpochs(newEpochs.entries); err != nil {
				return res, 0, err
			}
		}
	} else if o.LeaderEpoch > l.epochs.latest() {
		e := epochCache{entries: append(l.epochBuf(), l.epochs.entries...)}
		e.assign(o.LeaderEpoch, first)
		if err := l.setEpochs(e.entries); err != nil {
			return res, 0, err
		}
	}

	// Index entries, computed before writing so that one write per file
	// suffices (Kafka's LogSegment.append, batch by batch).
	logPos := act.log.size
	sinceIndex, maxTs, maxTsOff, lastTimeTs := act.sinceIndex, act.maxTs, act.maxTsOffset, act.lastTimeTs
	l.idxBuf, l.tidxBuf = l.idxBuf[:0], l.tidxBuf[:0]
	for rest, pos := batches, logPos; len(rest) > 0; {
		b, r, _ := records.Next(rest)
		rest = r
		if b.MaxTimestamp() > maxTs {
			maxTs, maxTsOff = b.MaxTimestamp(), b.LastOffset()
		}
		if sinceIndex > int64(cfg.IndexIntervalBytes) {
			rel, _ := act.relative(b.LastOffset())
			l.idxBuf = appendOffsetEntry(l.idxBuf, rel, pos)
			if maxTs > lastTimeTs {
				mrel, _ := act.relative(maxTsOff)
				l.tidxBuf = appendTimeEntry(l.tidxBuf, maxTs, mrel)
				lastTimeTs = maxTs
			}
			sinceIndex = 0
		}
		sinceIndex += int64(len(b))
		pos += int64(len(b))
	}
	l.txnBuf = l.txnBuf[:0]
	for i := range l.pend {
		if l.pend[i].control && l.pend[i].marker == records.ControlAbort {
			l.txnBuf = appendTxnEntry(l.txnBuf, l.previewAbort(i))
		}
	}

	// Write: log, then indexes. Any failure cuts every file back to its
	// published size, so nothing partial is ever visible or recovered as
	// valid (a torn index entry would be rebuilt anyway).
	if err := act.log.writeAt(batches, logPos); err != nil {
		return res, 0, l.failWrite(err)
	}
	undo := func(err error) error {
		if terr := act.log.truncate(logPos); terr != nil {
			err = &repairError{err, terr}
		}
		return l.failWrite(err)
	}
	if len(l.idxBuf) > 0 {
		if err := act.idx.writeAt(l.idxBuf, act.idx.size); err != nil {
			return res, 0, undo(err)
		}
	}
	if len(l.tidxBuf) > 0 {
		if err := act.tidx.writeAt(l.tidxBuf, act.tidx.size); err != nil {
			if terr := act.idx.truncate(act.idx.size); terr != nil {
				err = &repairError{err, terr}
			}
			return res, 0, undo(err)
		}
	}
	if len(l.txnBuf) > 0 {
		if err := l.writeTxnEntries(act, l.txnBuf); err != nil {
			if terr := act.idx.truncate(act.idx.size); terr != nil {
				err = &repairError{err, terr}
			}
			if terr := act.tidx.truncate(act.tidx.size); terr != nil {
				err = &repairError{err, terr}
			}
			return res, 0, undo(err)
		}
	}

	act.padAhead(logPos+int64(len(batches)), len(batches), cfg)

	// Publish.
	l.mu.Lock()
	act.log.size += int64(len(batches))
	act.idx.size += int64(len(l.idxBuf))
	act.tidx.size += int64(len(l.tidxBuf))
	if len(l.txnBuf) > 0 {
		act.txn.size += int64(len(l.txnBuf))
		act.txnCount += len(l.txnBuf) / txnEntrySize
	}
	act.verified.Store(act.log.size)
	if act.firstBatchTs < 0 {
		act.firstBatchTs = firstMaxTs
	}
	act.next = next
	act.sinceIndex, act.maxTs, act.maxTsOffset, act.lastTimeTs = sinceIndex, maxTs, maxTsOff, lastTimeTs
	l.leo = next
	for i := range l.pend {
		l.prod.apply(&l.pend[i])
	}
	l.unflushed += nrec
	wantSync := o.Durable || cfg.syncEveryAppend() || l.unflushed >= cfg.FlushMessages
	if wantSync {
		l.unflushed = 0
	}
	res.FirstOffset, res.LastOffset, res.LogStartOffset = first, next-1, l.logStart
	// Read while the batches become visible: a sync that captured them can
	// only fail after this.
	gen = l.syncErrGen.Load()
	l.mu.Unlock()
	if wantSync {
		l.m.flusher.enqueue(l)
	}
	return res, gen, nil
}

// epochBuf returns an empty slice for a candidate epoch list. Epoch changes
// are rare, so a fresh allocation is fine.
func (l *Log) epochBuf() []epochEntry { return make([]epochEntry, 0, len(l.epochs.entries)+1) }

// setEpochs persists and installs a new epoch list (appendMu held).
func (l *Log) setEpochs(entries []epochEntry) error {
	c := epochCache{entries: entries}
	if err := writeFileAtomic(l.fs, l.path(epochFile), c.encode()); err != nil {
		return fmt.Errorf("logstore: %s: write leader-epoch-checkpoint: %w", l.tp, storageErr(err))
	}
	l.mu.Lock()
	l.epochs.entries = entries
	l.mu.Unlock()
	return nil
}

// previewAbort computes the transaction index entry the abort marker
// pend[i] will produce, from the stored state and the earlier pending
// batches of the same append, without changing anything.
func (l *Log) previewAbort(i int) AbortedTxn {
	pb := &l.pend[i]
	ongoing := func(pid int64) int64 { // first offset of pid's open txn before pend[i]
		o, ok := l.prod.ongoing[pid]
		if !ok {
			o = -1
		}
		for j := 0; j < i; j++ {
			if q := &l.pend[j]; q.pid == pid {
				switch {
				case q.control:
					o = -1
				case q.txn && o < 0:
					o = q.firstOff
				}
			}
		}
		return o
	}
	first := pb.firstOff
	if f := ongoing(pb.pid); f >= 0 {
		first = f
	}
	lso := pb.meta.lastOffset + 1
	seen := func(pid int64) int64 {
		if pid == pb.pid {
			return -1
		}
		return ongoing(pid)
	}
	for pid := range l.prod.ongoing {
		if f := seen(pid); f >= 0 && f < lso {
			lso = f
		}
	}
	for j := 0; j < i; j++ {
		if f := seen(l.pend[j].pid); f >= 0 && f < lso {
			lso = f
		}
	}
	return AbortedTxn{ProducerID: pb.pid, FirstOffset: first, LastOffset: pb.meta.lastOffset, LastStableOffset: lso}
}

// writeTxnEntries appends entries to the segment's transaction index,
// creating it on first use.
func (l *Log) writeTxnEntries(s *segment, buf []byte) error {
	if s.txn == nil {
		a, err := openAFile(l.fs, l.m.fds, fileName(l.dir, s.base, txnIndexSuffix), true)
		if err != nil {
			return err
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			a.close()
			return storageErr(err)
		}
		l.mu.Lock()
		s.txn = a
		l.mu.Unlock()
	}
	return s.txn.writeAt(buf, s.txn.size)
}

// failWrite turns a failed write into the error Append returns, remembering
// when the log must be repaired first.
func (l *Log) failWrite(err error) error {
	var re *repairError
	if errors.As(err, &re) {
		l.mu.Lock()
		l.broken = err
		l.mu.Unlock()
	}
	l.logger.Warn("logstore: append failed", "partition", l.tp.String(), "err", err)
	return err
}

// repairLocked cuts the active segment's files back to their published
// sizes after a write that could not be undone, or after a failed sync
// (appendMu held; broken is what l.broken held).
func (l *Log) repairLocked(broken error) error {
	var sf *syncFailure
	if errors.As(broken, &sf) {
		if err := l.repairAfterSyncFailure(); err != nil {
			return fmt.Errorf("logstore: %s: unable to recover from a failed sync: %w", l.tp, err)
		}
		l.mu.Lock()
		l.broken = nil
		l.mu.Unlock()
		return nil
	}
	act := l.segs[len(l.segs)-1]
	for _, a := range []*afile{act.log, act.idx, act.tidx, act.txn} {
		if a == nil {
			continue
		}
		if err := a.truncate(a.size); err != nil {
			return fmt.Errorf("logstore: %s: still unable to repair after a failed write: %w", l.tp, err)
		}
	}
	l.mu.Lock()
	l.broken = nil
	l.mu.Unlock()
	return nil
}

// shouldRoll is Kafka's LogSegment.shouldRoll, plus the 32-bit limits of
// index positions and relative offsets.
func (l *Log) shouldRoll(s *segment, size, first, last, maxTs, now int64) bool {
	c := &l.cfg
	if s.log.size == 0 {
		// An empty segment takes anything it can index.
		_, ok := s.relative(last)
		return !ok || first < s.base
	}
	if s.log.size > c.SegmentBytes-size || s.log.size+size > math.MaxInt32 {
		return true
	}
	if s.indexFull(c) {
		return true
	}
	if _, ok := s.relative(last); !ok {
		return true
	}
	return l.timeToRoll(s, maxTs, now)
}

// timeToRoll: segment.ms, measured like Kafka from the first batch's
// timestamp to the incoming one, or from creation when timestamps are
// missing.
func (l *Log) timeToRoll(s *segment, maxTs, now int64) bool {
	c := &l.cfg
	if s.log.size == 0 || c.SegmentMs <= 0 || c.SegmentMs == math.MaxInt64 {
		return false
	}
	waited := now - s.created
	if s.firstBatchTs >= 0 && maxTs >= 0 {
		waited = maxTs - s.firstBatchTs
	}
	return waited > c.SegmentMs-l.rollJitter()
}

// rollJitter derives a stable jitter in [0, segment.jitter.ms) from the
// partition, so partitions created together do not roll together.
func (l *Log) rollJitter() int64 {
	j := l.cfg.SegmentJitterMs
	if j <= 0 {
		return 0
	}
	h := uint64(14695981039346656037)
	for i := 0; i < len(l.tp.Topic); i++ {
		h = (h ^ uint64(l.tp.Topic[i])) * 1099511628211
	}
	h = (h ^ uint64(l.tp.Partition)) * 1099511628211
	return int64(h % uint64(j))
}

// Roll starts a new active segment at the log end (if the current one holds
// data).
func (l *Log) Roll() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.segs[len(l.segs)-1].log.size == 0 {
		return nil
	}
	return l.rollLocked(l.leo)
}

// rollLocked seals the active segment and starts one at base (appendMu
// held). The old segment's data and indexes are synced by the flusher
// before the recovery point passes them; a producer snapshot at base lets a
// restart skip replaying what came before.
func (l *Log) rollLocked(base int64) error {
	old := l.segs[len(l.segs)-1]
	if old.log.size == 0 {
		// Nothing to seal: replace the empty segment if it sits at another
		// base (a follower append past a gap).
		if old.base == base {
			return nil
		}
		l.syncMu.Lock()
		defer l.syncMu.Unlock()
		s, err := createSegment(l.fs, l.m.fds, l.dir, base, &l.cfg, l.m.nowMs())
		if err != nil {
			return err
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			s.close()
			return storageErr(err)
		}
		l.mu.Lock()
		l.segs[len(l.segs)-1] = s
		l.mu.Unlock()
		l.deleteSegmentFiles(old)
		return nil
	}
	if err := old.log.trim(); err != nil {
		return err
	}
	// Kafka appends a last time index entry for the segment's largest
	// timestamp so that it survives reloading without a scan.
	if old.maxTs > old.lastTimeTs && !old.indexFull(&l.cfg) {
		rel, _ := old.relative(old.maxTsOffset)
		buf := appendTimeEntry(l.tidxBuf[:0], old.maxTs, rel)
		if err := old.tidx.writeAt(buf, old.tidx.size); err == nil {
			l.mu.Lock()
			old.tidx.size += timeEntrySize
			old.lastTimeTs = old.maxTs
			l.mu.Unlock()
		}
	}
	s, err := createSegment(l.fs, l.m.fds, l.dir, base, &l.cfg, l.m.nowMs())
	if err != nil {
		return err
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		s.close()
		return storageErr(err)
	}
	l.mu.Lock()
	old.mapMu.Lock()
	old.seal()
	old.mapMu.Unlock()
	old.unsynced = true
	l.segs = append(l.segs, s)
	l.mu.Unlock()
	if err := l.writeSnapshot(base); err != nil {
		// The snapshot only saves replay time; recovery rebuilds state
		// from an older one.
		l.logger.Warn("logstore: producer snapshot failed", "partition", l.tp.String(), "err", err)
	}
	l.m.flusher.enqueue(l)
	return nil
}

// writeSnapshot writes the producer state as <offset>.snapshot.
func (l *Log) writeSnapshot(offset int64) error {
	l.mu.RLock()
	data := l.prod.encode()
	l.mu.RUnlock()
	return writeFileAtomic(l.fs, fileName(l.dir, offset, snapshotSuffix), data)
}

func (l *Log) path(name string) string { return l.dir + "/" + name }

// deleteSegmentFiles closes a segment no longer in the list and removes its
// files: renamed to .deleted first (Kafka's convention, so a crash midway
// leaves names recovery knows to remove), then removed. Readers holding
// Chunks keep their maps: a map outlives its file.
func (l *Log) deleteSegmentFiles(s *segment) {
	s.close()
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
		name := fileName(l.dir, s.base, suf)
		if err := l.fs.Rename(name, name+deletedSuffix); err != nil {
			if !isNotExist(err) {
				l.logger.Warn("logstore: rename for deletion failed", "file", name, "err", err)
			}
			continue
		}
		if err := l.fs.Remove(name + deletedSuffix); err != nil && !isNotExist(err) {
			l.logger.Warn("logstore: remove failed", "file", name, "err", err)
		}
	}
}

// Chunk is the result of Read: whole batches, as a slice of a read-only
// map, or of a buffer a read around the page cache filled (see direct.go),
// that stays valid until Release.
type Chunk struct {
	Data        []byte
	FirstOffset int64 // base offset of the first batch (may precede the requested offset)
	NextOffset  int64 // last offset of the last batch + 1 (== requested offset if Data is empty)
	ref         *mapping
	dbuf        *directBuf
}

// Release lets the map or the buffer go. Idempotent; safe on a zero Chunk.
// Data must not be touched afterwards.
func (c *Chunk) Release() {
	if c.ref != nil {
		c.ref.release()
		c.ref = nil
	}
	if c.dbuf != nil {
		c.dbuf.release()
		c.dbuf = nil
	}
}

// ReadOptions bound a Read.
type ReadOptions struct {
	// MaxOffset is an exclusive bound (HW, LSO or LEO): a batch is returned
	// only if its last offset is below it.
	MaxOffset int64
	MaxBytes  int
	// MinOneBatch (KIP-74) returns the first batch whole even when it is
	// larger than MaxBytes.
	MinOneBatch bool
}

// Read returns whole batches starting with the one containing offset, from
// one segment at most. An offset at the end of a segment or inside a gap left
// by compaction continues in the next segment.
func (l *Log) Read(offset int64, o ReadOptions) (Chunk, error) {
	l.mu.RLock()
	empty := Chunk{FirstOffset: offset, NextOffset: offset}
	if l.closed {
		l.mu.RUnlock()
		return empty, ErrClosed
	}
	if offset < l.logStart || offset > l.leo {
		err := outOfRange(offset, l.logStart, l.leo)
		l.mu.RUnlock()
		return empty, err
	}
	maxOff := min(o.MaxOffset, l.leo)
	if offset >= maxOff {
		l.mu.RUnlock()
		return empty, nil
	}
	mapOnly := false // a read around the page cache gave up: use the maps
	for i := l.segmentFor(offset); i < len(l.segs); i++ {
		s := l.segs[i]
		if s.next <= offset || s.log.size == 0 {
			continue
		}
		if d, ok := l.planDirect(s, offset, mapOnly); ok {
			// The disk read runs without the lock, so that appends need
			// not wait for it (the plan holds the file and its bytes).
			l.mu.RUnlock()
			c, found, ok, err := l.readDirect(s, &d, offset, maxOff, o)
			if !d.handedOff {
				d.done()
			}
			if ok && (found || err != nil) {
				return c, err
			}
			l.mu.RLock()
			if l.closed {
				l.mu.RUnlock()
				return empty, ErrClosed
			}
			if offset < l.logStart {
				err := outOfRange(offset, l.logStart, l.leo)
				l.mu.RUnlock()
				return empty, err
			}
			// Segments may have rolled, gone or been swapped meanwhile:
			// go on from this one's place in the list as it is now, with
			// the next segment (past this one's batches) or, the direct
			// read having given up, with this one through its map.
			i = sort.Search(len(l.segs), func(j int) bool { return l.segs[j].base >= s.base })
			if ok {
				for i < len(l.segs) && l.segs[i].base <= s.base {
					i++
				}
			} else {
				mapOnly = true
			}
			i-- // the loop's i++ lands on it
			continue
		}
		c, found, err := l.readSegment(s, offset, maxOff, o)
		if err != nil || found {
			l.mu.RUnlock()
			return c, err
		}
	}
	l.mu.RUnlock()
	return empty, nil
}

// readSegment reads from one segment through its map; found=false means
// offset lies past the segment's batches.
func (l *Log) readSegment(s *segment, offset, maxOff int64, o ReadOptions) (Chunk, bool, error) {
	empty := Chunk{FirstOffset: offset, NextOffset: offset}
	mp, data, err := s.view(s.log)
	if err != nil {
		return empty, false, err
	}
	pos, err := s.seek(data, offset)
	if err != nil {
		mp.release()
		return empty, false, err
	}
	c, found, err := l.readFrom(s, mp, data, pos, offset, maxOff, o)
	if err != nil && pos > 0 {
		// The index may be what is wrong (it has no checksum): scan from
		// the start of the segment before blaming the data.
		c, found, err = l.readFrom(s, mp, data, 0, offset, maxOff, o)
	}
	if err != nil || !found || len(c.Data) == 0 {
		mp.release()
		c.ref = nil
	}
	return c, found, err
}

// readFrom scans from pos (a batch boundary, per the index) for the batch
// holding offset and gathers batches after it. The chunk it returns takes
// over the caller's reference mp when it holds data.
func (l *Log) readFrom(s *segment, mp *mapping, data []byte, pos, offset, maxOff int64, o ReadOptions) (Chunk, bool, error) {
	empty := Chunk{FirstOffset: offset, NextOffset: offset}
	pos, err := s.findBatch(data, pos, offset)
	if err != nil {
		return empty, false, err
	}
	if pos >= int64(len(data)) {
		return empty, false, nil
	}
	end, next, firstOff, err := gather(data, pos, offset, maxOff, o)
	if err != nil {
		return empty, false, s.corruptErr(end, err)
	}
	if end == pos {
		return empty, true, nil
	}
	if err := s.verify(data, 0, pos, end); err != nil {
		return empty, false, err
	}
	return Chunk{Data: data[pos:end:end], FirstOffset: firstOff, NextOffset: next, ref: mp}, true, nil
}

// gather takes the batches a read of offset may return from data[pos:]
// (pos the batch holding offset): whole batches, each ending below maxOff,
// within o.MaxBytes (the first one whole if o.MinOneBatch). It returns
// where they end, the offset after them and the first one's base offset
// (-1 if none); err, when it is not nil, is why data[end:] holds no batch
// (records.ErrShort: one that goes on past data).
func gather(data []byte, pos, offset, maxOff int64, o ReadOptions) (end, next, firstOff int64, err error) {
	end, next, firstOff = pos, offset, -1
	for end < int64(len(data)) {
		b, _, err := records.Next(data[end:])
		if err == nil && len(b) < records.HeaderSize {
			err = records.ErrCorrupt
		}
		if err != nil {
			return end, next, firstOff, err
		}
		if b.LastOffset() >= maxOff {
			break
		}
		size := int64(len(b))
		if end+size-pos > int64(o.MaxBytes) && (end > pos || !o.MinOneBatch) {
			break
		}
		if firstOff < 0 {
			firstOff = b.BaseOffset()
		}
		end += size
		next = b.LastOffset() + 1
	}
	return end, next, firstOff, nil
}

// segmentFor returns the index of the last segment with base <= offset (0 if
// none).
func (l *Log) segmentFor(offset int64) int {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset })
	if i > 0 {
		i--
	}
	return i
}

// waitDurable blocks until every offset below off is on disk, or a sync
// fails after the failure generation gen.
func (l *Log) waitDurable(off int64, gen uint64) error {
	if l.durable.Load() >= off {
		return nil
	}
	l.dmu.Lock()
	defer l.dmu.Unlock()
	for l.durable.Load() < off {
		if l.syncErrGen.Load() != gen {
			return l.syncErr
		}
		if l.isClosed() {
			return ErrClosed
		}
		l.dcond.Wait()
	}
	return nil
}

func (l *Log) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}

// wakeDurable wakes durable waiters after the durable offset moved or a sync
// failed.
func (l *Log) wakeDurable(err error) {
	l.dmu.Lock()
	if err != nil {
		l.syncErr = err
		l.syncErrGen.Add(1)
	}
	l.dcond.Broadcast()
	l.dmu.Unlock()
}
