package logstore

import (
	"fmt"
	"math"
	"strings"

	"github.com/potok-io/potok/records"
)

// CompactStats describes one cleaner pass.
type CompactStats struct {
	SegmentsCleaned int   // old segments replaced
	BytesBefore     int64 // their size
	BytesAfter      int64 // the size of what replaced them
	RecordsRemoved  int64
}

// Compact runs one cleaner pass for cleanup.policy=compact (Kafka's
// LogCleaner): it keeps the latest record per key below the first
// uncleanable offset, drops tombstones and transaction markers once their
// delete horizon (KIP-534) has passed, drops aborted transactional data, and
// keeps every offset where it was. It reads mapped segments without locks,
// writes the cleaned segments aside, and takes the append lock only to swap
// them in, so appends and reads go on meanwhile. No-op unless the topic is
// compacted and dirty enough.
func (l *Log) Compact() (CompactStats, error) {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	if l.Config().Compact {
		// Cleaning stops at the recovery point; sync what was rolled so
		// the point covers every sealed segment.
		if err := l.syncNotify(false); err != nil {
			return CompactStats{}, err
		}
		l.mu.RLock()
		stale := l.persistedRP < l.recoveryPoint
		l.mu.RUnlock()
		if stale {
			if err := l.m.writeCheckpoints(false); err != nil {
				return CompactStats{}, err
			}
		}
	}
	p, err := l.planClean()
	if err != nil || p == nil {
		return CompactStats{}, err
	}
	defer p.release()
	st, groups, err := l.cleanSegments(p)
	if err != nil {
		return st, err
	}
	if err := l.swapCleaned(p, groups); err != nil {
		return st, err
	}
	l.mu.Lock()
	l.cleanerCheckpoint = max(l.cleanerCheckpoint, p.end)
	l.mu.Unlock()
	return st, nil
}

// cleanPlan is the input of a pass: segments [0, n) of the list as it was,
// with references that keep their maps while the pass reads them.
type cleanPlan struct {
	segs    []*segment
	maps    []*mapping
	data    [][]byte
	end     int64 // first uncleanable offset
	dirty   int64 // cleaner checkpoint: the map is built from here
	now     int64
	cfg     Config
	aborted []AbortedTxn
	// lastOfProducer maps producer id to its last data offset: that batch
	// is kept, if empty, so the producer's sequence survives (Kafka's
	// BatchRetention.RETAIN_EMPTY).
	lastOfProducer map[int64]int64
}

func (p *cleanPlan) release() {
	for _, m := range p.maps {
		m.release()
	}
	p.maps = nil
}

// planClean picks the segments to clean: every sealed segment below the
// first uncleanable offset, which is the least of the active segment's base,
// the high watermark, the first open transaction, the recovery point on
// disk (so that recovery never rescans a cleaned segment, whose end may lie
// before the next segment's base and would look like a lost tail) and the
// first segment younger than min.compaction.lag.ms.
func (l *Log) planClean() (*cleanPlan, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	if !l.cfg.Compact {
		return nil, nil
	}
	now := l.m.nowMs()
	end := min(l.segs[len(l.segs)-1].base, l.hw, l.persistedRP)
	if f := l.prod.firstUnstable(); f >= 0 {
		end = min(end, f)
	}
	n := 0
	var total, dirty int64
	dirtyFrom := max(l.cleanerCheckpoint, l.logStart)
	mustClean := false
	for n < len(l.segs)-1 {
		s := l.segs[n]
		if s.next > end {
			break
		}
		if l.cfg.MinCompactionLagMs > 0 && s.maxTs >= 0 && s.maxTs > now-l.cfg.MinCompactionLagMs {
			break
		}
		total += s.log.size
		if s.next > dirtyFrom {
			dirty += s.log.size
			if l.cfg.MaxCompactionLagMs >= 0 && l.cfg.MaxCompactionLagMs != math.MaxInt64 &&
				s.firstBatchTs >= 0 && s.firstBatchTs < now-l.cfg.MaxCompactionLagMs {
				mustClean = true
			}
		}
		n++
	}
	if n == 0 || dirty == 0 {
		return nil, nil
	}
	if !mustClean && float64(dirty)/float64(total) < l.cfg.MinCleanableDirtyRatio {
		return nil, nil
	}
	p := &cleanPlan{end: l.segs[n-1].next, dirty: dirtyFrom, now: now, cfg: l.cfg, lastOfProducer: map[int64]int64{}}
	for _, s := range l.segs[:n] {
		mp, data, err := s.view(s.log)
		if err != nil {
			p.release()
			return nil, err
		}
		p.segs = append(p.segs, s)
		p.maps = append(p.maps, mp)
		p.data = append(p.data, data)
		p.aborted, _ = s.abortedTxns(p.aborted, 0, math.MaxInt64)
	}
	for pid, e := range l.prod.m {
		p.lastOfProducer[pid] = e.lastDataOffset()
	}
	return p, nil
}

// isAborted reports whether a transactional batch of pid at off belongs to
// an aborted transaction.
func (p *cleanPlan) isAborted(pid, off int64) bool {
	for _, a := range p.aborted {
		if a.ProducerID == pid && a.FirstOffset <= off && off <= a.LastOffset {
			return true
		}
	}
	return false
}

// cleanedGroup is the new content of consecutive old segments [from, to).
type cleanedGroup struct {
	from, to int
	base     int64
	log      []byte
	idx      []byte
	tidx     []byte
	txn      []byte
}

// cleanSegments builds the key map over the dirty section and rewrites the
// planned segments into groups of at most segment.bytes.
func (l *Log) cleanSegments(p *cleanPlan) (CompactStats, []cleanedGroup, error) {
	var st CompactStats
	// Key -> latest offset, over the dirty section, skipping control
	// batches and aborted data (Kafka's buildOffsetMap).
	latest := map[string]int64{}
	for i, data := range p.data {
		if p.segs[i].next <= p.dirty {
			continue
		}
		for pos := 0; pos < len(data); {
			b, _, err := records.Next(data[pos:])
			if err != nil || len(b) < records.HeaderSize {
				return st, nil, p.segs[i].corruptErr(int64(pos), err)
			}
			pos += len(b)
			if b.LastOffset() < p.dirty || b.IsControl() || (b.IsTransactional() && p.isAborted(b.ProducerID(), b.BaseOffset())) {
				continue
			}
			_, err = eachRecord(b, func(off int64, rec *records.Record) {
				if rec.Key != nil {
					latest[string(rec.Key)] = off
				}
			})
			if err != nil {
				return st, nil, p.segs[i].corruptErr(int64(pos-len(b)), err)
			}
		}
	}

	var groups []cleanedGroup
	var cur *cleanedGroup
	tx := newTxnTracker(p)
	for i, data := range p.data {
		s := p.segs[i]
		st.BytesBefore += int64(len(data))
		var out []byte
		for pos := 0; pos < len(data); {
			b, _, _ := records.Next(data[pos:])
			pos += len(b)
			nb, removed, err := l.cleanBatch(p, b, latest, tx)
			if err != nil {
				return st, nil, s.corruptErr(int64(pos-len(b)), err)
			}
			st.RecordsRemoved += removed
			out = append(out, nb...)
		}
		// Start a new group when this segment's output does not fit, or its
		// offsets would overflow the group's 32-bit relative offsets.
		if cur == nil || int64(len(cur.log)+len(out)) > p.cfg.SegmentBytes || s.next-cur.base > math.MaxInt32 {
			groups = append(groups, cleanedGroup{from: i, base: s.base})
			cur = &groups[len(groups)-1]
		}
		cur.to = i + 1
		cur.log = append(cur.log, out...)
	}
	for gi := range groups {
		g := &groups[gi]
		g.idx, g.tidx = buildIndexes(g.base, g.log, p.cfg.IndexIntervalBytes)
		last := p.segs[g.to-1].next
		for _, a := range tx.keptAborts {
			if a.LastOffset >= g.base && a.LastOffset < last {
				g.txn = appendTxnEntry(g.txn, a)
			}
		}
		st.BytesAfter += int64(len(g.log))
	}
	st.SegmentsCleaned = len(p.segs)
	return st, groups, nil
}

// txnTracker follows transactions through a pass, to know when a marker may
// go (Kafka's CleanedTransactionMetadata): an abort marker stays while its
// transaction's data is still being removed; a commit marker stays while
// any of its transaction's data remains.
type txnTracker struct {
	p *cleanPlan
	// pids whose transactional data was seen since their last marker.
	seen       map[int64]bool
	keptAborts []AbortedTxn
}

func newTxnTracker(p *cleanPlan) *txnTracker {
	return &txnTracker{p: p, seen: map[int64]bool{}}
}

// cleanBatch returns what remains of b (nil if nothing), and how many
// records it dropped.
func (l *Log) cleanBatch(p *cleanPlan, b records.Batch, latest map[string]int64, tx *txnTracker) ([]byte, int64, error) {
	horizonPassed := b.HasDeleteHorizon() && b.BaseTimestamp() <= p.now
	if b.IsControl() {
		pid := b.ProducerID()
		typ, _ := markerInfo(b)
		hadData := tx.seen[pid]
		delete(tx.seen, pid)
		if !hadData && horizonPassed {
			return nil, int64(b.NumRecords()), nil
		}
		if typ == records.ControlAbort {
			for _, a := range p.aborted {
				if a.ProducerID == pid && a.LastOffset == b.LastOffset() {
					tx.keptAborts = append(tx.keptAborts, a)
				}
			}
		}
		if !b.HasDeleteHorizon() {
			// First pass over the marker: start its delete horizon.
			nb, err := rebuildBatch(b, p, nil, true)
			return nb, 0, err
		}
		return b, 0, nil
	}
	if b.IsTransactional() {
		tx.seen[b.ProducerID()] = true
		if p.isAborted(b.ProducerID(), b.BaseOffset()) {
			return l.emptyOrNothing(p, b), int64(b.NumRecords()), nil
		}
	}
	// Which records stay.
	var keep []int32
	all, tombstones := true, false
	n, err := eachRecord(b, func(off int64, rec *records.Record) {
		ok := rec.Key != nil
		if ok {
			if lo, found := latest[string(rec.Key)]; found && lo > off {
				ok = false
			}
		}
		if ok && rec.Value == nil {
			if horizonPassed {
				ok = false
			} else {
				tombstones = true
			}
		}
		if ok {
			keep = append(keep, rec.OffsetDelta)
		} else {
			all = false
		}
	})
	if err != nil {
		return nil, 0, err
	}
	removed := int64(n - len(keep))
	if len(keep) == 0 {
		return l.emptyOrNothing(p, b), removed, nil
	}
	needHorizon := tombstones && !b.HasDeleteHorizon()
	if all && !needHorizon {
		return b, 0, nil
	}
	nb, err := rebuildBatch(b, p, keep, needHorizon)
	return nb, removed, err
}

// emptyOrNothing drops a batch whose records all went, unless it is the last
// batch of a producer the log still tracks: then its header stays, with no
// records, so the producer's last sequence and offset survive.
func (l *Log) emptyOrNothing(p *cleanPlan, b records.Batch) []byte {
	if !b.HasProducerID() || p.lastOfProducer[b.ProducerID()] != b.LastOffset() {
		return nil
	}
	h := headerOf(b)
	out, _ := records.AppendRawBatch(nil, h, records.CodecNone, nil, 0, b.LastOffsetDelta())
	return out
}

func headerOf(b records.Batch) records.BatchHeader {
	return records.BatchHeader{
		BaseOffset:           b.BaseOffset(),
		PartitionLeaderEpoch: b.PartitionLeaderEpoch(),
		Attributes:           b.Attributes(),
		BaseTimestamp:        b.BaseTimestamp(),
		MaxTimestamp:         b.MaxTimestamp(),
		ProducerID:           b.ProducerID(),
		ProducerEpoch:        b.ProducerEpoch(),
		BaseSequence:         b.BaseSequence(),
	}
}

// rebuildBatch re-encodes b with only the records whose offset deltas are in
// keep (all when keep is nil), keeping its base offset, last offset delta,
// producer fields and codec (the v2 format keeps the first and last offset
// and sequence of a cleaned batch). With horizon it sets the KIP-534 delete
// horizon: attribute bit 6 and baseTimestamp = now + delete.retention.ms,
// record timestamps unchanged.
func rebuildBatch(b records.Batch, p *cleanPlan, keep []int32, horizon bool) ([]byte, error) {
	h := headerOf(b)
	oldBase := b.BaseTimestamp()
	if horizon {
		h.Attributes |= records.AttrDeleteHorizon
		h.BaseTimestamp = p.now + p.cfg.DeleteRetentionMs
		if p.cfg.DeleteRetentionMs < 0 || h.BaseTimestamp < p.now {
			h.BaseTimestamp = math.MaxInt64
		}
	}
	var raw []byte
	var count int32
	maxTs := int64(-1)
	k := 0
	_, err := eachRecord(b, func(off int64, rec *records.Record) {
		if keep != nil {
			for k < len(keep) && keep[k] < rec.OffsetDelta {
				k++
			}
			if k >= len(keep) || keep[k] != rec.OffsetDelta {
				return
			}
		}
		ts := oldBase + rec.TimestampDelta
		maxTs = max(maxTs, ts)
		r := *rec
		r.TimestampDelta = ts - h.BaseTimestamp
		raw = records.AppendRecord(raw, &r)
		count++
	})
	if err != nil {
		return nil, err
	}
	if !b.IsLogAppendTime() && maxTs >= 0 {
		h.MaxTimestamp = maxTs
	}
	return records.AppendRawBatch(nil, h, b.Codec(), raw, count, b.LastOffsetDelta())
}

// eachRecord calls fn for every record of b (decompressing if needed) and
// returns the number of records.
func eachRecord(b records.Batch, fn func(off int64, rec *records.Record)) (int, error) {
	raw := b.Records()
	if b.Codec() != records.CodecNone {
		var err error
		if raw, err = records.Decompress(b.Codec(), raw, nil, 256<<20); err != nil {
			return 0, err
		}
	}
	r := records.NewRecordReader(raw, b.NumRecords())
	var rec records.Record
	n := 0
	for {
		ok, err := r.Next(&rec)
		if err != nil {
			return n, err
		}
		if !ok {
			return n, nil
		}
		n++
		fn(b.BaseOffset()+int64(rec.OffsetDelta), &rec)
	}
}

// buildIndexes computes offset and time index entries for a segment's bytes
// as appends would have (Kafka's LogSegment.append, batch by batch).
func buildIndexes(base int64, data []byte, interval int32) (idx, tidx []byte) {
	var since int64
	maxTs, maxTsOff, lastTs := int64(-1), int64(-1), int64(-1)
	for pos := 0; pos < len(data); {
		b, _, err := records.Next(data[pos:])
		if err != nil {
			break
		}
		if b.MaxTimestamp() > maxTs {
			maxTs, maxTsOff = b.MaxTimestamp(), b.LastOffset()
		}
		if since > int64(interval) {
			idx = appendOffsetEntry(idx, int32(b.LastOffset()-base), int64(pos))
			if maxTs > lastTs {
				tidx = appendTimeEntry(tidx, maxTs, int32(maxTsOff-base))
				lastTs = maxTs
			}
			since = 0
		}
		since += int64(len(b))
		pos += len(b)
	}
	if maxTs > lastTs {
		// The final entry a roll appends, so a reload knows the maximum.
		tidx = appendTimeEntry(tidx, maxTs, int32(maxTsOff-base))
	}
	return idx, tidx
}

// swapCleaned writes the groups as <base>.*.cleaned, syncs them, renames
// them to .swap, and then, holding the append lock, replaces the old
// segments: old files renamed away and removed, .swap renamed to the final
// names, directory synced. A crash after the .swap renames is completed by
// recovery (finishSwaps), one before them leaves the old segments.
func (l *Log) swapCleaned(p *cleanPlan, groups []cleanedGroup) error {
	suffixes := []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix}
	contents := func(g *cleanedGroup) [][]byte { return [][]byte{g.log, g.idx, g.tidx, g.txn} }
	cleanup := func() {
		for _, g := range groups {
			for _, suf := range suffixes {
				_ = l.fs.Remove(fileName(l.dir, g.base, suf) + cleanedSuffix)
				_ = l.fs.Remove(fileName(l.dir, g.base, suf) + swapSuffix)
			}
		}
	}
	for gi := range groups {
		g := &groups[gi]
		for k, data := range contents(g) {
			if k == 3 && len(data) == 0 {
				continue
			}
			name := fileName(l.dir, g.base, suffixes[k]) + cleanedSuffix
			a, err := openAFile(l.fs, l.m.fds, name, true)
			if err == nil {
				if err = a.writeAt(data, 0); err == nil {
					err = a.sync()
				}
				a.close()
			}
			if err != nil {
				cleanup()
				return err
			}
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		cleanup()
		return storageErr(err)
	}

	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		cleanup()
		return ErrClosed
	}
	// Retention or truncation may have changed the list meanwhile.
	for i, s := range p.segs {
		if i >= len(l.segs)-1 || l.segs[i] != s {
			cleanup()
			return nil
		}
	}
	// Commit point: the .swap names. Log last, so that recovery finds the
	// indexes beside the log it completes.
	for gi := range groups {
		g := &groups[gi]
		for k := len(suffixes) - 1; k >= 0; k-- {
			if k == 3 && len(g.txn) == 0 {
				continue
			}
			from := fileName(l.dir, g.base, suffixes[k]) + cleanedSuffix
			if err := l.fs.Rename(from, fileName(l.dir, g.base, suffixes[k])+swapSuffix); err != nil {
				cleanup()
				return storageErr(err)
			}
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		// The swap may or may not survive a crash; either way recovery
		// finds a consistent log. Carry on to match what recovery does.
		l.logger.Warn("logstore: directory sync failed during compaction swap", "dir", l.dir, "err", err)
	}
	// Open the new segments under their .swap names, put them in the list,
	// and only then drop the old ones: readers always see a whole log.
	newSegs := make([]*segment, 0, len(groups))
	for gi := range groups {
		s, err := openSwapSegment(l, &groups[gi], p.now)
		if err != nil {
			for _, n := range newSegs {
				n.close()
			}
			cleanup()
			return err
		}
		newSegs = append(newSegs, s)
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	rest := l.segs[len(p.segs):]
	l.segs = append(newSegs, rest...)
	l.mu.Unlock()
	for _, s := range p.segs {
		l.deleteSegmentFiles(s)
	}
	var firstErr error
	for _, s := range newSegs {
		for _, a := range []*afile{s.log, s.idx, s.tidx, s.txn} {
			if a == nil {
				continue
			}
			final := strings.TrimSuffix(a.path, swapSuffix)
			if err := l.fs.Rename(a.path, final); err != nil && firstErr == nil {
				firstErr = storageErr(err)
			}
			l.mu.Lock()
			a.path = final
			l.mu.Unlock()
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil && firstErr == nil {
		firstErr = storageErr(err)
	}
	if firstErr != nil {
		// The files are in a state recovery completes (the .swap names
		// that remain); this process goes on with the open descriptors.
		return fmt.Errorf("logstore: %s: compaction swap: %w", l.tp, firstErr)
	}
	return nil
}

// openSwapSegment opens a cleaned group's files under their .swap names.
func openSwapSegment(l *Log, g *cleanedGroup, now int64) (*segment, error) {
	s := &segment{base: g.base, dir: l.dir, maxTs: -1, maxTsOffset: -1, firstBatchTs: -1, lastTimeTs: -1, created: now}
	var err error
	open := func(suffix string) (*afile, error) {
		return openAFile(l.fs, l.m.fds, fileName(l.dir, g.base, suffix)+swapSuffix, false)
	}
	if s.log, err = open(logSuffix); err != nil {
		return nil, err
	}
	if s.idx, err = open(indexSuffix); err != nil {
		s.close()
		return nil, err
	}
	if s.tidx, err = open(timeIndexSuffix); err != nil {
		s.close()
		return nil, err
	}
	if len(g.txn) > 0 {
		if s.txn, err = open(txnIndexSuffix); err != nil {
			s.close()
			return nil, err
		}
		s.txnCount = len(g.txn) / txnEntrySize
	}
	if err := s.checkIndexes(); err != nil {
		s.close()
		return nil, fmt.Errorf("logstore: cleaned segment %d: %w", g.base, err)
	}
	if err := l.loadNextOffset(s); err != nil {
		s.close()
		return nil, err
	}
	s.seal()
	s.verified.Store(s.log.size)
	return s, nil
}
