package logstore

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/potok-io/potok/records"
)

var (
	modelSeeds = flag.Int("model.seeds", 4, "seeds for TestModel")
	modelOps   = flag.Int("model.ops", 10000, "operations per seed for TestModel")
	modelSeed  = flag.Int64("model.seed", 0, "run TestModel with this seed only")
)

// mBatch is a batch as the model remembers it.
type mBatch struct {
	base, last int64
	data       []byte
	pid        int64
	lastSeq    int32
}

// model is the simple in-memory log the real one is compared with.
type model struct {
	batches  []mBatch
	logStart int64
	leo      int64
	hw       int64
}

// from returns the index of the first batch with last offset >= off.
func (m *model) from(off int64) int {
	for i, b := range m.batches {
		if b.last >= off {
			return i
		}
	}
	return len(m.batches)
}

func (m *model) truncate(off int64) {
	m.batches = m.batches[:m.from(off)]
	m.leo = off
	m.hw = min(m.hw, off)
	m.logStart = min(m.logStart, off)
}

// lastPid returns the model's last batch of pid, nil if none.
func (m *model) lastPid(pid int64) *mBatch {
	for i := len(m.batches) - 1; i >= 0; i-- {
		if m.batches[i].pid == pid {
			return &m.batches[i]
		}
	}
	return nil
}

// modelRun holds one randomized run.
type modelRun struct {
	t     *testing.T
	rng   *rand.Rand
	fs    *MemFS
	clk   *clock
	mgr   *Manager
	l     *Log
	m     model
	cfg   Config
	step  int
	seed  int64
	trace []string
	uniq  int
}

func (r *modelRun) logf(format string, args ...any) {
	r.trace = append(r.trace, fmt.Sprintf("%d: ", r.step)+fmt.Sprintf(format, args...))
}

func (r *modelRun) fatalf(format string, args ...any) {
	r.t.Helper()
	tr := r.trace[max(len(r.trace)-25, 0):]
	for _, x := range tr {
		r.t.Log(x)
	}
	r.t.Fatalf("seed %d step %d: %s", r.seed, r.step, fmt.Sprintf(format, args...))
}

func (r *modelRun) open() {
	m, err := Open(ManagerOptions{Dirs: []string{"/data"}, FS: r.fs, Now: r.clk.Now, RetentionCheckInterval: -1, CleanerInterval: -1, CheckpointInterval: -1})
	if err != nil {
		r.fatalf("open: %v", err)
	}
	r.mgr = m
	r.l = m.Get(testTP)
	if r.l == nil {
		r.fatalf("log missing after open")
	}
	r.l.SetConfig(r.cfg)
}

func TestModel(t *testing.T) {
	seeds := []int64{}
	if *modelSeed != 0 {
		seeds = append(seeds, *modelSeed)
	} else {
		for i := 0; i < *modelSeeds; i++ {
			seeds = append(seeds, int64(i+1)*7919)
		}
	}
	ops := *modelOps
	if testing.Short() {
		ops /= 10
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			runModel(t, seed, ops)
		})
	}
}

func runModel(t *testing.T, seed int64, ops int) {
	r := &modelRun{t: t, rng: rand.New(rand.NewSource(seed)), fs: NewMemFS(), clk: newClock(), seed: seed}
	rng := r.rng
	r.cfg = testConfig()
	r.cfg.SegmentBytes = int64(1024 + rng.Intn(16<<10))
	r.cfg.IndexIntervalBytes = int32(rng.Intn(1024))
	r.cfg.SegmentIndexBytes = int32(48 + rng.Intn(1024))
	r.cfg.FlushMessages = []int64{1, 5, math.MaxInt64}[rng.Intn(3)]
	// compact,delete: both cleaners run. Tombstones live forever here so
	// that the model can say exactly what compaction keeps.
	r.cfg.Compact = true
	r.cfg.MinCleanableDirtyRatio = rng.Float64() / 2
	r.cfg.DeleteRetentionMs = math.MaxInt64 / 2
	mgr := openTest(t, r.fs, []string{"/data"}, r.clk.Now)
	l, err := mgr.Create(testTP, testID, r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.mgr, r.l = mgr, l
	defer func() { r.mgr.Close() }()
	seq := int32(0)
	for r.step = 0; r.step < ops; r.step++ {
		r.clk.Advance(10)
		switch p := rng.Intn(100); {
		case p < 45:
			r.append(&seq)
		case p < 48:
			r.retry()
		case p < 65:
			r.read()
		case p < 67:
			r.logf("roll")
			if err := r.l.Roll(); err != nil {
				r.fatalf("roll: %v", err)
			}
		case p < 71:
			r.truncate()
		case p < 74:
			r.deleteRecords()
		case p < 80:
			hw := r.m.logStart + rng.Int63n(max(r.l.DurableOffset()-r.m.logStart, 0)+1)
			r.l.SetHighWatermark(hw)
			r.logf("hw %d", hw)
			r.m.hw = min(max(hw, r.m.logStart), r.m.leo)
		case p < 83:
			r.retention()
		case p < 85:
			r.crash()
		case p < 87:
			r.reopen()
		case p < 91:
			r.compact()
		case p < 92:
			r.logf("flush")
			if err := r.l.Flush(); err != nil {
				r.fatalf("flush: %v", err)
			}
		default:
			r.read()
		}
		r.checkOffsets()
		if r.step%500 == 0 {
			r.checkAll()
		}
	}
	r.checkAll()
}

func (r *modelRun) append(seq *int32) {
	rng := r.rng
	n := 1 + rng.Intn(2)
	var buf []byte
	idem := rng.Intn(4) == 0
	if idem {
		n = 1
		if last := r.m.lastPid(1); last != nil {
			*seq = records.IncrementSequence(last.lastSeq, 1)
		}
	}
	for i := 0; i < n; i++ {
		s := batchSpec{n: 1 + rng.Intn(5), ts: r.clk.Now().UnixMilli(), pid: -1, valueSize: 10 + rng.Intn(600), codec: records.Codec(rng.Intn(2) * 4)}
		s.keys = make([]string, s.n)
		s.nullValues = map[int]bool{}
		for k := range s.keys {
			s.keys[k] = fmt.Sprintf("k%d", rng.Intn(24))
			s.nullValues[k] = rng.Intn(10) == 0
			if idem {
				// Never superseded: after a truncation the log's producer
				// state comes from snapshots taken before any compaction,
				// which the model cannot predict if compaction removed
				// the producer's batches (Kafka behaves the same).
				r.uniq++
				s.keys[k] = fmt.Sprintf("u%d", r.uniq)
				s.nullValues[k] = false
			}
		}
		if idem {
			s.pid, s.seq = 1, *seq
		}
		buf = append(buf, buildBatch(r.t, s)...)
	}
	durable := rng.Intn(3) == 0
	res, err := r.l.Append(buf, AppendOptions{LeaderEpoch: int32(r.step / 1000), Durable: durable})
	if err != nil {
		r.fatalf("append: %v", err)
	}
	if res.Duplicate || res.FirstOffset != r.m.leo {
		r.fatalf("append at %d (dup %v), model leo %d", res.FirstOffset, res.Duplicate, r.m.leo)
	}
	if durable && r.l.DurableOffset() <= res.LastOffset {
		r.fatalf("durable append returned before durable: %d <= %d", r.l.DurableOffset(), res.LastOffset)
	}
	for rest := buf; len(rest) > 0; {
		b, next, _ := records.Next(rest)
		mb := mBatch{base: b.BaseOffset(), last: b.LastOffset(), data: append([]byte(nil), b...), pid: -1}
		if b.HasProducerID() {
			mb.pid, mb.lastSeq = b.ProducerID(), b.LastSequence()
			*seq = records.IncrementSequence(mb.lastSeq, 1)
		}
		r.m.batches = append(r.m.batches, mb)
		rest = next
	}
	r.m.leo = res.LastOffset + 1
	r.logf("append %d batches at %d-%d durable=%v -> durable %d segs %d", n, res.FirstOffset, res.LastOffset, durable, r.l.DurableOffset(), r.l.NumSegments())
}

// retry resends the producer's last batch: a duplicate while the log still
// holds it (and so remembers the producer).
func (r *modelRun) retry() {
	last := r.m.lastPid(1)
	if last == nil {
		return
	}
	data := append([]byte(nil), last.data...)
	r.logf("retry %d-%d", last.base, last.last)
	res, err := r.l.Append(data, AppendOptions{LeaderEpoch: int32(r.step / 1000)})
	if err != nil {
		r.fatalf("retry: %v", err)
	}
	if last.last >= r.m.logStart {
		if !res.Duplicate || res.FirstOffset != last.base || res.LastOffset != last.last {
			r.fatalf("retry of %d-%d: %+v", last.base, last.last, res)
		}
		return
	}
	// The producer's data is gone: it is a new producer again.
	if res.Duplicate {
		r.fatalf("retry of deleted batch %d-%d reported duplicate", last.base, last.last)
	}
	b := records.Batch(data)
	r.m.batches = append(r.m.batches, mBatch{base: b.BaseOffset(), last: b.LastOffset(), data: data, pid: 1, lastSeq: b.LastSequence()})
	r.m.leo = b.LastOffset() + 1
}

func (r *modelRun) read() {
	if r.m.leo < r.m.logStart {
		return
	}
	off := r.m.logStart + r.rng.Int63n(r.m.leo-r.m.logStart+1)
	if r.rng.Intn(10) == 0 && r.m.logStart > 0 {
		off = r.m.logStart - 1 - r.rng.Int63n(r.m.logStart)
		if _, err := r.l.Read(off, ReadOptions{MaxOffset: math.MaxInt64, MaxBytes: 100}); !errors.Is(err, ErrOffsetOutOfRange) {
			r.fatalf("read below start %d: %v", off, err)
		}
		return
	}
	maxOff := []int64{r.m.leo, r.m.hw, math.MaxInt64}[r.rng.Intn(3)]
	maxBytes := r.rng.Intn(3000)
	minOne := r.rng.Intn(2) == 0
	c, err := r.l.Read(off, ReadOptions{MaxOffset: maxOff, MaxBytes: maxBytes, MinOneBatch: minOne})
	if err != nil {
		r.fatalf("read %d: %v", off, err)
	}
	defer c.Release()
	i := r.m.from(off)
	var want []byte
	for j := i; j < len(r.m.batches); j++ {
		b := r.m.batches[j]
		if b.last >= min(maxOff, r.m.leo) {
			break
		}
		if len(want)+len(b.data) > maxBytes && !(len(want) == 0 && minOne) {
			break
		}
		want = append(want, b.data...)
	}
	// Whole batches, a prefix of what the model expects (a read stops at
	// a segment end), never empty when the first batch fits.
	if !bytes.HasPrefix(want, c.Data) {
		r.fatalf("read %d (max %d, %d bytes): got %d bytes not a prefix of %d expected", off, maxOff, maxBytes, len(c.Data), len(want))
	}
	if len(c.Data) == 0 && len(want) > 0 {
		r.fatalf("read %d returned nothing, expected %d bytes", off, len(want))
	}
	if len(c.Data) > 0 && c.FirstOffset != r.m.batches[i].base {
		r.fatalf("read %d first offset %d, want %d", off, c.FirstOffset, r.m.batches[i].base)
	}
}

func (r *modelRun) truncate() {
	if r.m.leo <= r.m.logStart {
		return
	}
	off := r.m.logStart + 1 + r.rng.Int63n(r.m.leo-r.m.logStart)
	if r.rng.Intn(5) == 0 {
		// Also while a reader holds the data.
		c, err := r.l.Read(r.m.logStart, ReadOptions{MaxOffset: math.MaxInt64, MaxBytes: 1 << 20, MinOneBatch: true})
		if err != nil {
			r.fatalf("read: %v", err)
		}
		snapshot := append([]byte(nil), c.Data...)
		defer func() {
			if !bytes.Equal(snapshot, c.Data) {
				r.fatalf("chunk changed under a reader during truncation")
			}
			c.Release()
		}()
	}
	r.logf("truncate to %d (leo %d)", off, r.m.leo)
	if err := r.l.TruncateTo(off); err != nil {
		r.fatalf("truncate to %d: %v", off, err)
	}
	// The end is where the kept data ends (off at a batch boundary).
	r.m.batches = r.m.batches[:r.m.from(off)]
	keptEnd := int64(0)
	if n := len(r.m.batches); n > 0 {
		keptEnd = r.m.batches[n-1].last + 1
	}
	leo := r.l.LogEndOffset()
	if leo > off || leo < keptEnd || (leo != off && r.m.from(off) < len(r.m.batches)) {
		r.fatalf("truncate to %d: leo %d, kept data ends at %d", off, leo, keptEnd)
	}
	if leo < r.m.logStart {
		r.fatalf("truncate to %d: leo %d below log start %d", off, leo, r.m.logStart)
	}
	r.m.truncate(leo)
}

func (r *modelRun) deleteRecords() {
	if r.m.hw <= r.m.logStart {
		return
	}
	off := r.m.logStart + r.rng.Int63n(r.m.hw-r.m.logStart+1)
	r.logf("delete records before %d", off)
	ls, err := r.l.DeleteRecordsBefore(off)
	if err != nil {
		r.fatalf("delete records before %d: %v", off, err)
	}
	if ls != off {
		r.fatalf("delete records before %d: log start %d", off, ls)
	}
	r.m.logStart = off
	if _, err := r.l.DeleteRecordsBefore(r.m.hw + 1); !errors.Is(err, ErrOffsetOutOfRange) {
		r.fatalf("delete past hw: %v", err)
	}
}

func (r *modelRun) retention() {
	c := r.cfg
	c.RetentionBytes = r.rng.Int63n(64 << 10)
	r.l.SetConfig(c)
	if _, err := r.l.ApplyRetention(); err != nil {
		r.fatalf("retention: %v", err)
	}
	r.l.SetConfig(r.cfg)
	ls := r.l.LogStartOffset()
	r.logf("retention bytes %d: start %d", c.RetentionBytes, ls)
	if ls < r.m.logStart || ls > max(r.m.hw, r.m.logStart) {
		r.fatalf("retention moved log start %d -> %d (hw %d)", r.m.logStart, ls, r.m.hw)
	}
	r.m.logStart = ls
	r.m.hw = max(r.m.hw, ls)
}

func (r *modelRun) crash() {
	durable := r.l.DurableOffset()
	r.logf("crash at durable %d leo %d", durable, r.m.leo)
	crashed := r.fs.Crash()
	r.mgr.Close()
	r.fs = crashed
	r.open()
	leo := r.l.LogEndOffset()
	if leo < durable {
		r.fatalf("crash lost durable data: leo %d < durable %d", leo, durable)
	}
	if leo > r.m.leo {
		r.fatalf("crash grew the log: %d > %d", leo, r.m.leo)
	}
	r.m.truncate(leo)
	ls := r.l.LogStartOffset()
	if ls < r.m.logStart {
		r.fatalf("crash moved log start back: %d < %d", ls, r.m.logStart)
	}
	r.m.logStart = ls
	r.m.hw = r.l.HighWatermark()
	r.checkAll()
}

func (r *modelRun) reopen() {
	r.logf("reopen")
	if err := r.mgr.Close(); err != nil {
		r.fatalf("close: %v", err)
	}
	r.open()
	if r.l.LogEndOffset() != r.m.leo || r.l.LogStartOffset() != r.m.logStart || r.l.HighWatermark() != r.m.hw {
		r.fatalf("reopen: leo %d start %d hw %d, model %d %d %d", r.l.LogEndOffset(), r.l.LogStartOffset(), r.l.HighWatermark(), r.m.leo, r.m.logStart, r.m.hw)
	}
	if r.l.DurableOffset() != r.m.leo {
		r.fatalf("reopen: durable %d", r.l.DurableOffset())
	}
}

func (r *modelRun) checkOffsets() {
	r.t.Helper()
	if leo := r.l.LogEndOffset(); leo != r.m.leo {
		r.fatalf("leo %d, model %d", leo, r.m.leo)
	}
	if ls := r.l.LogStartOffset(); ls != r.m.logStart {
		r.fatalf("log start %d, model %d", ls, r.m.logStart)
	}
	if hw := r.l.HighWatermark(); hw != r.m.hw {
		r.fatalf("hw %d, model %d", hw, r.m.hw)
	}
	if d := r.l.DurableOffset(); d > r.m.leo {
		r.fatalf("durable %d past leo %d", d, r.m.leo)
	}
}

// checkAll reads the whole log and compares it with the model.
func (r *modelRun) checkAll() {
	r.t.Helper()
	off := r.m.logStart
	var got []byte
	for {
		c, err := r.l.Read(off, ReadOptions{MaxOffset: math.MaxInt64, MaxBytes: 64 << 10, MinOneBatch: true})
		if err != nil {
			r.fatalf("read all at %d: %v", off, err)
		}
		got = append(got, c.Data...)
		c.Release()
		if len(c.Data) == 0 {
			break
		}
		off = c.NextOffset
	}
	var want []byte
	for _, b := range r.m.batches[r.m.from(r.m.logStart):] {
		want = append(want, b.data...)
	}
	if !bytes.Equal(got, want) {
		r.fatalf("log content differs: %d bytes, model %d\n got %v\nwant %v (start %d leo %d)\n%s", len(got), len(want), batchList(got), batchList(want), r.m.logStart, r.m.leo, r.l.describe())
	}
	if ps, ok := r.l.Producer(1); ok {
		if last := r.m.lastPid(1); last != nil && last.last >= r.m.logStart && ps.LastSequence != last.lastSeq {
			r.fatalf("producer last sequence %d, model %d", ps.LastSequence, last.lastSeq)
		}
	}
}

func batchList(data []byte) [][2]int64 {
	var out [][2]int64
	for len(data) > 0 {
		b, rest, err := records.Next(data)
		if err != nil {
			return append(out, [2]int64{-1, -1})
		}
		out = append(out, [2]int64{b.BaseOffset(), b.LastOffset()})
		data = rest
	}
	return out
}

func (l *Log) describe() string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := ""
	for _, s := range l.segs {
		out += fmt.Sprintf("seg base %d next %d size %d idx %d tidx %d\n", s.base, s.next, s.log.size, s.idx.size, s.tidx.size)
	}
	return out
}

// compact runs a cleaner pass and checks that below the cleaned end exactly
// the last record of each key survives, at its offset, and that nothing
// else changed.
func (r *modelRun) compact() {
	r.logf("compact")
	if _, err := r.l.Compact(); err != nil {
		r.fatalf("compact: %v", err)
	}
	r.l.mu.RLock()
	end := r.l.cleanerCheckpoint
	r.l.mu.RUnlock()
	type rec struct {
		key, value string
		null       bool
	}
	recs := func(data []byte) map[int64]rec {
		out := map[int64]rec{}
		_, err := eachRecord(records.Batch(data), func(off int64, x *records.Record) {
			out[off] = rec{string(x.Key), string(x.Value), x.Value == nil}
		})
		if err != nil {
			r.fatalf("decode: %v", err)
		}
		return out
	}
	// The last occurrence of every key below end.
	lastOf := map[string]int64{}
	for _, b := range r.m.batches {
		for off, x := range recs(b.data) {
			if off < end && off > lastOf[x.key]-1 {
				lastOf[x.key] = max(lastOf[x.key], off)
			}
		}
	}
	// What the log holds now, from the batch holding the log start.
	got := map[int64][]byte{}
	for off := r.m.logStart; ; {
		c, err := r.l.Read(off, ReadOptions{MaxOffset: math.MaxInt64, MaxBytes: 1 << 20, MinOneBatch: true})
		if err != nil {
			r.fatalf("read after compaction: %v", err)
		}
		if len(c.Data) == 0 {
			c.Release()
			break
		}
		for rest := c.Data; len(rest) > 0; {
			b, next, _ := records.Next(rest)
			got[b.BaseOffset()] = append([]byte(nil), b...)
			rest = next
		}
		off = c.NextOffset
		c.Release()
	}
	first := r.m.from(r.m.logStart)
	var kept []mBatch
	kept = append(kept, r.m.batches[:first]...)
	for _, mb := range r.m.batches[first:] {
		want := recs(mb.data)
		if mb.last < end {
			for off, x := range want {
				if lastOf[x.key] != off {
					delete(want, off)
				}
			}
		}
		data, ok := got[mb.base]
		if !ok {
			if len(want) > 0 {
				r.fatalf("compaction dropped batch %d-%d holding live records", mb.base, mb.last)
			}
			continue
		}
		delete(got, mb.base)
		b := records.Batch(data)
		if b.LastOffset() != mb.last {
			r.fatalf("batch %d: last offset %d, was %d", mb.base, b.LastOffset(), mb.last)
		}
		have := recs(data)
		if len(have) != len(want) {
			r.fatalf("batch %d-%d: %d records after compaction, want %d (end %d)", mb.base, mb.last, len(have), len(want), end)
		}
		for off, x := range want {
			if have[off] != x {
				r.fatalf("record %d: %+v, want %+v", off, have[off], x)
			}
		}
		if len(have) == 0 && mb.pid < 0 {
			r.fatalf("empty batch %d kept without a producer", mb.base)
		}
		mb.data = data
		kept = append(kept, mb)
	}
	if len(got) != 0 {
		r.fatalf("compaction produced %d unknown batches", len(got))
	}
	r.m.batches = kept
}
