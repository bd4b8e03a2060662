package protocol

import (
	"math/bits"
	"sync"
)

// Request frames and response headers come from size-classed pools so a
// steady stream of requests allocates no new buffers. Classes are powers of
// two from 512 B to 8 MiB; larger buffers are allocated and dropped.
const (
	minClass = 9
	maxClass = 23
)

var bufPools [maxClass - minClass + 1]sync.Pool

func class(n int) int {
	if n <= 1<<minClass {
		return 0
	}
	return bits.Len(uint(n-1)) - minClass
}

func getBuf(n int) []byte {
	c := class(n)
	if c >= len(bufPools) {
		return make([]byte, n)
	}
	if p, ok := bufPools[c].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, 1<<(c+minClass))
}

func putBuf(b []byte) {
	if b == nil {
		return
	}
	c := class(cap(b))
	if c >= len(bufPools) || cap(b) != 1<<(c+minClass) {
		return
	}
	b = b[:0]
	bufPools[c].Put(&b)
}
