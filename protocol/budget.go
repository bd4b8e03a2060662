package protocol

import (
	"errors"
	"sync"
)

// byteBudget is queued.max.request.bytes: a counting semaphore over the
// bytes of requests in flight. A request larger than the whole budget may
// still proceed when nothing else is held, so one maximal request can never
// deadlock.
type byteBudget struct {
	mu     sync.Mutex
	cond   *sync.Cond
	limit  int64 // <= 0: unlimited
	used   int64
	closed bool
}

var errStopped = errors.New("protocol: server stopping")

func newByteBudget(limit int64) *byteBudget {
	b := &byteBudget{limit: limit}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// acquire waits until n more bytes fit, or the budget is closed.
func (b *byteBudget) acquire(n int64) error {
	if b.limit <= 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.used > 0 && b.used+n > b.limit && !b.closed {
		b.cond.Wait()
	}
	if b.closed {
		return errStopped
	}
	b.used += n
	return nil
}

func (b *byteBudget) release(n int64) {
	if b.limit <= 0 || n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.cond.Broadcast()
	b.mu.Unlock()
}

// close wakes every waiter; further acquires fail.
func (b *byteBudget) close() {
	b.mu.Lock()
	b.closed = true
	b.cond.Broadcast()
	b.mu.Unlock()
}

func (b *byteBudget) held() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
