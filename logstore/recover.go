package logstore

import (
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"github.com/potok-io/potok/records"
)

func (m *Manager) newLog(dataDir string, tp TopicPartition, c Config) *Log {
	l := &Log{
		m: m, fs: m.fs, tp: tp, dataDir: dataDir,
		dir:    filepath.Join(dataDir, tp.dirName()),
		logger: m.logger,
		cfg:    c.sane(),
		prod:   newProducers(),
	}
	l.dcond.L = &l.dmu
	l.lastFlush = m.nowMs()
	return l
}

// createLog makes a new, empty partition directory.
func (m *Manager) createLog(dataDir string, tp TopicPartition, topicID [16]byte, c Config) (*Log, error) {
	l := m.newLog(dataDir, tp, c)
	l.topicID = topicID
	if err := m.fs.MkdirAll(l.dir, 0o755); err != nil {
		return nil, fmt.Errorf("logstore: create %s: %w", l.dir, storageErr(err))
	}
	if err := writeFileAtomic(m.fs, l.path(partitionMetaFile), encodePartitionMeta(topicID)); err != nil {
		return nil, fmt.Errorf("logstore: create %s: %w", l.dir, storageErr(err))
	}
	s, err := createSegment(m.fs, m.fds, l.dir, 0, &l.cfg, m.nowMs())
	if err != nil {
		return nil, err
	}
	l.segs = []*segment{s}
	if err := m.fs.SyncDir(l.dir); err != nil {
		s.close()
		return nil, fmt.Errorf("logstore: create %s: %w", l.dir, storageErr(err))
	}
	if err := m.fs.SyncDir(dataDir); err != nil {
		s.close()
		return nil, fmt.Errorf("logstore: create %s: %w", l.dir, storageErr(err))
	}
	return l, nil
}

// openLog loads a partition directory (Kafka's LogLoader): it finishes or
// undoes interrupted swaps and deletions, opens the segments, recovers from
// the recovery point unless the shutdown was clean, and rebuilds the
// producer state and leader epoch cache to match the log end.
//
// Recovery checks every batch of every segment from the one holding the
// recovery point: length, magic, CRC-32C, offsets increasing. The first bad
// byte ends the log: the segment is cut there and later segments are
// deleted. Indexes of recovered segments are rebuilt from the batches.
func (m *Manager) openLog(dataDir string, tp TopicPartition, ck *dirCheckpoints, clean bool) (*Log, error) {
	cfg := DefaultConfig()
	if m.opts.LogConfig != nil {
		cfg = m.opts.LogConfig(tp)
	}
	l := m.newLog(dataDir, tp, cfg)
	if data, err := readFile(m.fs, l.path(partitionMetaFile)); err == nil {
		if id, err := decodePartitionMeta(data); err == nil {
			l.topicID = id
		} else {
			l.logger.Warn("logstore: bad partition.metadata", "dir", l.dir, "err", err)
		}
	}
	now := m.nowMs()
	if err := l.finishSwaps(); err != nil {
		return nil, err
	}
	ents, err := m.fs.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("logstore: list %s: %w", l.dir, storageErr(err))
	}
	var bases, snaps []int64
	logs := map[int64]bool{}
	for _, e := range ents {
		if base, ok := parseSegmentName(e.Name, logSuffix); ok {
			logs[base] = true
			bases = append(bases, base)
		}
	}
	for _, e := range ents {
		name := e.Name
		full := filepath.Join(l.dir, name)
		switch {
		case strings.HasSuffix(name, deletedSuffix), strings.HasSuffix(name, cleanedSuffix),
			strings.HasSuffix(name, truncSuffix), strings.HasSuffix(name, ".tmp"):
			_ = m.fs.Remove(full)
		case strings.HasSuffix(name, snapshotSuffix):
			if off, ok := parseSegmentName(name, snapshotSuffix); ok {
				snaps = append(snaps, off)
			}
		default:
			for _, suf := range []string{indexSuffix, timeIndexSuffix, txnIndexSuffix} {
				if base, ok := parseSegmentName(name, suf); ok && !logs[base] {
					_ = m.fs.Remove(full) // an index without its log
				}
			}
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	sort.Slice(snaps, func(i, j int) bool { return snaps[i] < snaps[j] })

	rp := ck.recovery[tp]
	l.logStart = ck.logStart[tp]
	l.cleanerCheckpoint = ck.cleaner[tp]
	if clean {
		if v, ok := ck.recovery[tp]; !ok || v < 0 {
			// A partition the checkpoint does not know was not part of
			// the clean shutdown.
			clean = false
			rp = 0
		}
	}

	// Open every segment; find where recovery starts.
	missing := map[*segment]bool{}
	for _, base := range bases {
		s, miss, err := openSegment(m.fs, m.fds, l.dir, base, now)
		if err != nil {
			l.closeSegs()
			return nil, err
		}
		l.segs = append(l.segs, s)
		if miss {
			missing[s] = true
		}
	}
	start := len(l.segs) // index of the first segment to recover
	if !clean {
		start = 0
		for i, s := range l.segs {
			if s.base <= rp {
				start = i
			}
		}
	}
	// Segments before the recovery start are trusted after a sanity check;
	// one that fails it is recovered, and so is everything after it.
	for i := 0; i < start; i++ {
		s := l.segs[i]
		if missing[s] {
			start = i
			break
		}
		if err := s.checkIndexes(); err != nil {
			l.logger.Warn("logstore: rebuilding inconsistent index", "segment", s.log.path, "err", err)
			start = i
			break
		}
		if err := l.loadNextOffset(s); err != nil {
			l.logger.Warn("logstore: segment fails its tail check", "segment", s.log.path, "err", err)
			start = i
			break
		}
	}

	// Producer state: the latest snapshot at or below where the scan
	// begins, then replay.
	replayFrom := int64(0)
	if start < len(l.segs) {
		replayFrom = l.segs[start].base
	} else if len(l.segs) > 0 {
		replayFrom = l.segs[len(l.segs)-1].next
	}
	snapOff := l.loadSnapshot(snaps, replayFrom)
	for i := 0; i < start; i++ {
		if s := l.segs[i]; s.next > snapOff {
			if err := l.replaySegment(s, snapOff); err != nil {
				// Unreadable below the recovery point: recover from here.
				l.logger.Warn("logstore: replay failed, recovering", "segment", s.log.path, "err", err)
				start = i
				break
			}
		}
	}
	for i := start; i < len(l.segs); i++ {
		s := l.segs[i]
		prevNext := int64(0)
		if i > 0 {
			prevNext = l.segs[i-1].next
		}
		cut, err := l.recoverSegment(s, prevNext, snapOff)
		if err != nil {
			l.closeSegs()
			return nil, err
		}
		if !cut && i < len(l.segs)-1 && s.next < l.segs[i+1].base && l.segs[i+1].base-s.base <= math.MaxInt32 {
			// Segments are contiguous (a roll starts the next one at the
			// log end): a hole means this segment's unsynced tail was
			// lost while a later file survived. Nothing after the hole
			// can be kept.
			l.logger.Warn("logstore: segment ends before the next begins; dropping what follows",
				"segment", s.log.path, "end", s.next, "next", l.segs[i+1].base)
			cut = true
		}
		if cut || (s.log.size == 0 && i < len(l.segs)-1) {
			// Everything after a cut is unreachable garbage (Kafka deletes
			// it too); an empty sealed segment is dropped likewise.
			for _, t := range l.segs[i+1:] {
				l.logger.Warn("logstore: deleting segment after corruption", "segment", t.log.path)
				l.deleteSegmentFiles(t)
			}
			l.segs = l.segs[:i+1]
			if s.log.size == 0 && i > 0 {
				l.deleteSegmentFiles(s)
				l.segs = l.segs[:i]
			}
			break
		}
	}
	if len(l.segs) == 0 {
		s, err := createSegment(m.fs, m.fds, l.dir, max(l.logStart, 0), &l.cfg, now)
		if err != nil {
			return nil, err
		}
		l.segs = []*segment{s}
	}
	act := l.segs[len(l.segs)-1]
	act.activate(&l.cfg)
	l.leo = act.next
	if act.log.size > 0 {
		l.loadFirstBatchTs(act)
	}
	for _, s := range l.segs[:len(l.segs)-1] {
		s.seal()
		s.unmapIdle()
	}
	l.logStart = min(max(l.logStart, l.segs[0].base), l.leo)
	l.hw = min(max(ck.hw[tp], l.logStart), l.leo)
	// Producers whose every batch is gone are forgotten, as when the log
	// start moved (the snapshot may predate that).
	l.prod.evict(l.logStart, now, -1)

	// Snapshots past the end describe a future that was cut off.
	for _, off := range snaps {
		if off > l.leo {
			_ = m.fs.Remove(fileName(l.dir, off, snapshotSuffix))
		}
	}
	if err := l.loadEpochs(); err != nil {
		return nil, err
	}
	if start < len(l.segs) || len(missing) > 0 {
		// What recovery read may still be only in the page cache: make it
		// durable before calling it so.
		for _, s := range l.segs[min(start, len(l.segs)-1):] {
			if err := s.syncAll(); err != nil {
				l.closeSegs()
				return nil, err
			}
		}
		if err := m.fs.SyncDir(l.dir); err != nil {
			l.closeSegs()
			return nil, storageErr(err)
		}
	}
	l.durable.Store(l.leo)
	l.recoveryPoint = l.leo
	l.persistedRP = min(rp, l.leo)
	if clean {
		l.persistedRP = l.leo
	}
	return l, nil
}

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func (l *Log) closeSegs() {
	for _, s := range l.segs {
		s.close()
	}
	l.segs = nil
}

// finishSwaps completes a compaction swap interrupted by a crash (Kafka's
// LogLoader does the same with .swap files): the cleaned segment was fully
// written and synced before it was renamed to .swap, so it replaces every
// old segment whose base lies in its offset range.
func (l *Log) finishSwaps() error {
	ents, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("logstore: list %s: %w", l.dir, storageErr(err))
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name, logSuffix+swapSuffix) {
			continue
		}
		base, ok := parseSegmentName(strings.TrimSuffix(e.Name, swapSuffix), logSuffix)
		if !ok {
			continue
		}
		swapPath := filepath.Join(l.dir, e.Name)
		data, err := readFile(l.fs, swapPath)
		if err != nil {
			return fmt.Errorf("logstore: read %s: %w", swapPath, storageErr(err))
		}
		end := base
		for rest := data; len(rest) > 0; {
			b, r, err := records.Next(rest)
			if err != nil || len(b) < records.HeaderSize {
				break
			}
			end = b.LastOffset() + 1
			rest = r
		}
		// The swap covers the old segments from base up to the next
		// segment not replaced, which is the first one at or after end.
		for _, o := range ents {
			ob, ok := parseSegmentName(o.Name, logSuffix)
			if !ok || ob < base || ob >= end {
				continue
			}
			for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
				_ = l.fs.Remove(fileName(l.dir, ob, suf))
			}
		}
		for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
			from := fileName(l.dir, base, suf) + swapSuffix
			if _, err := l.fs.Stat(from); err == nil {
				if err := l.fs.Rename(from, fileName(l.dir, base, suf)); err != nil {
					return fmt.Errorf("logstore: finish swap: %w", storageErr(err))
				}
			}
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			return storageErr(err)
		}
	}
	return nil
}

// loadNextOffset finds a trusted segment's next offset from its last index
// entry and a scan of the batch headers after it (Kafka's readNextOffset).
func (l *Log) loadNextOffset(s *segment) error {
	pos := int64(0)
	if s.idx.size >= offsetEntrySize {
		mp, data, err := s.view(s.idx)
		if err != nil {
			return err
		}
		_, pos, _ = lastIndexEntry(data)
		mp.release()
	}
	mp, data, err := s.view(s.log)
	if err != nil {
		return err
	}
	defer mp.release()
	next := s.base
	for pos < int64(len(data)) {
		b, _, err := records.Next(data[pos:])
		if err != nil || len(b) < records.HeaderSize {
			if err == nil {
				err = records.ErrCorrupt
			}
			return s.corruptErr(pos, err)
		}
		if b.BaseOffset() < next || b.LastOffset() < b.BaseOffset() {
			return s.corruptErr(pos, "offsets not increasing")
		}
		next = b.LastOffset() + 1
		if b.MaxTimestamp() > s.maxTs {
			s.maxTs, s.maxTsOffset = b.MaxTimestamp(), b.LastOffset()
		}
		pos += int64(len(b))
	}
	s.next = next
	return nil
}

// loadFirstBatchTs reads the first batch's max timestamp (segment.ms).
func (l *Log) loadFirstBatchTs(s *segment) {
	var hdr [records.HeaderSize]byte
	if err := s.log.readAt(hdr[:], 0); err == nil {
		s.firstBatchTs = records.Batch(hdr[:]).MaxTimestamp()
	}
}

// loadSnapshot loads the latest readable producer snapshot at or below upTo
// and returns its offset (0, with empty state, if none). Unreadable ones
// are deleted.
func (l *Log) loadSnapshot(snaps []int64, upTo int64) int64 {
	for i := len(snaps) - 1; i >= 0; i-- {
		off := snaps[i]
		if off > upTo {
			continue
		}
		name := fileName(l.dir, off, snapshotSuffix)
		data, err := readFile(l.fs, name)
		if err == nil {
			var p producers
			if p, err = decodeSnapshot(data); err == nil {
				l.prod = p
				return off
			}
		}
		l.logger.Warn("logstore: ignoring bad producer snapshot", "file", name, "err", err)
		_ = l.fs.Remove(name)
	}
	l.prod = newProducers()
	return 0
}

// replaySegment feeds the batches of a trusted segment at or after from to
// the producer state.
func (l *Log) replaySegment(s *segment, from int64) error {
	mp, data, err := s.view(s.log)
	if err != nil {
		return err
	}
	defer mp.release()
	pos := int64(0)
	if from > s.base {
		if pos, err = s.seek(data, from); err != nil {
			return err
		}
	}
	for pos < int64(len(data)) {
		b, _, err := records.Next(data[pos:])
		if err != nil || len(b) < records.HeaderSize {
			return s.corruptErr(pos, "unreadable batch")
		}
		if b.BaseOffset() >= from && b.HasProducerID() {
			pb := pendingFor(b)
			l.prod.apply(&pb)
		}
		pos += int64(len(b))
	}
	return nil
}

// recoverSegment checks every batch of s and rebuilds its indexes, cutting
// the file at the first bad batch (cut=true). Batches at or after
// replayFrom update the producer state. prevNext is the offset after the
// previous segment.
func (l *Log) recoverSegment(s *segment, prevNext, replayFrom int64) (cut bool, err error) {
	mp, data, err := s.view(s.log)
	if err != nil {
		return false, err
	}
	var idxBuf, tidxBuf, txnBuf []byte
	next := max(prevNext, s.base)
	pos := int64(0)
	s.maxTs, s.maxTsOffset, s.lastTimeTs, s.sinceIndex = -1, -1, -1, 0
	var reason string
	for pos < int64(len(data)) {
		b, _, err := records.Next(data[pos:])
		switch {
		case err != nil:
			reason = err.Error()
		case len(b) < records.HeaderSize:
			reason = "batch shorter than its header"
		case !b.ValidCRC():
			reason = fmt.Sprintf("CRC mismatch at offset %d", b.BaseOffset())
		case b.BaseOffset() < next || b.LastOffsetDelta() < 0:
			reason = fmt.Sprintf("offset %d after %d", b.BaseOffset(), next-1)
		case b.LastOffset()-s.base > 1<<31-1:
			reason = "offset too far from the segment base"
		}
		if reason != "" {
			break
		}
		if b.MaxTimestamp() > s.maxTs {
			s.maxTs, s.maxTsOffset = b.MaxTimestamp(), b.LastOffset()
		}
		if s.sinceIndex > int64(l.cfg.IndexIntervalBytes) {
			rel, _ := s.relative(b.LastOffset())
			idxBuf = appendOffsetEntry(idxBuf, rel, pos)
			if s.maxTs > s.lastTimeTs {
				mrel, _ := s.relative(s.maxTsOffset)
				tidxBuf = appendTimeEntry(tidxBuf, s.maxTs, mrel)
				s.lastTimeTs = s.maxTs
			}
			s.sinceIndex = 0
		}
		s.sinceIndex += int64(len(b))
		// The snapshot is at or below the segment's base (loadSnapshot),
		// so every batch here is replayed and every abort marker gets its
		// transaction index entry back.
		if b.BaseOffset() >= replayFrom && b.HasProducerID() {
			pb := pendingFor(b)
			if t, aborted := l.prod.apply(&pb); aborted {
				txnBuf = appendTxnEntry(txnBuf, t)
			}
		}
		next = b.LastOffset() + 1
		pos += int64(len(b))
	}
	// Zeros to the end were written ahead and not trimmed (see padAhead):
	// the end of the data, not damage.
	cut = reason != "" && !allZero(data[pos:])
	mp.release()
	if reason != "" {
		if cut {
			l.logger.Warn("logstore: truncating log at invalid batch", "segment", s.log.path,
				"position", pos, "offset", next, "reason", reason)
		} else {
			l.logger.Debug("logstore: cutting zeros written ahead", "segment", s.log.path, "position", pos)
		}
		if err := s.log.truncate(pos); err != nil {
			return false, err
		}
	}
	s.next = next
	if pos == 0 {
		s.next = s.base
	}
	s.verified.Store(pos)
	// Rebuild the indexes from scratch.
	for _, f := range []struct {
		a   *afile
		buf []byte
	}{{s.idx, idxBuf}, {s.tidx, tidxBuf}} {
		if err := f.a.truncate(0); err != nil {
			return cut, err
		}
		if len(f.buf) > 0 {
			if err := f.a.writeAt(f.buf, 0); err != nil {
				return cut, err
			}
			f.a.size = int64(len(f.buf))
		}
	}
	if len(txnBuf) > 0 || s.txn != nil {
		if s.txn == nil {
			if s.txn, err = openAFile(l.fs, l.m.fds, fileName(l.dir, s.base, txnIndexSuffix), true); err != nil {
				return cut, err
			}
		}
		if err := s.txn.truncate(0); err != nil {
			return cut, err
		}
		if len(txnBuf) > 0 {
			if err := s.txn.writeAt(txnBuf, 0); err != nil {
				return cut, err
			}
			s.txn.size = int64(len(txnBuf))
		}
		s.txnCount = len(txnBuf) / txnEntrySize
	}
	s.firstBatchTs = -1
	return cut, nil
}

// loadEpochs reads leader-epoch-checkpoint and trims it to the log.
func (l *Log) loadEpochs() error {
	data, err := readFile(l.fs, l.path(epochFile))
	if err == nil {
		entries, derr := decodeEpochs(data)
		if derr != nil {
			l.logger.Warn("logstore: ignoring bad leader-epoch-checkpoint", "dir", l.dir, "err", derr)
		} else {
			l.epochs.entries = entries
		}
	} else if !isNotExist(err) {
		return fmt.Errorf("logstore: read %s: %w", l.path(epochFile), storageErr(err))
	}
	changed := l.epochs.truncateFromEnd(l.leo + 1)
	// An entry starting exactly at the end is a leader that has not
	// written yet; Kafka keeps it, and so do we. Entries past it go.
	if l.epochs.truncateFromStart(l.logStart) {
		changed = true
	}
	if changed || (err == nil && len(l.epochs.entries) == 0) {
		if err := writeFileAtomic(l.fs, l.path(epochFile), l.epochs.encode()); err != nil {
			return fmt.Errorf("logstore: write %s: %w", l.path(epochFile), storageErr(err))
		}
	}
	return nil
}

// shutdown closes a log. With final, it first syncs everything and writes
// a producer snapshot and a last time index entry, so a restart needs no
// scan.
func (l *Log) shutdown(final bool) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	var err error
	if final && !l.isClosed() {
		act := l.segs[len(l.segs)-1]
		if act.maxTs > act.lastTimeTs && !act.indexFull(&l.cfg) {
			rel, _ := act.relative(act.maxTsOffset)
			buf := appendTimeEntry(nil, act.maxTs, rel)
			if werr := act.tidx.writeAt(buf, act.tidx.size); werr == nil {
				l.mu.Lock()
				act.tidx.size += timeEntrySize
				act.lastTimeTs = act.maxTs
				l.mu.Unlock()
			}
		}
		if terr := act.log.trim(); terr != nil {
			err = terr
		}
		if _, serr := l.syncOnce(true); serr != nil && err == nil {
			err = serr
		}
		if l.DurableOffset() < l.LogEndOffset() && err == nil {
			err = fmt.Errorf("logstore: %s: not fully synced at close", l.tp)
		}
		if err == nil {
			if serr := l.writeSnapshot(l.leo); serr != nil {
				err = fmt.Errorf("logstore: %s: snapshot: %w", l.tp, serr)
			}
		}
		if err != nil {
			// The checkpoint must not claim what is not on disk.
			l.mu.Lock()
			l.recoveryPoint = min(l.recoveryPoint, l.durable.Load())
			l.mu.Unlock()
		}
	}
	l.closeFiles()
	return err
}

// closeFiles marks the log closed and closes its files.
func (l *Log) closeFiles() {
	l.syncMu.Lock()
	l.mu.Lock()
	l.closed = true
	for _, s := range l.segs {
		s.close()
	}
	l.mu.Unlock()
	l.syncMu.Unlock()
	l.wakeDurable(nil)
}

// unmapIdle drops the maps of sealed segments (readers keep theirs), so
// that only recently read segments hold maps between background passes.
func (l *Log) unmapIdle() {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, s := range l.segs[:max(len(l.segs)-1, 0)] {
		s.unmapIdle()
	}
}
