package logstore

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// fileLen is the length of a file on disk.
func fileLen(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// segmentFiles lists the partition's .log files, oldest first.
func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "t-0", "*.log"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no segments in %s: %v", dir, err)
	}
	slices.Sort(segs)
	return segs
}

// diskBytes is the length on disk of the partition's segments.
func diskBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	for _, s := range segmentFiles(t, dir) {
		n += fileLen(t, s)
	}
	return n
}

// Small durable appends write zeros ahead (padAhead); sealing and closing
// cut them off, so a clean restart finds each file exactly its log.
func TestPadAheadTrimmedOS(t *testing.T) {
	dirs := tempDirs(t, 1)
	c := newClock()
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 20
	m := openTest(t, OSFS(), dirs, c.Now)
	l, err := m.Create(testTP, testID, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		mustAppend(t, l, buildBatch(t, batchSpec{n: 4, ts: int64(i), pid: -1, valueSize: 200}), AppendOptions{})
	}
	segs := segmentFiles(t, dirs[0])
	active := segs[len(segs)-1]
	if n, size := fileLen(t, active), l.Size(); n <= size {
		t.Fatalf("active segment %d bytes on disk for %d of log: nothing written ahead", n, size)
	} else {
		data, err := os.ReadFile(active)
		if err != nil {
			t.Fatal(err)
		}
		if !allZero(data[size:]) {
			t.Fatal("bytes past the log end are not zeros")
		}
	}

	// Large appends are not padded; a roll cuts the sealed file back.
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	sealedSize := l.Size()
	if n := fileLen(t, active); n != sealedSize {
		t.Fatalf("sealed segment is %d bytes on disk, %d of log", n, sealedSize)
	}
	mustAppend(t, l, buildBatch(t, batchSpec{n: 1, ts: 20, pid: -1, valueSize: 100 << 10}), AppendOptions{})
	segs = segmentFiles(t, dirs[0])
	if n, size := fileLen(t, segs[1]), l.Size()-sealedSize; n != size {
		t.Fatalf("a large append was padded: %d bytes on disk for %d", n, size)
	}
	for i := 0; i < 5; i++ {
		mustAppend(t, l, buildBatch(t, batchSpec{n: 2, ts: int64(30 + i), pid: -1, valueSize: 50}), AppendOptions{})
	}
	want := readAll(t, l, 0)
	leo := l.LogEndOffset()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	total := diskBytes(t, dirs[0])
	m = openTest(t, OSFS(), dirs, c.Now)
	defer m.Close()
	l = m.Get(testTP)
	if total != l.Size() {
		t.Fatalf("after close the segments are %d bytes on disk, %d of log", total, l.Size())
	}
	if got := readAll(t, l, 0); !slices.Equal(got, want) || l.LogEndOffset() != leo {
		t.Fatalf("after a clean restart: leo %d (want %d), %d batches (want %d)", l.LogEndOffset(), leo, len(got), len(want))
	}
}

// After a crash, zeros written ahead and never cut off end the log where
// the data ends: in the active segment and, if the crash came between a
// roll and the sync of the sealed file's new length, in a sealed one, whose
// successors are kept. Non-zero bytes there are damage, as before.
func TestPadAheadZeroTailRecoveryOS(t *testing.T) {
	dirs := tempDirs(t, 1)
	c := newClock()
	m := openTest(t, OSFS(), dirs, c.Now)
	l, err := m.Create(testTP, testID, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		mustAppend(t, l, buildBatch(t, plain(3, int64(i))), AppendOptions{})
		if i == 2 {
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := readAll(t, l, 0)
	leo := l.LogEndOffset()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	segs := segmentFiles(t, dirs[0])
	if len(segs) != 2 {
		t.Fatalf("%d segments, want 2", len(segs))
	}
	for _, s := range segs {
		if err := os.Truncate(s, fileLen(t, s)+40<<10); err != nil { // zeros past the end
			t.Fatal(err)
		}
	}
	asIfCrashed(dirs[0])
	m = openTest(t, OSFS(), dirs, c.Now)
	l = m.Get(testTP)
	if got := readAll(t, l, 0); !slices.Equal(got, want) || l.LogEndOffset() != leo {
		t.Fatalf("after a crash with zero tails: leo %d (want %d), batches %v (want %v)", l.LogEndOffset(), leo, got, want)
	}
	if total := diskBytes(t, dirs[0]); total != l.Size() {
		t.Fatalf("zero tails not cut: %d bytes on disk, %d of log", total, l.Size())
	}
	r := mustAppend(t, l, buildBatch(t, plain(1, 9)), AppendOptions{})
	if r.FirstOffset != leo {
		t.Fatalf("append after recovery at %d, want %d", r.FirstOffset, leo)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	// A tail that is not all zeros in the sealed segment is damage: the
	// log ends there, and what followed it is dropped.
	f, err := os.OpenFile(segs[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(make([]byte, 100))
	f.Write([]byte{1})
	f.Close()
	asIfCrashed(dirs[0])
	m = openTest(t, OSFS(), dirs, c.Now)
	defer m.Close()
	l = m.Get(testTP)
	if got := l.LogEndOffset(); got != want[2][1]+1 {
		t.Fatalf("after damage in the sealed segment: leo %d, want %d", got, want[2][1]+1)
	}
}
