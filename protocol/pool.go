package protocol

import (
	"math/bits"
	"sync"
)

// Request frames and response headers are reused so that a steady stream of
// requests allocates no new buffers.
//
// Up to 1 MiB, buffers come from free lists, one per power of two from
// 512 B. Larger frames are what producers send at full speed (franz-go
// packs a batch for every partition of a broker into one request: 10-15 MB
// at a few hundred MB/s), and their sizes vary from one request to the
// next. They come from one best-fit free list instead: a frame takes the
// smallest idle buffer it fits in, new buffers get a quarter of headroom so
// that the next, slightly larger request fits too, and at most
// maxIdleLarge bytes stay idle, so the memory kept is bounded whatever the
// garbage collector does. A frame allocated fresh each time would be zeroed,
// faulted in and collected again for every request.
const (
	minShift     = 9  // 512 B
	maxShift     = 20 // 1 MiB: larger buffers come from the large list
	maxLargeSize = 128 << 20
	maxIdleLarge = 64 << 20
)

// smallList is the free list of one class up to 1 MiB. It is a plain
// stack under a mutex rather than a sync.Pool, whose Put of a []byte
// allocates (the slice header escapes into the interface).
type smallList struct {
	mu   sync.Mutex
	free [][]byte // guarded by mu
}

var small [maxShift - minShift + 1]smallList

// maxIdleSmall bounds the idle bytes kept per class (and at least 16
// buffers), so a burst of connections leaves little behind.
const maxIdleSmall = 4 << 20

// class returns the list index for a buffer of n bytes (n <= 1<<maxShift).
func class(n int) int {
	if n <= 1<<minShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minShift
}

func getBuf(n int) []byte {
	if n > 1<<maxShift {
		return large.get(n)
	}
	c := class(n)
	l := &small[c]
	l.mu.Lock()
	if k := len(l.free); k > 0 {
		b := l.free[k-1]
		l.free[k-1] = nil
		l.free = l.free[:k-1]
		l.mu.Unlock()
		return b[:n]
	}
	l.mu.Unlock()
	return make([]byte, n, 1<<(c+minShift))
}

func putBuf(b []byte) {
	switch {
	case b == nil:
	case cap(b) > 1<<maxShift:
		large.put(b)
	case cap(b) == 1<<(class(cap(b))+minShift):
		c := class(cap(b))
		l := &small[c]
		l.mu.Lock()
		if len(l.free) < max(16, maxIdleSmall>>(c+minShift)) {
			l.free = append(l.free, b[:0])
		}
		l.mu.Unlock()
	}
}

// largeList is the best-fit free list of buffers over 1 MiB.
type largeList struct {
	mu   sync.Mutex
	free [][]byte // guarded by mu
	idle int      // bytes in free; guarded by mu
}

var large largeList

func (l *largeList) get(n int) []byte {
	if n > maxLargeSize {
		return make([]byte, n)
	}
	l.mu.Lock()
	best := -1
	for i, b := range l.free {
		if cap(b) >= n && (best < 0 || cap(b) < cap(l.free[best])) {
			best = i
		}
	}
	if best >= 0 {
		b := l.free[best]
		last := len(l.free) - 1
		l.free[best] = l.free[last]
		l.free[last] = nil
		l.free = l.free[:last]
		l.idle -= cap(b)
		l.mu.Unlock()
		return b[:n]
	}
	l.mu.Unlock()
	size := min(n+n/4, maxLargeSize)
	size = (size + 1<<maxShift - 1) &^ (1<<maxShift - 1) // whole MiBs
	return make([]byte, n, size)
}

func (l *largeList) put(b []byte) {
	if cap(b) > maxLargeSize {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.idle+cap(b) > maxIdleLarge {
		// Keep the larger buffers: they fit every request.
		smallest := -1
		for i, f := range l.free {
			if smallest < 0 || cap(f) < cap(l.free[smallest]) {
				smallest = i
			}
		}
		if smallest < 0 || cap(l.free[smallest]) >= cap(b) {
			return
		}
		l.idle -= cap(l.free[smallest])
		last := len(l.free) - 1
		l.free[smallest] = l.free[last]
		l.free[last] = nil
		l.free = l.free[:last]
		if l.idle+cap(b) > maxIdleLarge {
			return
		}
	}
	l.free = append(l.free, b[:0])
	l.idle += cap(b)
}
