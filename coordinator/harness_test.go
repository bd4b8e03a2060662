package coordinator

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/potok-io/potok/records"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// logicalClock is a Clock whose time moves only when a test advances it;
// due timers run on the advancing goroutine, in time order.
type logicalClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers []*logicalTimer
}

type logicalTimer struct {
	c       *logicalClock
	at      time.Time
	seq     int
	f       func()
	stopped bool
}

func newLogicalClock() *logicalClock {
	return &logicalClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *logicalClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *logicalClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &logicalTimer{c: c, at: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *logicalTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.stopped {
		return false
	}
	t.stopped = true
	t.c.timers = slices.DeleteFunc(t.c.timers, func(o *logicalTimer) bool { return o == t })
	return true
}

// Advance moves time forward by d, firing the timers that come due.
func (c *logicalClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *logicalTimer
		for _, t := range c.timers {
			if !t.at.After(target) && (next == nil || t.at.Before(next.at) || t.at.Equal(next.at) && t.seq < next.seq) {
				next = t
			}
		}
		if next == nil {
			c.now = target
			c.mu.Unlock()
			return
		}
		next.stopped = true
		c.timers = slices.DeleteFunc(c.timers, func(o *logicalTimer) bool { return o == next })
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.mu.Unlock()
		next.f()
	}
}

// memLog is an in-memory PartitionLog. Appends are committed at once unless
// held; held commits wait for Commit.
type memLog struct {
	mu        sync.Mutex
	batches   [][]byte
	end       int64
	committed int64
	hold      bool
	failNext  bool
	waiters   []memWaiter
	gate      chan struct{} // when set, Replay waits for it to close
}

type memWaiter struct {
	end int64
	fn  func(error)
}

func (l *memLog) Append(batch []byte) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failNext {
		l.failNext = false
		return 0, fmt.Errorf("memlog: injected failure")
	}
	b, rest, err := records.Next(batch)
	if err != nil || len(rest) != 0 {
		return 0, fmt.Errorf("memlog: bad batch: %v", err)
	}
	b = append(records.Batch(nil), b...)
	b.SetBaseOffset(l.end)
	l.batches = append(l.batches, b)
	l.end = b.LastOffset() + 1
	if !l.hold {
		l.committed = l.end
	}
	return l.end, nil
}

func (l *memLog) WhenCommitted(end int64, fn func(error)) {
	l.mu.Lock()
	if l.committed >= end {
		l.mu.Unlock()
		fn(nil)
		return
	}
	l.waiters = append(l.waiters, memWaiter{end, fn})
	l.mu.Unlock()
}

// Commit commits everything appended and fires the waiters.
func (l *memLog) Commit() {
	l.mu.Lock()
	l.committed = l.end
	ws := l.waiters
	l.waiters = nil
	l.mu.Unlock()
	for _, w := range ws {
		w.fn(nil)
	}
}

func (l *memLog) Replay(fn func(records.Batch) error) error {
	l.mu.Lock()
	gate := l.gate
	l.mu.Unlock()
	if gate != nil {
		<-gate
	}
	l.mu.Lock()
	bs := slices.Clone(l.batches)
	committed := l.committed
	l.mu.Unlock()
	for _, b := range bs {
		if records.Batch(b).LastOffset() >= committed {
			break
		}
		if err := fn(records.Batch(b)); err != nil {
			return err
		}
	}
	return nil
}

// memTopics is a Topics with topic ids derived from names.
type memTopics struct {
	mu     sync.Mutex
	topics map[string]int32
	ids    map[string][16]byte
	gen    int
}

func newMemTopics() *memTopics {
	return &memTopics{topics: map[string]int32{OffsetsTopic: 1}, ids: map[string][16]byte{OffsetsTopic: {0xff}}}
}

func (m *memTopics) set(name string, partitions int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.ids[name]; !ok {
		m.gen++
		var id [16]byte
		id[0] = byte(m.gen)
		m.ids[name] = id
	}
	m.topics[name] = partitions
}

func (m *memTopics) remove(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.topics, name)
	delete(m.ids, name)
}

func (m *memTopics) Topic(name string) ([16]byte, int32, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.topics[name]
	return m.ids[name], n, ok
}

func (m *memTopics) TopicByID(id [16]byte) (string, int32, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, tid := range m.ids {
		if tid == id {
			return name, m.topics[name], true
		}
	}
	return "", 0, false
}

func (m *memTopics) TopicNames() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return sortedKeys(m.topics)
}

// waitFor polls cond until it holds or the deadline passes: the one helper
// for asynchronous assertions.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
