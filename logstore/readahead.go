package logstore

import "sync/atomic"

// Read-ahead for readers around the page cache.
//
// A consumer catching up reads a partition in order, one window per fetch;
// served around the page cache, each read waits for the disk, and the disk
// idles while the consumer decodes. So a direct read that leaves dropped
// bytes after it starts reading the next window in the background, and the
// next read from where it ended takes that window instead of waiting for
// its own.
//
// A window read ahead holds the segment's file open and pinned while its
// read runs, like the read that started it, so that it reads the bytes the
// plan saw; it serves none past the size published then, and none after
// the log was truncated since (truncGen). At most aheadSlots windows are
// held at once: a new one pushes out the oldest, so that windows nobody
// came back for cannot pile up.
const aheadSlots = 16

// Claim states of a readAhead: whoever moves it from aheadPending owns its
// buffer.
const (
	aheadPending = iota
	aheadTaken
	aheadEvicted
)

// readAhead is one window read ahead: the file's bytes [start, limit) at
// most, valid while the log's truncGen is gen, for a read of an offset at
// or past after, whose batch then starts at or past from (the end of the
// read that started it).
type readAhead struct {
	start, limit int64
	from, after  int64
	gen          uint64
	buf          *directBuf
	n            int
	ok           bool
	done         chan struct{} // closed when the read is over
	state        atomic.Int32
}

// aheads tracks the windows held, oldest first, and the reads in flight.
type aheads struct {
	held   []*readAhead
	closed bool // the Manager is closing: no new reads ahead
}

// readAhead starts reading the window holding from, the position of the
// batch after a direct read that returned offsets below after, of the
// segment d planned, handing the plan's open file and pin to the
// background read. It reports whether it took them (the caller must then
// not call done).
func (l *Log) readAhead(s *segment, d *directPlan, from, after int64) bool {
	p := &l.m.direct
	ra := &readAhead{start: alignDown(from), limit: d.size, from: from, after: after, gen: d.gen, done: make(chan struct{})}
	p.mu.Lock()
	if p.ahead.closed {
		p.mu.Unlock()
		return false
	}
	if len(p.ahead.held) == aheadSlots {
		old := p.ahead.held[0]
		copy(p.ahead.held, p.ahead.held[1:])
		p.ahead.held = p.ahead.held[:aheadSlots-1]
		defer old.evict()
	}
	p.ahead.held = append(p.ahead.held, ra)
	p.wg.Add(1)
	p.mu.Unlock()
	ra.buf = p.get()
	if prev := s.ahead.Swap(ra); prev != nil {
		p.forget(prev)
		prev.evict()
	}
	plan := *d
	go func() {
		defer p.wg.Done()
		var err error
		ra.n, err = readWindow(plan.f, ra.buf.b, ra.start, ra.start+directWindow, plan.size)
		ra.ok = err == nil
		plan.done()
		close(ra.done)
	}()
	return true
}

// forget drops ra from the windows held.
func (p *directPool) forget(ra *readAhead) {
	p.mu.Lock()
	for i, h := range p.ahead.held {
		if h == ra {
			p.ahead.held = append(p.ahead.held[:i], p.ahead.held[i+1:]...)
			break
		}
	}
	p.mu.Unlock()
}

// evict gives up a window nobody took; its buffer goes back to the pool
// once its read is over.
func (ra *readAhead) evict() {
	if !ra.state.CompareAndSwap(aheadPending, aheadEvicted) {
		return
	}
	select {
	case <-ra.done:
		ra.buf.release()
	default:
		go func() {
			<-ra.done
			ra.buf.release()
		}()
	}
}

// takeAhead returns the window read ahead for a read of offset under plan
// d, waiting for its read if it is still running, or nil.
func (l *Log) takeAhead(s *segment, d *directPlan, offset int64) *readAhead {
	ra := s.ahead.Load()
	// The index knowing of no batch between the window's start and
	// offset is what keeps the batch sought near it.
	if ra == nil || offset < ra.after || d.pos > ra.from || ra.gen != d.gen || !s.ahead.CompareAndSwap(ra, nil) {
		return nil
	}
	l.m.direct.forget(ra)
	if !ra.state.CompareAndSwap(aheadPending, aheadTaken) {
		return nil
	}
	<-ra.done
	if !ra.ok {
		ra.buf.release()
		return nil
	}
	return ra
}

// closeAhead stops new reads ahead, waits for those running and lets the
// windows held go.
func (p *directPool) closeAhead() {
	p.mu.Lock()
	p.ahead.closed = true
	p.mu.Unlock()
	p.wg.Wait()
	p.mu.Lock()
	held := p.ahead.held
	p.ahead.held = nil
	p.mu.Unlock()
	for _, ra := range held {
		ra.evict()
	}
}
