package broker

import (
	"container/heap"
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
	waiters offsetWaiters           // guarded by mu; acks=all produces
	fetches map[*fetchWait]struct{} // guarded by mu; long-poll fetches
	gone    bool                    // guarded by mu; the partition was deleted
}

// offsetWaiter fires once the high watermark reaches offset.
type offsetWaiter struct {
	offset int64
	fire   func(ok bool)
}

type offsetWaiters []offsetWaiter

func (h offsetWaiters) Len() int           { return len(h) }
func (h offsetWaiters) Less(i, j int) bool { return h[i].offset < h[j].offset }
func (h offsetWaiters) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *offsetWaiters) Push(x any)        { *h = append(*h, x.(offsetWaiter)) }
func (h *offsetWaiters) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = offsetWaiter{}
	*h = old[:len(old)-1]
	return x
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
	var fire []offsetWaiter
	for len(p.waiters) > 0 && p.waiters[0].offset <= hw {
		fire = append(fire, heap.Pop(&p.waiters).(offsetWaiter))
	}
	var fetches []*fetchWait
	if moved {
		for w := range p.fetches {
			fetches = append(fetches, w)
		}
	}
	p.mu.Unlock()
	for _, w := range fire {
		w.fire(true)
	}
	for _, w := range fetches {
		w.wake()
	}
}

// waitFor calls fire(true) once the high watermark reaches offset (at once
// if it already has), or fire(false) if the partition is deleted first.
func (p *partition) waitFor(offset int64, fire func(ok bool)) {
	p.mu.Lock()
	if p.gone {
		p.mu.Unlock()
		fire(false)
		return
	}
	if p.log.HighWatermark() >= offset {
		p.mu.Unlock()
		fire(true)
		return
	}
	heap.Push(&p.waiters, offsetWaiter{offset: offset, fire: fire})
	p.mu.Unlock()
}

func (p *partition) addFetch(w *fetchWait) {
	p.mu.Lock()
	if p.fetches == nil {
		p.fetches = map[*fetchWait]struct{}{}
	}
	p.fetches[w] = struct{}{}
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
	var fetches []*fetchWait
	for w := range p.fetches {
		fetches = append(fetches, w)
	}
	p.mu.Unlock()
	for _, w := range fire {
		w.fire(false)
	}
	for _, w := range fetches {
		w.wake()
	}
}
