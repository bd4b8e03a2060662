package logstore

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/potok-io/potok/records"
)

// benchBatch builds one uncompressed batch of about size bytes.
func benchBatch(b testing.TB, size int) []byte {
	n := max(size/1024, 1)
	return buildBatch(b, batchSpec{n: n, ts: 1, pid: -1, valueSize: size/n - 20})
}

// benchLog opens a log on the real filesystem, sized so a run keeps a
// bounded amount of data on disk.
func benchLog(b *testing.B, dir string, c Config) (*Manager, *Log) {
	b.Helper()
	m, err := Open(ManagerOptions{Dirs: []string{dir}, RetentionCheckInterval: -1, CleanerInterval: -1, CheckpointInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	l, err := m.Create(TopicPartition{"bench", 0}, testID, c)
	if err != nil {
		b.Fatal(err)
	}
	return m, l
}

func benchConfig(durable bool) Config {
	c := DefaultConfig()
	c.SegmentBytes = 256 << 20
	c.RetentionMs = -1
	c.RetentionBytes = 512 << 20
	if !durable {
		c.FlushMessages = math.MaxInt64
	}
	return c
}

// trim keeps the benchmark's disk use bounded: old segments go, which also
// drops their dirty pages without writing them back.
func trim(l *Log) {
	l.SetHighWatermark(l.LogEndOffset())
	if _, err := l.ApplyRetention(); err != nil {
		panic(err)
	}
}

// BenchmarkAppend: one appender, batches of 16 KiB and 1 MiB, with and
// without waiting for fdatasync.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{16 << 10, 1 << 20} {
		for _, durable := range []bool{false, true} {
			b.Run(fmt.Sprintf("size=%dKiB/durable=%v", size>>10, durable), func(b *testing.B) {
				m, l := benchLog(b, b.TempDir(), benchConfig(durable))
				defer m.Close()
				batch := benchBatch(b, size)
				o := AppendOptions{Durable: durable}
				b.SetBytes(int64(len(batch)))
				b.ReportAllocs()
				// Warm up: the first segment's files and maps.
				for i := 0; i < 8; i++ {
					if _, err := l.Append(batch, o); err != nil {
						b.Fatal(err)
					}
				}
				b.ResetTimer()
				var written int64
				for i := 0; i < b.N; i++ {
					if _, err := l.Append(batch, o); err != nil {
						b.Fatal(err)
					}
					if written += int64(len(batch)); written > 256<<20 {
						b.StopTimer()
						trim(l)
						written = 0
						b.StartTimer()
					}
				}
			})
		}
	}
}

// BenchmarkAppendConcurrent: 8 appenders, durable or not, to one partition
// or to 8 partitions; group commit lets durable appenders share syncs.
func BenchmarkAppendConcurrent(b *testing.B) {
	for _, size := range []int{16 << 10, 1 << 20} {
		for _, parts := range []int{1, 8} {
			for _, durable := range []bool{false, true} {
				b.Run(fmt.Sprintf("size=%dKiB/partitions=%d/durable=%v", size>>10, parts, durable), func(b *testing.B) {
					m, err := Open(ManagerOptions{Dirs: []string{b.TempDir()}, RetentionCheckInterval: -1, CleanerInterval: -1, CheckpointInterval: -1})
					if err != nil {
						b.Fatal(err)
					}
					defer m.Close()
					c := benchConfig(durable)
					c.RetentionBytes = 512 << 20 / int64(parts)
					var logs []*Log
					for p := 0; p < parts; p++ {
						l, err := m.Create(TopicPartition{"bench", int32(p)}, testID, c)
						if err != nil {
							b.Fatal(err)
						}
						logs = append(logs, l)
					}
					batch := benchBatch(b, size)
					b.SetBytes(int64(len(batch)))
					b.ReportAllocs()
					var next atomic.Int64
					var written atomic.Int64
					var trimMu sync.Mutex
					b.ResetTimer()
					var wg sync.WaitGroup
					per := (b.N + 7) / 8
					for g := 0; g < 8; g++ {
						wg.Add(1)
						go func() {
							defer wg.Done()
							buf := append([]byte(nil), batch...)
							l := logs[int(next.Add(1)-1)%parts]
							for i := 0; i < per; i++ {
								if _, err := l.Append(buf, AppendOptions{Durable: durable}); err != nil {
									b.Error(err)
									return
								}
								if written.Add(int64(len(buf))) > 256<<20 && trimMu.TryLock() {
									written.Store(0)
									for _, l := range logs {
										trim(l)
									}
									trimMu.Unlock()
								}
							}
						}()
					}
					wg.Wait()
				})
			}
		}
	}
}

// BenchmarkRead: sequential reads of one 16 KiB batch or 1 MiB chunks from
// a warm log. "zero-copy" only takes the slices, as a sendfile/writev path
// would; "copy" also copies every byte out, as a plain socket write does.
func BenchmarkRead(b *testing.B) {
	for _, maxBytes := range []int{16 << 10, 1 << 20} {
		for _, copyOut := range []bool{false, true} {
			mode := "zero-copy"
			if copyOut {
				mode = "copy"
			}
			b.Run(fmt.Sprintf("max=%dKiB/%s", maxBytes>>10, mode), func(b *testing.B) {
				benchRead(b, maxBytes, copyOut)
			})
		}
	}
}

func benchRead(b *testing.B, maxBytes int, copyOut bool) {
	m, l := benchLog(b, b.TempDir(), benchConfig(false))
	defer m.Close()
	batch := benchBatch(b, 16<<10)
	for i := 0; i < 4096; i++ { // 64 MiB
		if _, err := l.Append(batch, AppendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	o := ReadOptions{MaxOffset: leo, MaxBytes: maxBytes, MinOneBatch: true}
	sink := make([]byte, 2<<20)
	b.ReportAllocs()
	b.ResetTimer()
	var total int64
	off := int64(0)
	for i := 0; i < b.N; i++ {
		c, err := l.Read(off, o)
		if err != nil {
			b.Fatal(err)
		}
		total += int64(len(c.Data))
		if copyOut {
			copy(sink, c.Data)
		}
		off = c.NextOffset
		if off >= leo {
			off = 0
		}
		c.Release()
	}
	b.SetBytes(total / int64(b.N))
}

// BenchmarkRecovery1GiB: opening a 1 GiB log after a clean shutdown and
// after a crash (no clean-shutdown marker, no recovery point: every batch
// is checked and every index rebuilt).
func BenchmarkRecovery1GiB(b *testing.B) {
	dir := b.TempDir()
	c := benchConfig(false)
	c.RetentionBytes = -1
	m, l := benchLog(b, dir, c)
	batch := benchBatch(b, 16<<10)
	for written := 0; written < 1<<30; written += len(batch) {
		if _, err := l.Append(batch, AppendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	if err := m.Close(); err != nil {
		b.Fatal(err)
	}
	open := func(b *testing.B) {
		m, err := Open(ManagerOptions{Dirs: []string{dir}, RetentionCheckInterval: -1, CleanerInterval: -1, CheckpointInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		if got := m.Get(TopicPartition{"bench", 0}).LogEndOffset(); got != leo {
			b.Fatalf("recovered to %d, want %d", got, leo)
		}
		b.StopTimer()
		if err := m.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.Run("clean", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			open(b)
		}
	})
	b.Run("crash", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			asIfCrashed(dir)
			b.StartTimer()
			open(b)
		}
	})
}

// TestSteadyStateAllocs: appends and reads allocate nothing once warm.
func TestSteadyStateAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip()
	}
	m := openTest(t, OSFS(), tempDirs(t, 1), time.Now)
	defer m.Close()
	c := DefaultConfig()
	c.FlushMessages = math.MaxInt64
	l, err := m.Create(testTP, testID, c)
	if err != nil {
		t.Fatal(err)
	}
	batch := buildBatch(t, batchSpec{n: 4, ts: 1, pid: 9, seq: 0, valueSize: 100})
	seq := int32(0)
	app := func() {
		records.Batch(batch).SetBaseOffset(0)
		patchSeq(batch, seq)
		seq += 4
		if _, err := l.Append(batch, AppendOptions{LeaderEpoch: 1}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 100; i++ {
		app()
	}
	if n := testing.AllocsPerRun(200, app); n != 0 {
		t.Errorf("append allocates %.1f times per op", n)
	}
	if n := testing.AllocsPerRun(200, func() {
		if _, err := l.Append(benchBatchNoPid, AppendOptions{LeaderEpoch: 1, Durable: true}); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("durable append allocates %.1f times per op", n)
	}
	off := int64(0)
	if n := testing.AllocsPerRun(200, func() {
		c, err := l.Read(off, ReadOptions{MaxOffset: l.LogEndOffset(), MaxBytes: 4096, MinOneBatch: true})
		if err != nil {
			t.Fatal(err)
		}
		off = c.NextOffset % l.LogEndOffset()
		c.Release()
	}); n != 0 {
		t.Errorf("read allocates %.1f times per op", n)
	}
}

var benchBatchNoPid = func() []byte {
	var tb testing.T
	return buildBatch(&tb, plain(2, 1))
}()

// patchSeq rewrites a batch's base sequence and its CRC.
func patchSeq(b []byte, seq int32) {
	b[53], b[54], b[55], b[56] = byte(seq>>24), byte(seq>>16), byte(seq>>8), byte(seq)
	crc := records.Batch(b).ComputeCRC()
	b[17], b[18], b[19], b[20] = byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc)
}
