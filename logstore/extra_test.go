package logstore

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/potok-io/potok/records"
)

// checkFor polls cond until it holds or the time is up (no bare sleeps).
func checkFor(t *testing.T, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestFollowerAppend(t *testing.T) {
	m := openTest(t, NewMemFS(), []string{"/data"}, newClock().Now)
	defer m.Close()
	l, _ := m.Create(testTP, testID, testConfig())
	mk := func(base int64, n int, lepoch int32, pid int64, seq int32) []byte {
		b := buildBatch(t, batchSpec{n: n, ts: 5, pid: pid, seq: seq})
		records.Batch(b).SetBaseOffset(base)
		records.Batch(b).SetPartitionLeaderEpoch(lepoch)
		return b
	}
	buf := append(mk(0, 2, 3, 8, 100), mk(2, 3, 3, 8, 102)...)
	r, err := l.Append(buf, AppendOptions{AsFollower: true, LeaderEpoch: 99})
	if err != nil || r.FirstOffset != 0 || r.LastOffset != 4 {
		t.Fatal(r, err)
	}
	// A gap (the leader compacted) is fine; going back is not.
	if _, err := l.Append(mk(10, 1, 5, -1, 0), AppendOptions{AsFollower: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(mk(9, 1, 5, -1, 0), AppendOptions{AsFollower: true}); !errors.Is(err, ErrInvalidBatch) {
		t.Fatalf("follower batch behind the end: %v", err)
	}
	if l.LogEndOffset() != 11 {
		t.Fatalf("leo %d", l.LogEndOffset())
	}
	if e, off := l.EndOffsetForEpoch(3); e != 3 || off != 10 {
		t.Fatalf("end offset for 3: %d %d", e, off)
	}
	if l.EpochForOffset(10) != 5 || l.LatestEpoch() != 5 {
		t.Fatalf("epochs %d %d", l.EpochForOffset(10), l.LatestEpoch())
	}
	// No sequence checks for followers, but the state follows.
	if ps, ok := l.Producer(8); !ok || ps.LastSequence != 104 {
		t.Fatalf("producer %+v", ps)
	}
	got := readAll(t, l, 0)
	if len(got) != 3 || got[2] != [2]int64{10, 10} {
		t.Fatalf("read %v", got)
	}
	// Reading inside the gap returns the batch after it.
	c, err := l.Read(6, ReadOptions{MaxOffset: 11, MaxBytes: 1000})
	if err != nil || c.FirstOffset != 10 {
		t.Fatalf("read in gap: %+v %v", c, err)
	}
	c.Release()
}

func TestFlushMs(t *testing.T) {
	clk := newClock()
	m := openTest(t, NewMemFS(), []string{"/data"}, clk.Now)
	defer m.Close()
	c := testConfig()
	c.FlushMessages = math.MaxInt64
	c.FlushMs = 1000
	l, _ := m.Create(testTP, testID, c)
	mustAppend(t, l, buildBatch(t, plain(1, 1)), AppendOptions{})
	clk.Advance(500 * time.Millisecond)
	mustAppend(t, l, buildBatch(t, plain(1, 1)), AppendOptions{})
	if d := l.DurableOffset(); d != 0 {
		t.Fatalf("synced too early: %d", d)
	}
	clk.Advance(time.Second)
	checkFor(t, 5*time.Second, func() error {
		if d := l.DurableOffset(); d != 2 {
			return errors.New("flush.ms did not sync")
		}
		return nil
	})
	// flush.messages counts records.
	c.FlushMs = math.MaxInt64
	c.FlushMessages = 3
	l.SetConfig(c)
	mustAppend(t, l, buildBatch(t, plain(2, 1)), AppendOptions{})
	settle(t, m)
	if d := l.DurableOffset(); d != 2 {
		t.Fatalf("synced after 2 of 3 messages: %d", d)
	}
	mustAppend(t, l, buildBatch(t, plain(1, 1)), AppendOptions{})
	checkFor(t, 5*time.Second, func() error {
		if d := l.DurableOffset(); d != 5 {
			return errors.New("flush.messages did not sync")
		}
		return nil
	})
}

func TestProducerExpiration(t *testing.T) {
	clk := newClock()
	m := openTest(t, NewMemFS(), []string{"/data"}, clk.Now)
	defer m.Close()
	c := testConfig()
	c.ProducerIDExpirationMs = 1000
	l, _ := m.Create(testTP, testID, c)
	now := clk.Now().UnixMilli()
	mustAppend(t, l, buildBatch(t, batchSpec{n: 1, ts: now, pid: 3, seq: 7}), AppendOptions{})
	if _, err := l.Append(buildBatch(t, batchSpec{n: 1, ts: now, pid: 3, seq: 20}), AppendOptions{}); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	if _, err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	if _, ok := l.Producer(3); ok {
		t.Fatal("producer not expired")
	}
	mustAppend(t, l, buildBatch(t, batchSpec{n: 1, ts: now, pid: 3, seq: 20}), AppendOptions{})
}

// TestFinishSwap: a crash after a compaction's .swap rename is completed
// by the next Open.
func TestFinishSwap(t *testing.T) {
	fsys := NewMemFS()
	dir := "/data/t-0"
	mk := func(base int64, n int, key string) []byte {
		b := buildBatch(t, batchSpec{n: n, ts: 5, pid: -1, keys: repeat(key, n)})
		records.Batch(b).SetBaseOffset(base)
		return b
	}
	seg0 := append(mk(0, 3, "a"), mk(3, 3, "a")...)
	seg6 := mk(6, 2, "b")
	active := mk(8, 1, "c")
	writeRaw(t, fsys, dir+"/00000000000000000000.log", seg0)
	writeRaw(t, fsys, dir+"/00000000000000000006.log", seg6)
	writeRaw(t, fsys, dir+"/00000000000000000008.log", active)
	// The cleaned replacement of segments 0 and 6: the last "a" and "b".
	cleaned := append(mk(3, 3, "a")[:0:0], mk(3, 3, "a")...)
	cleaned = append(cleaned, seg6...)
	writeRaw(t, fsys, dir+"/00000000000000000000.log.swap", cleaned)
	writeRaw(t, fsys, dir+"/00000000000000000000.index.cleaned", []byte("leftover"))
	writeRaw(t, fsys, dir+"/00000000000000000042.log.deleted", []byte("leftover"))
	writeRaw(t, fsys, dir+"/"+partitionMetaFile, encodePartitionMeta(testID))
	writeRaw(t, fsys, "/data/t-1.0123-delete/00000000000000000000.log", []byte("gone"))
	fsys.SyncDir(dir)
	fsys.SyncDir("/data")
	fsys.SyncDir("/")
	m, l := openFuzz(t, fsys)
	defer m.Close()
	got := readAll(t, l, 0)
	if len(got) != 3 || got[0] != [2]int64{3, 5} || got[1] != [2]int64{6, 7} || got[2] != [2]int64{8, 8} {
		t.Fatalf("after swap: %v", got)
	}
	ents, _ := fsys.ReadDir(dir)
	for _, e := range ents {
		if filepath.Ext(e.Name) == ".swap" || filepath.Ext(e.Name) == ".cleaned" || filepath.Ext(e.Name) == ".deleted" {
			t.Fatalf("leftover %s", e.Name)
		}
	}
	checkFor(t, 5*time.Second, func() error {
		if _, err := fsys.Stat("/data/t-1.0123-delete"); err == nil {
			return errors.New("deleted partition directory still there")
		}
		return nil
	})
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// TestReadersSurviveOS: on the real filesystem (real maps, where touching
// an unmapped or truncated page would kill the process), chunks stay valid
// and unchanged across truncation, rolls, retention, compaction and Delete.
func TestReadersSurviveOS(t *testing.T) {
	dirs := tempDirs(t, 1)
	clk := newClock()
	m := openTest(t, OSFS(), dirs, clk.Now)
	defer m.Close()
	c := testConfig()
	c.SegmentBytes = 8 << 10
	c.Compact, c.Delete = true, true
	c.MinCleanableDirtyRatio = 0
	c.RetentionBytes = 16 << 10
	l, _ := m.Create(testTP, testID, c)
	for i := 0; i < 60; i++ {
		mustAppend(t, l, buildBatch(t, batchSpec{n: 2, ts: 1, pid: -1, keys: []string{"k", "k"}, valueSize: 300}), AppendOptions{})
	}
	var held []Chunk
	var copies [][]byte
	hold := func(off int64) {
		c, err := l.Read(off, ReadOptions{MaxOffset: math.MaxInt64, MaxBytes: 1 << 20, MinOneBatch: true})
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		copies = append(copies, append([]byte(nil), c.Data...))
	}
	hold(0)
	hold(l.LogEndOffset() - 3)
	if err := l.TruncateTo(l.LogEndOffset() - 5); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		mustAppend(t, l, buildBatch(t, batchSpec{n: 2, ts: 1, pid: -1, keys: []string{"k", "j"}, valueSize: 300}), AppendOptions{})
	}
	hold(l.LogStartOffset())
	l.SetHighWatermark(l.LogEndOffset())
	if _, err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(testTP); err != nil {
		t.Fatal(err)
	}
	for i, c := range held {
		if !bytes.Equal(c.Data, copies[i]) {
			t.Fatalf("chunk %d changed under its reader", i)
		}
		c.Release()
	}
	if _, err := os.Stat(filepath.Join(dirs[0], "t-0")); err == nil {
		t.Fatal("partition directory not renamed for deletion")
	}
}

// TestTruncateWakesDurableWaiters: a waiter for data that a truncation
// drops gets ErrTruncated; one for kept data is satisfied.
func TestTruncateWakesDurableWaiters(t *testing.T) {
	m := openTest(t, NewMemFS(), []string{"/data"}, newClock().Now)
	defer m.Close()
	c := testConfig()
	c.FlushMessages = math.MaxInt64
	l, _ := m.Create(testTP, testID, c)
	for i := 0; i < 6; i++ {
		mustAppend(t, l, buildBatch(t, plain(1, 1)), AppendOptions{})
	}
	gen := l.syncErrGen.Load()
	errs := make(chan error, 2)
	go func() { errs <- l.waitDurable(6, gen) }()
	go func() { errs <- l.waitDurable(3, gen) }()
	if err := l.TruncateTo(4); err != nil {
		t.Fatal(err)
	}
	var truncated, ok int
	for i := 0; i < 2; i++ {
		switch err := <-errs; {
		case errors.Is(err, ErrTruncated):
			truncated++
		case err == nil:
			ok++
		default:
			t.Fatal(err)
		}
	}
	if truncated != 1 || ok != 1 || l.DurableOffset() != 4 {
		t.Fatalf("truncated %d ok %d durable %d", truncated, ok, l.DurableOffset())
	}
}
