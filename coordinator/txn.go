package coordinator

// The transaction coordinator (KIP-98, KIP-360, KIP-447), as Kafka's
// TransactionCoordinator: one state machine per transactional id, each
// transition written to __transaction_state and committed before it takes
// effect.
//
//	        InitProducerId            AddPartitions / AddOffsets
//	Empty ─────────────────▶ Empty ────────────────────────────▶ Ongoing
//	                                                                │ EndTxn(commit|abort), or timeout (abort,
//	                                                                ▼ epoch bumped to fence the producer)
//	                                    CompleteCommit ◀── PrepareCommit
//	                                    CompleteAbort  ◀── PrepareAbort
//	                                              markers written to every partition
//
// EndTxn is answered once Prepare* is committed; the markers follow, then
// Complete*. While a transition is being written, or markers are in flight,
// other requests for the id get CONCURRENT_TRANSACTIONS and clients retry.
// InitProducerId on an ongoing transaction fences and aborts it first.
//
// Deliberate differences: transactional ids do not expire
// (transactional.id.expiration.ms is not applied), and transaction.version 2
// (KIP-890 part 2) is not served, so clients use the classic protocol.

import (
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/potok-io/potok/records"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// TxnHost is what the transaction coordinator needs from the broker.
type TxnHost interface {
	Topics
	// TxnLog returns partition p of __transaction_state, creating the
	// topic on first use.
	TxnLog(p int32) (PartitionLog, error)
	// NextProducerID allocates a producer id never handed out before.
	NextProducerID() (int64, error)
	// WriteMarkers appends a transaction marker (control batch) for
	// producer (pid, epoch) to every partition and calls done once all are
	// committed. A partition that no longer exists is skipped.
	WriteMarkers(pid int64, epoch int16, commit bool, coordinatorEpoch int32, parts []TopicPartition, done func(error))
}

// TxnConfig holds the coordinator's settings.
type TxnConfig struct {
	NumPartitions   int32         // transaction.state.log.num.partitions
	MaxTimeout      time.Duration // transaction.max.timeout.ms
	CleanupInterval time.Duration // transaction.abort.timed.out.transaction.cleanup.interval.ms
	// IDExpiration is transactional.id.expiration.ms: an id with no
	// transaction open and no update for this long is forgotten (a
	// tombstone on __transaction_state). <= 0: never.
	IDExpiration time.Duration
	// ExpireInterval is transaction.remove.expired.transaction.cleanup.interval.ms:
	// how often expired ids are looked for. <= 0: never.
	ExpireInterval time.Duration
	Now            func() time.Time
	Logger         *slog.Logger
}

// txnState is the coordinator's view of one transactional id.
type txnState struct {
	id        string
	pid       int64
	prevPid   int64 // the id before an exhausted epoch forced a new one
	epoch     int16
	lastEpoch int16 // the epoch before the last bump (KIP-360 retries)
	timeoutMs int32
	state     kmsg.TransactionState
	parts     map[TopicPartition]struct{}
	startTS   int64
	updateTS  int64

	pending bool // a transition is being written
}

// TxnCoordinator coordinates transactions.
type TxnCoordinator struct {
	host TxnHost
	cfg  TxnConfig
	log  *slog.Logger

	mu   sync.Mutex
	txns map[string]*txnState // guarded by mu

	stop chan struct{}
	wg   sync.WaitGroup
}

// NewTxnCoordinator returns a coordinator; Start runs its timeout loop.
func NewTxnCoordinator(host TxnHost, cfg TxnConfig) *TxnCoordinator {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &TxnCoordinator{host: host, cfg: cfg, log: cfg.Logger, txns: map[string]*txnState{}, stop: make(chan struct{})}
}

// Start runs the loops that abort timed-out transactions and expire idle
// transactional ids.
func (c *TxnCoordinator) Start() {
	c.every(c.cfg.CleanupInterval, c.AbortTimedOut)
	if c.cfg.IDExpiration > 0 {
		c.every(c.cfg.ExpireInterval, c.ExpireIdle)
	}
}

// every runs f every d until Close (never when d <= 0).
func (c *TxnCoordinator) every(d time.Duration, f func()) {
	if d <= 0 {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				f()
			case <-c.stop:
				return
			}
		}
	}()
}

// ExpireIdle forgets the transactional ids that have had no transaction
// open and no update for transactional.id.expiration.ms, as Kafka does:
// a tombstone is written to the id's __transaction_state partition and,
// once committed, the id is dropped (a later InitProducerId starts it
// afresh with a new producer id).
func (c *TxnCoordinator) ExpireIdle() {
	if c.cfg.IDExpiration <= 0 {
		return
	}
	now := c.cfg.Now().UnixMilli()
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, t := range c.txns {
		switch t.state {
		case kmsg.TransactionStateEmpty, kmsg.TransactionStateCompleteCommit, kmsg.TransactionStateCompleteAbort:
		default:
			continue
		}
		if t.pending || t.pid < 0 || now-t.updateTS <= c.cfg.IDExpiration.Milliseconds() {
			continue
		}
		log, err := c.host.TxnLog(c.partitionOf(id))
		if err != nil {
			continue
		}
		batch, err := encodeTxnTombstone(id, now)
		if err != nil {
			c.log.Error("cannot build the tombstone of a transactional id", "transactional_id", id, "err", err)
			continue
		}
		end, err := log.Append(batch)
		if err != nil {
			c.log.Warn("expiring a transactional id failed; will retry", "transactional_id", id, "err", err)
			continue
		}
		t.pending = true
		c.log.Info("expiring idle transactional id", "transactional_id", id, "producer_id", t.pid)
		log.WhenCommitted(end, func(err error) {
			c.mu.Lock()
			defer c.mu.Unlock()
			t.pending = false
			if err == nil && c.txns[id] == t {
				delete(c.txns, id)
			}
		})
	}
}

// Close stops the timeout loop.
func (c *TxnCoordinator) Close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.wg.Wait()
}

// Load replays partition p of __transaction_state and resumes what was in
// flight: a transaction caught between Prepare* and Complete* gets its
// markers written again.
func (c *TxnCoordinator) Load(p int32, log PartitionLog) error {
	loaded := map[string]*txnState{}
	err := log.Replay(func(b records.Batch) error {
		if b.IsControl() {
			return nil
		}
		raw, err := records.Decompress(b.Codec(), b.Records(), nil, 64<<20)
		if err != nil {
			return fmt.Errorf("coordinator: %s partition %d at %d: %w", "__transaction_state", p, b.BaseOffset(), err)
		}
		r := records.NewRecordReader(raw, b.NumRecords())
		var rec records.Record
		for {
			ok, err := r.Next(&rec)
			if err != nil {
				return fmt.Errorf("coordinator: __transaction_state partition %d at %d: %w", p, b.BaseOffset(), err)
			}
			if !ok {
				return nil
			}
			id, t, err := decodeTxnRecord(rec.Key, rec.Value)
			if err != nil {
				// Kafka skips records of unknown versions; a
				// malformed one is reported, not fatal.
				c.log.Warn("skipping unreadable __transaction_state record", "partition", p, "offset", b.BaseOffset()+int64(rec.OffsetDelta), "err", err)
				continue
			}
			if t == nil {
				delete(loaded, id)
			} else {
				loaded[id] = t
			}
		}
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	var resume []*txnState
	for id, t := range loaded {
		c.txns[id] = t
		if t.state == kmsg.TransactionStatePrepareCommit || t.state == kmsg.TransactionStatePrepareAbort {
			resume = append(resume, t)
		}
	}
	for _, t := range resume {
		c.sendMarkersLocked(t, nil)
	}
	c.mu.Unlock()
	return nil
}

func (c *TxnCoordinator) partitionOf(id string) int32 { return PartitionFor(id, c.cfg.NumPartitions) }

// fenced is the error for a stale epoch: PRODUCER_FENCED where the version
// knows it, INVALID_PRODUCER_EPOCH before.
func fenced(newCodes bool) *kerr.Error {
	if newCodes {
		return kerr.ProducerFenced
	}
	return kerr.InvalidProducerEpoch
}

// commitTransition writes next for t and applies it once committed. It
// must be called with c.mu held; done runs without it.
func (c *TxnCoordinator) commitTransition(t *txnState, next txnState, done func(error)) {
	next.updateTS = c.cfg.Now().UnixMilli()
	log, err := c.host.TxnLog(c.partitionOf(t.id))
	if err != nil {
		done(err)
		return
	}
	batch, err := encodeTxnBatch(&next, next.updateTS)
	if err != nil {
		done(err)
		return
	}
	end, err := log.Append(batch)
	if err != nil {
		done(err)
		return
	}
	t.pending = true
	log.WhenCommitted(end, func(err error) {
		c.mu.Lock()
		if err == nil {
			*t = next
		}
		t.pending = false
		c.mu.Unlock()
		done(err)
	})
}

// InitProducerID serves InitProducerId for a transactional id.
func (c *TxnCoordinator) InitProducerID(req *kmsg.InitProducerIDRequest, respond func(*kmsg.InitProducerIDResponse)) {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	fail := func(e *kerr.Error) { resp.ErrorCode = e.Code; respond(resp) }
	id := *req.TransactionalID
	if id == "" {
		fail(kerr.InvalidRequest)
		return
	}
	if req.TransactionTimeoutMillis <= 0 || time.Duration(req.TransactionTimeoutMillis)*time.Millisecond > c.cfg.MaxTimeout {
		fail(kerr.InvalidTransactionTimeout)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.txns[id]
	if t == nil {
		pid, err := c.host.NextProducerID()
		if err != nil {
			fail(kerr.CoordinatorNotAvailable)
			return
		}
		t = &txnState{id: id, pid: -1, prevPid: -1, epoch: -1, lastEpoch: -1, state: kmsg.TransactionStateEmpty, parts: map[TopicPartition]struct{}{}}
		c.txns[id] = t
		next := *t
		next.pid, next.epoch, next.timeoutMs = pid, 0, req.TransactionTimeoutMillis
		c.commitTransition(t, next, func(err error) {
			if err != nil {
				c.mu.Lock()
				if c.txns[id] == t && t.pid == -1 {
					delete(c.txns, id)
				}
				c.mu.Unlock()
				fail(kerr.CoordinatorNotAvailable)
				return
			}
			resp.ProducerID, resp.ProducerEpoch = pid, 0
			respond(resp)
		})
		return
	}
	if t.pending {
		fail(kerr.ConcurrentTransactions)
		return
	}
	// KIP-360: a producer re-initialising names its current id and epoch.
	retry := false
	if req.Version >= 3 && req.ProducerID >= 0 {
		switch {
		case req.ProducerID == t.pid && req.ProducerEpoch == t.epoch:
		case req.ProducerID == t.pid && req.ProducerEpoch == t.lastEpoch,
			req.ProducerID == t.prevPid && t.epoch == 0:
			retry = true // our answer to an earlier attempt was lost
		default:
			fail(fenced(req.Version >= 4))
			return
		}
	}
	switch t.state {
	case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
		fail(kerr.ConcurrentTransactions)
		return
	case kmsg.TransactionStateOngoing:
		// A new incarnation of the producer: fence the old one and
		// abort its transaction; the client retries once that is done.
		c.abortLocked(t, true)
		fail(kerr.ConcurrentTransactions)
		return
	}
	next := *t
	next.timeoutMs = req.TransactionTimeoutMillis
	next.parts = map[TopicPartition]struct{}{}
	next.state = kmsg.TransactionStateEmpty
	next.startTS = -1
	if !retry {
		if t.epoch >= math.MaxInt16-1 {
			pid, err := c.host.NextProducerID()
			if err != nil {
				fail(kerr.CoordinatorNotAvailable)
				return
			}
			next.prevPid, next.pid, next.lastEpoch, next.epoch = t.pid, pid, -1, 0
		} else {
			next.lastEpoch, next.epoch = t.epoch, t.epoch+1
		}
	}
	c.commitTransition(t, next, func(err error) {
		if err != nil {
			fail(kerr.CoordinatorNotAvailable)
			return
		}
		resp.ProducerID, resp.ProducerEpoch = next.pid, next.epoch
		respond(resp)
	})
}

// checkProducer validates (pid, epoch) against a transaction and its
// state for AddPartitions, AddOffsets and EndTxn.
func (c *TxnCoordinator) checkProducerLocked(t *txnState, pid int64, epoch int16, newCodes bool) *kerr.Error {
	switch {
	case t == nil || t.pid != pid:
		return kerr.InvalidProducerIDMapping
	case t.epoch != epoch:
		return fenced(newCodes)
	case t.pending:
		return kerr.ConcurrentTransactions
	}
	return nil
}

// AddPartitions adds partitions to a transaction. It returns one error per
// requested partition through respond (nil: added).
func (c *TxnCoordinator) AddPartitions(id string, pid int64, epoch int16, parts []TopicPartition, newCodes bool, respond func(*kerr.Error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.txns[id]
	if e := c.checkProducerLocked(t, pid, epoch, newCodes); e != nil {
		respond(e)
		return
	}
	switch t.state {
	case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
		respond(kerr.ConcurrentTransactions)
		return
	}
	next := *t
	next.parts = maps.Clone(t.parts)
	added := false
	for _, tp := range parts {
		if _, ok := next.parts[tp]; !ok {
			next.parts[tp] = struct{}{}
			added = true
		}
	}
	if !added && t.state == kmsg.TransactionStateOngoing {
		respond(nil)
		return
	}
	if t.state != kmsg.TransactionStateOngoing {
		next.startTS = c.cfg.Now().UnixMilli()
	}
	next.state = kmsg.TransactionStateOngoing
	c.commitTransition(t, next, func(err error) {
		if err != nil {
			respond(kerr.CoordinatorNotAvailable)
			return
		}
		respond(nil)
	})
}

// EndTxn commits or aborts a transaction.
func (c *TxnCoordinator) EndTxn(id string, pid int64, epoch int16, commit bool, newCodes bool, respond func(*kerr.Error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.txns[id]
	if e := c.checkProducerLocked(t, pid, epoch, newCodes); e != nil {
		respond(e)
		return
	}
	// Asking for the outcome already being written, or written, is a
	// retry; asking for the other one is too late.
	same := commit == (t.state == kmsg.TransactionStatePrepareCommit || t.state == kmsg.TransactionStateCompleteCommit)
	switch t.state {
	case kmsg.TransactionStateOngoing:
	case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
		if same {
			respond(kerr.ConcurrentTransactions)
		} else {
			respond(kerr.InvalidTxnState)
		}
		return
	case kmsg.TransactionStateCompleteCommit, kmsg.TransactionStateCompleteAbort:
		if same {
			respond(nil) // a retry of an EndTxn that succeeded
		} else {
			respond(kerr.InvalidTxnState)
		}
		return
	default:
		respond(kerr.InvalidTxnState)
		return
	}
	next := *t
	if commit {
		next.state = kmsg.TransactionStatePrepareCommit
	} else {
		next.state = kmsg.TransactionStatePrepareAbort
	}
	c.commitTransition(t, next, func(err error) {
		if err != nil {
			respond(kerr.CoordinatorNotAvailable)
			return
		}
		// Answer once the markers are written (or their first attempt
		// failed; they are retried): a client that then reads its
		// group's offsets without KIP-447's require_stable (kafkajs,
		// sarama, OffsetFetch before v7) or the data with read_committed
		// sees the transaction's effects, not the state before it.
		// Kafka answers at PrepareCommit, leaving that window open.
		c.mu.Lock()
		c.sendMarkersLocked(t, func() { respond(nil) })
		c.mu.Unlock()
	})
}

// abortLocked aborts an ongoing transaction, bumping the epoch first when
// fencing the producer (timeout, or a new producer incarnation).
func (c *TxnCoordinator) abortLocked(t *txnState, fence bool) {
	next := *t
	if fence && t.epoch < math.MaxInt16-1 {
		next.lastEpoch, next.epoch = t.epoch, t.epoch+1
	}
	next.state = kmsg.TransactionStatePrepareAbort
	c.commitTransition(t, next, func(err error) {
		if err != nil {
			c.log.Warn("aborting a transaction failed; will retry", "transactional_id", t.id, "err", err)
			return
		}
		c.mu.Lock()
		c.sendMarkersLocked(t, nil)
		c.mu.Unlock()
	})
}

// sendMarkersLocked writes the markers of a prepared transaction, then its
// Complete* state. written (if not nil) is called, without c.mu held, once
// the first attempt at the markers is done.
func (c *TxnCoordinator) sendMarkersLocked(t *txnState, written func()) {
	commit := t.state == kmsg.TransactionStatePrepareCommit
	parts := slices.SortedFunc(maps.Keys(t.parts), func(a, b TopicPartition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	pid, epoch := t.pid, t.epoch
	t.pending = true
	c.host.WriteMarkers(pid, epoch, commit, 0, parts, func(err error) {
		if written != nil {
			defer written() // after the deferred unlock
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		t.pending = false
		if err != nil {
			// Markers must land eventually; retry shortly.
			c.log.Warn("writing transaction markers failed; retrying", "transactional_id", t.id, "err", err)
			t.pending = true
			time.AfterFunc(100*time.Millisecond, func() {
				c.mu.Lock()
				defer c.mu.Unlock()
				t.pending = false
				c.sendMarkersLocked(t, nil)
			})
			return
		}
		next := *t
		if commit {
			next.state = kmsg.TransactionStateCompleteCommit
		} else {
			next.state = kmsg.TransactionStateCompleteAbort
		}
		next.parts = map[TopicPartition]struct{}{}
		c.commitTransition(t, next, func(err error) {
			if err != nil {
				c.log.Warn("completing a transaction failed", "transactional_id", t.id, "err", err)
			}
		})
	})
}

// AbortTimedOut aborts every ongoing transaction older than its timeout,
// fencing its producer.
func (c *TxnCoordinator) AbortTimedOut() {
	now := c.cfg.Now().UnixMilli()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.txns {
		if t.state == kmsg.TransactionStateOngoing && !t.pending && t.startTS >= 0 && now-t.startTS > int64(t.timeoutMs) {
			c.log.Info("aborting timed-out transaction", "transactional_id", t.id, "producer_id", t.pid, "epoch", t.epoch)
			c.abortLocked(t, true)
		}
	}
}

// VerifyPartition reports whether producer (pid, epoch) may write to tp in
// its transaction now (KIP-890 part 1: the partition leader checks before
// appending a transactional batch, which prevents hanging transactions).
func (c *TxnCoordinator) VerifyPartition(id string, pid int64, epoch int16, tp TopicPartition) *kerr.Error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.txns[id]
	switch {
	case t == nil || t.pid != pid:
		return kerr.InvalidProducerIDMapping
	case epoch < t.epoch:
		return kerr.InvalidProducerEpoch
	case t.state != kmsg.TransactionStateOngoing:
		return kerr.InvalidTxnState
	}
	if _, ok := t.parts[tp]; !ok {
		return kerr.InvalidTxnState
	}
	return nil
}

// TxnSummary describes one transaction for DescribeTransactions and
// ListTransactions.
type TxnSummary struct {
	ID         string
	ProducerID int64
	Epoch      int16
	State      kmsg.TransactionState
	TimeoutMs  int32
	StartTS    int64
	Partitions []TopicPartition
}

// Describe returns the transaction of id.
func (c *TxnCoordinator) Describe(id string) (TxnSummary, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.txns[id]
	if t == nil {
		return TxnSummary{}, false
	}
	return summarize(t), true
}

// List returns every transaction, sorted by id.
func (c *TxnCoordinator) List() []TxnSummary {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]TxnSummary, 0, len(c.txns))
	for _, t := range c.txns {
		out = append(out, summarize(t))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func summarize(t *txnState) TxnSummary {
	s := TxnSummary{ID: t.id, ProducerID: t.pid, Epoch: t.epoch, State: t.state, TimeoutMs: t.timeoutMs, StartTS: t.startTS}
	for tp := range t.parts {
		s.Partitions = append(s.Partitions, tp)
	}
	sort.Slice(s.Partitions, func(i, j int) bool {
		a, b := s.Partitions[i], s.Partitions[j]
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})
	return s
}
