package logstore

import (
	"errors"
	"fmt"
	"os"
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
	fsys FS
	path string
	f    File
	size int64

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

func openAFile(fsys FS, path string, create bool) (*afile, error) {
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE | os.O_TRUNC
	}
	f, err := fsys.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, storageErr(err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, storageErr(err)
	}
	return &afile{fsys: fsys, path: path, f: f, size: fi.Size}, nil
}

// writeAt writes p at off, at or past the published end; the caller
// publishes the new size (under the log's mutex) once every file of the
// append is written. On failure the file is cut back to off, so no partial
// bytes survive; if even that fails the returned error is a *repairError and
// the log must repair the file before the next write.
func (a *afile) writeAt(p []byte, off int64) error {
	n, err := a.f.WriteAt(p, off)
	if err == nil && n != len(p) {
		err = fmt.Errorf("short write of %d of %d bytes", n, len(p))
	}
	if err != nil {
		werr := fmt.Errorf("logstore: write %s at %d: %w", a.path, off, storageErr(err))
		if terr := a.f.Truncate(off); terr != nil {
			return &repairError{werr, terr}
		}
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
	mm, err := a.f.Map(capacity)
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
	if err := a.f.Truncate(n); err != nil {
		return fmt.Errorf("logstore: truncate %s to %d: %w", a.path, n, storageErr(err))
	}
	a.size = n
	return nil
}

func (a *afile) sync() error {
	if err := a.f.Sync(); err != nil {
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
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}

// readAt reads through the descriptor: for the small, cold metadata reads
// where a map would cost more than it saves.
func (a *afile) readAt(p []byte, off int64) error {
	n, err := a.f.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil {
		err = fmt.Errorf("short read")
	}
	return fmt.Errorf("logstore: read %s at %d: %w", a.path, off, storageErr(err))
}
