package logstore

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/potok-io/potok/records"
)

// tailLog opens a Manager keeping 64 KiB of each log in the page cache
// behind its last sync, and creates a partition of segmentBytes segments
// (0: the default) that keeps everything.
func tailLog(t *testing.T, fsys FS, dir string, segmentBytes int64) (*Manager, *Log) {
	t.Helper()
	m, err := Open(ManagerOptions{Dirs: []string{dir}, FS: fsys, RetentionCheckInterval: -1, CleanerInterval: -1, CheckpointInterval: -1, PageCacheTail: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	c := DefaultConfig()
	if segmentBytes > 0 {
		c.SegmentBytes = segmentBytes
	}
	c.RetentionMs = -1
	l, err := m.Create(testTP, testID, c)
	if err != nil {
		t.Fatal(err)
	}
	return m, l
}

// directLog fills a log with about 10 MiB of batches of every size from one
// record to more than a direct read's window, synced as it goes, with only
// 64 KiB of tail kept in the page cache, and returns it with what it
// appended (base offsets of the batches, in order).
func directLog(t *testing.T, fsys FS, dir string) (*Manager, *Log, []int64) {
	t.Helper()
	m, l := tailLog(t, fsys, dir, 4<<20)
	rng := rand.New(rand.NewPCG(7, 7))
	var bases []int64
	for total := 0; total < 10<<20; {
		s := plain(1+rng.IntN(40), 1000)
		s.valueSize = 1 + rng.IntN(3000)
		if rng.IntN(40) == 0 {
			s.n, s.valueSize = 3, 400<<10 // 1.2 MiB: larger than the window
		}
		b := buildBatch(t, s)
		r := mustAppend(t, l, b, AppendOptions{})
		bases = append(bases, r.FirstOffset)
		total += len(b)
		if rng.IntN(8) == 0 {
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	l.mu.RLock()
	dropped := int64(0)
	for _, s := range l.segs {
		dropped += s.dropped.Load()
	}
	segs := len(l.segs)
	l.mu.RUnlock()
	if segs < 3 || dropped < 8<<20 {
		t.Fatalf("%d segments, %d bytes dropped: want at least 3 and 8 MiB", segs, dropped)
	}
	return m, l, bases
}

// readBoth reads offset through both paths: around the page cache where the
// range was dropped, and through the maps alone.
func readBoth(t *testing.T, m *Manager, l *Log, off int64, o ReadOptions) (direct, mapped Chunk, derr, merr error) {
	t.Helper()
	direct, derr = l.Read(off, o)
	m.direct.unsupported.Store(true)
	mapped, merr = l.Read(off, o)
	m.direct.unsupported.Store(false)
	return
}

// TestDirectReadsMatchMaps reads every batch, from its first offset and
// from inside it, with a range of limits, around the page cache and
// through the maps, and wants the same answer, on the OS's filesystem (real
// O_DIRECT) and on MemFS (the same logic over ReadAt).
func TestDirectReadsMatchMaps(t *testing.T) {
	for _, fs := range []struct {
		name string
		fsys FS
		dir  string
	}{{"os", OSFS(), t.TempDir()}, {"mem", NewMemFS(), "/data"}} {
		t.Run(fs.name, func(t *testing.T) {
			m, l, bases := directLog(t, fs.fsys, fs.dir)
			leo := l.LogEndOffset()
			limits := []ReadOptions{
				{MaxOffset: math.MaxInt64, MaxBytes: 1 << 20, MinOneBatch: true},
				{MaxOffset: math.MaxInt64, MaxBytes: 64 << 10, MinOneBatch: true},
				{MaxOffset: math.MaxInt64, MaxBytes: 10, MinOneBatch: false},
				{MaxOffset: leo / 2, MaxBytes: 512 << 10, MinOneBatch: true},
			}
			before := m.direct.reads.Load()
			for i, base := range bases {
				offs := []int64{base}
				if i+1 < len(bases) && bases[i+1]-base > 1 {
					offs = append(offs, base+(bases[i+1]-base)/2)
				}
				for _, off := range offs {
					for _, o := range limits {
						d, mp, derr, merr := readBoth(t, m, l, off, o)
						if (derr == nil) != (merr == nil) || !bytes.Equal(d.Data, mp.Data) || d.FirstOffset != mp.FirstOffset || d.NextOffset != mp.NextOffset {
							t.Fatalf("read %d %+v: around the cache %d bytes [%d, %d) %v; through the map %d bytes [%d, %d) %v",
								off, o, len(d.Data), d.FirstOffset, d.NextOffset, derr, len(mp.Data), mp.FirstOffset, mp.NextOffset, merr)
						}
						d.Release()
						mp.Release()
					}
				}
			}
			served := m.direct.reads.Load() - before
			if m.direct.unsupported.Load() {
				t.Skipf("no O_DIRECT on %s: every read went through the maps", fs.dir)
			}
			if served < int64(len(bases)) {
				t.Fatalf("%d reads around the page cache for %d batches: the dropped ranges were read through the maps", served, len(bases))
			}
			// A reader catching up from the start, fetch after fetch, is
			// served from windows read ahead, and gets what the maps hold.
			aheadBefore := m.direct.aheadReads.Load()
			seq := func() []byte {
				var out []byte
				for off := int64(0); off < leo; {
					c, err := l.Read(off, ReadOptions{MaxOffset: math.MaxInt64, MaxBytes: 256 << 10, MinOneBatch: true})
					if err != nil || len(c.Data) == 0 {
						t.Fatalf("sequential read at %d: %d bytes, %v", off, len(c.Data), err)
					}
					out = append(out, c.Data...)
					off = c.NextOffset
					c.Release()
				}
				return out
			}
			direct := seq()
			if m.direct.aheadReads.Load() == aheadBefore {
				t.Fatal("a sequential reader was never served a window read ahead")
			}
			m.direct.unsupported.Store(true)
			mapped := seq()
			m.direct.unsupported.Store(false)
			if !bytes.Equal(direct, mapped) {
				t.Fatalf("sequential read: %d bytes around the cache, %d through the map, not the same", len(direct), len(mapped))
			}
			// What readAll sees (the whole log) is what was appended.
			got := readAll(t, l, 0)
			if len(got) != len(bases) {
				t.Fatalf("readAll: %d batches, appended %d", len(got), len(bases))
			}
			for i := range got {
				if got[i][0] != bases[i] {
					t.Fatalf("batch %d: base %d, appended at %d", i, got[i][0], bases[i])
				}
			}
		})
	}
}

// TestDirectReadCorrupt damages a batch header in a dropped range on disk:
// the read fails as it does through the maps, with ErrCorrupt.
func TestDirectReadCorrupt(t *testing.T) {
	dir := t.TempDir()
	m, l, bases := directLog(t, OSFS(), dir)
	l.mu.RLock()
	s := l.segs[0]
	path := s.log.path
	l.mu.RUnlock()
	// The tenth batch of the first segment: find its position by scanning.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pos := 0
	for range 10 {
		b, _, err := records.Next(data[pos:])
		if err != nil {
			t.Fatal(err)
		}
		pos += len(b)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A batch length no v2 batch can have.
	if _, err := f.WriteAt([]byte{0, 0, 0, 1}, int64(pos)+8); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s.dropTo(alignDown(s.log.size)) // the write above cached the page again
	d, mp, derr, merr := readBoth(t, m, l, bases[9], ReadOptions{MaxOffset: math.MaxInt64, MaxBytes: 1 << 20, MinOneBatch: true})
	d.Release()
	mp.Release()
	if !errors.Is(derr, ErrCorrupt) || !errors.Is(merr, ErrCorrupt) {
		t.Fatalf("read of a damaged batch: around the cache %v, through the map %v; want ErrCorrupt from both", derr, merr)
	}
}

// TestDirectReadsWhileAppending has readers catch up from the start while
// an appender writes and the flusher drops behind it (run with -race).
func TestDirectReadsWhileAppending(t *testing.T) {
	m, l := tailLog(t, OSFS(), t.TempDir(), 2<<20)
	const batches = 3000
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			off := int64(0)
			for off < batches*8 {
				select {
				case <-stop:
					return
				default:
				}
				ch, err := l.Read(off, ReadOptions{MaxOffset: l.DurableOffset(), MaxBytes: 256 << 10, MinOneBatch: true})
				if err != nil {
					errs <- err
					return
				}
				for rest := ch.Data; len(rest) > 0; {
					b, r, err := records.Next(rest)
					if err != nil || !b.ValidCRC() || b.BaseOffset() != off {
						errs <- errors.New("read a batch that is not the next one, or a damaged one")
						ch.Release()
						return
					}
					off, rest = b.LastOffset()+1, r
				}
				ch.Release()
				if len(ch.Data) == 0 {
					time.Sleep(100 * time.Microsecond)
				}
			}
		}()
	}
	for i := range batches {
		s := plain(8, 1000)
		s.valueSize = 500 + i%700
		if _, err := l.Append(buildBatch(t, s), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case err := <-errs:
		close(stop)
		wg.Wait()
		t.Fatal(err)
	case <-time.After(60 * time.Second):
		close(stop)
		wg.Wait()
		t.Fatal("readers did not reach the end")
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if m.direct.reads.Load() == 0 && !m.direct.unsupported.Load() {
		t.Fatal("no read went around the page cache")
	}
}

// FuzzDirectRead: whatever a sealed segment and its offset index hold
// (loaded after a clean shutdown, so nothing checked them), a read around
// the page cache answers exactly what a read through the map answers.
func FuzzDirectRead(f *testing.F) {
	prefix := fuzzPrefix(f)
	f.Add([]byte{}, []byte{}, uint16(1))
	f.Add(buildBatch(f, plain(2, 5)), []byte{0, 0, 0, 1, 0, 0, 0, 90}, uint16(100))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 9, 0, 0, 0, 0, 2}, []byte{0, 0, 0, 2, 0, 0, 0, 3}, uint16(0))
	f.Add(bytes.Repeat([]byte{0xff}, 80), bytes.Repeat([]byte{0x01}, 16), uint16(5000))
	f.Fuzz(func(t *testing.T, tail, index []byte, maxBytes uint16) {
		data := append(append([]byte(nil), prefix...), tail...)
		m, l := openSealed(t, data, index, nil, 9)
		defer m.Close()
		l.mu.RLock()
		l.segs[0].dropped.Store(int64(len(data)) + 1) // all of it read around the cache
		l.mu.RUnlock()
		for off := int64(0); off < 9; off++ {
			for _, o := range []ReadOptions{
				{MaxOffset: 9, MaxBytes: int(maxBytes), MinOneBatch: true},
				{MaxOffset: 9, MaxBytes: int(maxBytes), MinOneBatch: false},
			} {
				d, mp, derr, merr := readBoth(t, m, l, off, o)
				if (derr == nil) != (merr == nil) || !bytes.Equal(d.Data, mp.Data) || d.FirstOffset != mp.FirstOffset || d.NextOffset != mp.NextOffset {
					t.Fatalf("read %d %+v: around the cache %x [%d, %d) %v; through the map %x [%d, %d) %v",
						off, o, d.Data, d.FirstOffset, d.NextOffset, derr, mp.Data, mp.FirstOffset, mp.NextOffset, merr)
				}
				d.Release()
				mp.Release()
			}
		}
	})
}

// TestReadAheadAfterTruncation: a window read ahead before the log was
// truncated and written again is not served; the read gets the new
// batches, as the map does.
func TestReadAheadAfterTruncation(t *testing.T) {
	m, l := tailLog(t, OSFS(), t.TempDir(), 0)
	appendN := func(n int, fill int) {
		for range n {
			s := plain(4, 1000)
			s.valueSize = 2000 + fill
			mustAppend(t, l, buildBatch(t, s), AppendOptions{})
		}
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	appendN(800, 0) // about 6.4 MB, 3,200 offsets
	o := ReadOptions{MaxOffset: math.MaxInt64, MaxBytes: 256 << 10, MinOneBatch: true}
	first, err := l.Read(0, o)
	if err != nil || len(first.Data) == 0 {
		t.Fatalf("first read: %d bytes, %v", len(first.Data), err)
	}
	next := first.NextOffset
	first.Release()
	m.direct.wg.Wait() // the window after it is read
	l.mu.RLock()
	ahead := l.segs[0].ahead.Load()
	l.mu.RUnlock()
	if ahead == nil && !m.direct.unsupported.Load() {
		t.Fatal("the first read started no read ahead")
	}
	// Cut inside the window read ahead and write batches of another size.
	if err := l.TruncateTo(next + 8); err != nil {
		t.Fatal(err)
	}
	appendN(800, 500)
	for off := next; off < next+40; off += 4 {
		d, mp, derr, merr := readBoth(t, m, l, off, o)
		if derr != nil || merr != nil || !bytes.Equal(d.Data, mp.Data) || d.NextOffset != mp.NextOffset {
			t.Fatalf("read %d after truncation: around the cache %d bytes to %d (%v), through the map %d bytes to %d (%v)",
				off, len(d.Data), d.NextOffset, derr, len(mp.Data), mp.NextOffset, merr)
		}
		d.Release()
		mp.Release()
	}
	if ahead != nil && ahead.state.Load() == aheadTaken {
		t.Fatal("a window read ahead before the truncation was served after it")
	}
}
