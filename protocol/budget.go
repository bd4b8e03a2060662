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

// adjust changes a charge of held bytes to want bytes. Shrinking never
// waits. Growing takes the extra at once if it fits (or if nothing else is
// charged); otherwise it gives back what it holds and waits for the whole
// amount, so that readers never hold part of the budget while waiting for
// more (two such readers could wait for each other forever).
func (b *byteBudget) adjust(held, want int64) error {
	if b.limit <= 0 || want == held {
		return nil
	}
	if want < held {
		b.release(held - want)
		return nil
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return errStopped
	}
	if b.used == held || b.used+want-held <= b.limit {
		b.used += want - held
		b.mu.Unlock()
		return nil
	}
	b.mu.Unlock()
	b.release(held)
	return b.acquire(want)
}

// maxStructure is what a Produce request's topics, partitions and tags may
// cost beyond its frame when that exceeds the whole budget. Real requests
// name at most a few thousand partitions (about 250 bytes each); this
// allows 250,000.
const maxStructure = 64 << 20

// fits reports whether a Produce request charged n for a frame of frame
// bytes may be served: within the budget, or, as every legal frame must be
// servable, within its frame plus maxStructure. What is beyond both is a
// request of millions of empty partitions.
func (b *byteBudget) fits(n, frame int64) bool {
	return b.limit <= 0 || n <= max(b.limit, frame+maxStructure)
}
