package logstore

// CompactStats describes one cleaner pass.
type CompactStats struct {
	SegmentsCleaned int
	BytesBefore     int64
	BytesAfter      int64
	RecordsRemoved  int64
}

// Compact runs one cleaner pass (no-op unless the topic is compacted).
func (l *Log) Compact() (CompactStats, error) {
	return CompactStats{}, nil
}
