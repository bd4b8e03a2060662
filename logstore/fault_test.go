package logstore

import (
	"errors"
	"math"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

func checkContiguous(t *testing.T, l *Log, from int64) {
	t.Helper()
	got := readAll(t, l, from)
	next := from
	for _, b := range got {
		if b[0] != next {
			t.Fatalf("batch at %d, expected %d", b[0], next)
		}
		next = b[1] + 1
	}
	if next != l.LogEndOffset() {
		t.Fatalf("read up to %d, leo %d", next, l.LogEndOffset())
	}
}

func TestNoSpace(t *testing.T) {
	for _, k := range []Fault{FaultNoSpace, FaultWriteError, FaultShortWrite} {
		for _, target := range []string{".log", ".index", ".timeindex", ""} {
			t.Run("", func(t *testing.T) {
				ffs := NewFaultFS(NewMemFS())
				c := newClock()
				m := openTest(t, ffs, []string{"/data"}, c.Now)
				defer m.Close()
				cfg := testConfig()
				cfg.IndexIntervalBytes = 0 // an index entry for every batch
				l, _ := m.Create(testTP, testID, cfg)
				for i := 0; i < 20; i++ {
					mustAppend(t, l, buildBatch(t, batchSpec{n: 2, ts: int64(i), pid: 3, seq: int32(2 * i), valueSize: 100}), AppendOptions{Durable: true})
				}
				ffs.SetFault(k, target)
				var failed int
				for i := 20; i < 25; i++ {
					_, err := l.Append(buildBatch(t, batchSpec{n: 2, ts: int64(i), pid: 3, seq: 40, valueSize: 100}), AppendOptions{Durable: true})
					if err != nil {
						failed++
						if !errors.Is(err, ErrStorage) {
							t.Fatalf("error not ErrStorage: %v", err)
						}
						if k == FaultNoSpace && !errors.Is(err, unix.ENOSPC) {
							t.Fatalf("error does not say ENOSPC: %v", err)
						}
					}
				}
				if failed == 0 && target != "" && target != ".log" {
					// The fault may hit a file this append does not write.
				} else if failed == 0 {
					t.Fatal("no append failed")
				}
				// Reads still work and see a consistent log.
				checkContiguous(t, l, 0)
				ffs.Clear()
				leo := l.LogEndOffset()
				r, err := l.Append(buildBatch(t, batchSpec{n: 2, ts: 30, pid: 3, seq: int32(leo), valueSize: 100}), AppendOptions{Durable: true})
				if err != nil {
					t.Fatalf("append after the disk recovered: %v", err)
				}
				if r.FirstOffset != leo {
					t.Fatalf("append at %d, leo was %d", r.FirstOffset, leo)
				}
				checkContiguous(t, l, 0)
			})
		}
	}
}

func TestSyncError(t *testing.T) {
	mem := NewMemFS()
	ffs := NewFaultFS(mem)
	c := newClock()
	m := openTest(t, ffs, []string{"/data"}, c.Now)
	cfg := testConfig()
	cfg.FlushMessages = math.MaxInt64
	l, _ := m.Create(testTP, testID, cfg)
	for i := 0; i < 10; i++ {
		mustAppend(t, l, buildBatch(t, plain(1, int64(i))), AppendOptions{Durable: i == 4})
	}
	if d := l.DurableOffset(); d != 5 {
		t.Fatalf("durable %d", d)
	}
	ffs.SetFault(FaultSyncError, ".log")
	_, err := l.Append(buildBatch(t, plain(1, 10)), AppendOptions{Durable: true})
	if !errors.Is(err, ErrStorage) || !errors.Is(err, unix.EIO) {
		t.Fatalf("durable append with failing fsync: %v", err)
	}
	checkContiguous(t, l, 0)
	if err := l.Flush(); err == nil {
		t.Fatal("flush succeeded with failing fsync")
	}
	ffs.Clear()
	// The next append first drops what was never synced.
	r, err := l.Append(buildBatch(t, plain(1, 11)), AppendOptions{Durable: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.FirstOffset != 5 {
		t.Fatalf("append after sync failure at %d, want 5 (the unsynced tail dropped)", r.FirstOffset)
	}
	checkContiguous(t, l, 0)
	crashed := mem.Crash()
	m.Close()
	m2 := openTest(t, crashed, []string{"/data"}, c.Now)
	defer m2.Close()
	if leo := m2.Get(testTP).LogEndOffset(); leo != 6 {
		t.Fatalf("after crash leo %d", leo)
	}
	checkContiguous(t, m2.Get(testTP), 0)
}

// TestWriteCannotBeUndone: a short write whose bytes cannot be cut back
// leaves the log failing appends (and never showing the bytes) until a
// repair succeeds.
func TestWriteCannotBeUndone(t *testing.T) {
	mem := NewMemFS()
	ffs := NewFaultFS(mem)
	m := openTest(t, ffs, []string{"/data"}, newClock().Now)
	l, _ := m.Create(testTP, testID, testConfig())
	for i := 0; i < 5; i++ {
		mustAppend(t, l, buildBatch(t, plain(2, 1)), AppendOptions{Durable: true})
	}
	ffs.SetFault(FaultShortWrite|FaultTruncateError, ".log")
	if _, err := l.Append(buildBatch(t, plain(2, 1)), AppendOptions{}); !errors.Is(err, ErrStorage) {
		t.Fatalf("short write: %v", err)
	}
	checkContiguous(t, l, 0)
	if _, err := l.Append(buildBatch(t, plain(2, 1)), AppendOptions{}); !errors.Is(err, ErrStorage) {
		t.Fatalf("append before repair: %v", err)
	}
	ffs.Clear()
	r, err := l.Append(buildBatch(t, plain(2, 1)), AppendOptions{Durable: true})
	if err != nil || r.FirstOffset != 10 {
		t.Fatalf("append after repair: %+v %v", r, err)
	}
	checkContiguous(t, l, 0)
	crashed := mem.Crash()
	m.Close()
	m2 := openTest(t, crashed, []string{"/data"}, newClock().Now)
	defer m2.Close()
	if leo := m2.Get(testTP).LogEndOffset(); leo != 12 {
		t.Fatalf("after crash: leo %d", leo)
	}
	checkContiguous(t, m2.Get(testTP), 0)
}

// TestRemovedDirectoryFailsDurableAppends: a partition directory removed
// under the log still takes writes and syncs, but nothing in it would
// survive a restart: durable appends fail with ErrStorage instead of being
// acknowledged, and reads keep serving what was there.
func TestRemovedDirectoryFailsDurableAppends(t *testing.T) {
	fsys := NewMemFS()
	m := openTest(t, fsys, []string{"/data"}, newClock().Now)
	defer m.Close()
	l, _ := m.Create(testTP, testID, testConfig())
	for i := 0; i < 3; i++ {
		mustAppend(t, l, buildBatch(t, plain(2, int64(i))), AppendOptions{Durable: true})
	}
	if err := fsys.RemoveAll("/data/" + testTP.String()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		_, err := l.Append(buildBatch(t, plain(2, 9)), AppendOptions{Durable: true})
		if !errors.Is(err, ErrStorage) {
			t.Fatalf("durable append %d into a removed directory: %v", i, err)
		}
	}
	if d := l.DurableOffset(); d != 6 {
		t.Fatalf("durable offset %d, want 6", d)
	}
	checkContiguous(t, l, 0)
}

// TestEverySyncThatAdvancesNotifies: the durable offset can advance in a
// sync that the flusher did not run (Flush, a compaction pass); OnDurable
// must hear of it. Otherwise the flusher's own sync of the same append
// finds nothing left to advance, and a broker waiting on OnDurable to move
// the high watermark (acks=all, a coordinator's WhenCommitted) waits until
// some later append: a transaction on __transaction_state stuck in a soak
// until another transactional id wrote to the same partition.
func TestEverySyncThatAdvancesNotifies(t *testing.T) {
	for _, via := range []string{"Flush", "Compact"} {
		t.Run(via, func(t *testing.T) {
			var mu sync.Mutex
			var notified int64 = -1
			m, err := Open(ManagerOptions{Dirs: tempDirs(t, 1), RetentionCheckInterval: -1, CleanerInterval: -1,
				OnDurable: func(l *Log) {
					mu.Lock()
					notified = max(notified, l.DurableOffset())
					mu.Unlock()
				}})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			cfg := testConfig()
			cfg.FlushMessages = math.MaxInt64 // the flusher is never asked
			cfg.Compact = true
			l, err := m.Create(testTP, testID, cfg)
			if err != nil {
				t.Fatal(err)
			}
			mustAppend(t, l, buildBatch(t, batchSpec{n: 2, ts: 1, pid: -1, keys: []string{"a", "b"}}), AppendOptions{})
			if via == "Flush" {
				err = l.Flush()
			} else {
				_, err = l.Compact()
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.DurableOffset() != 2 {
				t.Fatalf("durable %d after %s", l.DurableOffset(), via)
			}
			mu.Lock()
			defer mu.Unlock()
			if notified != 2 {
				t.Fatalf("OnDurable heard of %d after %s made offset 2 durable", notified, via)
			}
		})
	}
}
