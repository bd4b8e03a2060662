package records

import (
	"errors"
	"sync"
)

// Budget bounds the memory held by decompressions in flight across every
// caller that shares it, whatever the number of connections producing at
// once. Each batch may expand to its own limit (64 MiB on the produce
// path), so without a shared bound eight clients sending decompression
// bombs held 1.7 GiB between them.
//
// A decompression first charges a guess (16 times the compressed size, at
// least 1 MiB, as real data rarely expands more) and only if the output
// outgrows it charges the caller's whole limit, which few callers can hold
// at once, and decodes again into a buffer of that size. A guess is charged
// twice: its output buffer grows by doubling. One charge larger than the
// whole budget may proceed alone.
type Budget struct {
	mu    sync.Mutex
	cond  *sync.Cond
	limit int64
	used  int64 // guarded by mu
}

// NewBudget returns a budget of limit bytes.
func NewBudget(limit int64) *Budget {
	b := &Budget{limit: limit}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// Held returns the bytes charged now.
func (b *Budget) Held() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

func (b *Budget) acquire(n int64) {
	b.mu.Lock()
	for b.used > 0 && b.used+n > b.limit {
		b.cond.Wait()
	}
	b.used += n
	b.mu.Unlock()
}

func (b *Budget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.cond.Broadcast()
	b.mu.Unlock()
}

const (
	guessMin   = 1 << 20
	guessRatio = 16
)

// decompressWithin is Decompress charged to b (nil: not charged). The
// caller releases held once it no longer needs the output.
func decompressWithin(b *Budget, codec Codec, src, dst []byte, limit int) (out []byte, held int64, err error) {
	if b == nil {
		out, err = Decompress(codec, src, dst, limit)
		return out, 0, err
	}
	guess := min(limit, max(guessMin, guessRatio*len(src)))
	held = 2 * int64(guess)
	b.acquire(held)
	out, err = Decompress(codec, src, dst, guess)
	if !errors.Is(err, ErrTooLarge) || guess >= limit {
		return out, held, err
	}
	// A high ratio, or a bomb: decode again into a buffer of the whole
	// limit, allocated once (a buffer grown by doubling would allocate
	// about twice as much, and leave it as garbage).
	b.release(held)
	held = int64(limit) + limitSlack
	b.acquire(held)
	out, err = Decompress(codec, src, make([]byte, 0, limit+limitSlack), limit)
	return out, held, err
}

// limitSlack is room past the limit in a preallocated output buffer: zstd
// notices the limit only after decoding the block that crosses it (up to
// 128 KiB, plus a little overrun), and a bytes.Buffer grows when less than
// 512 bytes are free.
const limitSlack = 256 << 10
