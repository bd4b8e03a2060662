package logstore

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ManagerOptions configure a Manager.
type ManagerOptions struct {
	Dirs   []string // log.dirs; new partitions go to the dir holding the fewest
	FS     FS       // nil = the OS
	Now    func() time.Time
	Logger *slog.Logger // nil = discard
	// OnDurable is called after l.DurableOffset() advanced (from the
	// flusher, or from Flush or Compact when they synced first); it must
	// not block.
	OnDurable func(l *Log)
	// OnSync is called after each log's sync pass with how long its
	// fdatasyncs took (for metrics); it must not block.
	OnSync func(d time.Duration, err error)
	// RetentionCheckInterval is log.retention.check.interval.ms: 0 = 5 min,
	// < 0 = no background retention.
	RetentionCheckInterval time.Duration
	// CleanerInterval paces background compaction: 0 = 15 s, < 0 = none.
	CleanerInterval time.Duration
	// LogConfig returns the config of a partition found on disk by Open,
	// so that recovery rebuilds indexes with the right settings; nil means
	// DefaultConfig until the broker calls SetConfig.
	LogConfig func(tp TopicPartition) Config
	// MaxOpenFiles bounds the file descriptors the logs keep open (see
	// fdCache); 0 = half of RLIMIT_NOFILE.
	MaxOpenFiles int
	// RecoveryThreads is num.recovery.threads.per.data.dir: how many
	// partitions of a directory Open loads (and, after a crash, recovers)
	// at once. <= 0: 2.
	RecoveryThreads int
	// CheckpointInterval paces writing the recovery-point, log-start and
	// replication checkpoints (log.flush.offset.checkpoint.interval.ms):
	// 0 = 60 s, < 0 = only on Close.
	CheckpointInterval time.Duration
	// PageCacheTail, when positive, is how much of each log behind what its
	// last sync made durable stays in the page cache: older pages are
	// dropped and reads of them go around the cache (see direct.go). 0
	// leaves the page cache to the kernel and every read to the maps.
	PageCacheTail int64
}

// Manager owns the logs of a broker's data directories, the flusher and the
// background retention, cleaner and checkpoint loops.
type Manager struct {
	opts   ManagerOptions
	fs     FS
	logger *slog.Logger

	mu     sync.Mutex
	logs   map[TopicPartition]*Log // guarded by mu
	closed bool                    // guarded by mu

	fds     *fdCache   // bounds open segment files
	direct  directPool // buffers of reads around the page cache
	ckptMu  sync.Mutex // serializes checkpoint file writes
	flusher *flusher
	stop    chan struct{}
	bg      sync.WaitGroup // background goroutines
}

// Open loads every partition found in the data directories, recovering those
// not shut down cleanly, and starts the background work.
func Open(o ManagerOptions) (*Manager, error) {
	if len(o.Dirs) == 0 {
		return nil, errors.New("logstore: no data directories")
	}
	m := &Manager{opts: o, fs: o.FS, logger: o.Logger, logs: make(map[TopicPartition]*Log), stop: make(chan struct{})}
	if m.fs == nil {
		m.fs = OSFS()
	}
	if m.logger == nil {
		m.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m.fds = newFDCache(o.MaxOpenFiles)
	m.flusher = newFlusher(m)
	for _, dir := range o.Dirs {
		if err := m.loadDir(dir); err != nil {
			m.abort()
			return nil, err
		}
	}
	m.startLoops()
	return m, nil
}

// abort stops what Open started after a failure.
func (m *Manager) abort() {
	m.flusher.close()
	for _, l := range m.logs {
		l.closeFiles()
	}
	m.bg.Wait()
}

func (m *Manager) now() time.Time {
	if m.opts.Now != nil {
		return m.opts.Now()
	}
	return time.Now()
}

func (m *Manager) nowMs() int64 { return m.now().UnixMilli() }

// loadDir loads one data directory.
func (m *Manager) loadDir(dir string) error {
	if err := m.fs.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("logstore: create %s: %w", dir, storageErr(err))
	}
	if err := m.fs.SyncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
		return fmt.Errorf("logstore: sync %s: %w", filepath.Dir(dir), storageErr(err))
	}
	_, statErr := m.fs.Stat(filepath.Join(dir, cleanShutdownFile))
	clean := statErr == nil
	ck := dirCheckpoints{}
	var err error
	for _, c := range []struct {
		name string
		dst  *map[TopicPartition]int64
	}{
		{recoveryPointFile, &ck.recovery}, {logStartFile, &ck.logStart},
		{replicationFile, &ck.hw}, {cleanerFile, &ck.cleaner},
	} {
		if *c.dst, err = readOffsets(m.fs, dir, c.name); err != nil {
			// A damaged checkpoint costs a full recovery, not the broker.
			m.logger.Warn("logstore: ignoring unreadable checkpoint", "file", filepath.Join(dir, c.name), "err", err)
			*c.dst = map[TopicPartition]int64{}
			if c.name == recoveryPointFile {
				clean = false
			}
		}
	}
	ents, err := m.fs.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("logstore: list %s: %w", dir, storageErr(err))
	}
	var tps []TopicPartition
	for _, e := range ents {
		if !e.IsDir {
			if strings.HasSuffix(e.Name, ".tmp") {
				_ = m.fs.Remove(filepath.Join(dir, e.Name))
			}
			continue
		}
		if strings.HasSuffix(e.Name, "-delete") {
			m.removeAsync(filepath.Join(dir, e.Name))
			continue
		}
		tp, ok := parsePartitionDir(e.Name)
		if !ok {
			continue
		}
		tps = append(tps, tp)
	}
	if err := m.openLogs(dir, tps, &ck, clean); err != nil {
		return err
	}
	if clean {
		// From here on a crash must recover again.
		if err := m.fs.Remove(filepath.Join(dir, cleanShutdownFile)); err != nil && !isNotExist(err) {
			return fmt.Errorf("logstore: %w", storageErr(err))
		}
		if err := m.fs.SyncDir(dir); err != nil {
			return fmt.Errorf("logstore: %w", storageErr(err))
		}
	}
	return nil
}

// openLogs loads the partitions tps of dir, RecoveryThreads at a time
// (after a crash each one checks its tail batch by batch: CRC-32C over
// what it reads, which keeps a core busy). The first error wins; the logs
// opened so far stay in m.logs for abort to close.
func (m *Manager) openLogs(dir string, tps []TopicPartition, ck *dirCheckpoints, clean bool) error {
	threads := m.opts.RecoveryThreads
	if threads <= 0 {
		threads = 2
	}
	var (
		wg      sync.WaitGroup
		next    atomic.Int64
		errMu   sync.Mutex
		lastErr error
	)
	failed := func() bool { errMu.Lock(); defer errMu.Unlock(); return lastErr != nil }
	for range min(threads, len(tps)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(tps) || failed() {
					return
				}
				tp := tps[i]
				l, err := m.openLog(dir, tp, ck, clean)
				if err == nil {
					// The flusher already runs and lists the logs
					// (queueTimedFlushes): the map is only touched
					// under mu, also while loading.
					m.mu.Lock()
					if _, dup := m.logs[tp]; dup {
						err = fmt.Errorf("logstore: partition %s found in two data directories", tp)
						l.closeFiles()
					} else {
						m.logs[tp] = l
					}
					m.mu.Unlock()
				}
				if err != nil {
					errMu.Lock()
					if lastErr == nil {
						lastErr = err
					}
					errMu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return lastErr
}

type dirCheckpoints struct {
	recovery, logStart, hw, cleaner map[TopicPartition]int64
}

// removeAsync deletes a directory in the background.
func (m *Manager) removeAsync(path string) {
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		if err := m.fs.RemoveAll(path); err != nil {
			m.logger.Warn("logstore: remove failed", "dir", path, "err", err)
		}
	}()
}

// Create creates a partition's log, or returns the existing one when its
// topic id matches (its config is then set to c).
func (m *Manager) Create(tp TopicPartition, topicID [16]byte, c Config) (*Log, error) {
	if tp.Topic == "" || strings.ContainsAny(tp.Topic, "/\\ \n") || tp.Partition < 0 {
		return nil, fmt.Errorf("logstore: invalid partition %q %d", tp.Topic, tp.Partition)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	if l := m.logs[tp]; l != nil {
		m.mu.Unlock()
		if l.topicID != topicID {
			return nil, fmt.Errorf("logstore: %s exists with another topic id", tp)
		}
		// Not under m.mu: a log's writers take m.mu (checkpoints) while
		// holding their own locks.
		l.SetConfig(c)
		return l, nil
	}
	defer m.mu.Unlock()
	// The data directory holding the fewest partitions.
	count := make(map[string]int, len(m.opts.Dirs))
	for _, l := range m.logs {
		count[l.dataDir]++
	}
	dataDir := m.opts.Dirs[0]
	for _, d := range m.opts.Dirs[1:] {
		if count[d] < count[dataDir] {
			dataDir = d
		}
	}
	l, err := m.createLog(dataDir, tp, topicID, c)
	if err != nil {
		return nil, err
	}
	m.logs[tp] = l
	return l, nil
}

// Get returns the log of tp, nil if absent.
func (m *Manager) Get(tp TopicPartition) *Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.logs[tp]
}

// Logs returns every log, sorted by topic and partition.
func (m *Manager) Logs() []*Log {
	m.mu.Lock()
	out := make([]*Log, 0, len(m.logs))
	for _, l := range m.logs {
		out = append(out, l)
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].tp, out[j].tp
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		return a.Partition < b.Partition
	})
	return out
}

// Delete removes a partition: it leaves the manager at once, its directory
// is renamed to "<topic>-<partition>.<uuid>-delete" and removed in the
// background. Readers holding Chunks keep valid data (maps outlive files).
func (m *Manager) Delete(tp TopicPartition) error {
	m.mu.Lock()
	l := m.logs[tp]
	if l == nil {
		m.mu.Unlock()
		return fmt.Errorf("logstore: %s: no such partition", tp)
	}
	delete(m.logs, tp)
	m.mu.Unlock()
	l.shutdown(false)
	var id [16]byte
	_, _ = rand.Read(id[:])
	target := filepath.Join(l.dataDir, tp.dirName()+"."+hex.EncodeToString(id[:])+"-delete")
	if err := m.fs.Rename(l.dir, target); err != nil {
		return fmt.Errorf("logstore: delete %s: %w", tp, storageErr(err))
	}
	if err := m.fs.SyncDir(l.dataDir); err != nil {
		return fmt.Errorf("logstore: delete %s: %w", tp, storageErr(err))
	}
	m.removeAsync(target)
	// The deleted partition must drop out of the checkpoints too.
	return m.writeCheckpoints(false)
}

// Close stops the background work, syncs every log, writes snapshots and
// checkpoints and the clean-shutdown marker, and releases the files. Maps
// held by outstanding Chunks are released with them.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	close(m.stop)
	m.bg.Wait()
	m.flusher.close()
	m.direct.closeAhead()
	var first error
	clean := true
	for _, l := range m.Logs() {
		if err := l.shutdown(true); err != nil {
			clean = false
			if first == nil {
				first = err
			}
		}
	}
	if err := m.writeCheckpoints(true); err != nil {
		clean = false
		if first == nil {
			first = err
		}
	}
	if clean {
		for _, dir := range m.opts.Dirs {
			if err := writeFileAtomic(m.fs, filepath.Join(dir, cleanShutdownFile), nil); err != nil && first == nil {
				first = fmt.Errorf("logstore: clean shutdown marker: %w", storageErr(err))
			}
		}
	}
	return first
}

// writeCheckpoints writes the per-directory checkpoint files from the logs'
// current state. At close the recovery point is the log end (everything was
// just synced).
func (m *Manager) writeCheckpoints(closing bool) error {
	m.ckptMu.Lock()
	defer m.ckptMu.Unlock()
	type set struct{ rp, ls, hw, cl map[TopicPartition]int64 }
	sets := make(map[string]*set, len(m.opts.Dirs))
	for _, d := range m.opts.Dirs {
		sets[d] = &set{map[TopicPartition]int64{}, map[TopicPartition]int64{}, map[TopicPartition]int64{}, map[TopicPartition]int64{}}
	}
	var written []*Log
	var rps []int64
	for _, l := range m.Logs() {
		s := sets[l.dataDir]
		if s == nil {
			continue
		}
		l.mu.RLock()
		s.rp[l.tp] = l.recoveryPoint
		written = append(written, l)
		rps = append(rps, l.recoveryPoint)
		s.ls[l.tp] = l.logStart
		s.hw[l.tp] = l.hw
		if l.cfg.Compact {
			s.cl[l.tp] = l.cleanerCheckpoint
		}
		l.mu.RUnlock()
	}
	var first error
	for dir, s := range sets {
		for _, f := range []struct {
			name string
			m    map[TopicPartition]int64
		}{{recoveryPointFile, s.rp}, {logStartFile, s.ls}, {replicationFile, s.hw}, {cleanerFile, s.cl}} {
			if err := writeFileAtomic(m.fs, filepath.Join(dir, f.name), encodeOffsets(f.m)); err != nil && first == nil {
				first = fmt.Errorf("logstore: write %s: %w", f.name, storageErr(err))
			}
		}
	}
	if first == nil {
		for i, l := range written {
			l.mu.Lock()
			l.persistedRP = rps[i]
			l.mu.Unlock()
		}
	}
	return first
}

// startLoops starts the background retention, cleaner and checkpoint loops.
func (m *Manager) startLoops() {
	every := func(d, def time.Duration, fn func()) {
		if d < 0 {
			return
		}
		if d == 0 {
			d = def
		}
		m.bg.Add(1)
		go func() {
			defer m.bg.Done()
			t := time.NewTicker(d)
			defer t.Stop()
			for {
				select {
				case <-m.stop:
					return
				case <-t.C:
					fn()
				}
			}
		}()
	}
	every(m.opts.RetentionCheckInterval, 5*time.Minute, func() {
		for _, l := range m.Logs() {
			if _, err := l.ApplyRetention(); err != nil && !errors.Is(err, ErrClosed) {
				m.logger.Warn("logstore: retention failed", "partition", l.tp.String(), "err", err)
			}
			l.unmapIdle()
		}
	})
	every(m.opts.CleanerInterval, 15*time.Second, func() {
		// Cleaning stops at the recovery point on disk; bring it up to
		// date once for every log rather than once per log.
		if err := m.writeCheckpoints(false); err != nil {
			m.logger.Warn("logstore: checkpoint failed", "err", err)
		}
		for _, l := range m.Logs() {
			select {
			case <-m.stop:
				return
			default:
			}
			if _, err := l.Compact(); err != nil && !errors.Is(err, ErrClosed) {
				m.logger.Warn("logstore: compaction failed", "partition", l.tp.String(), "err", err)
			}
		}
	})
	every(m.opts.CheckpointInterval, time.Minute, func() {
		if err := m.writeCheckpoints(false); err != nil {
			m.logger.Warn("logstore: checkpoint failed", "err", err)
		}
	})
}
