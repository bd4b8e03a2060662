package broker

import (
	"sync"
	"sync/atomic"

	"github.com/potok-io/potok/logstore"
)

// partition is one partition this broker leads: its log, its leader epoch,
// and the requests waiting for its high watermark to move.
type partition struct {
	b     *Broker
	topic *topicState
	index int32
	log   *logstore.Log // nil when the log could not be opened

	leaderEpoch atomic.Int32
	// durable: the high watermark follows the durable offset
	// (flush.messages=1); otherwise it follows the log end.
	durable atomic.Bool

	mu      sync.Mutex
	waiters offsetWaiters         // guarded by mu; acks=all produces
	fetches map[*fetchWait]uint64 // guarded by mu; long-poll fetches and their generations
	gone    bool                  // guarded by mu; the partition was deleted
}

// hwWaiter is told when the high watermark reached the offset it waited
// for (ok), or that the partition went away (!ok). tag is what the waiter
// registered with. It is called without the partition's lock, and must not
// block.
type hwWaiter interface {
	hwReached(tag int, ok bool)
}

// funcWaiter adapts a function (a func value converts to an interface
// without allocating).
type funcWaiter func(ok bool)

func (f funcWaiter) hwReached(_ int, ok bool) { f(ok) }

// offsetWaiter fires once the high watermark reaches offset.
type offsetWaiter struct {
	offset int64
	w      hwWaiter
	tag    int
}

// offsetWaiters is a min-heap by offset, written out rather than through
// container/heap, whose interface{} arguments allocate on every push.
type offsetWaiters []offsetWaiter

func (h *offsetWaiters) push(w offsetWaiter) {
	*h = append(*h, w)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if s[parent].offset <= s[i].offset {
			break
		}
		s[parent], s[i] = s[i], s[parent]
		i = parent
	}
}

func (h *offsetWaiters) pop() offsetWaiter {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s[last] = offsetWaiter{}
	s = s[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(s) && s[l].offset < s[m].offset {
			m = l
		}
		if r < len(s) && s[r].offset < s[m].offset {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

func (p *partition) applySettings(s *topicSettings) {
	if p.log == nil {
		return
	}
	p.log.SetConfig(logConfig(s))
	wasDurable := p.durable.Swap(s.FlushMessages == 1)
	if wasDurable && s.FlushMessages != 1 {
		p.advance(p.log.LogEndOffset())
	}
}

// initHighWatermark sets the high watermark of a freshly opened log: what is
// durable is committed (a single node is its whole ISR).
func (p *partition) initHighWatermark() {
	if p.durable.Load() {
		p.advance(p.log.DurableOffset())
	} else {
		p.advance(p.log.LogEndOffset())
	}
}

// appended is called after an append to this partition's log.
func (p *partition) appended() {
	if !p.durable.Load() {
		p.advance(p.log.LogEndOffset())
	}
}

// onDurable is the log flusher's notification (OnDurable).
func (b *Broker) onDurable(l *logstore.Log) {
	if v, ok := b.byLog.Load(l); ok {
		p := v.(*partition)
		if p.durable.Load() {
			p.advance(l.DurableOffset())
		}
	}
}

// advance moves the high watermark up to hw and wakes what waited for it.
// Waiters are collected under mu and fired after it is released.
func (p *partition) advance(hw int64) {
	p.mu.Lock()
	if hw <= p.log.HighWatermark() && len(p.waiters) == 0 {
		p.mu.Unlock()
		return
	}
	moved := false
	if hw > p.log.HighWatermark() {
		p.log.SetHighWatermark(hw)
		moved = true
	}
	hw = p.log.HighWatermark()
	// Collected under mu and called after it: on the stack unless many.
	var fireBuf [8]offsetWaiter
	fire := fireBuf[:0]
	for len(p.waiters) > 0 && p.waiters[0].offset <= hw {
		fire = append(fire, p.waiters.pop())
	}
	var fetchBuf [8]fetchWake
	fetches := fetchBuf[:0]
	if moved {
		for w, gen := range p.fetches {
			fetches = append(fetches, fetchWake{w, gen})
		}
	}
	p.mu.Unlock()
	for _, w := range fire {
		w.w.hwReached(w.tag, true)
	}
	for _, fw := range fetches {
		fw.w.wake(fw.gen)
	}
}

// fetchWake is a long-poll fetch to wake, with the generation it
// registered with.
type fetchWake struct {
	w   *fetchWait
	gen uint64
}

// waitFor calls w.hwReached(tag, true) once the high watermark reaches
// offset (at once if it already has), or w.hwReached(tag, false) if the
// partition is deleted first.
func (p *partition) waitFor(offset int64, w hwWaiter, tag int) {
	p.mu.Lock()
	if p.gone {
		p.mu.Unlock()
		w.hwReached(tag, false)
		return
	}
	if p.log.HighWatermark() >= offset {
		p.mu.Unlock()
		w.hwReached(tag, true)
		return
	}
	p.waiters.push(offsetWaiter{offset: offset, w: w, tag: tag})
	p.mu.Unlock()
}

func (p *partition) addFetch(w *fetchWait, gen uint64) {
	p.mu.Lock()
	if p.fetches == nil {
		p.fetches = map[*fetchWait]uint64{}
	}
	p.fetches[w] = gen
	p.mu.Unlock()
}

func (p *partition) removeFetch(w *fetchWait) {
	p.mu.Lock()
	delete(p.fetches, w)
	p.mu.Unlock()
}

// abandon fails every waiter of a deleted partition.
func (p *partition) abandon() {
	p.mu.Lock()
	p.gone = true
	fire := p.waiters
	p.waiters = nil
	var fetches []fetchWake
	for w, gen := range p.fetches {
		fetches = append(fetches, fetchWake{w, gen})
	}
	p.mu.Unlock()
	for _, w := range fire {
		w.w.hwReached(w.tag, false)
	}
	for _, fw := range fetches {
		fw.w.wake(fw.gen)
	}
}
