package logstore

import (
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/potok-io/potok/records"
)

// Sizes of index entries (Kafka's OffsetIndex, TimeIndex and AbortedTxn).
const (
	offsetEntrySize = 8  // int32 relative offset, int32 position
	timeEntrySize   = 12 // int64 timestamp, int32 relative offset
	txnEntrySize    = 34 // int16 version, int64 pid, first, last, lso

	// mapSlack is added to the planned capacity of an active log's map so a
	// segment that ends slightly past segment.bytes does not remap.
	mapSlack = 1 << 20
)

// File name suffixes (Kafka's LogFileUtils).
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	txnIndexSuffix  = ".txnindex"
	snapshotSuffix  = ".snapshot"
	deletedSuffix   = ".deleted"
	cleanedSuffix   = ".cleaned"
	swapSuffix      = ".swap"
	truncSuffix     = ".trunc"
)

func fileName(dir string, base int64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, suffix))
}

// segment is one .log file and its indexes. Which lock guards what:
//   - the afiles' sizes and the fields below "guarded by Log.mu" change only
//     with the log's append lock and mutex both held, so the appender reads
//     them with the append lock alone and readers with the read lock;
//   - mapMu guards the afiles' maps (lazy mapping by concurrent readers);
//   - verified is atomic: readers advance it.
type segment struct {
	base int64
	dir  string

	log, idx, tidx *afile
	txn            *afile // nil until the segment has an aborted transaction

	mapMu sync.Mutex

	// Guarded by Log.mu (see above).
	next         int64 // offset after the last batch (== base when empty)
	maxTs        int64 // largest batch max timestamp, -1 when empty
	maxTsOffset  int64 // last offset of the batch carrying maxTs
	firstBatchTs int64 // max timestamp of the first batch, -1 when empty
	created      int64 // creation time (ms), for segment.ms on empty segments
	sinceIndex   int64 // bytes appended since the last offset index entry
	lastTimeTs   int64 // timestamp of the last time index entry, -1 if none
	txnCount     int   // entries in the txn index
	unsynced     bool  // sealed with data or indexes not yet synced

	// dropped is the position below which the log file's pages were dropped
	// from the page cache (see direct.go); reads starting below it go
	// around the cache.
	dropped atomic.Int64
	// ahead is the window read ahead for the next read around the cache
	// (see readahead.go), or nil.
	ahead atomic.Pointer[readAhead]

	// verified is the position up to which every batch's CRC is known good:
	// batches appended by this process and those checked by recovery. Reads
	// of sealed segments loaded without a scan check the rest lazily.
	verified atomic.Int64
}

// createSegment creates the files of an empty segment.
func createSegment(fsys FS, cache *fdCache, dir string, base int64, c *Config, now int64) (*segment, error) {
	s := &segment{base: base, dir: dir, next: base, maxTs: -1, maxTsOffset: -1, firstBatchTs: -1, lastTimeTs: -1, created: now}
	var err error
	if s.log, err = openAFile(fsys, cache, fileName(dir, base, logSuffix), true); err != nil {
		return nil, err
	}
	if s.idx, err = openAFile(fsys, cache, fileName(dir, base, indexSuffix), true); err != nil {
		s.close()
		return nil, err
	}
	if s.tidx, err = openAFile(fsys, cache, fileName(dir, base, timeIndexSuffix), true); err != nil {
		s.close()
		return nil, err
	}
	// A stale .txnindex of an earlier segment with this base must not
	// survive into this one.
	if err := fsys.Remove(fileName(dir, base, txnIndexSuffix)); err != nil && !isNotExist(err) {
		s.close()
		return nil, storageErr(err)
	}
	s.activate(c)
	return s, nil
}

// openSegment opens the files of an existing segment. Missing index files are
// created empty and reported so the caller rebuilds them.
func openSegment(fsys FS, cache *fdCache, dir string, base int64, now int64) (s *segment, missingIndex bool, err error) {
	s = &segment{base: base, dir: dir, next: base, maxTs: -1, maxTsOffset: -1, firstBatchTs: -1, lastTimeTs: -1, created: now}
	if s.log, err = openAFile(fsys, cache, fileName(dir, base, logSuffix), false); err != nil {
		return nil, false, err
	}
	open := func(suffix string) (*afile, error) {
		name := fileName(dir, base, suffix)
		if _, err := fsys.Stat(name); err != nil {
			if !isNotExist(err) {
				return nil, storageErr(err)
			}
			missingIndex = true
		}
		return openAFile(fsys, cache, name, missingIndex)
	}
	if s.idx, err = open(indexSuffix); err != nil {
		s.close()
		return nil, false, err
	}
	if s.tidx, err = open(timeIndexSuffix); err != nil {
		s.close()
		return nil, false, err
	}
	if _, serr := fsys.Stat(fileName(dir, base, txnIndexSuffix)); serr == nil {
		if s.txn, err = openAFile(fsys, cache, fileName(dir, base, txnIndexSuffix), false); err != nil {
			s.close()
			return nil, false, err
		}
		s.txnCount = int(s.txn.size / txnEntrySize)
	}
	return s, missingIndex, nil
}

// activate plans the maps of the segment that receives appends: larger than
// the contents, so appended bytes show through without remapping. Caller
// holds mapMu or owns the segment.
func (s *segment) activate(c *Config) {
	s.log.want = max(c.SegmentBytes, s.log.size) + mapSlack
	s.idx.want = int64(c.SegmentIndexBytes)
	s.tidx.want = int64(c.SegmentIndexBytes)
	// A map taken before (by recovery, or while the segment was sealed)
	// was sized for the file as it was, which may have been longer than
	// it is now (zeros cut off): the next read maps it with the planned
	// capacity. Readers keep the maps they hold.
	s.log.unmap()
}

// Write-ahead padding. fdatasync after an append that lengthens the file
// must also make the new size durable (ext4 with a journal commits a
// transaction; without one, as on the reference machine, it writes the
// inode's block synchronously); after an append into blocks already
// written and synced it writes the data and flushes the disk cache,
// nothing more (on the reference machine p50 0.18
// against 0.27 ms, p99 0.55 against 0.73: docs/performance.md). So a log
// that syncs by message count writes zeros ahead of a small append, and
// the next small appends land in them. Large appends gain nothing (one
// commit per megabytes) and are not padded. The zeros are cut off when the
// segment is sealed or closed; after a crash, recovery takes an all-zero
// tail for the end of the log.
const (
	padMaxAppend = 64 << 10  // appends this large or larger are not padded
	padMin       = 32 << 10  // zeros written ahead of a small append, at least
	padMax       = 256 << 10 // and at most
	padAlign     = 4 << 10
)

var zeroPad = make([]byte, padMax+padAlign)

// padAhead writes zeros past end, the new end of s's log, if the append of
// n bytes that ended there was small and little padding is left (the log's
// appendMu held). It is an optimisation only: a failure leaves the file as
// it was.
func (s *segment) padAhead(end int64, n int, cfg *Config) {
	if n >= padMaxAppend || cfg.FlushMessages == math.MaxInt64 {
		return
	}
	want := min(max(int64(16*n), padMin), padMax)
	if s.log.padded >= end+want/2 {
		return
	}
	// Not past where the segment rolls.
	to := min(end+want, max(cfg.SegmentBytes, end))
	if to = (to + padAlign - 1) / padAlign * padAlign; to <= max(end, s.log.padded) {
		return
	}
	if err := s.log.writeAt(zeroPad[:to-end], end); err != nil {
		return // writeAt cut the file back to end (or the next append repairs it)
	}
	s.log.padded = to
}

// seal stops planning growth; existing maps stay valid.
func (s *segment) seal() {
	s.log.want, s.idx.want, s.tidx.want = 0, 0, 0
}

func (s *segment) close() error {
	var first error
	for _, a := range []*afile{s.log, s.idx, s.tidx, s.txn} {
		if a != nil {
			if err := a.close(); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

// view returns a reference to the first size bytes of a's map. Caller holds
// the log's mutex (so size is stable) and releases the mapping.
func (s *segment) view(a *afile) (*mapping, []byte, error) {
	s.mapMu.Lock()
	mp, err := a.view()
	s.mapMu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	return mp, mp.data[:a.size:a.size], nil
}

// unmapIdle drops the segment's own map references so a sealed segment
// holds no map until it is read again (bounding vm.max_map_count use).
func (s *segment) unmapIdle() {
	s.mapMu.Lock()
	for _, a := range []*afile{s.log, s.idx, s.tidx, s.txn} {
		if a != nil {
			a.unmap()
		}
	}
	s.mapMu.Unlock()
}

// relative converts an absolute offset to the index's int32 form.
func (s *segment) relative(off int64) (int32, bool) {
	d := off - s.base
	if d < 0 || d > math.MaxInt32 {
		return 0, false
	}
	return int32(d), true
}

// indexEntry returns the greatest offset index entry at or below off as a
// relative offset and a position below the log's size; pos is 0 if there is
// none. The caller checks the entry against the batch at pos (see seek).
func (s *segment) indexEntry(off int64) (rel, pos int64, err error) {
	if s.idx.size < offsetEntrySize {
		return 0, 0, nil
	}
	mp, idx, err := s.view(s.idx)
	if err != nil {
		return 0, 0, err
	}
	rel, pos, ok := lookupOffsetIndex(idx, off-s.base)
	mp.release()
	if !ok || pos <= 0 || pos >= s.log.size {
		return 0, 0, nil
	}
	return rel, pos, nil
}

// seek returns a position in data (the segment's mapped log bytes) at or
// before the batch holding off, from the greatest offset index entry at or
// below it, or 0. An entry is trusted only if the batch at its position ends
// at the entry's offset: the index has no checksum, and a wrong entry could
// send the scan past the batch sought.
func (s *segment) seek(data []byte, off int64) (int64, error) {
	rel, pos, err := s.indexEntry(off)
	if err != nil || pos == 0 || pos >= int64(len(data)) {
		return 0, err
	}
	b, _, err := records.Next(data[pos:])
	if err != nil || len(b) < records.HeaderSize || b.LastOffset() != s.base+rel {
		return 0, nil
	}
	return pos, nil
}

// lookupOffsetIndex binary-searches index entries for the greatest relative
// offset <= rel and returns it with its position; ok=false if none.
func lookupOffsetIndex(data []byte, rel int64) (int64, int64, bool) {
	n := len(data) / offsetEntrySize
	// First entry with relative offset > rel.
	i := sort.Search(n, func(i int) bool {
		return int64(int32(binary.BigEndian.Uint32(data[i*offsetEntrySize:]))) > rel
	})
	if i == 0 {
		return 0, 0, false
	}
	e := data[(i-1)*offsetEntrySize:]
	return int64(int32(binary.BigEndian.Uint32(e))), int64(int32(binary.BigEndian.Uint32(e[4:]))), true
}

// timeLookup returns the offset named by the greatest time index entry with
// timestamp <= ts, or the segment base.
func (s *segment) timeLookup(ts int64) (int64, error) {
	if s.tidx.size < timeEntrySize {
		return s.base, nil
	}
	mp, data, err := s.view(s.tidx)
	if err != nil {
		return 0, err
	}
	n := len(data) / timeEntrySize
	i := sort.Search(n, func(i int) bool {
		return int64(binary.BigEndian.Uint64(data[i*timeEntrySize:])) > ts
	})
	off := s.base
	if i > 0 {
		off = s.base + int64(int32(binary.BigEndian.Uint32(data[(i-1)*timeEntrySize+8:])))
	}
	mp.release()
	return off, nil
}

// corruptErr reports bad bytes in a segment with file and position.
func (s *segment) corruptErr(pos int64, why any) error {
	return fmt.Errorf("%w: %s at position %d: %v", ErrCorrupt, s.log.path, pos, why)
}

// findBatch scans batch headers in data from pos and returns the position of
// the first batch whose last offset is >= off, or len(data) if none.
func (s *segment) findBatch(data []byte, pos int64, off int64) (int64, error) {
	for pos < int64(len(data)) {
		b, _, err := records.Next(data[pos:])
		if err != nil || len(b) < records.HeaderSize {
			if err == nil {
				err = records.ErrCorrupt
			}
			return 0, s.corruptErr(pos, err)
		}
		if b.LastOffset() >= off {
			return pos, nil
		}
		pos += int64(len(b))
	}
	return pos, nil
}

// verify checks the CRC of every batch in [from, to) (file positions at
// batch boundaries; data[i] is the file's byte base+i) and advances the
// verified mark when the range starts at it.
func (s *segment) verify(data []byte, base, from, to int64) error {
	v := s.verified.Load()
	if to <= v {
		return nil
	}
	start := from
	if from <= v {
		start = v
	}
	for pos := start; pos < to; {
		b, _, err := records.Next(data[pos-base:])
		if err == nil && len(b) < records.HeaderSize {
			err = records.ErrCorrupt
		}
		if err != nil {
			return s.corruptErr(pos, err)
		}
		if !b.ValidCRC() {
			return s.corruptErr(pos, fmt.Sprintf("CRC mismatch in batch at offset %d", b.BaseOffset()))
		}
		pos += int64(len(b))
	}
	if from <= v {
		// Readers race to advance; the larger mark wins.
		for {
			cur := s.verified.Load()
			if cur >= to || s.verified.CompareAndSwap(cur, to) {
				break
			}
		}
	}
	return nil
}

// appendOffsetEntry encodes an offset index entry.
func appendOffsetEntry(dst []byte, rel int32, pos int64) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(rel))
	return binary.BigEndian.AppendUint32(dst, uint32(pos))
}

// appendTimeEntry encodes a time index entry.
func appendTimeEntry(dst []byte, ts int64, rel int32) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(ts))
	return binary.BigEndian.AppendUint32(dst, uint32(rel))
}

// indexFull reports whether either index has no room for another entry
// (Kafka rolls then: LogSegment.shouldRoll).
func (s *segment) indexFull(c *Config) bool {
	return s.idx.size+offsetEntrySize > int64(c.SegmentIndexBytes) ||
		s.tidx.size+timeEntrySize > int64(c.SegmentIndexBytes)
}

// AbortedTxn is one entry of a segment's transaction index: a transaction
// of ProducerID that aborted, spanning [FirstOffset, LastOffset] (the marker),
// and the last stable offset when the abort was written.
type AbortedTxn struct {
	ProducerID, FirstOffset, LastOffset, LastStableOffset int64
}

func appendTxnEntry(dst []byte, t AbortedTxn) []byte {
	dst = binary.BigEndian.AppendUint16(dst, 0)
	dst = binary.BigEndian.AppendUint64(dst, uint64(t.ProducerID))
	dst = binary.BigEndian.AppendUint64(dst, uint64(t.FirstOffset))
	dst = binary.BigEndian.AppendUint64(dst, uint64(t.LastOffset))
	return binary.BigEndian.AppendUint64(dst, uint64(t.LastStableOffset))
}

func readTxnEntry(b []byte) AbortedTxn {
	return AbortedTxn{
		ProducerID:       int64(binary.BigEndian.Uint64(b[2:])),
		FirstOffset:      int64(binary.BigEndian.Uint64(b[10:])),
		LastOffset:       int64(binary.BigEndian.Uint64(b[18:])),
		LastStableOffset: int64(binary.BigEndian.Uint64(b[26:])),
	}
}

// abortedTxns appends the segment's aborted transactions overlapping
// [from, to) to dst.
func (s *segment) abortedTxns(dst []AbortedTxn, from, to int64) ([]AbortedTxn, error) {
	if s.txn == nil || s.txnCount == 0 {
		return dst, nil
	}
	mp, data, err := s.view(s.txn)
	if err != nil {
		return dst, err
	}
	defer mp.release()
	for i := 0; i+txnEntrySize <= len(data) && i/txnEntrySize < s.txnCount; i += txnEntrySize {
		t := readTxnEntry(data[i:])
		if t.LastOffset >= from && t.FirstOffset < to {
			dst = append(dst, t)
		}
	}
	return dst, nil
}

// lastOffsetEntry returns the last offset index entry's relative offset and
// position, ok=false when the index is empty.
func lastIndexEntry(data []byte) (rel int32, pos int64, ok bool) {
	n := len(data) / offsetEntrySize
	if n == 0 {
		return 0, 0, false
	}
	e := data[(n-1)*offsetEntrySize:]
	return int32(binary.BigEndian.Uint32(e)), int64(int32(binary.BigEndian.Uint32(e[4:]))), true
}

// checkIndexes is Kafka's index sanity check for a segment loaded without a
// scan: whole entries, offsets and positions increasing and inside the log.
// It reads every entry (a few MiB at most), which also catches garbage that a
// last-entry check would let through.
func (s *segment) checkIndexes() error {
	if s.idx.size%offsetEntrySize != 0 {
		return fmt.Errorf("offset index size %d is not a multiple of %d", s.idx.size, offsetEntrySize)
	}
	if s.tidx.size%timeEntrySize != 0 {
		return fmt.Errorf("time index size %d is not a multiple of %d", s.tidx.size, timeEntrySize)
	}
	if s.idx.size > 0 {
		mp, data, err := s.view(s.idx)
		if err != nil {
			return err
		}
		prevRel, prevPos := int64(-1), int64(-1)
		for i := 0; i < len(data); i += offsetEntrySize {
			rel := int64(int32(binary.BigEndian.Uint32(data[i:])))
			pos := int64(int32(binary.BigEndian.Uint32(data[i+4:])))
			if rel <= prevRel || pos <= prevPos || pos >= s.log.size {
				mp.release()
				return fmt.Errorf("offset index entry %d (%d, %d) out of order or past the log", i/offsetEntrySize, rel, pos)
			}
			prevRel, prevPos = rel, pos
		}
		mp.release()
	}
	if s.tidx.size > 0 {
		mp, data, err := s.view(s.tidx)
		if err != nil {
			return err
		}
		prevTs, prevRel := int64(math.MinInt64), int64(-1)
		for i := 0; i < len(data); i += timeEntrySize {
			ts := int64(binary.BigEndian.Uint64(data[i:]))
			rel := int64(int32(binary.BigEndian.Uint32(data[i+8:])))
			if ts <= prevTs || rel < prevRel || rel < 0 {
				mp.release()
				return fmt.Errorf("time index entry %d (%d, %d) out of order", i/timeEntrySize, ts, rel)
			}
			prevTs, prevRel = ts, rel
		}
		if n := len(data) / timeEntrySize; n > 0 {
			e := data[(n-1)*timeEntrySize:]
			s.lastTimeTs = int64(binary.BigEndian.Uint64(e))
			s.maxTs = s.lastTimeTs
			s.maxTsOffset = s.base + int64(int32(binary.BigEndian.Uint32(e[8:])))
		}
		mp.release()
	}
	if s.txn != nil && s.txn.size%txnEntrySize != 0 {
		return fmt.Errorf("transaction index size %d is not a multiple of %d", s.txn.size, txnEntrySize)
	}
	return nil
}
