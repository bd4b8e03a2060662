package logstore

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/potok-io/potok/records"
)

func TestAppendReadOS(t *testing.T) {
	dirs := tempDirs(t, 1)
	c := newClock()
	m := openTest(t, OSFS(), dirs, c.Now)
	defer m.Close()
	l, err := m.Create(testTP, testID, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		r := mustAppend(t, l, buildBatch(t, batchSpec{n: 3, ts: int64(1000 + i), pid: -1, valueSize: 500}), AppendOptions{LeaderEpoch: 1, Durable: i%10 == 0})
		if r.FirstOffset != int64(3*i) || r.LastOffset != int64(3*i+2) || r.LogAppendTime != -1 {
			t.Fatalf("append %d: %+v", i, r)
		}
	}
	if l.LogEndOffset() != 600 {
		t.Fatalf("leo %d", l.LogEndOffset())
	}
	if l.NumSegments() < 2 {
		t.Fatalf("expected rolls, have %d segments", l.NumSegments())
	}
	got := readAll(t, l, 0)
	if len(got) != 200 {
		t.Fatalf("read %d batches", len(got))
	}
	// Reading from inside a batch returns the containing batch.
	ch, err := l.Read(301, ReadOptions{MaxOffset: 600, MaxBytes: 1, MinOneBatch: true})
	if err != nil || ch.FirstOffset != 300 || ch.NextOffset != 303 {
		t.Fatalf("read 301: %+v %v", ch, err)
	}
	ch.Release()
	ch.Release()
	// Without MinOneBatch a too-small limit returns nothing.
	ch, err = l.Read(301, ReadOptions{MaxOffset: 600, MaxBytes: 1})
	if err != nil || len(ch.Data) != 0 || ch.NextOffset != 301 {
		t.Fatalf("read 301 small: %+v %v", ch, err)
	}
	// MaxOffset bounds by last offset.
	ch, err = l.Read(0, ReadOptions{MaxOffset: 5, MaxBytes: 1 << 20})
	if err != nil || ch.NextOffset != 3 {
		t.Fatalf("read bounded: %+v %v", ch, err)
	}
	ch.Release()
	if _, err := l.Read(601, ReadOptions{MaxOffset: 700, MaxBytes: 100}); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("want out of range, got %v", err)
	}
	ch, err = l.Read(600, ReadOptions{MaxOffset: 700, MaxBytes: 100})
	if err != nil || len(ch.Data) != 0 || ch.NextOffset != 600 {
		t.Fatalf("read at end: %+v %v", ch, err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if l.DurableOffset() != 600 {
		t.Fatalf("durable %d", l.DurableOffset())
	}
	if e := l.LatestEpoch(); e != 1 {
		t.Fatalf("epoch %d", e)
	}
}

func TestReopenCleanAndCrashOS(t *testing.T) {
	dirs := tempDirs(t, 1)
	c := newClock()
	m := openTest(t, OSFS(), dirs, c.Now)
	l, err := m.Create(testTP, testID, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		mustAppend(t, l, buildBatch(t, batchSpec{n: 2, ts: int64(i), pid: 7, epoch: 1, seq: int32(2 * i), valueSize: 300}), AppendOptions{LeaderEpoch: int32(1 + i/50)})
	}
	l.SetHighWatermark(150)
	want := readAll(t, l, 0)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dirs[0], cleanShutdownFile)); err != nil {
		t.Fatal("no clean shutdown marker")
	}

	m = openTest(t, OSFS(), dirs, c.Now)
	l = m.Get(testTP)
	if l == nil || l.TopicID() != testID {
		t.Fatal("log not loaded")
	}
	if got := readAll(t, l, 0); len(got) != len(want) || l.LogEndOffset() != 200 || l.HighWatermark() != 150 {
		t.Fatalf("after clean reopen: %d batches, leo %d hw %d", len(got), l.LogEndOffset(), l.HighWatermark())
	}
	if ps, ok := l.Producer(7); !ok || ps.LastSequence != 199 || ps.Epoch != 1 {
		t.Fatalf("producer state %+v %v", ps, ok)
	}
	if l.LatestEpoch() != 2 || l.EpochForOffset(99) != 1 || l.EpochForOffset(100) != 2 {
		t.Fatalf("epochs: latest %d", l.LatestEpoch())
	}
	// A retry of the last batch is a duplicate, also after the restart.
	r := mustAppend(t, l, buildBatch(t, batchSpec{n: 2, ts: 99, pid: 7, epoch: 1, seq: 198}), AppendOptions{LeaderEpoch: 2})
	if !r.Duplicate || r.FirstOffset != 198 || r.LastOffset != 199 {
		t.Fatalf("dup: %+v", r)
	}
	// Simulate a crash: the marker is gone and a torn batch is at the end.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	asIfCrashed(dirs[0])
	segs, _ := filepath.Glob(filepath.Join(dirs[0], "t-0", "*.log"))
	last := segs[len(segs)-1]
	f, _ := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
	torn := buildBatch(t, plain(5, 1))
	f.Write(torn[:len(torn)-7])
	f.Close()
	// Remove an index of an older segment: it must be rebuilt.
	os.Remove(segs[0][:len(segs[0])-4] + ".index")

	m = openTest(t, OSFS(), dirs, c.Now)
	defer m.Close()
	l = m.Get(testTP)
	if got := readAll(t, l, 0); len(got) != len(want) || l.LogEndOffset() != 200 {
		t.Fatalf("after crash: %d batches, leo %d", len(got), l.LogEndOffset())
	}
	if ps, ok := l.Producer(7); !ok || ps.LastSequence != 199 {
		t.Fatalf("producer after crash %+v", ps)
	}
	r = mustAppend(t, l, buildBatch(t, batchSpec{n: 1, ts: 99, pid: 7, epoch: 1, seq: 200}), AppendOptions{LeaderEpoch: 2})
	if r.FirstOffset != 200 {
		t.Fatalf("append after recovery at %d", r.FirstOffset)
	}
}

func TestProducerRules(t *testing.T) {
	fsys := NewMemFS()
	c := newClock()
	m := openTest(t, fsys, []string{"/data"}, c.Now)
	defer m.Close()
	l, err := m.Create(testTP, testID, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	app := func(seq int32, epoch int16, n int) (AppendResult, error) {
		return l.Append(buildBatch(t, batchSpec{n: n, ts: 1, pid: 9, epoch: epoch, seq: seq}), AppendOptions{})
	}
	// Unknown producer: any sequence.
	if r, err := app(10, 0, 2); err != nil || r.FirstOffset != 0 {
		t.Fatal(r, err)
	}
	if _, err := app(13, 0, 1); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap: %v", err)
	}
	for i := 0; i < 6; i++ {
		if _, err := app(int32(12+i), 0, 1); err != nil {
			t.Fatal(err)
		}
	}
	// seq 12..17 at offsets 2..7; cached: 13..17 (5 batches).
	if r, err := app(15, 0, 1); err != nil || !r.Duplicate || r.FirstOffset != 5 {
		t.Fatalf("dup: %+v %v", r, err)
	}
	if _, err := app(10, 0, 2); !errors.Is(err, ErrDuplicateSequence) {
		t.Fatalf("old dup: %v", err)
	}
	if _, err := app(0, 1, 1); err != nil {
		t.Fatalf("bump: %v", err)
	}
	if _, err := app(5, 2, 1); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("bump with seq 5: %v", err)
	}
	if _, err := app(1, 0, 1); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("fenced: %v", err)
	}
	// Wrap-around.
	if _, err := app(math.MaxInt32, 3, 1); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("bump to MaxInt32: %v", err)
	}
	ps, _ := l.Producer(9)
	if ps.Epoch != 1 || ps.LastSequence != 0 {
		t.Fatalf("%+v", ps)
	}
}

func TestTransactionsLSO(t *testing.T) {
	fsys := NewMemFS()
	m := openTest(t, fsys, []string{"/data"}, newClock().Now)
	defer m.Close()
	l, _ := m.Create(testTP, testID, testConfig())
	mustAppend(t, l, buildBatch(t, plain(2, 1)), AppendOptions{})                                       // 0-1
	mustAppend(t, l, buildBatch(t, batchSpec{n: 2, ts: 1, pid: 5, seq: 0, txn: true}), AppendOptions{}) // 2-3
	mustAppend(t, l, buildBatch(t, batchSpec{n: 1, ts: 1, pid: 6, seq: 0, txn: true}), AppendOptions{}) // 4
	l.SetHighWatermark(5)
	if lso := l.LastStableOffset(); lso != 2 {
		t.Fatalf("lso %d", lso)
	}
	mustAppend(t, l, records.AppendControlBatch(nil, 5, 0, false, 3, 2), AppendOptions{}) // abort at 5
	l.SetHighWatermark(6)
	if lso := l.LastStableOffset(); lso != 4 {
		t.Fatalf("lso %d", lso)
	}
	got, err := l.AbortedTxns(0, 100)
	if err != nil || len(got) != 1 || got[0] != (AbortedTxn{5, 2, 5, 4}) {
		t.Fatalf("aborted %+v", got)
	}
	if _, err := l.Append(records.AppendControlBatch(nil, 6, -1, true, 3, 2), AppendOptions{}); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("old marker: %v", err)
	}
	mustAppend(t, l, records.AppendControlBatch(nil, 6, 0, true, 3, 2), AppendOptions{}) // commit at 6
	l.SetHighWatermark(7)
	if lso := l.LastStableOffset(); lso != 7 {
		t.Fatalf("lso %d", lso)
	}
	ps, _ := l.Producer(6)
	if ps.TxnStartOffset != -1 || ps.CoordinatorEpoch != 3 {
		t.Fatalf("%+v", ps)
	}
}

func TestGroupCommitConcurrent(t *testing.T) {
	dirs := tempDirs(t, 2)
	var durableCalls atomic.Int64
	m, err := Open(ManagerOptions{Dirs: dirs, OnDurable: func(*Log) { durableCalls.Add(1) }, RetentionCheckInterval: -1, CleanerInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var logs []*Log
	for p := int32(0); p < 4; p++ {
		l, err := m.Create(TopicPartition{"g", p}, testID, testConfig())
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, l)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := logs[g%4]
			for i := 0; i < 50; i++ {
				r, err := l.Append(buildBatch(t, plain(1, 1)), AppendOptions{Durable: true})
				if err != nil {
					t.Error(err)
					return
				}
				if l.DurableOffset() <= r.LastOffset {
					t.Errorf("durable %d after append at %d", l.DurableOffset(), r.LastOffset)
				}
			}
		}()
	}
	wg.Wait()
	for _, l := range logs {
		if l.LogEndOffset() != 100 {
			t.Fatalf("leo %d", l.LogEndOffset())
		}
	}
	if durableCalls.Load() == 0 {
		t.Fatal("OnDurable never called")
	}
}

func TestManagerCreateDelete(t *testing.T) {
	fsys := NewMemFS()
	m := openTest(t, fsys, []string{"/a", "/b"}, newClock().Now)
	defer m.Close()
	l1, _ := m.Create(TopicPartition{"x-y", 0}, testID, testConfig())
	l2, _ := m.Create(TopicPartition{"x-y", 1}, testID, testConfig())
	if l1.dataDir == l2.dataDir {
		t.Fatal("both partitions in one dir")
	}
	if again, err := m.Create(TopicPartition{"x-y", 0}, testID, testConfig()); err != nil || again != l1 {
		t.Fatal("create again", err)
	}
	if _, err := m.Create(TopicPartition{"x-y", 0}, [16]byte{9}, testConfig()); err == nil {
		t.Fatal("other topic id accepted")
	}
	mustAppend(t, l1, buildBatch(t, plain(1, 1)), AppendOptions{})
	ch, err := l1.Read(0, ReadOptions{MaxOffset: 1, MaxBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(TopicPartition{"x-y", 0}); err != nil {
		t.Fatal(err)
	}
	if m.Get(TopicPartition{"x-y", 0}) != nil {
		t.Fatal("still there")
	}
	if b, _, err := records.Next(ch.Data); err != nil || !b.ValidCRC() {
		t.Fatal("chunk invalid after delete")
	}
	ch.Release()
	if _, err := l1.Append(buildBatch(t, plain(1, 1)), AppendOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after delete: %v", err)
	}
	if len(m.Logs()) != 1 {
		t.Fatal("logs")
	}
}

func TestCrashMemFS(t *testing.T) {
	fsys := NewMemFS()
	c := newClock()
	m := openTest(t, fsys, []string{"/data"}, c.Now)
	cfg := testConfig()
	cfg.FlushMessages = math.MaxInt64
	l, _ := m.Create(testTP, testID, cfg)
	for i := 0; i < 50; i++ {
		mustAppend(t, l, buildBatch(t, plain(2, int64(i))), AppendOptions{Durable: i == 29})
	}
	d := l.DurableOffset()
	if d < 60 {
		t.Fatalf("durable %d", d)
	}
	crashed := fsys.Crash()
	m.Close()
	m2 := openTest(t, crashed, []string{"/data"}, c.Now)
	defer m2.Close()
	l2 := m2.Get(testTP)
	if l2 == nil {
		t.Fatal("log lost")
	}
	if l2.LogEndOffset() < d {
		t.Fatalf("durable data lost: leo %d < durable %d", l2.LogEndOffset(), d)
	}
	got := readAll(t, l2, 0)
	for i, b := range got {
		if b[0] != int64(2*i) {
			t.Fatalf("batch %d at %d", i, b[0])
		}
	}
}

// slowOpenFS delays opening files whose name ends in suffix, as a slow disk
// would.
type slowOpenFS struct {
	FS
	suffix string
	delay  time.Duration
}

func (s slowOpenFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if strings.HasSuffix(name, s.suffix) {
		time.Sleep(s.delay)
	}
	return s.FS.OpenFile(name, flag, perm)
}

// Loading the logs of a data directory takes long enough on a slow disk for
// the flusher, which Open starts first, to list the logs (every 250ms)
// while they are added: the manager's map must be guarded then too (the
// race detector caught it when potok restarted over a few hundred
// partitions).
func TestOpenWhileFlusherLists(t *testing.T) {
	dirs := tempDirs(t, 1)
	c := newClock()
	m := openTest(t, OSFS(), dirs, c.Now)
	const n = 4
	for i := int32(0); i < n; i++ {
		l, err := m.Create(TopicPartition{"slow", i}, testID, testConfig())
		if err != nil {
			t.Fatal(err)
		}
		mustAppend(t, l, buildBatch(t, plain(1, 1)), AppendOptions{})
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = openTest(t, slowOpenFS{FS: OSFS(), suffix: ".log", delay: 100 * time.Millisecond}, dirs, c.Now)
	defer m.Close()
	if got := len(m.Logs()); got != n {
		t.Fatalf("%d logs loaded, want %d", got, n)
	}
}

// TestParallelRecovery: after a crash, partitions are recovered several at
// a time (RecoveryThreads); each keeps its durable data and its own
// records, and a partition found in two directories still fails Open.
func TestParallelRecovery(t *testing.T) {
	fsys := NewMemFS()
	c := newClock()
	m := openTest(t, fsys, []string{"/a", "/b"}, c.Now)
	cfg := testConfig()
	cfg.FlushMessages = math.MaxInt64
	const parts = 24
	durable := map[TopicPartition]int64{}
	for p := int32(0); p < parts; p++ {
		tp := TopicPartition{"t", p}
		l, err := m.Create(tp, testID, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 10+int(p); i++ {
			mustAppend(t, l, buildBatch(t, plain(1, int64(p))), AppendOptions{Durable: i == 5+int(p)/2})
		}
		durable[tp] = l.DurableOffset()
	}
	crashed := fsys.Crash()
	m.Close()
	m2, err := Open(ManagerOptions{Dirs: []string{"/a", "/b"}, FS: crashed, Now: c.Now, RecoveryThreads: 4,
		RetentionCheckInterval: -1, CleanerInterval: -1, CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(m2.Logs()) != parts {
		t.Fatalf("%d logs after recovery, want %d", len(m2.Logs()), parts)
	}
	for tp, d := range durable {
		l := m2.Get(tp)
		if l.LogEndOffset() < d {
			t.Fatalf("%s: durable data lost: leo %d < durable %d", tp, l.LogEndOffset(), d)
		}
		// Whole batches from 0 up to the end, no more than were appended.
		next := int64(0)
		for _, b := range readAll(t, l, 0) {
			if b[0] != next {
				t.Fatalf("%s: batch at %d, want %d", tp, b[0], next)
			}
			next = b[1] + 1
		}
		if next != l.LogEndOffset() || next > int64(10+tp.Partition) {
			t.Fatalf("%s: read up to %d, log end %d, %d appended", tp, next, l.LogEndOffset(), 10+tp.Partition)
		}
	}
	m2.Close()

	// The same partition in both directories.
	for _, d := range []string{"/a/t-3", "/b/t-3"} { // it is in one of them
		if err := crashed.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Open(ManagerOptions{Dirs: []string{"/a", "/b"}, FS: crashed, Now: c.Now, RecoveryThreads: 4,
		RetentionCheckInterval: -1, CleanerInterval: -1, CheckpointInterval: -1}); err == nil || !strings.Contains(err.Error(), "two data directories") {
		t.Fatalf("t-3 in two directories: %v", err)
	}
}
