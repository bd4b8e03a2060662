package coordinator

import (
	"sync"
	"testing"
	"time"

	"github.com/potok-io/potok/records"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnMemLog is an in-memory PartitionLog: everything appended is committed at
// once (asynchronously, as the contract says).
type txnMemLog struct {
	mu      sync.Mutex
	batches [][]byte
	end     int64
}

func (l *txnMemLog) Append(b []byte) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	batch := records.Batch(append([]byte(nil), b...))
	batch.SetBaseOffset(l.end)
	l.end += int64(batch.NumRecords())
	l.batches = append(l.batches, batch)
	return l.end, nil
}

func (l *txnMemLog) WhenCommitted(end int64, fn func(error)) { go fn(nil) }

func (l *txnMemLog) Replay(fn func(records.Batch) error) error {
	l.mu.Lock()
	bs := append([][]byte(nil), l.batches...)
	l.mu.Unlock()
	for _, b := range bs {
		if err := fn(records.Batch(b)); err != nil {
			return err
		}
	}
	return nil
}

type marker struct {
	pid    int64
	epoch  int16
	commit bool
	tp     TopicPartition
}

type fakeTxnHost struct {
	mu      sync.Mutex
	logs    map[int32]*txnMemLog
	nextPID int64
	markers []marker
	hold    bool // keep markers from completing
	held    []func(error)
}

func newFakeTxnHost() *fakeTxnHost { return &fakeTxnHost{logs: map[int32]*txnMemLog{}, nextPID: 1000} }

func (h *fakeTxnHost) Topic(name string) ([16]byte, int32, bool)   { return [16]byte{1}, 3, true }
func (h *fakeTxnHost) TopicByID(id [16]byte) (string, int32, bool) { return "t", 3, true }
func (h *fakeTxnHost) TopicNames() []string                        { return []string{"t"} }
func (h *fakeTxnHost) TxnLog(p int32) (PartitionLog, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.logs[p] == nil {
		h.logs[p] = &txnMemLog{}
	}
	return h.logs[p], nil
}
func (h *fakeTxnHost) NextProducerID() (int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextPID++
	return h.nextPID, nil
}
func (h *fakeTxnHost) WriteMarkers(pid int64, epoch int16, commit bool, _ int32, parts []TopicPartition, done func(error)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, tp := range parts {
		h.markers = append(h.markers, marker{pid, epoch, commit, tp})
	}
	if h.hold {
		h.held = append(h.held, done)
		return
	}
	go done(nil)
}

func (h *fakeTxnHost) release() {
	h.mu.Lock()
	held := h.held
	h.held, h.hold = nil, false
	h.mu.Unlock()
	for _, d := range held {
		d(nil)
	}
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newTxnCoord(h *fakeTxnHost, clk *clock) *TxnCoordinator {
	return NewTxnCoordinator(h, TxnConfig{NumPartitions: 5, MaxTimeout: 15 * time.Minute, IDExpiration: 7 * 24 * time.Hour, Now: clk.Now})
}

func initPID(t *testing.T, c *TxnCoordinator, id string, version int16, pid int64, epoch int16) *kmsg.InitProducerIDResponse {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = version
	req.TransactionalID = &id
	req.TransactionTimeoutMillis = 60_000
	req.ProducerID, req.ProducerEpoch = pid, epoch
	ch := make(chan *kmsg.InitProducerIDResponse, 1)
	c.InitProducerID(req, func(r *kmsg.InitProducerIDResponse) { ch <- r })
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("InitProducerId not answered")
		return nil
	}
}

func wait(t *testing.T, f func(respond func(*kerr.Error))) *kerr.Error {
	t.Helper()
	ch := make(chan *kerr.Error, 1)
	f(func(e *kerr.Error) { ch <- e })
	select {
	case e := <-ch:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("not answered")
		return nil
	}
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(time.Millisecond)
	}
}

func state(c *TxnCoordinator, id string) kmsg.TransactionState {
	s, _ := c.Describe(id)
	return s.State
}

func TestTxnCommitWritesMarkersToEveryPartition(t *testing.T) {
	h, clk := newFakeTxnHost(), &clock{now: time.Unix(1000, 0)}
	c := newTxnCoord(h, clk)
	r := initPID(t, c, "tx", 4, -1, -1)
	if r.ErrorCode != 0 || r.ProducerEpoch != 0 {
		t.Fatalf("init: %+v", r)
	}
	pid := r.ProducerID
	parts := []TopicPartition{{"a", 0}, {"a", 1}, {"b", 0}}
	if e := wait(t, func(f func(*kerr.Error)) { c.AddPartitions("tx", pid, 0, parts, true, f) }); e != nil {
		t.Fatal(e)
	}
	if state(c, "tx") != kmsg.TransactionStateOngoing {
		t.Fatal(state(c, "tx"))
	}
	if e := wait(t, func(f func(*kerr.Error)) { c.EndTxn("tx", pid, 0, true, true, f) }); e != nil {
		t.Fatal(e)
	}
	eventually(t, func() bool { return state(c, "tx") == kmsg.TransactionStateCompleteCommit })
	if len(h.markers) != 3 {
		t.Fatalf("markers: %+v", h.markers)
	}
	for _, m := range h.markers {
		if !m.commit || m.pid != pid || m.epoch != 0 {
			t.Fatalf("marker %+v", m)
		}
	}
	// A retried EndTxn(commit) succeeds; abort now is invalid.
	if e := wait(t, func(f func(*kerr.Error)) { c.EndTxn("tx", pid, 0, true, true, f) }); e != nil {
		t.Fatalf("retried commit: %v", e)
	}
	if e := wait(t, func(f func(*kerr.Error)) { c.EndTxn("tx", pid, 0, false, true, f) }); e != kerr.InvalidTxnState {
		t.Fatalf("abort after commit: %v", e)
	}
}

func TestTxnFencingAndErrors(t *testing.T) {
	h, clk := newFakeTxnHost(), &clock{now: time.Unix(1000, 0)}
	c := newTxnCoord(h, clk)
	pid := initPID(t, c, "tx", 4, -1, -1).ProducerID
	if r := initPID(t, c, "tx", 4, -1, -1); r.ProducerID != pid || r.ProducerEpoch != 1 {
		t.Fatalf("second init must bump the epoch: %+v", r)
	}
	add := func(epoch int16, newCodes bool) *kerr.Error {
		return wait(t, func(f func(*kerr.Error)) { c.AddPartitions("tx", pid, epoch, []TopicPartition{{"a", 0}}, newCodes, f) })
	}
	if e := add(0, true); e != kerr.ProducerFenced {
		t.Fatalf("stale epoch, new codes: %v", e)
	}
	if e := add(0, false); e != kerr.InvalidProducerEpoch {
		t.Fatalf("stale epoch, old codes: %v", e)
	}
	if e := wait(t, func(f func(*kerr.Error)) { c.AddPartitions("tx", pid+1, 1, nil, true, f) }); e != kerr.InvalidProducerIDMapping {
		t.Fatalf("wrong producer id: %v", e)
	}
	if e := wait(t, func(f func(*kerr.Error)) { c.EndTxn("nope", pid, 1, true, true, f) }); e != kerr.InvalidProducerIDMapping {
		t.Fatalf("unknown transactional id: %v", e)
	}
	if e := wait(t, func(f func(*kerr.Error)) { c.EndTxn("tx", pid, 1, true, true, f) }); e != kerr.InvalidTxnState {
		t.Fatalf("EndTxn with no transaction: %v", e)
	}
	// KIP-360: re-init naming the epoch before the last bump is a retry
	// whose answer was lost: it gets the current epoch, unbumped. Any
	// other epoch is fenced.
	if r := initPID(t, c, "tx", 4, pid, 0); r.ErrorCode != 0 || r.ProducerEpoch != 1 {
		t.Fatalf("re-init retry: %+v", r)
	}
	if r := initPID(t, c, "tx", 4, pid, 7); r.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("re-init with an unknown epoch: %d", r.ErrorCode)
	}
	if r := initPID(t, c, "tx", 4, pid, 1); r.ErrorCode != 0 || r.ProducerEpoch != 2 {
		t.Fatalf("re-init with the current epoch: %+v", r)
	}
	req := kmsg.NewPtrInitProducerIDRequest()
	id := "tx"
	req.TransactionalID, req.TransactionTimeoutMillis = &id, int32((16 * time.Minute).Milliseconds())
	c.InitProducerID(req, func(r *kmsg.InitProducerIDResponse) {
		if r.ErrorCode != kerr.InvalidTransactionTimeout.Code {
			t.Errorf("timeout above transaction.max.timeout.ms: %d", r.ErrorCode)
		}
	})
}

func TestTxnInitDuringTransactionFencesAndAborts(t *testing.T) {
	h, clk := newFakeTxnHost(), &clock{now: time.Unix(1000, 0)}
	c := newTxnCoord(h, clk)
	pid := initPID(t, c, "tx", 4, -1, -1).ProducerID
	if e := wait(t, func(f func(*kerr.Error)) { c.AddPartitions("tx", pid, 0, []TopicPartition{{"a", 0}}, true, f) }); e != nil {
		t.Fatal(e)
	}
	h.mu.Lock()
	h.hold = true
	h.mu.Unlock()
	if r := initPID(t, c, "tx", 4, -1, -1); r.ErrorCode != kerr.ConcurrentTransactions.Code {
		t.Fatalf("init during a transaction: %+v", r)
	}
	eventually(t, func() bool { h.mu.Lock(); defer h.mu.Unlock(); return len(h.held) == 1 })
	if r := initPID(t, c, "tx", 4, -1, -1); r.ErrorCode != kerr.ConcurrentTransactions.Code {
		t.Fatalf("init while markers are in flight: %+v", r)
	}
	h.release()
	eventually(t, func() bool { return state(c, "tx") == kmsg.TransactionStateCompleteAbort })
	if m := h.markers[0]; m.commit || m.epoch != 1 {
		t.Fatalf("abort marker must carry the fencing epoch: %+v", m)
	}
	if r := initPID(t, c, "tx", 4, -1, -1); r.ErrorCode != 0 || r.ProducerEpoch != 2 {
		t.Fatalf("init after the abort: %+v", r)
	}
	// The old producer is fenced.
	if e := wait(t, func(f func(*kerr.Error)) { c.EndTxn("tx", pid, 0, true, true, f) }); e != kerr.ProducerFenced {
		t.Fatalf("zombie commit: %v", e)
	}
}

func TestTxnTimeoutAbortsAndFences(t *testing.T) {
	h, clk := newFakeTxnHost(), &clock{now: time.Unix(1000, 0)}
	c := newTxnCoord(h, clk)
	pid := initPID(t, c, "tx", 4, -1, -1).ProducerID
	wait(t, func(f func(*kerr.Error)) { c.AddPartitions("tx", pid, 0, []TopicPartition{{"a", 2}}, true, f) })
	clk.advance(59 * time.Second)
	c.AbortTimedOut()
	if state(c, "tx") != kmsg.TransactionStateOngoing {
		t.Fatal("aborted before its timeout")
	}
	clk.advance(2 * time.Second)
	c.AbortTimedOut()
	eventually(t, func() bool { return state(c, "tx") == kmsg.TransactionStateCompleteAbort })
	if e := wait(t, func(f func(*kerr.Error)) { c.EndTxn("tx", pid, 0, true, true, f) }); e != kerr.ProducerFenced {
		t.Fatalf("commit after timeout: %v", e)
	}
	if e := c.VerifyPartition("tx", pid, 0, TopicPartition{"a", 2}); e == nil {
		t.Fatal("a timed-out producer may still write")
	}
}

func TestTxnStateSurvivesReload(t *testing.T) {
	h, clk := newFakeTxnHost(), &clock{now: time.Unix(1000, 0)}
	c := newTxnCoord(h, clk)
	pid := initPID(t, c, "a", 4, -1, -1).ProducerID
	wait(t, func(f func(*kerr.Error)) { c.AddPartitions("a", pid, 0, []TopicPartition{{"t", 0}}, true, f) })
	pidB := initPID(t, c, "b", 4, -1, -1).ProducerID
	wait(t, func(f func(*kerr.Error)) { c.AddPartitions("b", pidB, 0, []TopicPartition{{"t", 1}}, true, f) })
	h.mu.Lock()
	h.hold = true // "b" will be stuck in PrepareCommit, as if the broker died
	h.mu.Unlock()
	// Not answered: EndTxn waits for the held markers.
	c.EndTxn("b", pidB, 0, true, true, func(*kerr.Error) {})
	eventually(t, func() bool { return len(h.logs) > 0 && state(c, "b") == kmsg.TransactionStatePrepareCommit })

	h2 := newFakeTxnHost()
	h2.logs = h.logs
	c2 := newTxnCoord(h2, clk)
	for p, l := range h.logs {
		if err := c2.Load(p, l); err != nil {
			t.Fatal(err)
		}
	}
	if s, ok := c2.Describe("a"); !ok || s.State != kmsg.TransactionStateOngoing || s.ProducerID != pid || len(s.Partitions) != 1 {
		t.Fatalf("a after reload: %+v", s)
	}
	// b's markers are written again and it completes.
	eventually(t, func() bool { return state(c2, "b") == kmsg.TransactionStateCompleteCommit })
	if len(h2.markers) != 1 || !h2.markers[0].commit || h2.markers[0].tp != (TopicPartition{"t", 1}) {
		t.Fatalf("resumed markers: %+v", h2.markers)
	}
}
