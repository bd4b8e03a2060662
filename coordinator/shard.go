package coordinator

import (
	"errors"
	"sync"
	"time"

	"github.com/potok-io/potok/records"
	"github.com/twmb/franz-go/pkg/kerr"
)

type shardState int8

const (
	shardLoading shardState = iota
	shardActive
	shardFailed // the log could not be replayed
	shardClosed
)

// shard is the groups of one __consumer_offsets partition. Everything in it
// changes under mu, one operation at a time, as Kafka runs each partition's
// groups as one state machine. An operation never waits while holding mu:
// what it must do afterwards (answer requests, wait for its records to be
// committed) is collected in fx and carried out once mu is released.
type shard struct {
	c     *Groups
	index int32
	plog  PartitionLog

	mu      sync.Mutex
	state   shardState        // guarded by mu
	groups  map[string]*group // guarded by mu
	lastEnd int64             // guarded by mu; offset past the last record written or replayed
	fx      effects           // guarded by mu
	expiry  deadline          // guarded by mu; the periodic offset expiration
	// afterLoad holds what doOrAfterLoad was given while the shard
	// loaded, run when the replay ends. Guarded by mu.
	afterLoad []func()

	pmu     sync.Mutex            // a leaf lock: never held while calling out
	waiting map[*pending]struct{} // guarded by pmu; answers not yet given
}

func newShard(c *Groups, index int32, l PartitionLog) *shard {
	return &shard{c: c, index: index, plog: l, groups: map[string]*group{}, waiting: map[*pending]struct{}{}}
}

// do runs fn under the shard lock if the shard serves requests, then carries
// out the effects fn collected. It returns the error code a request gets
// when the shard does not serve (yet, or any more), without calling fn.
func (s *shard) do(fn func()) int16 {
	s.mu.Lock()
	switch s.state {
	case shardLoading:
		s.mu.Unlock()
		return kerr.CoordinatorLoadInProgress.Code
	case shardFailed:
		s.mu.Unlock()
		return kerr.CoordinatorNotAvailable.Code
	case shardClosed:
		s.mu.Unlock()
		return kerr.NotCoordinator.Code
	}
	fn()
	fx := s.fx
	s.fx = effects{}
	s.mu.Unlock()
	s.carryOut(fx)
	return 0
}

// doOrAfterLoad is do for a change the log already holds, which must not be
// lost while the shard loads: then fn runs under the lock once the replay
// has ended, which may have stopped before the change (the replay reads up
// to the high watermark). fn must collect no effects.
func (s *shard) doOrAfterLoad(fn func()) {
	s.mu.Lock()
	if s.state == shardLoading {
		s.afterLoad = append(s.afterLoad, fn)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.do(fn)
}

func (s *shard) now() time.Time { return s.c.clock.Now() }

// effects is what an operation does after releasing the shard lock.
type effects struct {
	answers []answer
}

type answer struct {
	p    *pending
	code int16 // 0: answer once the log is committed up to end
	end  int64
}

// pending is a request waiting for its answer: a JoinGroup or SyncGroup
// parked until the rebalance moves, or any answer waiting for its records
// to be committed. Exactly one call of fire answers it; the shard keeps the
// unanswered ones so that closing it answers them all.
type pending struct {
	s      *shard
	answer func(code int16) // fills the error (if code != 0) and responds; never blocks

	mu    sync.Mutex
	done  bool  // guarded by mu
	timer Timer // guarded by mu; the commit timeout
}

// newPending registers an answer to give later.
func (s *shard) newPending(answer func(code int16)) *pending {
	p := &pending{s: s, answer: answer}
	s.pmu.Lock()
	s.waiting[p] = struct{}{}
	s.pmu.Unlock()
	return p
}

// fire answers p with code (0 for the response already filled in).
func (p *pending) fire(code int16) {
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return
	}
	p.done = true
	t := p.timer
	p.timer = nil
	p.mu.Unlock()
	if t != nil {
		t.Stop()
	}
	p.s.pmu.Lock()
	delete(p.s.waiting, p)
	p.s.pmu.Unlock()
	p.answer(code)
}

// replyLocked answers p with its filled-in response once everything written
// so far is committed: a client never learns of a state a crash could take
// back.
func (s *shard) replyLocked(p *pending) {
	s.fx.answers = append(s.fx.answers, answer{p: p, end: s.lastEnd})
}

// failLocked answers p with an error at once.
func (s *shard) failLocked(p *pending, code int16) {
	if code == 0 {
		panic("BUG: coordinator: failing an answer without an error")
	}
	s.fx.answers = append(s.fx.answers, answer{p: p, code: code})
}

// errCommitTimeout is what an answer whose write did not commit in time
// gets, as Kafka maps REQUEST_TIMED_OUT for its coordinator writes.
var errCommitTimeout = kerr.CoordinatorNotAvailable.Code

func (s *shard) carryOut(fx effects) {
	for _, a := range fx.answers {
		if a.code != 0 {
			a.p.fire(a.code)
			continue
		}
		p := a.p
		s.plog.WhenCommitted(a.end, func(err error) {
			if err != nil {
				p.fire(kerr.NotCoordinator.Code)
				return
			}
			p.fire(0)
		})
		p.mu.Lock()
		if !p.done {
			p.timer = s.c.clock.AfterFunc(s.c.cfg.CommitTimeout, func() { p.fire(errCommitTimeout) })
		}
		p.mu.Unlock()
	}
}

// errWrite reports a failed append; the operation answers NOT_COORDINATOR,
// as Kafka does for a storage error on its coordinator partition.
var errWrite = errors.New("coordinator: append to __consumer_offsets failed")

// stateBatch builds the batch a coordinator appends to its state topic
// (__consumer_offsets, __transaction_state): no producer, no compression,
// recs numbered from 0, all at time now.
func stateBatch(now int64, recs []records.Record) ([]byte, error) {
	for i := range recs {
		recs[i].OffsetDelta = int32(i)
		recs[i].TimestampDelta = 0
	}
	h := records.BatchHeader{BaseTimestamp: now, PartitionLeaderEpoch: -1}
	h.NoProducer()
	return records.AppendBatch(nil, h, records.CodecNone, recs)
}

// writeLocked appends recs to the partition as one batch.
func (s *shard) writeLocked(recs []records.Record) error {
	if len(recs) == 0 {
		return nil
	}
	batch, err := stateBatch(s.now().UnixMilli(), recs)
	if err != nil {
		s.c.log.Error("coordinator: cannot build a record batch", "partition", s.index, "err", err)
		return errWrite
	}
	end, err := s.plog.Append(batch)
	if err != nil {
		s.c.log.Error("coordinator: cannot write to __consumer_offsets", "partition", s.index, "err", err)
		return errWrite
	}
	s.lastEnd = end
	return nil
}

// mustWriteLocked writes records of a state change that happens anyway (a
// rebalance completing, a member expiring); a failure is logged.
func (s *shard) mustWriteLocked(recs []records.Record) {
	_ = s.writeLocked(recs)
}

// close stops the shard: timers are stopped, waiting requests are answered
// NOT_COORDINATOR, the groups are dropped.
func (s *shard) close() {
	s.mu.Lock()
	if s.state == shardClosed {
		s.mu.Unlock()
		return
	}
	s.state = shardClosed
	disarmLocked(&s.expiry)
	for _, g := range s.groups {
		g.stopTimersLocked()
	}
	s.groups = map[string]*group{}
	s.mu.Unlock()
	s.pmu.Lock()
	waiting := make([]*pending, 0, len(s.waiting))
	for p := range s.waiting {
		waiting = append(waiting, p)
	}
	s.pmu.Unlock()
	for _, p := range waiting {
		p.fire(kerr.NotCoordinator.Code)
	}
}

// group returns a group, or nil.
func (s *shard) groupLocked(id string) *group { return s.groups[id] }

// getOrCreateLocked returns a group, creating an empty classic one.
func (s *shard) getOrCreateLocked(id string) *group {
	g := s.groups[id]
	if g == nil {
		g = newGroup(s, id)
		s.groups[id] = g
	}
	return g
}

// armExpiryLocked schedules the next offset expiration pass.
func (s *shard) armExpiryLocked() {
	s.armLocked(&s.expiry, s.c.cfg.RetentionCheckInterval, func() {
		s.expireLocked()
		s.armExpiryLocked()
	})
}
