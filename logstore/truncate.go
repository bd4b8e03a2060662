package logstore

import (
	"fmt"

	"sort"

	"github.com/potok-io/potok/records"
)

// TruncateTo drops every batch whose last offset is >= offset (followers
// after a leader change). The log end becomes the offset after the last
// batch kept, which is offset itself when offset is a batch boundary. (Kafka
// sets it to offset even when that cuts a batch, which a restart then
// contradicts; here the end is always where the data ends.) No-op at or
// past the end.
func (l *Log) TruncateTo(offset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if offset >= l.leo {
		return nil
	}
	if offset <= l.logStart || offset <= l.segs[0].base {
		return l.truncateFullyLocked(max(offset, 0))
	}
	if err := l.truncateLocked(offset); err != nil {
		return err
	}
	if l.leo < l.logStart {
		// The cut fell inside the batch holding the log start.
		return l.truncateFullyLocked(l.logStart)
	}
	return nil
}

// TruncateFullyAndStartAt empties the log; it restarts at offset.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if offset < 0 {
		return fmt.Errorf("logstore: %s: cannot start at negative offset %d", l.tp, offset)
	}
	return l.truncateFullyLocked(offset)
}

// truncateLocked cuts the log at offset, which lies above the first
// segment's base (appendMu held). The segment holding offset is cut in place
// when no reader holds a reference into its map; otherwise its kept prefix
// is copied into a new file that replaces it, so a reader's pages are never
// freed under it.
func (l *Log) truncateLocked(offset int64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	k := l.segmentFor(offset) // the segment that keeps the prefix
	if l.segs[k].base >= offset && k > 0 {
		k--
	}
	s := l.segs[k]
	doomed := append([]*segment(nil), l.segs[k+1:]...)

	// Position of the first batch to drop.
	pos := s.log.size
	if s.next > offset {
		mp, data, err := s.view(s.log)
		if err != nil {
			return err
		}
		p, err := s.seek(data, offset)
		if err == nil {
			p, err = s.findBatch(data, p, offset)
		}
		mp.release()
		if err != nil {
			return err
		}
		pos = p
	}
	// Everything kept ends up synced (cutSegment syncs s), so the durable
	// offset can be the new end and no durable waiter for kept data hangs.
	for _, o := range l.segs[:k] {
		if o.unsynced {
			if err := o.syncAll(); err != nil {
				return l.failWrite(err)
			}
		}
	}
	if err := l.cutSegment(s, pos, offset); err != nil {
		return l.failWrite(err)
	}

	end := s.next // after the last batch kept (set by cutSegment)
	l.mu.Lock()
	l.segs = l.segs[:k+1]
	s.mapMu.Lock()
	s.activate(&l.cfg)
	s.mapMu.Unlock()
	s.unsynced = false
	l.leo = end
	l.hw = min(l.hw, end)
	l.cleanerCheckpoint = min(l.cleanerCheckpoint, end)
	l.recoveryPoint = min(l.recoveryPoint, end)
	l.persistedRP = min(l.persistedRP, end)
	for _, o := range l.segs[:k] {
		o.unsynced = false
	}
	l.durable.Store(end)
	l.truncGen++
	l.broken = nil
	l.mu.Unlock()
	// Appenders waiting for dropped data learn it is gone.
	l.wakeDurable(errTruncated)
	for _, d := range doomed {
		l.deleteSegmentFiles(d)
	}
	// The cut must be durable before anything is appended after it, or a
	// crash could bring dropped segments back under new data.
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.failWrite(storageErr(err))
	}
	if err := l.afterTruncate(end); err != nil {
		return err
	}
	// The recovery point on disk may lie past the new end: data appended
	// from here on must be rescanned after a crash (Kafka checkpoints
	// after truncation too).
	return l.m.writeCheckpoints(false)
}

// cutSegment drops the bytes of s from pos on (and the index entries for
// them), and syncs the result. Files that readers map are cut only while
// the log's mutex is held exclusively, so no reader is inside them; a log
// file a reader still holds a Chunk of is replaced by a copy instead.
func (l *Log) cutSegment(s *segment, pos, offset int64) error {
	for {
		l.mu.Lock()
		if pos < s.log.size && s.log.pinned() {
			l.mu.Unlock()
			if err := l.copyPrefix(s, pos); err != nil {
				return err
			}
			continue // a new reader may have come; check again
		}
		err := l.cutSegmentLocked(s, pos, offset)
		l.mu.Unlock()
		if err != nil {
			return err
		}
		return s.syncAll()
	}
}

func (l *Log) cutSegmentLocked(s *segment, pos, offset int64) error {
	if pos < s.log.size {
		if err := s.log.truncate(pos); err != nil {
			return err
		}
		// What is written from here on is cached again.
		if s.dropped.Load() > alignDown(pos) {
			s.dropped.Store(alignDown(pos))
		}
	}
	// Offset index: entries pointing at or past pos.
	if s.idx.size > 0 {
		mp, data, err := s.view(s.idx)
		if err != nil {
			return err
		}
		n := len(data) / offsetEntrySize
		i := sort.Search(n, func(i int) bool { return lookupPos(data, i) >= pos })
		mp.release()
		if err := s.idx.truncate(int64(i * offsetEntrySize)); err != nil {
			return err
		}
	}
	// Time index: entries naming offsets at or past the cut.
	if s.tidx.size > 0 {
		mp, data, err := s.view(s.tidx)
		if err != nil {
			return err
		}
		n := len(data) / timeEntrySize
		i := sort.Search(n, func(i int) bool { return timeEntryOffset(s, data, i) >= offset })
		mp.release()
		if err := s.tidx.truncate(int64(i * timeEntrySize)); err != nil {
			return err
		}
	}
	if s.txn != nil && s.txnCount > 0 {
		mp, data, err := s.view(s.txn)
		if err != nil {
			return err
		}
		i := 0
		for ; i < s.txnCount; i++ {
			if readTxnEntry(data[i*txnEntrySize:]).LastOffset >= offset {
				break
			}
		}
		mp.release()
		if err := s.txn.truncate(int64(i * txnEntrySize)); err != nil {
			return err
		}
		s.txnCount = i
	}
	// Recompute what the kept batches say.
	s.maxTs, s.maxTsOffset, s.lastTimeTs, s.firstBatchTs = -1, -1, -1, -1
	if s.tidx.size >= timeEntrySize {
		_ = s.checkIndexes() // refreshes lastTimeTs and maxTs from the index
	}
	if err := l.loadNextOffset(s); err != nil {
		return err
	}
	if s.log.size > 0 {
		l.loadFirstBatchTs(s)
	}
	s.sinceIndex = 0
	s.verified.Store(min(s.verified.Load(), s.log.size))
	return nil
}

func lookupPos(data []byte, i int) int64 {
	return int64(int32(uint32(data[i*8+4])<<24 | uint32(data[i*8+5])<<16 | uint32(data[i*8+6])<<8 | uint32(data[i*8+7])))
}

func timeEntryOffset(s *segment, data []byte, i int) int64 {
	e := data[i*timeEntrySize+8:]
	return s.base + int64(int32(uint32(e[0])<<24|uint32(e[1])<<16|uint32(e[2])<<8|uint32(e[3])))
}

// copyPrefix replaces s's log file by a copy of its first pos bytes: written
// to <name>.trunc, synced, renamed over the original. The old file's maps
// stay valid for the readers holding them.
func (l *Log) copyPrefix(s *segment, pos int64) error {
	name := s.log.path
	tmp := name + truncSuffix
	mp, data, err := s.view(s.log)
	if err != nil {
		return err
	}
	defer mp.release()
	a, err := openAFile(l.fs, l.m.fds, tmp, true)
	if err != nil {
		return err
	}
	if err := a.writeAt(data[:pos], 0); err != nil {
		a.close()
		return err
	}
	a.size = pos
	if err := a.sync(); err != nil {
		a.close()
		return err
	}
	if err := l.fs.Rename(tmp, name); err != nil {
		a.close()
		return storageErr(err)
	}
	a.path = name
	a.want = s.log.want
	l.mu.Lock()
	s.mapMu.Lock()
	old := s.log
	s.log = a
	s.mapMu.Unlock()
	l.mu.Unlock()
	old.close()
	return nil
}

// afterTruncate trims the epoch cache and rebuilds the producer state for
// the new end from the latest snapshot at or below it (Kafka's
// UnifiedLog.truncateTo).
func (l *Log) afterTruncate(end int64) error {
	l.mu.RLock()
	e := epochCache{entries: append([]epochEntry(nil), l.epochs.entries...)}
	l.mu.RUnlock()
	if e.truncateFromEnd(end) {
		if err := l.setEpochs(e.entries); err != nil {
			return err
		}
	}
	snaps, err := l.listSnapshots()
	if err != nil {
		return err
	}
	removed := false
	for _, off := range snaps {
		if off > end {
			_ = l.fs.Remove(fileName(l.dir, off, snapshotSuffix))
			removed = true
		}
	}
	if removed {
		// A snapshot of the dropped history must not return after a crash.
		if err := l.fs.SyncDir(l.dir); err != nil {
			return storageErr(err)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	from := l.loadSnapshot(snaps, end)
	for _, s := range l.segs {
		if s.next > from {
			if err := l.replaySegment(s, from); err != nil {
				return err
			}
		}
	}
	l.prod.evict(l.logStart, l.m.nowMs(), -1)
	return nil
}

// listSnapshots returns the offsets of the producer snapshots, ascending.
func (l *Log) listSnapshots() ([]int64, error) {
	ents, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("logstore: list %s: %w", l.dir, storageErr(err))
	}
	var out []int64
	for _, e := range ents {
		if off, ok := parseSegmentName(e.Name, snapshotSuffix); ok {
			out = append(out, off)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// truncateFullyLocked replaces every segment by an empty one at offset.
func (l *Log) truncateFullyLocked(offset int64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	old := l.segs
	for _, s := range old {
		if s.base == offset {
			// The new segment takes this name: move the old files away
			// first (readers keep their maps).
			l.deleteSegmentFiles(s)
		}
	}
	s, err := createSegment(l.fs, l.m.fds, l.dir, offset, &l.cfg, l.m.nowMs())
	if err != nil {
		return l.failWrite(err)
	}
	l.mu.Lock()
	l.segs = []*segment{s}
	l.leo, l.logStart, l.hw, l.recoveryPoint = offset, offset, offset, offset
	l.cleanerCheckpoint = offset
	l.persistedRP = min(l.persistedRP, offset)
	l.durable.Store(offset)
	l.truncGen++
	l.broken = nil
	l.prod = newProducers()
	l.epochs.entries = nil
	l.mu.Unlock()
	l.wakeDurable(errTruncated)
	for _, o := range old {
		if o.base != offset {
			l.deleteSegmentFiles(o)
		}
	}
	if snaps, err := l.listSnapshots(); err == nil {
		for _, off := range snaps {
			_ = l.fs.Remove(fileName(l.dir, off, snapshotSuffix))
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return storageErr(err)
	}
	if err := writeFileAtomic(l.fs, l.path(epochFile), l.epochs.encode()); err != nil {
		return storageErr(err)
	}
	// The new start must survive a crash, or the old data would return.
	return l.m.writeCheckpoints(false)
}

// repairAfterSyncFailure cuts the log back to its durable offset after a
// failed sync (appendMu held).
func (l *Log) repairAfterSyncFailure() error {
	d := l.durable.Load()
	var err error
	if d < l.leo {
		if d <= l.segs[0].base || d <= l.logStart {
			err = l.truncateFullyLocked(max(d, l.logStart))
		} else {
			err = l.truncateLocked(d)
		}
	}
	if err != nil {
		return err
	}
	// Prove the disk takes syncs again before accepting appends.
	_, err = l.syncOnce(true)
	return err
}

// DeleteRecordsBefore advances the log start offset to offset (DeleteRecords;
// -1 means the high watermark) and deletes the segments wholly below it.
func (l *Log) DeleteRecordsBefore(offset int64) (int64, error) {
	l.appendMu.Lock()
	if l.closed {
		l.appendMu.Unlock()
		return 0, ErrClosed
	}
	if offset == -1 {
		offset = l.hw
	}
	if offset < 0 || offset > l.hw {
		start, hw := l.logStart, l.hw
		l.appendMu.Unlock()
		return start, outOfRange(offset, start, hw)
	}
	if offset <= l.logStart {
		start := l.logStart
		l.appendMu.Unlock()
		return start, nil
	}
	l.mu.Lock()
	l.logStart = offset
	l.mu.Unlock()
	_, err := l.deleteBelowStartLocked()
	start := l.logStart
	l.appendMu.Unlock()
	if err != nil {
		return start, err
	}
	// A restart must not bring the deleted records back.
	return start, l.m.writeCheckpoints(false)
}

// deleteBelowStartLocked deletes sealed segments whose successor starts at
// or below the log start, and trims the epoch cache, producer state and
// snapshots to match (appendMu held).
func (l *Log) deleteBelowStartLocked() (int, error) {
	l.mu.RLock()
	n := 0
	for n < len(l.segs)-1 && l.segs[n+1].base <= l.logStart {
		n++
	}
	l.mu.RUnlock()
	if err := l.dropOldest(n); err != nil {
		return 0, err
	}
	return n, nil
}

// dropOldest removes the n oldest segments (never the active one).
func (l *Log) dropOldest(n int) error {
	if n <= 0 {
		l.trimAfterStartMoved()
		return nil
	}
	l.syncMu.Lock()
	l.mu.Lock()
	if n > len(l.segs)-1 {
		n = len(l.segs) - 1
	}
	doomed := append([]*segment(nil), l.segs[:n]...)
	l.segs = append(l.segs[:0:0], l.segs[n:]...)
	l.logStart = max(l.logStart, l.segs[0].base)
	l.hw = max(l.hw, l.logStart)
	l.mu.Unlock()
	for _, s := range doomed {
		l.deleteSegmentFiles(s)
	}
	l.syncMu.Unlock()
	if err := l.fs.SyncDir(l.dir); err != nil {
		return storageErr(err)
	}
	l.trimAfterStartMoved()
	return nil
}

// trimAfterStartMoved applies a new log start to the epoch cache, producer
// state and snapshots.
func (l *Log) trimAfterStartMoved() {
	l.mu.Lock()
	e := epochCache{entries: append([]epochEntry(nil), l.epochs.entries...)}
	changed := e.truncateFromStart(l.logStart)
	l.prod.evict(l.logStart, l.m.nowMs(), -1)
	first := l.segs[0].base
	l.mu.Unlock()
	if changed {
		if err := l.setEpochs(e.entries); err != nil {
			l.logger.Warn("logstore: epoch checkpoint failed", "partition", l.tp.String(), "err", err)
		}
	}
	if snaps, err := l.listSnapshots(); err == nil {
		for _, off := range snaps {
			if off < first {
				_ = l.fs.Remove(fileName(l.dir, off, snapshotSuffix))
			}
		}
	}
}

// ApplyRetention deletes old segments by retention.ms (largest timestamp
// older than now - retention.ms) and retention.bytes, oldest first and only
// below the high watermark (Kafka's UnifiedLog.deleteOldSegments). A
// segment due by time that is still active is rolled first. It also expires
// idle producers (producer.id.expiration.ms).
func (l *Log) ApplyRetention() (int, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	now := l.m.nowMs()
	l.mu.Lock()
	l.prod.evict(-1, now, l.cfg.ProducerIDExpirationMs)
	cfg := l.cfg
	l.mu.Unlock()
	if !cfg.Delete {
		return 0, nil
	}
	timeDue := func(s *segment) bool {
		return cfg.RetentionMs >= 0 && s.maxTs >= 0 && s.maxTs < now-cfg.RetentionMs ||
			cfg.RetentionMs >= 0 && s.maxTs < 0 && s.log.size > 0 && s.created < now-cfg.RetentionMs
	}
	// Roll an active segment that is itself past retention.
	act := l.segs[len(l.segs)-1]
	if act.log.size > 0 && timeDue(act) && act.next <= l.hw {
		if err := l.rollLocked(l.leo); err != nil {
			return 0, err
		}
	}
	l.mu.RLock()
	n := 0
	var total int64
	for _, s := range l.segs {
		total += s.log.size
	}
	for n < len(l.segs)-1 {
		s := l.segs[n]
		// Kafka's bound: the next segment's base, which a cleaned segment
		// may end well before.
		if l.segs[n+1].base > l.hw {
			break
		}
		bySize := cfg.RetentionBytes >= 0 && total-s.log.size >= cfg.RetentionBytes
		if !timeDue(s) && !bySize {
			break
		}
		total -= s.log.size
		n++
	}
	l.mu.RUnlock()
	if err := l.dropOldest(n); err != nil {
		return 0, err
	}
	return n, nil
}

// readBatchRecords calls fn for each record of b with its absolute offset
// and timestamp, decompressing if needed. fn returns false to stop.
func readBatchRecords(b records.Batch, scratch []byte, fn func(off, ts int64) bool) ([]byte, error) {
	raw := b.Records()
	if b.Codec() != records.CodecNone {
		var err error
		if raw, err = records.Decompress(b.Codec(), raw, scratch, 256<<20); err != nil {
			return scratch, err
		}
		scratch = raw
	}
	r := records.NewRecordReader(raw, b.NumRecords())
	var rec records.Record
	for {
		ok, err := r.Next(&rec)
		if err != nil {
			return scratch, err
		}
		if !ok {
			return scratch, nil
		}
		ts := b.BaseTimestamp() + rec.TimestampDelta
		if b.IsLogAppendTime() {
			ts = b.MaxTimestamp()
		}
		if !fn(b.BaseOffset()+int64(rec.OffsetDelta), ts) {
			return scratch, nil
		}
	}
}
