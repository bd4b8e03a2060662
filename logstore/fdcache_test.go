package logstore

import (
	"math"
	"testing"
)

// TestOpenFilesStayBounded: with more segment files than MaxOpenFiles, the
// logs keep at most that many descriptors once their writes are synced,
// and every log still appends, reads, recovers and reopens whole.
func TestOpenFilesStayBounded(t *testing.T) {
	dirs := tempDirs(t, 1)
	const limit, logs = 12, 40
	open := func() *Manager {
		m, err := Open(ManagerOptions{Dirs: dirs, FS: OSFS(), MaxOpenFiles: limit,
			RetentionCheckInterval: -1, CleanerInterval: -1, CheckpointInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	openFiles := func(m *Manager) int {
		m.fds.mu.Lock()
		defer m.fds.mu.Unlock()
		return m.fds.open
	}
	m := open()
	c := testConfig()
	var ls []*Log
	for i := 0; i < logs; i++ {
		l, err := m.Create(TopicPartition{"fd", int32(i)}, testID, c)
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	// Big enough batches for index entries, and enough of them to roll
	// segments; durable, so the logs are clean once appended.
	for round := 0; round < 12; round++ {
		for _, l := range ls {
			mustAppend(t, l, buildBatch(t, batchSpec{n: 4, ts: 1, pid: -1, valueSize: 1500}), AppendOptions{Durable: true})
		}
	}
	for i, l := range ls {
		if got := readAll(t, l, 0); len(got) != 12 {
			t.Fatalf("log %d: %d batches read back, want 12", i, len(got))
		}
	}
	if n := openFiles(m); n > limit {
		t.Errorf("%d files open, limit %d", n, limit)
	}
	// A log with unsynced appends keeps its descriptor whatever the limit.
	c.FlushMessages = math.MaxInt64
	ls[0].SetConfig(c)
	mustAppend(t, ls[0], buildBatch(t, plain(2, 1)), AppendOptions{})
	for _, l := range ls[1:] {
		readAll(t, l, 0)
	}
	act := ls[0].segs[len(ls[0].segs)-1].log
	act.fmu.Lock()
	dirtyOpen := act.f != nil
	act.fmu.Unlock()
	if !dirtyOpen {
		t.Error("an unsynced log file was closed")
	}
	if err := ls[0].Flush(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if n := openFiles(m); n != 0 {
		t.Errorf("%d files still open after Close", n)
	}

	// Reopened: loading checks every segment, within the limit too.
	m = open()
	defer m.Close()
	if n := openFiles(m); n > limit {
		t.Errorf("%d files open right after loading, limit %d", n, limit)
	}
	for i := 0; i < logs; i++ {
		l := m.Get(TopicPartition{"fd", int32(i)})
		want := 12
		if i == 0 {
			want = 13
		}
		if got := readAll(t, l, 0); len(got) != want {
			t.Fatalf("log %d after reopening: %d batches, want %d", i, len(got), want)
		}
		mustAppend(t, l, buildBatch(t, plain(1, 1)), AppendOptions{Durable: true})
	}
	if n := openFiles(m); n > limit {
		t.Errorf("%d files open after reopening, limit %d", n, limit)
	}
}
