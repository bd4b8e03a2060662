package logstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// FS is the filesystem seam of the log, in the style of Pebble's vfs.FS: the
// operating system in production (OSFS), an in-memory filesystem that can
// simulate power loss (MemFS) and a fault-injecting wrapper (FaultFS) in
// tests. Every path is absolute or relative to the process's working
// directory, as with package os.
type FS interface {
	// OpenFile opens name with os.O_* flags, as os.OpenFile does.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Remove(name string) error
	RemoveAll(name string) error
	Rename(oldname, newname string) error
	MkdirAll(dir string, perm os.FileMode) error
	// ReadDir lists the names in dir, sorted.
	ReadDir(dir string) ([]DirEntry, error)
	Stat(name string) (FileInfo, error)
	// SyncDir makes the creations, renames and removals of entries in dir
	// durable.
	SyncDir(dir string) error
}

// DirEntry is one name in a directory.
type DirEntry struct {
	Name  string
	IsDir bool
}

// FileInfo is what Stat reports.
type FileInfo struct {
	Size  int64
	IsDir bool
}

// File is an open file. Writes go through WriteAt (pwrite) at the end the
// caller keeps track of; reads of file data go through read-only maps.
type File interface {
	io.Writer
	io.WriterAt
	io.ReaderAt
	// Sync makes the file's data durable (fdatasync).
	Sync() error
	Truncate(size int64) error
	Stat() (FileInfo, error)
	Close() error
	// Map maps the first length bytes of the file read-only and shared, so
	// that bytes written later through WriteAt within length become visible
	// through the map without remapping. length may exceed the file's size;
	// the caller must never read past what was written.
	Map(length int64) (Mapping, error)
}

// Mapping is a read-only view of a file returned by File.Map.
type Mapping interface {
	Bytes() []byte
	Unmap() error
}

// OSFS returns the operating system's filesystem.
func OSFS() FS { return osFS{} }

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error             { return os.Remove(name) }
func (osFS) RemoveAll(name string) error          { return os.RemoveAll(name) }
func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }
func (osFS) MkdirAll(dir string, perm os.FileMode) error {
	return os.MkdirAll(dir, perm)
}

func (osFS) ReadDir(dir string) ([]DirEntry, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]DirEntry, len(ents))
	for i, e := range ents {
		out[i] = DirEntry{Name: e.Name(), IsDir: e.IsDir()}
	}
	return out, nil
}

func (osFS) Stat(name string) (FileInfo, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return FileInfo{}, err
	}
	return FileInfo{Size: fi.Size(), IsDir: fi.IsDir()}, nil
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

type osFile struct{ f *os.File }

func (o osFile) Write(p []byte) (int, error)              { return o.f.Write(p) }
func (o osFile) WriteAt(p []byte, off int64) (int, error) { return o.f.WriteAt(p, off) }
func (o osFile) ReadAt(p []byte, off int64) (int, error)  { return o.f.ReadAt(p, off) }
func (o osFile) Truncate(size int64) error                { return o.f.Truncate(size) }
func (o osFile) Close() error                             { return o.f.Close() }
func (o osFile) Stat() (FileInfo, error)                  { return statOS(o.f) }
func statOS(f *os.File) (FileInfo, error)                 { fi, err := f.Stat(); return fileInfo(fi, err) }
func fileInfo(fi os.FileInfo, err error) (FileInfo, error) {
	if err != nil {
		return FileInfo{}, err
	}
	return FileInfo{Size: fi.Size(), IsDir: fi.IsDir()}, nil
}

// Sync is fdatasync: the file's size and data, not its timestamps, which is
// all a log needs, and saves writing the inode after appends that do not
// change the size.
func (o osFile) Sync() error {
	rc, err := o.f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = unix.Fdatasync(int(fd))
			if serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: o.f.Name(), Err: serr}
	}
	return nil
}

// Linked reports whether the file still has a name (fstat's link count),
// without allocating.
func (o osFile) Linked() (bool, error) {
	rc, err := o.f.SyscallConn()
	if err != nil {
		return false, err
	}
	var st unix.Stat_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil {
		return false, err
	}
	if serr != nil {
		return false, &os.PathError{Op: "fstat", Path: o.f.Name(), Err: serr}
	}
	return st.Nlink > 0, nil
}

func (o osFile) Map(length int64) (Mapping, error) {
	if length <= 0 {
		return emptyMapping{}, nil
	}
	if int64(int(length)) != length {
		return nil, fmt.Errorf("logstore: map of %d bytes too large", length)
	}
	rc, err := o.f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var data []byte
	var merr error
	if err := rc.Control(func(fd uintptr) {
		data, merr = unix.Mmap(int(fd), 0, int(length), unix.PROT_READ, unix.MAP_SHARED)
	}); err != nil {
		return nil, err
	}
	if merr != nil {
		return nil, &os.PathError{Op: "mmap", Path: o.f.Name(), Err: merr}
	}
	return &osMapping{data: data}, nil
}

// DropCache drops the file's cached pages in [off, off+n) that are clean
// and not mapped (posix_fadvise POSIX_FADV_DONTNEED).
func (o osFile) DropCache(off, n int64) error {
	rc, err := o.f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = unix.Fadvise(int(fd), off, n, unix.FADV_DONTNEED) }); err != nil {
		return err
	}
	if ferr != nil {
		return &os.PathError{Op: "fadvise", Path: o.f.Name(), Err: ferr}
	}
	return nil
}

// ReadDirect reads p at off around the page cache (O_DIRECT), through a
// descriptor of the same open file (so it works on a file already removed)
// opened for the read. p, off and len(p) must be multiples of the
// device's logical block size (directAlign is enough); it returns fewer
// bytes only at the end of the file. errDirectUnsupported means the
// filesystem refused O_DIRECT.
func (o osFile) ReadDirect(p []byte, off int64) (int, error) {
	rc, err := o.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var dfd int
	var oerr error
	if err := rc.Control(func(fd uintptr) {
		dfd, oerr = unix.Open("/proc/self/fd/"+strconv.Itoa(int(fd)), unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	}); err != nil {
		return 0, err
	}
	if oerr == unix.EINVAL {
		return 0, errDirectUnsupported
	}
	if oerr != nil {
		return 0, &os.PathError{Op: "open O_DIRECT", Path: o.f.Name(), Err: oerr}
	}
	defer unix.Close(dfd)
	n := 0
	for n < len(p) {
		m, err := unix.Pread(dfd, p[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err == unix.EINVAL && n == 0 {
			return 0, errDirectUnsupported
		}
		if err != nil {
			return n, &os.PathError{Op: "pread O_DIRECT", Path: o.f.Name(), Err: err}
		}
		if m == 0 {
			break
		}
		n += m
		if m%directAlign != 0 {
			break // the end of the file
		}
	}
	return n, nil
}

type osMapping struct{ data []byte }

// Drop removes the map's page table entries for [off, off+n) (a multiple of
// the page size), so that the pages can leave the page cache; a later read
// through the map faults them back in.
func (m *osMapping) Drop(off, n int64) error {
	if off < 0 || n <= 0 || off+n > int64(len(m.data)) {
		return nil
	}
	return unix.Madvise(m.data[off:off+n], unix.MADV_DONTNEED)
}

func (m *osMapping) Bytes() []byte { return m.data }
func (m *osMapping) Unmap() error {
	if m.data == nil {
		return nil
	}
	err := unix.Munmap(m.data)
	m.data = nil
	return err
}

type emptyMapping struct{}

func (emptyMapping) Bytes() []byte { return nil }
func (emptyMapping) Unmap() error  { return nil }

// isNotExist reports whether err means a missing file, for every FS.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// writeFileAtomic writes data to name through name.tmp: write, fsync, rename,
// fsync the directory, so a crash leaves either the old or the new contents.
func writeFileAtomic(fsys FS, name string, data []byte) error {
	tmp := name + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, name); err != nil {
		return err
	}
	return fsys.SyncDir(filepath.Dir(name))
}

// readFile reads a whole (small) file.
func readFile(fsys FS, name string) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size > 64<<20 {
		return nil, fmt.Errorf("logstore: %s: %d bytes is too large for a metadata file", name, fi.Size)
	}
	buf := make([]byte, fi.Size)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !(errors.Is(err, io.EOF) && n == len(buf)) {
		return nil, err
	}
	return buf[:n], nil
}
