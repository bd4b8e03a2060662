package logstore

// Test support, exported so that broker tests can use it too: an in-memory
// filesystem that knows what would survive a power loss.

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// MemFS is an in-memory FS that tracks durability the way a careful reading
// of POSIX says a disk does: a file's bytes are durable once it is synced;
// a creation, rename or removal is durable once its directory is synced.
// Crash returns the filesystem a reboot would find.
//
// Maps alias the file's buffer, so bytes written later within a map's
// length show through it, as with a shared mapping of the page cache.
type MemFS struct {
	mu sync.Mutex
	// names is the namespace as processes see it; durable is what a crash
	// keeps. Both map a cleaned path to its node.
	names   map[string]*memNode
	durable map[string]*memNode
}

type memNode struct {
	dir    bool
	data   []byte // current contents; may have spare capacity for maps
	synced []byte // contents at the last Sync
}

// NewMemFS returns an empty in-memory filesystem with a root directory.
func NewMemFS() *MemFS {
	root := &memNode{dir: true}
	return &MemFS{
		names:   map[string]*memNode{"/": root},
		durable: map[string]*memNode{"/": root},
	}
}

func clean(name string) string {
	if !filepath.IsAbs(name) {
		name = "/" + name
	}
	return filepath.Clean(name)
}

func pathErr(op, name string, err error) error { return &os.PathError{Op: op, Path: name, Err: err} }

// Crash returns a new MemFS holding only what would survive power loss now:
// synced bytes of files, and directory entries as of their last SyncDir.
// The receiver keeps working unchanged, so the crashed Manager can still be
// closed (its writes land in the old filesystem, not the new one).
func (m *MemFS) Crash() *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := &MemFS{names: map[string]*memNode{}, durable: map[string]*memNode{}}
	copies := map[*memNode]*memNode{}
	for name, n := range m.durable {
		c := copies[n]
		if c == nil {
			c = &memNode{dir: n.dir, data: append([]byte(nil), n.synced...), synced: append([]byte(nil), n.synced...)}
			copies[n] = c
		}
		out.names[name] = c
		out.durable[name] = c
	}
	// An entry whose parent directory did not survive is gone too.
	for name := range out.names {
		for p := filepath.Dir(name); p != "/"; p = filepath.Dir(p) {
			if _, ok := out.names[p]; !ok {
				delete(out.names, name)
				delete(out.durable, name)
				break
			}
		}
	}
	return out
}

func (m *MemFS) parentOK(name string) error {
	p := filepath.Dir(name)
	n, ok := m.names[p]
	if !ok {
		return fs.ErrNotExist
	}
	if !n.dir {
		return errors.New("not a directory")
	}
	return nil
}

func (m *MemFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.names[name]
	switch {
	case ok && n.dir:
		if flag&(os.O_WRONLY|os.O_RDWR) != 0 {
			return nil, pathErr("open", name, errors.New("is a directory"))
		}
	case ok:
		if flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0 {
			return nil, pathErr("open", name, fs.ErrExist)
		}
		if flag&os.O_TRUNC != 0 {
			n.data = n.data[:0]
		}
	default:
		if flag&os.O_CREATE == 0 {
			return nil, pathErr("open", name, fs.ErrNotExist)
		}
		if err := m.parentOK(name); err != nil {
			return nil, pathErr("open", name, err)
		}
		n = &memNode{}
		m.names[name] = n
	}
	return &memFile{fs: m, n: n, name: name, write: flag&(os.O_WRONLY|os.O_RDWR) != 0}, nil
}

func (m *MemFS) Remove(name string) error {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.names[name]
	if !ok {
		return pathErr("remove", name, fs.ErrNotExist)
	}
	if n.dir {
		prefix := name + "/"
		for k := range m.names {
			if strings.HasPrefix(k, prefix) {
				return pathErr("remove", name, errors.New("directory not empty"))
			}
		}
	}
	delete(m.names, name)
	return nil
}

func (m *MemFS) RemoveAll(name string) error {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	prefix := name + "/"
	for k := range m.names {
		if k == name || strings.HasPrefix(k, prefix) {
			delete(m.names, k)
		}
	}
	return nil
}

func (m *MemFS) Rename(oldname, newname string) error {
	oldname, newname = clean(oldname), clean(newname)
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.names[oldname]
	if !ok {
		return pathErr("rename", oldname, fs.ErrNotExist)
	}
	if err := m.parentOK(newname); err != nil {
		return pathErr("rename", newname, err)
	}
	if t, ok := m.names[newname]; ok && t.dir != n.dir {
		return pathErr("rename", newname, errors.New("type mismatch"))
	}
	delete(m.names, oldname)
	m.names[newname] = n
	if n.dir {
		prefix := oldname + "/"
		for k, v := range m.names {
			if strings.HasPrefix(k, prefix) {
				delete(m.names, k)
				m.names[newname+"/"+strings.TrimPrefix(k, prefix)] = v
			}
		}
	}
	return nil
}

func (m *MemFS) MkdirAll(dir string, perm os.FileMode) error {
	dir = clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	var parts []string
	for p := dir; p != "/"; p = filepath.Dir(p) {
		parts = append(parts, p)
	}
	for i := len(parts) - 1; i >= 0; i-- {
		p := parts[i]
		if n, ok := m.names[p]; ok {
			if !n.dir {
				return pathErr("mkdir", p, errors.New("not a directory"))
			}
			continue
		}
		m.names[p] = &memNode{dir: true}
	}
	return nil
}

func (m *MemFS) ReadDir(dir string) ([]DirEntry, error) {
	dir = clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if n, ok := m.names[dir]; !ok || !n.dir {
		return nil, pathErr("readdir", dir, fs.ErrNotExist)
	}
	var out []DirEntry
	for k, n := range m.names {
		if k != dir && filepath.Dir(k) == dir {
			out = append(out, DirEntry{Name: filepath.Base(k), IsDir: n.dir})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (m *MemFS) Stat(name string) (FileInfo, error) {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.names[name]
	if !ok {
		return FileInfo{}, pathErr("stat", name, fs.ErrNotExist)
	}
	return FileInfo{Size: int64(len(n.data)), IsDir: n.dir}, nil
}

// SyncDir makes the entries of dir durable as they are now: new and renamed
// names appear, removed ones go (subdirectory contents are not included).
func (m *MemFS) SyncDir(dir string) error {
	dir = clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if n, ok := m.names[dir]; !ok || !n.dir {
		return pathErr("sync", dir, fs.ErrNotExist)
	}
	for k := range m.durable {
		if k != "/" && filepath.Dir(k) == dir {
			delete(m.durable, k)
		}
	}
	for k, n := range m.names {
		if k != "/" && filepath.Dir(k) == dir {
			m.durable[k] = n
			if n.dir {
				// A directory's own entries were durable only as far as
				// they were synced; keep the node.
				continue
			}
		}
	}
	return nil
}

type memFile struct {
	fs     *MemFS
	n      *memNode
	name   string
	write  bool
	closed bool
}

var errMemClosed = errors.New("file already closed")

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	off := int64(len(f.n.data))
	f.fs.mu.Unlock()
	return f.WriteAt(p, off)
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, pathErr("write", f.name, errMemClosed)
	}
	if !f.write {
		return 0, pathErr("write", f.name, errors.New("bad file descriptor"))
	}
	end := off + int64(len(p))
	if end > int64(len(f.n.data)) {
		if end > int64(cap(f.n.data)) {
			// Grow into a new buffer. Maps of the old one keep it: they
			// were taken for a length the file had not reached (Map sets
			// room aside for the length it maps), and the log remaps
			// before it reads past a map's length.
			nd := make([]byte, end, max(end, 2*int64(cap(f.n.data))))
			copy(nd, f.n.data)
			f.n.data = nd
		} else {
			// A write may start inside the file and run past its end;
			// only a gap before it reads back as zeros.
			old := int64(len(f.n.data))
			f.n.data = f.n.data[:end]
			if off > old {
				clear(f.n.data[old:off])
			}
		}
	}
	copy(f.n.data[off:], p)
	return len(p), nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, pathErr("read", f.name, errMemClosed)
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return pathErr("sync", f.name, errMemClosed)
	}
	f.n.synced = append(f.n.synced[:0], f.n.data...)
	return nil
}

// Linked reports whether some name still refers to the file (a rename
// keeps it linked).
func (f *memFile) Linked() (bool, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	for _, n := range f.fs.names {
		if n == f.n {
			return true, nil
		}
	}
	return false, nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return pathErr("truncate", f.name, errMemClosed)
	}
	if size <= int64(len(f.n.data)) {
		f.n.data = f.n.data[:size]
		return nil
	}
	if size > int64(cap(f.n.data)) {
		nd := make([]byte, size)
		copy(nd, f.n.data)
		f.n.data = nd
		return nil
	}
	old := len(f.n.data)
	f.n.data = f.n.data[:size]
	clear(f.n.data[old:])
	return nil
}

func (f *memFile) Stat() (FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return FileInfo{Size: int64(len(f.n.data)), IsDir: f.n.dir}, nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return pathErr("close", f.name, errMemClosed)
	}
	f.closed = true
	return nil
}

// Map returns a view of the file's current contents (at most length
// bytes). Unlike a real map it does not reach past the end of the file, so
// appended bytes need a remap to show; the log remaps whenever a map is
// shorter than what it reads, and memory is not reserved for the planned
// capacity of every active segment.
func (f *memFile) Map(length int64) (Mapping, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return nil, pathErr("mmap", f.name, errMemClosed)
	}
	// A real shared map of length bytes shows every later write within
	// it. Here the map is a slice of the file's buffer, so the buffer must
	// not move while writes land inside the mapped range: it is given room
	// for length bytes up front (up to memMapReserve; tests stay below).
	// Otherwise a write that grows the file past the buffer's capacity
	// (zeros written ahead of the log's end, say) would move the buffer,
	// and writes after it would not show through maps already taken.
	if want := min(length, memMapReserve); int64(cap(f.n.data)) < want {
		nd := make([]byte, len(f.n.data), want)
		copy(nd, f.n.data)
		f.n.data = nd
	}
	n := min(length, int64(len(f.n.data)))
	if n <= 0 {
		return emptyMapping{}, nil
	}
	return memMapping(f.n.data[:n:n]), nil
}

// memMapReserve bounds the buffer room Map sets aside.
const memMapReserve = 64 << 20

type memMapping []byte

func (m memMapping) Bytes() []byte { return m }
func (memMapping) Unmap() error    { return nil }
