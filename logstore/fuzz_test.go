package logstore

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/potok-io/potok/records"
)

// fuzzPrefix is a valid segment: three batches, one idempotent and one
// gzip-compressed, offsets 0-5.
func fuzzPrefix(t testing.TB) []byte {
	var out []byte
	b1 := buildBatch(t, batchSpec{n: 2, ts: 10, pid: 4, seq: 0})
	b2 := buildBatch(t, batchSpec{n: 3, ts: 20, pid: -1, codec: records.CodecGzip})
	b3 := buildBatch(t, batchSpec{n: 1, ts: 30, pid: -1})
	records.Batch(b2).SetBaseOffset(2)
	records.Batch(b3).SetBaseOffset(5)
	out = append(out, b1...)
	out = append(out, b2...)
	return append(out, b3...)
}

// writeRaw creates a file in a MemFS with data, synced.
func writeRaw(t testing.TB, fsys *MemFS, name string, data []byte) {
	t.Helper()
	if err := fsys.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := fsys.OpenFile(name, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	f.Sync()
	f.Close()
}

// logImage is what a test compares across reopenings.
type logImage struct {
	start, end int64
	data       []byte
	producers  string
}

func imageOf(t testing.TB, l *Log) logImage {
	t.Helper()
	img := logImage{start: l.LogStartOffset(), end: l.LogEndOffset(), producers: fmt.Sprint(l.Producers())}
	off := img.start
	for off < img.end {
		c, err := l.Read(off, ReadOptions{MaxOffset: math.MaxInt64, MaxBytes: 1 << 20, MinOneBatch: true})
		if err != nil {
			t.Fatalf("read %d after recovery: %v", off, err)
		}
		if len(c.Data) == 0 {
			c.Release()
			break
		}
		for rest := c.Data; len(rest) > 0; {
			b, r, err := records.Next(rest)
			if err != nil || !b.ValidCRC() {
				t.Fatalf("recovered log serves a bad batch at %d: %v", off, err)
			}
			rest = r
		}
		img.data = append(img.data, c.Data...)
		off = c.NextOffset
		c.Release()
	}
	return img
}

func openFuzz(t testing.TB, fsys FS) (*Manager, *Log) {
	t.Helper()
	m, err := Open(ManagerOptions{Dirs: []string{"/data"}, FS: fsys, RetentionCheckInterval: -1, CleanerInterval: -1, CheckpointInterval: -1,
		LogConfig: func(TopicPartition) Config { return testConfig() }})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	l := m.Get(testTP)
	if l == nil {
		m.Close()
		t.Fatal("log not loaded")
	}
	return m, l
}

// checkStable reopens after a crash and after a clean close and requires
// the same log each time.
func checkStable(t *testing.T, fsys *MemFS, m *Manager, first logImage) {
	t.Helper()
	crashed := fsys.Crash()
	m.Close()
	m2, l2 := openFuzz(t, crashed)
	if second := imageOf(t, l2); !sameImage(first, second) {
		m2.Close()
		t.Fatalf("reopening after recovery changed the log: %+v vs %+v", summary(first), summary(second))
	}
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}
	m3, l3 := openFuzz(t, crashed)
	defer m3.Close()
	if third := imageOf(t, l3); !sameImage(first, third) {
		t.Fatalf("clean reopen changed the log: %+v vs %+v", summary(first), summary(third))
	}
}

func sameImage(a, b logImage) bool {
	return a.start == b.start && a.end == b.end && bytes.Equal(a.data, b.data) && a.producers == b.producers
}

func summary(i logImage) string {
	return fmt.Sprintf("[%d,%d) %d bytes %s", i.start, i.end, len(i.data), i.producers)
}

// FuzzRecoverSegment: arbitrary bytes after a valid prefix of the active
// segment (and arbitrary index bytes) never make recovery panic, keep the
// prefix, and recover to a log that reopens identically.
func FuzzRecoverSegment(f *testing.F) {
	prefix := fuzzPrefix(f)
	f.Add([]byte{}, []byte{})
	f.Add(prefix[:40], []byte{})
	f.Add(buildBatch(f, plain(2, 5)), []byte{0, 0, 0, 1, 0, 0, 0, 90})
	f.Add(bytes.Repeat([]byte{0}, 100), bytes.Repeat([]byte{0xff}, 16))
	f.Fuzz(func(t *testing.T, tail, index []byte) {
		fsys := NewMemFS()
		dir := "/data/t-0"
		writeRaw(t, fsys, dir+"/00000000000000000000.log", append(append([]byte(nil), prefix...), tail...))
		writeRaw(t, fsys, dir+"/00000000000000000000.index", index)
		writeRaw(t, fsys, dir+"/"+partitionMetaFile, encodePartitionMeta(testID))
		fsys.SyncDir(dir)
		fsys.SyncDir("/data")
		fsys.SyncDir("/")
		m, l := openFuzz(t, fsys)
		img := imageOf(t, l)
		if img.end < 6 || !bytes.HasPrefix(img.data, prefix) {
			m.Close()
			t.Fatalf("recovery lost the valid prefix: %s", summary(img))
		}
		checkStable(t, fsys, m, img)
	})
}

// openSealed opens a partition as a clean shutdown left it: a first
// segment (base 0) of log, index and timeIndex bytes, then an empty one at
// next, the recovery point. Nothing checks the first segment on the way.
func openSealed(t *testing.T, log, index, timeIndex []byte, next int64) (*Manager, *Log) {
	t.Helper()
	fsys := NewMemFS()
	dir := "/data/t-0"
	writeRaw(t, fsys, fileName(dir, 0, logSuffix), log)
	writeRaw(t, fsys, fileName(dir, 0, indexSuffix), index)
	writeRaw(t, fsys, fileName(dir, 0, timeIndexSuffix), timeIndex)
	writeRaw(t, fsys, fileName(dir, next, logSuffix), nil)
	writeRaw(t, fsys, dir+"/"+partitionMetaFile, encodePartitionMeta(testID))
	writeRaw(t, fsys, "/data/"+recoveryPointFile, encodeOffsets(map[TopicPartition]int64{testTP: next}))
	writeRaw(t, fsys, "/data/"+cleanShutdownFile, nil)
	fsys.SyncDir(dir)
	fsys.SyncDir("/data")
	fsys.SyncDir("/")
	return openFuzz(t, fsys)
}

// FuzzIndexes: arbitrary offset and time index bytes for a sealed segment
// loaded after a clean shutdown never make reads return wrong data.
func FuzzIndexes(f *testing.F) {
	prefix := fuzzPrefix(f)
	f.Add([]byte{}, []byte{})
	f.Add([]byte{0, 0, 0, 2, 0, 0, 0, 50}, []byte{0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 2})
	f.Add([]byte{0, 0, 0, 2, 0, 0, 0, 3}, []byte{0, 0, 0, 0, 0, 0, 0, 40, 0, 0, 0, 9})
	f.Add(bytes.Repeat([]byte{0x7f}, 24), bytes.Repeat([]byte{0x01}, 36))
	f.Fuzz(func(t *testing.T, index, timeIndex []byte) {
		m, l := openSealed(t, prefix, index, timeIndex, 6)
		defer m.Close()
		want := batchList(prefix)
		for off := int64(0); off < 6; off++ {
			c, err := l.Read(off, ReadOptions{MaxOffset: 6, MaxBytes: 1, MinOneBatch: true})
			if err != nil {
				t.Fatalf("read %d: %v", off, err)
			}
			got := batchList(c.Data)
			c.Release()
			var exp [2]int64
			for _, b := range want {
				if b[1] >= off {
					exp = b
					break
				}
			}
			if len(got) != 1 || got[0] != exp {
				t.Fatalf("read %d: got %v want %v", off, got, exp)
			}
		}
		l.OffsetForTimestamp(25, 6)
		l.MaxTimestamp(6)
	})
}

// FuzzMetadataFiles: arbitrary checkpoint, epoch, snapshot and metadata
// files neither panic nor stop the log from loading.
func FuzzMetadataFiles(f *testing.F) {
	f.Add([]byte("0\n1\nt 0 6\n"), []byte("0\n1\n0 0\n"), (&producers{m: map[int64]*producerEntry{4: {pid: 4, n: 1, txnFirst: -1}}}).encode(), encodePartitionMeta(testID))
	f.Add([]byte("0\n2\nt 0 6\n"), []byte("0\n1\n5 -3\n"), []byte("PTKP\x00\x01"), []byte("version: 0\ntopic_id: ???"))
	f.Add([]byte{}, []byte{}, []byte{}, []byte{})
	prefix := fuzzPrefix(f)
	f.Fuzz(func(t *testing.T, ckpt, epochs, snap, meta []byte) {
		// The decoders alone: no panic, and what decodes re-encodes.
		if m, err := decodeOffsets(ckpt); err == nil {
			if m2, err := decodeOffsets(encodeOffsets(m)); err != nil || len(m2) != len(m) {
				t.Fatalf("checkpoint round trip: %v", err)
			}
		}
		if e, err := decodeEpochs(epochs); err == nil {
			c := epochCache{entries: e}
			if e2, err := decodeEpochs(c.encode()); err != nil || len(e2) != len(e) {
				t.Fatalf("epoch round trip: %v", err)
			}
		}
		if p, err := decodeSnapshot(snap); err == nil {
			enc := p.encode()
			if p2, err := decodeSnapshot(enc); err != nil || !bytes.Equal(p2.encode(), enc) {
				t.Fatalf("snapshot round trip: %v", err)
			}
		}
		if id, err := decodePartitionMeta(meta); err == nil {
			if id2, err := decodePartitionMeta(encodePartitionMeta(id)); err != nil || id2 != id {
				t.Fatal("partition.metadata round trip")
			}
		}

		fsys := NewMemFS()
		dir := "/data/t-0"
		writeRaw(t, fsys, dir+"/00000000000000000000.log", prefix)
		writeRaw(t, fsys, dir+"/"+epochFile, epochs)
		writeRaw(t, fsys, dir+"/00000000000000000003.snapshot", snap)
		writeRaw(t, fsys, dir+"/"+partitionMetaFile, meta)
		writeRaw(t, fsys, "/data/"+recoveryPointFile, ckpt)
		writeRaw(t, fsys, "/data/"+logStartFile, ckpt)
		writeRaw(t, fsys, "/data/"+replicationFile, ckpt)
		fsys.SyncDir(dir)
		fsys.SyncDir("/data")
		fsys.SyncDir("/")
		m, l := openFuzz(t, fsys)
		img := imageOf(t, l)
		if img.end != 6 {
			m.Close()
			t.Fatalf("log end %d", img.end)
		}
		checkStable(t, fsys, m, img)
	})
}

// TestWriteFuzzSeeds writes the committed seed corpora under
// testdata/fuzz when LOGSTORE_WRITE_FUZZ_SEEDS is set.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("LOGSTORE_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set LOGSTORE_WRITE_FUZZ_SEEDS=1 to regenerate")
	}
	prefix := fuzzPrefix(t)
	torn := buildBatch(t, plain(3, 40))
	records.Batch(torn).SetBaseOffset(6)
	next := buildBatch(t, plain(1, 50))
	records.Batch(next).SetBaseOffset(9)
	badCRC := append([]byte(nil), next...)
	badCRC[len(badCRC)-1] ^= 1
	backwards := buildBatch(t, plain(1, 50))
	records.Batch(backwards).SetBaseOffset(2)
	idx := func(entries ...int64) []byte {
		var out []byte
		for i := 0; i+1 < len(entries); i += 2 {
			out = appendOffsetEntry(out, int32(entries[i]), entries[i+1])
		}
		return out
	}
	seeds := map[string][][]byte{
		"FuzzRecoverSegment/torn-tail":      {torn[:len(torn)-5], nil},
		"FuzzRecoverSegment/valid-tail":     {append(append([]byte(nil), torn...), next...), idx(5, int64(len(prefix)))},
		"FuzzRecoverSegment/bad-crc":        {badCRC, nil},
		"FuzzRecoverSegment/offsets-back":   {backwards, nil},
		"FuzzRecoverSegment/zero-fill":      {make([]byte, 4096), nil},
		"FuzzRecoverSegment/garbage-index":  {nil, []byte("not an index at all")},
		"FuzzRecoverSegment/huge-length":    {[]byte{0, 0, 0, 0, 0, 0, 0, 6, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 2}, nil},
		"FuzzIndexes/valid":                 {idx(1, 0, 4, 59), appendTimeEntry(nil, 20, 4)},
		"FuzzIndexes/mid-batch":             {idx(1, 0, 4, 61), appendTimeEntry(nil, 20, 1)},
		"FuzzIndexes/past-end":              {idx(4, 1<<20), appendTimeEntry(nil, 1<<40, 100)},
		"FuzzIndexes/decreasing":            {idx(4, 80, 1, 0), appendTimeEntry(appendTimeEntry(nil, 30, 5), 10, 1)},
		"FuzzMetadataFiles/valid":           {[]byte("0\n1\nt 0 6\n"), []byte("0\n2\n1 0\n3 4\n"), newSnapshotSeed(), encodePartitionMeta(testID)},
		"FuzzMetadataFiles/epoch-past-end":  {[]byte("0\n1\nt 0 3\n"), []byte("0\n2\n1 0\n9 100\n"), nil, nil},
		"FuzzMetadataFiles/bad-counts":      {[]byte("0\n7\nt 0 6\n"), []byte("1\n1\n1 0\n"), []byte("PTKP\x00\x01\x00\x00\x00\x00\xff\xff\xff\xff"), []byte("version: 1\n")},
		"FuzzMetadataFiles/start-past-end":  {[]byte("0\n1\nt 0 99\n"), nil, nil, nil},
		"FuzzMetadataFiles/negative-offset": {[]byte("0\n1\nt 0 -5\n"), []byte("0\n1\n2 -1\n"), nil, nil},
	}
	for name, args := range seeds {
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, a := range args {
			fmt.Fprintf(&b, "[]byte(%q)\n", a)
		}
		path := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func newSnapshotSeed() []byte {
	p := newProducers()
	p.m[4] = &producerEntry{pid: 4, epoch: 0, n: 1, txnFirst: -1, batches: [numBatchesToRetain]batchMeta{{firstSeq: 0, lastSeq: 1, firstOffset: 0, lastOffset: 1, maxTs: 11}}}
	return p.encode()
}
