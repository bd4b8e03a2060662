package logstore

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/potok-io/potok/records"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// clock is a logical time source for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.UnixMilli(1_700_000_000_000)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testConfig is small enough for in-memory filesystems.
func testConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 64 << 10
	c.SegmentIndexBytes = 4 << 10
	c.IndexIntervalBytes = 256
	c.RetentionMs = -1
	return c
}

// batchSpec describes a batch to build.
type batchSpec struct {
	n          int   // records
	ts         int64 // base timestamp
	pid        int64 // -1 = none
	epoch      int16
	seq        int32
	txn        bool
	keys       []string // optional keys (len n), "" = null key
	valueSize  int
	nullValues map[int]bool
	codec      records.Codec
}

func buildBatch(t testing.TB, s batchSpec) []byte {
	t.Helper()
	if s.n == 0 {
		s.n = 1
	}
	recs := make([]records.Record, s.n)
	for i := range recs {
		recs[i] = records.Record{TimestampDelta: int64(i), OffsetDelta: int32(i), Value: bytes.Repeat([]byte{byte('a' + i%26)}, max(s.valueSize, 1))}
		if s.keys != nil && s.keys[i] != "" {
			recs[i].Key = []byte(s.keys[i])
		}
		if s.nullValues[i] {
			recs[i].Value = nil
		}
	}
	h := records.BatchHeader{BaseTimestamp: s.ts, PartitionLeaderEpoch: -1}
	if s.pid >= 0 && (s.pid != 0 || s.epoch != 0 || s.seq != 0 || s.txn) {
		h.ProducerID, h.ProducerEpoch, h.BaseSequence = s.pid, s.epoch, s.seq
	} else {
		h.NoProducer()
	}
	if s.txn {
		h.Attributes |= records.AttrTransactional
	}
	b, err := records.AppendBatch(nil, h, s.codec, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func plain(n int, ts int64) batchSpec { return batchSpec{n: n, ts: ts, pid: -1} }

func openTest(t testing.TB, fsys FS, dirs []string, now func() time.Time) *Manager {
	t.Helper()
	m, err := Open(ManagerOptions{Dirs: dirs, FS: fsys, Now: now, RetentionCheckInterval: -1, CleanerInterval: -1, CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var testTP = TopicPartition{"t", 0}
var testID = [16]byte{1, 2, 3}

func mustAppend(t testing.TB, l *Log, b []byte, o AppendOptions) AppendResult {
	t.Helper()
	r, err := l.Append(b, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// readAll reads every batch from offset to the log end and returns
// (baseOffset, lastOffset) per batch.
func readAll(t testing.TB, l *Log, from int64) [][2]int64 {
	t.Helper()
	var out [][2]int64
	off := from
	for {
		c, err := l.Read(off, ReadOptions{MaxOffset: math.MaxInt64, MaxBytes: 1 << 20, MinOneBatch: true})
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		if len(c.Data) == 0 {
			c.Release()
			return out
		}
		for rest := c.Data; len(rest) > 0; {
			b, r, err := records.Next(rest)
			if err != nil {
				t.Fatal(err)
			}
			if !b.ValidCRC() {
				t.Fatalf("bad crc at %d", b.BaseOffset())
			}
			out = append(out, [2]int64{b.BaseOffset(), b.LastOffset()})
			rest = r
		}
		off = c.NextOffset
		c.Release()
	}
}

func tempDirs(t testing.TB, n int) []string {
	var out []string
	base := t.TempDir()
	for i := 0; i < n; i++ {
		d := fmt.Sprintf("%s/d%d", base, i)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// asIfCrashed makes a data directory closed by Close look as if the process
// had been killed: no clean shutdown marker and no recovery points, so the
// next Open recovers every partition from its first segment.
func asIfCrashed(dir string) {
	os.Remove(filepath.Join(dir, cleanShutdownFile))
	os.Remove(filepath.Join(dir, recoveryPointFile))
}

// settle waits until the flusher has nothing queued or in flight.
func settle(t testing.TB, m *Manager) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !m.flusher.idle() {
		if time.Now().After(deadline) {
			t.Fatal("flusher never settled")
		}
		time.Sleep(100 * time.Microsecond)
	}
}
