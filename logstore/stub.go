// Package logstore: TEMPORARY in-memory stand-in used only while the real
// package is being written on its own branch. Not committed.
package logstore

import (
	"errors"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/potok-io/potok/records"
)

type TopicPartition struct {
	Topic     string
	Partition int32
}

type Config struct {
	SegmentBytes, SegmentMs, SegmentJitterMs                  int64
	SegmentIndexBytes, IndexIntervalBytes                     int32
	RetentionMs, RetentionBytes                               int64
	Compact, Delete                                           bool
	DeleteRetentionMs, MinCompactionLagMs, MaxCompactionLagMs int64
	MinCleanableDirtyRatio                                    float64
	FlushMessages, FlushMs                                    int64
	FileDeleteDelayMs                                         int64
	Preallocate, LogAppendTime                                bool
	ProducerIDExpirationMs                                    int64
}

func DefaultConfig() Config {
	return Config{SegmentBytes: 1 << 30, FlushMessages: 1, FlushMs: math.MaxInt64, Delete: true}
}

type FS interface{}

type ManagerOptions struct {
	Dirs                   []string
	FS                     FS
	Now                    func() time.Time
	Logger                 *slog.Logger
	OnDurable              func(l *Log)
	RetentionCheckInterval time.Duration
	CleanerInterval        time.Duration
}

type Manager struct {
	o    ManagerOptions
	mu   sync.Mutex
	logs map[TopicPartition]*Log
}

func Open(o ManagerOptions) (*Manager, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Manager{o: o, logs: map[TopicPartition]*Log{}}, nil
}
func (m *Manager) Create(tp TopicPartition, id [16]byte, c Config) (*Log, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.logs[tp]; l != nil {
		return l, nil
	}
	l := &Log{m: m, tp: tp, id: id, cfg: c}
	m.logs[tp] = l
	return l, nil
}
func (m *Manager) Get(tp TopicPartition) *Log { m.mu.Lock(); defer m.mu.Unlock(); return m.logs[tp] }
func (m *Manager) Logs() []*Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Log
	for _, l := range m.logs {
		out = append(out, l)
	}
	return out
}
func (m *Manager) Delete(tp TopicPartition) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.logs, tp)
	return nil
}
func (m *Manager) Close() error { return nil }

type entry struct {
	base, last int64
	data       []byte
	maxTS      int64
}

type Log struct {
	m                       *Manager
	tp                      TopicPartition
	id                      [16]byte
	mu                      sync.Mutex
	cfg                     Config
	b                       []entry
	leo, start, hw, durable int64
	epochs                  []struct {
		e int32
		o int64
	}
}

func (l *Log) TopicPartition() TopicPartition { return l.tp }
func (l *Log) TopicID() [16]byte              { return l.id }
func (l *Log) Dir() string                    { return "" }
func (l *Log) Config() Config                 { l.mu.Lock(); defer l.mu.Unlock(); return l.cfg }
func (l *Log) SetConfig(c Config)             { l.mu.Lock(); l.cfg = c; l.mu.Unlock() }

type AppendOptions struct {
	LeaderEpoch int32
	AsFollower  bool
	Durable     bool
}
type AppendResult struct {
	FirstOffset, LastOffset int64
	LogAppendTime           int64
	LogStartOffset          int64
	Duplicate               bool
}

func (l *Log) Append(batches []byte, o AppendOptions) (AppendResult, error) {
	l.mu.Lock()
	res := AppendResult{FirstOffset: l.leo, LogAppendTime: -1}
	if len(l.epochs) == 0 || l.epochs[len(l.epochs)-1].e < o.LeaderEpoch {
		l.epochs = append(l.epochs, struct {
			e int32
			o int64
		}{o.LeaderEpoch, l.leo})
	}
	for rest := batches; len(rest) > 0; {
		b, r, err := records.Next(rest)
		if err != nil {
			l.mu.Unlock()
			return res, ErrCorrupt
		}
		rest = r
		b.SetBaseOffset(l.leo)
		b.SetPartitionLeaderEpoch(o.LeaderEpoch)
		if l.cfg.LogAppendTime {
			res.LogAppendTime = l.m.o.Now().UnixMilli()
			b.SetLogAppendTime(res.LogAppendTime)
		}
		l.b = append(l.b, entry{base: l.leo, last: b.LastOffset(), data: append([]byte(nil), b...), maxTS: b.MaxTimestamp()})
		l.leo = b.LastOffset() + 1
	}
	res.LastOffset = l.leo - 1
	res.LogStartOffset = l.start
	l.mu.Unlock()
	go func() {
		time.Sleep(100 * time.Microsecond)
		l.mu.Lock()
		l.durable = l.leo
		l.mu.Unlock()
		if l.m.o.OnDurable != nil {
			l.m.o.OnDurable(l)
		}
	}()
	return res, nil
}

func (l *Log) LogStartOffset() int64 { l.mu.Lock(); defer l.mu.Unlock(); return l.start }
func (l *Log) LogEndOffset() int64   { l.mu.Lock(); defer l.mu.Unlock(); return l.leo }
func (l *Log) DurableOffset() int64  { l.mu.Lock(); defer l.mu.Unlock(); return l.durable }
func (l *Log) HighWatermark() int64  { l.mu.Lock(); defer l.mu.Unlock(); return l.hw }
func (l *Log) SetHighWatermark(hw int64) {
	l.mu.Lock()
	l.hw = min(max(hw, l.start), l.leo)
	l.mu.Unlock()
}
func (l *Log) LastStableOffset() int64 { return l.HighWatermark() }

type ReadOptions struct {
	MaxOffset   int64
	MaxBytes    int
	MinOneBatch bool
}
type Chunk struct {
	Data                    []byte
	FirstOffset, NextOffset int64
}

func (c *Chunk) Release() {}

func (l *Log) Read(offset int64, o ReadOptions) (Chunk, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if offset < l.start || offset > l.leo {
		return Chunk{}, ErrOffsetOutOfRange
	}
	c := Chunk{FirstOffset: offset, NextOffset: offset}
	i := sort.Search(len(l.b), func(i int) bool { return l.b[i].last >= offset })
	first := true
	for ; i < len(l.b); i++ {
		e := l.b[i]
		if e.last >= o.MaxOffset {
			break
		}
		if len(c.Data)+len(e.data) > o.MaxBytes && !(first && o.MinOneBatch) {
			break
		}
		if first {
			c.FirstOffset = e.base
		}
		first = false
		c.Data = append(c.Data, e.data...)
		c.NextOffset = e.last + 1
	}
	return c, nil
}

type AbortedTxn struct{ ProducerID, FirstOffset, LastOffset, LastStableOffset int64 }

func (l *Log) AbortedTxns(from, to int64) []AbortedTxn { return nil }
func (l *Log) OffsetForTimestamp(ts int64, maxOffset int64) (int64, int64, int32, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.b {
		if e.last >= maxOffset {
			break
		}
		if e.maxTS >= ts {
			return e.base, e.maxTS, 0, true
		}
	}
	return -1, -1, -1, false
}
func (l *Log) MaxTimestamp(maxOffset int64) (int64, int64, int32, bool) { return -1, -1, -1, false }
func (l *Log) LatestEpoch() int32                                       { return 0 }
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64)             { return epoch, l.LogEndOffset() }
func (l *Log) EpochForOffset(offset int64) int32                        { return 0 }
func (l *Log) TruncateTo(offset int64) error                            { return nil }
func (l *Log) TruncateFullyAndStartAt(offset int64) error               { return nil }
func (l *Log) DeleteRecordsBefore(offset int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.start = max(l.start, offset)
	return l.start, nil
}
func (l *Log) ApplyRetention() (int, error) { return 0, nil }
func (l *Log) Roll() error                  { return nil }
func (l *Log) Flush() error                 { return nil }

type ProducerState struct {
	ProducerID       int64
	Epoch            int16
	LastSequence     int32
	LastTimestamp    int64
	CoordinatorEpoch int32
	TxnStartOffset   int64
}

func (l *Log) Producer(pid int64) (ProducerState, bool) { return ProducerState{}, false }
func (l *Log) Producers() []ProducerState               { return nil }
func (l *Log) Size() int64                              { return 0 }
func (l *Log) NumSegments() int                         { return 1 }

var (
	ErrOffsetOutOfRange     = errors.New("logstore: offset out of range")
	ErrOutOfOrderSequence   = errors.New("logstore: out of order sequence")
	ErrDuplicateSequence    = errors.New("logstore: duplicate sequence")
	ErrInvalidProducerEpoch = errors.New("logstore: invalid producer epoch")
	ErrStorage              = errors.New("logstore: storage error")
	ErrClosed               = errors.New("logstore: closed")
	ErrCorrupt              = errors.New("logstore: corrupt")
)
