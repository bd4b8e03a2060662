package logstore

import (
	"errors"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/potok-io/potok/records"
)

// The page cache holds each log's tail, not all of it.
//
// Appends go through the page cache (pwrite) and consumers at the head read
// them back through the maps, as everywhere else in this package. Once a
// sync has made a range of the active segment durable and that range lies
// more than ManagerOptions.PageCacheTail behind the synced end, its pages
// are dropped (the map's page table entries, then the clean pages
// themselves), and so are a sealed segment's once it is synced. The next
// appends then take pages the kernel has just freed instead of new ones:
// on a machine whose memory is handed back to a hypervisor as soon as it
// is free (docs/performance.md), a new page costs several times a reused
// one. A consumer that reads a dropped range (one catching up) is served
// around the page cache: O_DIRECT reads into buffers the Manager keeps
// and reuses, so catching up neither takes new pages nor pushes the tail
// out of the cache.
//
// A direct read returns the same whole batches a read through the map
// would, from a window of at most directWindow bytes; anything it cannot
// settle inside its window (a batch larger than the window, an index entry
// that does not check out, corrupt bytes, a filesystem without O_DIRECT)
// is left to the map path, which is always correct and reports errors.
const (
	// directAlign is the alignment of O_DIRECT offsets, lengths and
	// buffers: the page size, a multiple of every logical block size.
	directAlign = 4096
	// directWindow is the most one direct read fetches: a 1 MiB partition
	// fetch (the clients' default max.partition.fetch.bytes) and room for
	// the scan from the index entry before it.
	directWindow = 1<<20 + 64<<10
	// dropStep is the least a drop releases, so that syncs of small
	// appends do not each cost two more system calls.
	dropStep = 1 << 20
	// directBufsKept bounds the buffers a Manager keeps for reuse.
	directBufsKept = 32
)

var errDirectUnsupported = errors.New("logstore: filesystem does not support O_DIRECT")

// cacheDropper is a File whose clean cached pages can be dropped.
type cacheDropper interface{ DropCache(off, n int64) error }

// directReader is a File that can read around the page cache; see
// osFile.ReadDirect for the alignment it needs.
type directReader interface {
	ReadDirect(p []byte, off int64) (int, error)
}

// mappingDropper is a Mapping that can let go of its pages in a range.
type mappingDropper interface{ Drop(off, n int64) error }

// directBuf is one page-aligned buffer of directWindow bytes.
type directBuf struct {
	b    []byte
	pool *directPool
}

// directPool keeps the buffers direct reads fill, so that their memory is
// touched once and reused.
type directPool struct {
	mu   sync.Mutex
	free []*directBuf
	// unsupported is set once the filesystem refused O_DIRECT: reads use
	// the maps from then on.
	unsupported atomic.Bool
	reads       atomic.Int64   // direct reads served, for tests and metrics
	aheadReads  atomic.Int64   // of them, served from a window read ahead
	ahead       aheads         // guarded by mu
	wg          sync.WaitGroup // reads ahead in flight
}

func (p *directPool) get() *directBuf {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return b
	}
	p.mu.Unlock()
	raw := make([]byte, directWindow+directAlign)
	skip := 0
	if r := int(uintptr(unsafe.Pointer(&raw[0])) & (directAlign - 1)); r != 0 {
		skip = directAlign - r
	}
	return &directBuf{b: raw[skip : skip+directWindow : skip+directWindow], pool: p}
}

func (b *directBuf) release() {
	p := b.pool
	p.mu.Lock()
	if len(p.free) < directBufsKept {
		p.free = append(p.free, b)
	}
	p.mu.Unlock()
}

func alignDown(n int64) int64 { return n &^ (directAlign - 1) }
func alignUp(n int64) int64   { return (n + directAlign - 1) &^ (directAlign - 1) }

// dropBehind drops what a successful sync made durable and the tail no
// longer needs: all of each sealed segment just synced, and the active
// segment's bytes more than the tail behind synced, the length it had when
// the sync began. Called with syncMu held, so the segments are not cut
// meanwhile; dropping is advice, and its failures change nothing.
func (l *Log) dropBehind(sealed []*segment, act *segment, synced int64) {
	tail := l.m.opts.PageCacheTail
	if tail <= 0 {
		return
	}
	for _, s := range sealed {
		s.dropTo(alignDown(s.log.size))
	}
	if to := alignDown(synced - tail); to-act.dropped.Load() >= dropStep {
		act.dropTo(to)
	}
}

// dropTo drops the log file's pages below to and marks them dropped.
func (s *segment) dropTo(to int64) {
	from := s.dropped.Load()
	if to <= from {
		return
	}
	a := s.log
	s.mapMu.Lock()
	mp := a.m
	if mp != nil {
		mp.acquire()
	}
	s.mapMu.Unlock()
	if mp != nil {
		if d, ok := mp.m.(mappingDropper); ok && int64(len(mp.data)) >= to {
			_ = d.Drop(from, to-from)
		}
		mp.release()
	}
	if f, err := a.acquire(); err == nil {
		if d, ok := f.(cacheDropper); ok {
			_ = d.DropCache(from, to-from)
		}
		a.unacquire(false)
	}
	s.dropped.Store(to)
}

// directPlan is what a read around the page cache takes of its segment
// under the log's lock: the offset index entry to start from, the
// published size, and the file, open and pinned, so that neither a swap
// nor a cut of the segment changes the bytes below size until done.
type directPlan struct {
	rel, pos, size int64
	gen            uint64 // the log's truncGen
	a              *afile
	f              File
	handedOff      bool // a read ahead took the file and pin: it calls done
}

// planDirect reports whether a read of offset from s starts in a dropped
// range, and plans it; the caller calls done when the read is over.
// Caller holds l.mu for reading.
func (l *Log) planDirect(s *segment, offset int64, mapOnly bool) (directPlan, bool) {
	if mapOnly || s.dropped.Load() == 0 || l.m.direct.unsupported.Load() {
		return directPlan{}, false
	}
	rel, pos, err := s.indexEntry(offset)
	if err != nil || pos >= s.dropped.Load() {
		return directPlan{}, false
	}
	f, err := s.log.acquire()
	if err != nil {
		return directPlan{}, false
	}
	s.log.pins.Add(1)
	return directPlan{rel: rel, pos: pos, size: s.log.size, gen: l.truncGen, a: s.log, f: f}, true
}

func (d *directPlan) done() {
	d.a.pins.Add(-1)
	d.a.unacquire(false)
}

// readDirect serves a read planned by planDirect around the page cache.
// ok=false leaves the read to the map path (see above); the other results
// are readSegment's. The caller does not hold l.mu (the read waits for the
// disk); the plan holds the file and its bytes, and readDirect sets
// d.handedOff if it gave them to a read ahead.
func (l *Log) readDirect(s *segment, d *directPlan, offset, maxOff int64, o ReadOptions) (c Chunk, found, ok bool, err error) {
	empty := Chunk{FirstOffset: offset, NextOffset: offset}
	pool := &l.m.direct
	size := d.size
	var buf *directBuf
	giveUp := func() (Chunk, bool, bool, error) {
		if buf != nil {
			buf.release()
		}
		return empty, false, false, nil
	}
	// The window: data holds the file's bytes [start, start+len(data)),
	// none past what is published; whole says whether it reaches the end.
	var data []byte
	var start int64
	var whole bool
	fill := func(from, to int64) bool {
		if buf == nil {
			buf = pool.get()
		}
		n, err := readWindow(d.f, buf.b, from, to, size)
		if errors.Is(err, errDirectUnsupported) {
			pool.unsupported.Store(true)
		}
		if err != nil {
			return false
		}
		start, data = from, buf.b[:min(int64(n), size-from)]
		whole = start+int64(len(data)) == size
		return true
	}
	// hdr reads the length and last offset of the batch at p from its
	// header alone.
	hdr := func(p int64) (n, last int64, ok bool) {
		if p+records.HeaderSize > int64(len(data)) {
			return 0, 0, false
		}
		b := records.Batch(data[p : p+records.HeaderSize])
		n = records.PeekLength(b)
		if n < records.HeaderSize || b.Magic() != 2 {
			return 0, 0, false
		}
		return n, b.LastOffset(), true
	}
	var p int64 // where the scan for the batch sought starts, in data
	if ra := l.takeAhead(s, d, offset); ra != nil {
		// The window the last read from here read ahead: it starts at
		// the batch after what that read returned, and offset is not
		// before it.
		buf, start = ra.buf, ra.start
		data = buf.b[:min(int64(ra.n), ra.limit-start, size-start)]
		whole = start+int64(len(data)) == size
		p = ra.from - start
		pool.aheadReads.Add(1)
	} else {
		// The scan from the index entry to the batch sought is short (an
		// entry per index.interval.bytes): read past it what MaxBytes
		// allows.
		if !fill(alignDown(d.pos), d.pos+int64(o.MaxBytes)+64<<10) {
			return giveUp()
		}
		p = d.pos - start
		if d.pos > 0 {
			// As seek does: trust the entry only if its batch ends at
			// its offset.
			if _, last, ok := hdr(p); !ok || last != s.base+d.rel {
				return giveUp()
			}
		}
	}
	var n int64
	for {
		if p == int64(len(data)) && whole {
			buf.release()
			return empty, false, true, nil // past this segment's batches
		}
		var last int64
		var ok bool
		if n, last, ok = hdr(p); !ok {
			return giveUp() // beyond the window, or corrupt: the map says which
		}
		if last >= offset {
			break
		}
		p += n
	}
	// The window must hold what this read may return: MaxBytes, or the
	// batch sought whole. Read again from that batch if it does not.
	if at, need := start+p, max(int64(o.MaxBytes), n); !whole && at+need > start+int64(len(data)) && alignDown(at)+directWindow > start+int64(len(data)) {
		if !fill(alignDown(at), at+need) {
			return giveUp()
		}
		p = at - start
	}
	first := p
	last, next, firstOff, err := gather(data, first, offset, maxOff, o)
	// A batch cut off by the window's end ends what this read returns,
	// unless it is the first (too large for the window) or the window
	// reaches the end of what is published (then it is corrupt).
	if err != nil && (last == first || !errors.Is(err, records.ErrShort) || whole) {
		return giveUp()
	}
	if last == first {
		buf.release()
		return empty, true, true, nil
	}
	if err := s.verify(data, start, start+first, start+last); err != nil {
		return giveUp()
	}
	pool.reads.Add(1)
	// A reader in the dropped range reads on from here: start its next
	// window now.
	if end := start + last; end < size && end < s.dropped.Load() {
		d.handedOff = l.readAhead(s, d, end, next)
	}
	return Chunk{Data: data[first:last:last], FirstOffset: firstOff, NextOffset: next, dbuf: buf}, true, true, nil
}

// readWindow reads the file's bytes [from, to) (from aligned), no further
// than the aligned end of size nor than a window, into b, and fails unless
// it got every byte below size in that range.
func readWindow(f File, b []byte, from, to, size int64) (int, error) {
	end := min(alignUp(to), alignUp(size), from+directWindow)
	var n int
	var err error
	if dr, isDirect := f.(directReader); isDirect {
		n, err = dr.ReadDirect(b[:end-from], from)
	} else {
		n, err = f.ReadAt(b[:end-from], from)
		if n == int(end-from) {
			err = nil
		}
	}
	if err == nil && from+int64(n) < min(end, size) {
		err = errors.New("logstore: short read")
	}
	return n, err
}

// DirectReads is how many reads went around the page cache (see
// ManagerOptions.PageCacheTail).
func (m *Manager) DirectReads() int64 { return m.direct.reads.Load() }
