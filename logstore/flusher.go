package logstore

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// syncWorkers is how many logs the flusher syncs at once: enough to overlap
// the fdatasyncs of a few busy partitions, few enough not to swamp the disk.
const syncWorkers = 4

// flusher is the group commit: a few sync workers owned by the Manager.
// Appends queue their log and wake a worker; a worker takes queued logs
// one at a time, fdatasyncs each one's dirty files, then advances its
// durable offset and wakes its waiters. Appends that land while their log
// is being synced queue it again, and the next sync covers all of them, so
// concurrent appenders share syncs. There is no cycle: a worker moves on
// to the next queued log as soon as it is done with one, and the appender
// wakes a worker directly, so a lone append waits for one hand-off and its
// own fdatasync, nothing else. (Two workers may hold the same log, one
// syncing and one waiting for its syncMu to sync what came after.)
type flusher struct {
	m *Manager

	mu    sync.Mutex
	queue []*Log // guarded by mu; queue[head:] waits for a worker, oldest first
	head  int    // guarded by mu
	busy  int    // logs taken from the queue and not yet synced; guarded by mu

	work chan struct{} // wake-ups for idle workers; a worker drains the queue before waiting again
	stop chan struct{}
	done sync.WaitGroup
}

func newFlusher(m *Manager) *flusher {
	f := &flusher{m: m, work: make(chan struct{}, syncWorkers), stop: make(chan struct{})}
	f.done.Add(1 + syncWorkers)
	go f.timed()
	for i := 0; i < syncWorkers; i++ {
		go f.worker()
	}
	return f
}

// enqueue asks for l to be synced.
func (f *flusher) enqueue(l *Log) {
	if l.queued.Swap(true) {
		return
	}
	f.mu.Lock()
	f.queue = append(f.queue, l)
	f.mu.Unlock()
	select {
	case f.work <- struct{}{}:
	default: // every worker is awake or about to be
	}
}

// take returns the oldest queued log, or nil.
func (f *flusher) take() *Log {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.head == len(f.queue) {
		return nil
	}
	l := f.queue[f.head]
	f.queue[f.head] = nil
	if f.head++; f.head == len(f.queue) {
		f.queue, f.head = f.queue[:0], 0
	}
	f.busy++
	return l
}

// idle reports whether nothing is queued or being synced (for tests that
// want the background syncs settled before they look).
func (f *flusher) idle() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.head == len(f.queue) && f.busy == 0
}

func (f *flusher) close() {
	close(f.stop)
	f.done.Wait()
}

// timed queues the logs whose flush.ms has passed.
func (f *flusher) timed() {
	defer f.done.Done()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-tick.C:
			f.m.queueTimedFlushes()
		}
	}
}

func (f *flusher) worker() {
	defer f.done.Done()
	for {
		select {
		case <-f.stop:
			// Logs are synced by their own Close; nothing is lost here.
			return
		case <-f.work:
		}
		for {
			select {
			case <-f.stop:
				return
			default:
			}
			l := f.take()
			if l == nil {
				break
			}
			l.syncNotify(false)
			f.mu.Lock()
			f.busy--
			f.mu.Unlock()
		}
	}
}

// syncOnce syncs what is dirty: sealed segments awaiting their final sync
// (data and indexes) and the active segment's data (all its files when
// full). It reports whether the durable offset advanced.
func (l *Log) syncOnce(full bool) (bool, error) {
	l.queued.Store(false) // appends from now on queue again
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return false, ErrClosed
	}
	target, gen := l.leo, l.truncGen
	var sealed []*segment
	for _, s := range l.segs[:len(l.segs)-1] {
		if s.unsynced {
			sealed = append(sealed, s)
		}
	}
	act := l.segs[len(l.segs)-1]
	synced := act.log.size
	l.mu.RUnlock()

	var err error
	syncStart := time.Now()
	for _, s := range sealed {
		if err = s.syncAll(); err != nil {
			break
		}
	}
	if err == nil {
		if full {
			err = act.syncAll()
		} else {
			err = act.log.sync()
		}
	}
	if err == nil {
		err = act.log.checkLinked()
	}
	if fn := l.m.opts.OnSync; fn != nil {
		fn(time.Since(syncStart), err)
	}
	if err == nil {
		l.dropBehind(sealed, act, synced)
	}

	l.mu.Lock()
	advanced := false
	if err == nil {
		for _, s := range sealed {
			s.unsynced = false
		}
		if gen == l.truncGen && target > l.durable.Load() {
			l.durable.Store(target)
			advanced = true
		}
		if full && gen == l.truncGen {
			l.recoveryPoint = max(l.recoveryPoint, target)
		} else if len(l.segs) > 0 {
			// Every sealed segment is synced with its indexes: recovery
			// need not look before the active segment.
			rp := l.segs[len(l.segs)-1].base
			for _, s := range l.segs {
				if s.unsynced {
					rp = s.base
					break
				}
			}
			l.recoveryPoint = max(l.recoveryPoint, min(rp, l.durable.Load()))
		}
		l.lastFlush = l.m.nowMs()
	} else if l.broken == nil {
		// The kernel may have dropped the unsynced pages (fsync errors are
		// reported once): what lies past the durable offset can no longer
		// be trusted. The next append truncates it before writing.
		l.broken = &syncFailure{err}
	}
	l.mu.Unlock()
	if err != nil {
		l.logger.Error("logstore: sync failed", "partition", l.tp.String(), "err", err)
	}
	l.wakeDurable(err)
	return advanced, err
}

// syncNotify is syncOnce followed, if the durable offset advanced, by
// OnDurable. Every sync that can advance it while appends go on must
// notify, not only the flusher's: once another sync (Flush, a compaction
// pass) has made an append durable, the flusher's own sync of it finds
// nothing left to advance, and whoever waits on OnDurable (acks=all, a
// coordinator's WhenCommitted) would wait for some later append.
func (l *Log) syncNotify(full bool) error {
	advanced, err := l.syncOnce(full)
	if advanced && l.m.opts.OnDurable != nil {
		l.m.opts.OnDurable(l)
	}
	return err
}

// syncFailure marks a log whose unsynced tail must be cut before appending.
type syncFailure struct{ err error }

func (e *syncFailure) Error() string { return fmt.Sprintf("%v (unsynced data dropped)", e.err) }
func (e *syncFailure) Unwrap() error { return e.err }

func (s *segment) syncAll() error {
	for _, a := range []*afile{s.log, s.idx, s.tidx, s.txn} {
		if a != nil {
			if err := a.sync(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Flush syncs everything now, indexes included: on success the durable
// offset covers every append that returned before Flush was called.
func (l *Log) Flush() error {
	l.mu.Lock()
	l.unflushed = 0
	l.mu.Unlock()
	return l.syncNotify(true)
}

// queueTimedFlushes queues logs whose flush.ms has passed.
func (m *Manager) queueTimedFlushes() {
	now := m.nowMs()
	for _, l := range m.Logs() {
		l.mu.Lock()
		due := l.cfg.FlushMs != math.MaxInt64 && l.unflushed > 0 && now-l.lastFlush >= l.cfg.FlushMs
		if due {
			l.unflushed = 0
		}
		l.mu.Unlock()
		if due {
			m.flusher.enqueue(l)
		}
	}
}
