package logstore

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
)

// mapping is one read-only map of a file, reference counted: the file that
// made it holds one reference while the map is current, and every Chunk or
// lookup that reads through it holds another. The map is unmapped when the
// last reference goes, so a reader never touches unmapped memory, whatever
// rolls, remaps or deletions happen meanwhile.
type mapping struct {
	data []byte
	refs atomic.Int32
	m    Mapping
	// pins counts the reader references on every map of the same file, old
	// and current: a file may be cut short only while it is zero.
	pins *atomic.Int32
}

func newMapping(m Mapping, pins *atomic.Int32) *mapping {
	mp := &mapping{data: m.Bytes(), m: m, pins: pins}
	mp.refs.Store(1)
	return mp
}

// acquire takes a reader reference.
func (mp *mapping) acquire() {
	mp.refs.Add(1)
	mp.pins.Add(1)
}

// release drops a reader reference.
func (mp *mapping) release() {
	mp.pins.Add(-1)
	mp.drop()
}

// drop drops a reference, the owner's or (through release) a reader's.
func (mp *mapping) drop() {
	switch n := mp.refs.Add(-1); {
	case n == 0:
		// An unmap error leaves address space behind but no wrong data;
		// there is nobody to report it to.
		_ = mp.m.Unmap()
	case n < 0:
		panic("BUG: logstore: mapping released more often than acquired")
	}
}

// afile is a file that grows only at its end through the file descriptor and
// is read through a read-only shared map. Segment logs and their indexes are
// afiles. The written length (size) is owned by the log: it changes only under
// the log's append lock and is published under its mutex, and nobody reads
// past it, so bytes being written are never visible.
type afile struct {
	fsys  FS
	path  string
	cache *fdCache // nil: no limit
	size  int64
	// padded, when larger than size, is the length of the file on disk: an
	// active log written ahead with zeros (see padAhead). Touched only with
	// the log's appendMu held, or by the file's owner before it is shared.
	padded int64

	// fmu guards the descriptor, which is opened when first needed and may
	// be closed by the cache while no operation holds it (see fdCache).
	fmu      sync.Mutex
	f        File   // guarded by fmu; nil while closed
	fdUsers  int    // guarded by fmu: operations holding f
	dirtyGen uint64 // guarded by fmu: counts writes
	cleanGen uint64 // guarded by fmu: dirtyGen as of the last successful sync
	// rebuildable files (offset and time indexes) may be synced and closed
	// while dirty; a failure of that sync is kept for the owner's next one.
	rebuildable bool
	syncErr     error  // guarded by fmu
	inLRU       bool   // guarded by cache.mu
	prev, next  *afile // guarded by cache.mu

	// m is the current map, nil until first needed. Its capacity may exceed
	// size: an active file is mapped larger than its contents so appends
	// show through without a remap. Replaced (never mutated) under the log's
	// mutex; readers acquire a reference while holding that mutex.
	m *mapping
	// want is the capacity to map an active file with; 0 maps exactly size
	// (sealed files).
	want int64
	// pins counts reader references on this file's maps (see mapping).
	pins atomic.Int32
}

// openAFile opens a file of a segment. A created file (truncated if it
// existed) is open at once, as it is about to be written; an existing one
// is only looked at, and opened when first used.
func openAFile(fsys FS, cache *fdCache, path string, create bool) (*afile, error) {
	a := &afile{fsys: fsys, path: path, cache: cache, rebuildable: strings.HasSuffix(path, indexSuffix) || strings.HasSuffix(path, timeIndexSuffix)}
	if !create {
		fi, err := fsys.Stat(path)
		if err != nil {
			return nil, storageErr(err)
		}
		a.size = fi.Size
		return a, nil
	}
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, storageErr(err)
	}
	a.f = f
	cache.opened(a)
	return a, nil
}

// acquire returns the open descriptor, opening it if needed; the caller
// calls unacquire when done with it.
func (a *afile) acquire() (File, error) {
	a.fmu.Lock()
	opened := false
	if a.f == nil {
		f, err := a.fsys.OpenFile(a.path, os.O_RDWR, 0)
		if err != nil {
			a.fmu.Unlock()
			return nil, storageErr(err)
		}
		a.f, opened = f, true
	}
	a.fdUsers++
	f := a.f
	a.fmu.Unlock()
	if opened {
		a.cache.opened(a)
	} else {
		a.cache.used(a)
	}
	return f, nil
}

// unacquire ends an operation begun with acquire; wrote marks the file
// dirty (written and not yet synced).
func (a *afile) unacquire(wrote bool) {
	a.fmu.Lock()
	a.fdUsers--
	if wrote {
		a.dirtyGen++
	}
	a.fmu.Unlock()
}

// closeIdle closes the descriptor if no operation holds it and nothing
// unsynced would lose its error report (see fdCache); a dirty rebuildable
// file is synced first. It reports whether the descriptor was closed.
func (a *afile) closeIdle() bool {
	a.fmu.Lock()
	if a.f == nil || a.fdUsers > 0 {
		a.fmu.Unlock()
		return false
	}
	if a.dirtyGen != a.cleanGen {
		if !a.rebuildable || a.syncErr != nil {
			a.fmu.Unlock()
			return false
		}
		if err := a.f.Sync(); err != nil {
			a.syncErr = err
			a.fmu.Unlock()
			return false
		}
		a.cleanGen = a.dirtyGen
	}
	f := a.f
	a.f = nil
	a.fmu.Unlock()
	f.Close()
	a.cache.closed(a)
	return true
}

// writeAt writes p at off, at or past the published end; the caller
// publishes the new size (under the log's mutex) once every file of the
// append is written. On failure the file is cut back to off, so no partial
// bytes survive; if even that fails the returned error is a *repairError and
// the log must repair the file before the next write.
func (a *afile) writeAt(p []byte, off int64) error {
	f, err := a.acquire()
	if err != nil {
		return fmt.Errorf("logstore: write %s at %d: %w", a.path, off, err)
	}
	defer a.unacquire(true)
	n, err := f.WriteAt(p, off)
	if err == nil && n != len(p) {
		err = fmt.Errorf("short write of %d of %d bytes", n, len(p))
	}
	if err != nil {
		werr := fmt.Errorf("logstore: write %s at %d: %w", a.path, off, storageErr(err))
		if terr := f.Truncate(off); terr != nil {
			return &repairError{werr, terr}
		}
		a.padded = off
		return werr
	}
	return nil
}

// repairError is a failed write whose partial bytes could not be cut off.
type repairError struct{ write, truncate error }

func (e *repairError) Error() string {
	return fmt.Sprintf("%v (and cutting it back failed: %v)", e.write, e.truncate)
}
func (e *repairError) Unwrap() error { return e.write }

// view returns a reference to a map covering at least the first size bytes,
// mapping or remapping as needed. Caller holds the log's mutex exclusively or
// owns the file; the returned mapping must be released.
func (a *afile) view() (*mapping, error) {
	if a.m != nil && int64(len(a.m.data)) >= a.size {
		a.m.acquire()
		return a.m, nil
	}
	if err := a.remap(a.size); err != nil {
		return nil, err
	}
	a.m.acquire()
	return a.m, nil
}

// remap replaces the current map with one of at least need bytes. Readers of
// the old map keep it until they release it.
func (a *afile) remap(need int64) error {
	capacity := need
	if a.want > capacity {
		capacity = a.want
	}
	if a.want > 0 && capacity < need+need/8 {
		// An active file that outgrew its planned capacity (segment.bytes
		// raised live): leave room so the next appends do not remap each.
		capacity = need + need/8
	}
	f, err := a.acquire()
	if err != nil {
		return fmt.Errorf("logstore: map %s: %w", a.path, err)
	}
	mm, err := f.Map(capacity)
	a.unacquire(false)
	if err != nil {
		return fmt.Errorf("logstore: map %s: %w", a.path, storageErr(err))
	}
	old := a.m
	a.m = newMapping(mm, &a.pins)
	if old != nil {
		old.drop()
	}
	return nil
}

// pinned reports whether a reader holds a reference into any map of the file.
func (a *afile) pinned() bool { return a.pins.Load() != 0 }

// unmap drops the file's own reference to its map (readers keep theirs).
func (a *afile) unmap() {
	if a.m != nil {
		a.m.drop()
		a.m = nil
	}
}

// truncate cuts the file to n bytes. The caller guarantees no reader holds a
// reference into the cut region (see segment.truncateTo).
func (a *afile) truncate(n int64) error {
	if err := a.cut(n); err != nil {
		return err
	}
	a.size = n
	return nil
}

// cut sets the file's length on disk to n, leaving its size alone.
func (a *afile) cut(n int64) error {
	f, err := a.acquire()
	if err == nil {
		err = f.Truncate(n)
		a.unacquire(true)
	}
	if err != nil {
		return fmt.Errorf("logstore: truncate %s to %d: %w", a.path, n, storageErr(err))
	}
	a.padded = n
	return nil
}

// trim cuts the zeros written ahead of the contents, if any, so that the
// file's length is its size again (before a segment is sealed or closed:
// a clean restart takes a file's length for its size).
func (a *afile) trim() error {
	if a.padded <= a.size {
		return nil
	}
	// The size does not change: readers may be reading it.
	return a.cut(a.size)
}

// sync makes the file durable. A closed file was clean when closed (see
// closeIdle), so there is nothing to do.
func (a *afile) sync() error {
	a.fmu.Lock()
	if a.f == nil && a.dirtyGen == a.cleanGen {
		a.fmu.Unlock()
		return nil
	}
	gen := a.dirtyGen
	err := a.syncErr
	a.syncErr = nil
	a.fmu.Unlock()
	if err != nil {
		return fmt.Errorf("logstore: sync %s: %w", a.path, storageErr(err))
	}
	f, err := a.acquire()
	if err == nil {
		err = f.Sync()
		a.fmu.Lock()
		if err == nil {
			a.cleanGen = max(a.cleanGen, gen)
		}
		a.fdUsers--
		a.fmu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("logstore: sync %s: %w", a.path, storageErr(err))
	}
	return nil
}

// checkLinked fails if the file was removed: a file removed under the log
// (its partition or data directory deleted by hand) still takes writes and
// syncs, but nothing in it survives a restart, so it must not be reported
// durable. One fstat per sync, next to an fdatasync.
func (a *afile) checkLinked() error {
	lf, ok := a.f.(linker)
	if !ok {
		return nil
	}
	linked, err := lf.Linked()
	if err != nil {
		return fmt.Errorf("logstore: stat %s: %w", a.path, storageErr(err))
	}
	if !linked {
		return fmt.Errorf("logstore: %s was removed: %w", a.path, &storageError{errRemoved})
	}
	return nil
}

// linker is a File that can tell whether it still has a name.
type linker interface {
	Linked() (bool, error)
}

var errRemoved = errors.New("file removed while open")

// close unmaps (for the file's own reference) and closes the descriptor.
func (a *afile) close() error {
	a.unmap()
	a.fmu.Lock()
	f := a.f
	a.f = nil
	a.fmu.Unlock()
	if f == nil {
		return nil
	}
	a.cache.closed(a)
	return f.Close()
}

// readAt reads through the descriptor: for the small, cold metadata reads
// where a map would cost more than it saves.
func (a *afile) readAt(p []byte, off int64) error {
	f, err := a.acquire()
	if err != nil {
		return fmt.Errorf("logstore: read %s at %d: %w", a.path, off, err)
	}
	n, err := f.ReadAt(p, off)
	a.unacquire(false)
	if n == len(p) {
		return nil
	}
	if err == nil {
		err = fmt.Errorf("short read")
	}
	return fmt.Errorf("logstore: read %s at %d: %w", a.path, off, storageErr(err))
}
