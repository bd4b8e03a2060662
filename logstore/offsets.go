package logstore

import (
	"github.com/potok-io/potok/records"
)

// OffsetForTimestamp finds the first record at or above the log start and
// below maxOffset whose timestamp is >= ts (ListOffsets by time). The time
// index narrows the search to a stretch of one segment; the batch found is
// then read record by record, decompressing if needed, as Kafka's
// LogSegment.findOffsetByTimestamp does.
func (l *Log) OffsetForTimestamp(ts int64, maxOffset int64) (offset, timestamp int64, epoch int32, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, 0, 0, false
	}
	var scratch []byte
	for _, s := range l.segs {
		if s.base >= maxOffset {
			break
		}
		if s.next <= l.logStart || s.log.size == 0 || (s.maxTs >= 0 && s.maxTs < ts) {
			continue
		}
		from, err := s.timeLookup(ts)
		if err != nil {
			return 0, 0, 0, false
		}
		mp, data, err := s.view(s.log)
		if err != nil {
			return 0, 0, 0, false
		}
		pos, err := s.seek(data, max(from, l.logStart))
		if err != nil {
			mp.release()
			return 0, 0, 0, false
		}
		for pos < int64(len(data)) {
			b, _, err := records.Next(data[pos:])
			if err != nil || len(b) < records.HeaderSize {
				break
			}
			pos += int64(len(b))
			if b.BaseOffset() >= maxOffset {
				break
			}
			if b.MaxTimestamp() < ts || b.LastOffset() < l.logStart {
				continue
			}
			found := false
			scratch, _ = readBatchRecords(b, scratch, func(off, rts int64) bool {
				if off >= l.logStart && off < maxOffset && rts >= ts {
					offset, timestamp, found = off, rts, true
					return false
				}
				return true
			})
			if found {
				mp.release()
				return offset, timestamp, b.PartitionLeaderEpoch(), true
			}
		}
		mp.release()
	}
	return 0, 0, 0, false
}

// MaxTimestamp returns the first record carrying the largest timestamp below
// maxOffset (KIP-734, ListOffsets with timestamp -3).
func (l *Log) MaxTimestamp(maxOffset int64) (timestamp, offset int64, epoch int32, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, 0, 0, false
	}
	// First find the batch: per segment from its summary when the whole
	// segment is below maxOffset, else by scanning headers.
	bestTs, bestSeg, bestBatchLast := int64(-1), (*segment)(nil), int64(-1)
	for _, s := range l.segs {
		if s.base >= maxOffset || s.log.size == 0 {
			break
		}
		if s.next <= maxOffset && s.maxTs >= 0 {
			if s.maxTs > bestTs {
				bestTs, bestSeg, bestBatchLast = s.maxTs, s, s.maxTsOffset
			}
			continue
		}
		mp, data, err := s.view(s.log)
		if err != nil {
			return 0, 0, 0, false
		}
		for pos := int64(0); pos < int64(len(data)); {
			b, _, err := records.Next(data[pos:])
			if err != nil || len(b) < records.HeaderSize || b.LastOffset() >= maxOffset {
				break
			}
			if b.MaxTimestamp() > bestTs {
				bestTs, bestSeg, bestBatchLast = b.MaxTimestamp(), s, b.LastOffset()
			}
			pos += int64(len(b))
		}
		mp.release()
	}
	if bestSeg == nil {
		return 0, 0, 0, false
	}
	s := bestSeg
	mp, data, err := s.view(s.log)
	if err != nil {
		return 0, 0, 0, false
	}
	defer mp.release()
	pos, err := s.seek(data, bestBatchLast)
	if err != nil {
		return 0, 0, 0, false
	}
	if pos, err = s.findBatch(data, pos, bestBatchLast); err != nil || pos >= int64(len(data)) {
		return 0, 0, 0, false
	}
	b, _, err := records.Next(data[pos:])
	if err != nil {
		return 0, 0, 0, false
	}
	found := false
	_, _ = readBatchRecords(b, nil, func(off, rts int64) bool {
		if rts == bestTs && off < maxOffset {
			offset, found = off, true
			return false
		}
		return true
	})
	if !found {
		// Records disagree with the header (or are unreadable): answer
		// with the batch, as a shallow lookup would.
		offset = b.BaseOffset()
	}
	return bestTs, offset, b.PartitionLeaderEpoch(), true
}
