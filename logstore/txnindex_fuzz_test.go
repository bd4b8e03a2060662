package logstore

import (
	"bytes"
	"math"
	"testing"

	"github.com/potok-io/potok/records"
)

// FuzzTxnIndex: arbitrary bytes in the transaction index of a sealed
// segment loaded after a clean shutdown never make the log panic: reading
// aborted transactions, truncating into the segment and appending after it
// all work, and the data read back is the data written.
func FuzzTxnIndex(f *testing.F) {
	entry := func(pid, first, last, lso int64) []byte {
		return appendTxnEntry(nil, AbortedTxn{ProducerID: pid, FirstOffset: first, LastOffset: last, LastStableOffset: lso})
	}
	f.Add([]byte{})
	f.Add(entry(4, 0, 2, 0))
	f.Add(append(entry(4, 0, 2, 0), entry(5, 3, 5, 3)...))
	f.Add(entry(4, 5, 1, -1))
	f.Add(entry(math.MaxInt64, math.MinInt64, math.MaxInt64, 7)[:20])
	f.Add(bytes.Repeat([]byte{0xff}, 3*txnEntrySize+5))
	prefix := fuzzPrefix(f)
	f.Fuzz(func(t *testing.T, txnIndex []byte) {
		fsys := NewMemFS()
		dir := "/data/t-0"
		writeRaw(t, fsys, dir+"/00000000000000000000.log", prefix)
		writeRaw(t, fsys, dir+"/00000000000000000000.txnindex", txnIndex)
		writeRaw(t, fsys, dir+"/00000000000000000006.log", nil)
		writeRaw(t, fsys, dir+"/"+partitionMetaFile, encodePartitionMeta(testID))
		writeRaw(t, fsys, "/data/"+recoveryPointFile, encodeOffsets(map[TopicPartition]int64{testTP: 6}))
		writeRaw(t, fsys, "/data/"+cleanShutdownFile, nil)
		fsys.SyncDir(dir)
		fsys.SyncDir("/data")
		fsys.SyncDir("/")
		m, l := openFuzz(t, fsys)
		before := imageOf(t, l)
		for from := int64(0); from <= 6; from += 2 {
			l.AbortedTxns(from, from+3)
		}
		l.LastStableOffset()
		if err := l.TruncateTo(3); err != nil {
			m.Close()
			t.Fatalf("truncate: %v", err)
		}
		l.AbortedTxns(0, 10)
		if _, err := l.Append(buildBatch(t, plain(2, 40)), AppendOptions{Durable: true}); err != nil {
			m.Close()
			t.Fatalf("append after truncation: %v", err)
		}
		// Offset 3 is inside the batch 2-4, which goes: the batch 0-1
		// stays, and the append lands at 2.
		after := imageOf(t, l)
		first, _, _ := records.Next(before.data)
		if after.end != 4 || !bytes.HasPrefix(after.data, first) || len(batchList(after.data)) != 2 {
			m.Close()
			t.Fatalf("log after truncation and append: %s", summary(after))
		}
		checkStable(t, fsys, m, after)
	})
}
