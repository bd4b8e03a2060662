package logstore

// Test support, exported so broker tests can use it: a filesystem wrapper
// that injects disk faults at run time (Pebble's errorfs in spirit).

import (
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Fault is a set of injected failures (kinds can be combined with |).
type Fault int

const (
	// FaultNone injects nothing.
	FaultNone Fault = 0
	// FaultWriteError fails writes with EIO, writing nothing.
	FaultWriteError Fault = 1 << iota
	// FaultShortWrite writes half the bytes and reports EIO.
	FaultShortWrite
	// FaultSyncError fails fsync (and directory syncs) with EIO.
	FaultSyncError
	// FaultNoSpace is a full disk: writes store what fits (half) and fail
	// with ENOSPC, file creation and renames fail with ENOSPC.
	FaultNoSpace
	// FaultTruncateError fails truncation with EIO (so a failed write
	// cannot be cut back at once).
	FaultTruncateError
)

// FaultFS wraps an FS and injects faults into the operations on paths that
// contain a chosen substring. Faults can be switched at any time, also while
// a Manager runs on top.
type FaultFS struct {
	inner FS

	mu    sync.Mutex
	fault Fault
	match string
	after int // operations to let through before faulting (0 = at once)
	hits  int
}

// NewFaultFS wraps inner with no fault set.
func NewFaultFS(inner FS) *FaultFS { return &FaultFS{inner: inner} }

// SetFault injects f into every matching operation from now on. match
// selects paths by substring ("" = all).
func (f *FaultFS) SetFault(k Fault, match string) { f.SetFaultAfter(k, match, 0) }

// SetFaultAfter is SetFault, but lets the first n matching operations of
// the kind through.
func (f *FaultFS) SetFaultAfter(k Fault, match string, n int) {
	f.mu.Lock()
	f.fault, f.match, f.after, f.hits = k, match, n, 0
	f.mu.Unlock()
}

// Clear removes the fault.
func (f *FaultFS) Clear() { f.SetFault(FaultNone, "") }

// Hits reports how many operations failed since the fault was set.
func (f *FaultFS) Hits() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits
}

// check reports whether an operation of a kind in kinds on name fails now.
func (f *FaultFS) check(name string, kinds ...Fault) Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fault == FaultNone || (f.match != "" && !strings.Contains(name, f.match)) {
		return FaultNone
	}
	for _, k := range kinds {
		if k&f.fault != 0 {
			if f.after > 0 {
				f.after--
				return FaultNone
			}
			f.hits++
			return k
		}
	}
	return FaultNone
}

func (f *FaultFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if flag&os.O_CREATE != 0 {
		if _, err := f.inner.Stat(name); err != nil && f.check(name, FaultNoSpace) != FaultNone {
			return nil, &os.PathError{Op: "open", Path: name, Err: unix.ENOSPC}
		}
	}
	file, err := f.inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f, name: name}, nil
}

func (f *FaultFS) Remove(name string) error    { return f.inner.Remove(name) }
func (f *FaultFS) RemoveAll(name string) error { return f.inner.RemoveAll(name) }
func (f *FaultFS) Rename(oldname, newname string) error {
	if f.check(newname, FaultNoSpace) != FaultNone {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: unix.ENOSPC}
	}
	return f.inner.Rename(oldname, newname)
}
func (f *FaultFS) MkdirAll(dir string, perm os.FileMode) error { return f.inner.MkdirAll(dir, perm) }
func (f *FaultFS) ReadDir(dir string) ([]DirEntry, error)      { return f.inner.ReadDir(dir) }
func (f *FaultFS) Stat(name string) (FileInfo, error)          { return f.inner.Stat(name) }
func (f *FaultFS) SyncDir(dir string) error {
	if f.check(dir, FaultSyncError) != FaultNone {
		return &os.PathError{Op: "fsync", Path: dir, Err: unix.EIO}
	}
	return f.inner.SyncDir(dir)
}

type faultFile struct {
	File
	fs   *FaultFS
	name string
}

func (f *faultFile) Write(p []byte) (int, error) {
	fi, err := f.File.Stat()
	if err != nil {
		return 0, err
	}
	return f.WriteAt(p, fi.Size)
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	switch f.fs.check(f.name, FaultWriteError, FaultShortWrite, FaultNoSpace) {
	case FaultWriteError:
		return 0, &os.PathError{Op: "write", Path: f.name, Err: unix.EIO}
	case FaultShortWrite:
		n, _ := f.File.WriteAt(p[:len(p)/2], off)
		return n, &os.PathError{Op: "write", Path: f.name, Err: unix.EIO}
	case FaultNoSpace:
		n, _ := f.File.WriteAt(p[:len(p)/2], off)
		return n, &os.PathError{Op: "write", Path: f.name, Err: unix.ENOSPC}
	}
	return f.File.WriteAt(p, off)
}

func (f *faultFile) Sync() error {
	if f.fs.check(f.name, FaultSyncError) != FaultNone {
		return &os.PathError{Op: "fdatasync", Path: f.name, Err: unix.EIO}
	}
	return f.File.Sync()
}

func (f *faultFile) Linked() (bool, error) {
	if l, ok := f.File.(linker); ok {
		return l.Linked()
	}
	return true, nil
}

func (f *faultFile) Truncate(size int64) error {
	if f.fs.check(f.name, FaultTruncateError) != FaultNone {
		return &os.PathError{Op: "truncate", Path: f.name, Err: unix.EIO}
	}
	return f.File.Truncate(size)
}
