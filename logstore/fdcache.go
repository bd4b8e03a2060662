package logstore

import (
	"sync"
	"syscall"
)

// fdCache bounds the file descriptors a Manager's logs hold open. Every
// segment has three or four files, so 10,000 partitions would need 30,000
// descriptors or more if each stayed open, past common RLIMIT_NOFILE
// settings; Kafka asks operators to raise the limit, Potok keeps what it
// uses bounded instead. Files are opened when first used (a log loaded at
// startup opens nothing until it is read or written) and stay open while
// used; past the limit, the least recently used ones are closed.
//
// A file is closed only when no operation holds it (afile.acquire) and it
// has no unsynced writes: a writeback error on a closed file could never be
// reported to a later fdatasync, which could then claim durability for lost
// data. Index files are the exception: they are rebuilt from the log when
// found wrong, so an idle dirty index is synced and then closed. Maps
// outlive their descriptors, so closing never disturbs a reader.
type fdCache struct {
	limit int

	mu   sync.Mutex
	open int    // guarded by mu
	lru  afList // guarded by mu: open files, most recently used first
}

// afList is an intrusive doubly linked list of afiles (the cache's LRU).
type afList struct{ head, tail *afile }

func (l *afList) pushFront(a *afile) {
	a.prev, a.next = nil, l.head
	if l.head != nil {
		l.head.prev = a
	} else {
		l.tail = a
	}
	l.head = a
}

func (l *afList) remove(a *afile) {
	if a.prev != nil {
		a.prev.next = a.next
	} else {
		l.head = a.next
	}
	if a.next != nil {
		a.next.prev = a.prev
	} else {
		l.tail = a.prev
	}
	a.prev, a.next = nil, nil
}

// defaultOpenFiles is half of RLIMIT_NOFILE (the rest is for client
// connections and everything else), at least 256.
func defaultOpenFiles() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<20 {
		return 1 << 16
	}
	return max(256, int(rl.Cur/2))
}

func newFDCache(limit int) *fdCache {
	if limit <= 0 {
		limit = defaultOpenFiles()
	}
	return &fdCache{limit: limit}
}

// opened records that a's descriptor was opened, and closes others if that
// went past the limit. The caller holds no afile lock.
func (c *fdCache) opened(a *afile) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if !a.inLRU {
		a.inLRU = true
		c.lru.pushFront(a)
		c.open++
	}
	over := c.open - c.limit
	c.mu.Unlock()
	if over > 0 {
		c.evict(over)
	}
}

// used moves a to the front of the LRU.
func (c *fdCache) used(a *afile) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if a.inLRU && c.lru.head != a {
		c.lru.remove(a)
		c.lru.pushFront(a)
	}
	c.mu.Unlock()
}

// closed records that a's descriptor was closed.
func (c *fdCache) closed(a *afile) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if a.inLRU {
		a.inLRU = false
		c.lru.remove(a)
		c.open--
	}
	c.mu.Unlock()
}

// evict closes up to n idle files, least recently used first, looking at
// a bounded number of candidates (files in use or dirty logs are skipped).
func (c *fdCache) evict(n int) {
	var victims [32]*afile
	c.mu.Lock()
	k := 0
	for a := c.lru.tail; a != nil && k < len(victims) && k < 4*n; a = a.prev {
		victims[k] = a
		k++
	}
	c.mu.Unlock()
	for _, a := range victims[:k] {
		if n == 0 {
			break
		}
		if a.closeIdle() {
			n--
		}
	}
}
