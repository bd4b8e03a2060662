package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

var probeSink atomic.Uint32 // keeps the probe's loads

// runProbe measures the machine rather than a broker: what it costs here
// to put bytes into the page cache (new pages, pages already cached, pages
// freed a moment ago or a few seconds ago), to write around it (O_DIRECT)
// and read back, and to touch new anonymous memory; what receiving over
// loopback and writing durably cost; a durable broker's write pattern at
// 16 partitions, through the page cache and with O_DIRECT; and how long
// fdatasync takes after an append, after an overwrite of blocks already on
// disk, and after a write into fallocated space. These bound what any
// broker's CPU per GB and acks=all latency can be on the machine;
// docs/performance.md quotes them.
func runProbe(dir string, size int64) error {
	dir, err := os.MkdirTemp(dir, "potok-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	const chunk = 1 << 20
	// The source buffer is mapped and touched once, so that copying from it
	// costs nothing extra; O_DIRECT also wants it page-aligned.
	buf, err := unix.Mmap(-1, 0, chunk, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return err
	}
	defer unix.Munmap(buf)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	size -= size % chunk
	gb := float64(size) / 1e9
	fmt.Printf("Probe of %s, %d MiB per step: CPU (user + system) and wall time per GB\n\n", dir, size>>20)
	fmt.Println("| step | CPU s/GB | wall s/GB |")
	fmt.Println("|---|---:|---:|")
	step := func(name string, f func() error) error {
		c0, t0 := selfCPU(), time.Now()
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Printf("| %s | %.2f | %.2f |\n", name, (selfCPU()-c0)/gb, time.Since(t0).Seconds()/gb)
		return nil
	}
	write := func(name string, flags int) func() error {
		return func() error {
			f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE|flags, 0o644)
			if err != nil {
				return err
			}
			defer f.Close()
			for off := int64(0); off < size; off += chunk {
				if _, err := f.WriteAt(buf, off); err != nil {
					return err
				}
			}
			return nil
		}
	}
	readMapped := func(name string) func() error {
		return func() error {
			f, err := os.Open(filepath.Join(dir, name))
			if err != nil {
				return err
			}
			defer f.Close()
			m, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
			if err != nil {
				return err
			}
			defer unix.Munmap(m)
			unix.Madvise(m, unix.MADV_SEQUENTIAL)
			var sum byte
			for i := 0; i < len(m); i += 4096 {
				sum += m[i]
			}
			probeSink.Store(uint32(sum))
			return nil
		}
	}
	// readDirect reads the file around the page cache, as a log that
	// keeps no cache of old data would serve a consumer that is behind:
	// that many readers at once, each through its own share of the file
	// and into one page-aligned buffer it reuses.
	readDirect := func(name string, readers int) func() error {
		return func() error {
			f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDONLY|unix.O_DIRECT, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			errs := make(chan error, readers)
			per := size / int64(readers) / chunk * chunk
			for r := 0; r < readers; r++ {
				go func(from int64) {
					b, err := unix.Mmap(-1, 0, chunk, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
					if err != nil {
						errs <- err
						return
					}
					defer unix.Munmap(b)
					for off := from; off < from+per; off += chunk {
						if _, err := f.ReadAt(b, off); err != nil {
							errs <- err
							return
						}
					}
					errs <- nil
				}(int64(r) * per)
			}
			for r := 0; r < readers; r++ {
				if e := <-errs; e != nil && err == nil {
					err = e
				}
			}
			return err
		}
	}
	remove := func(name string) { os.Remove(filepath.Join(dir, name)) }
	// Anonymous memory the process keeps (a user-space cache would be
	// made of it), mapped now and touched by the steps, new and then again.
	anon, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return err
	}
	defer unix.Munmap(anon)
	touchAnon := func() error {
		for i := 0; i < len(anon); i += 4096 {
			anon[i] = byte(i)
		}
		return nil
	}
	steps := []struct {
		name string
		f    func() error
	}{
		{"pwrite, new file (new page-cache pages)", write("a", 0)},
		{"pwrite, same range again (pages cached)", write("a", 0)},
		{"pwrite, new file right after deleting one as big", func() error { remove("a"); return write("b", 0)() }},
		{"pwrite, new file 5 s after deleting one as big", func() error { remove("b"); time.Sleep(5 * time.Second); return write("c", 0)() }},
		{"O_DIRECT write, new file", func() error { remove("c"); return write("d", unix.O_DIRECT)() }},
		{"O_DIRECT read of it, 1 MiB at a time into memory kept", readDirect("d", 1)},
		{"O_DIRECT read of it, 4 readers at once", readDirect("d", 4)},
		{"mmap read of it (not cached)", readMapped("d")},
		{"mmap read of it again (cached)", readMapped("d")},
		{"anonymous memory, new (a store per 4 KiB page)", touchAnon},
		{"anonymous memory, the same again", touchAnon},
	}
	for _, s := range steps {
		if err := step(s.name, s.f); err != nil {
			return err
		}
	}
	remove("d")

	// A durable broker's floor: what receiving the bytes costs, and
	// receiving them and writing them to a new file with an fdatasync per
	// MiB, the least any broker that keeps them in the page cache does.
	fmt.Println("\nThe receiving thread of one loopback TCP connection (CPU s/GB):")
	fmt.Println()
	fmt.Println("| receive, then | CPU s/GB |")
	fmt.Println("|---|---:|")
	recv, err := receiveCPU(size, nil)
	if err != nil {
		return fmt.Errorf("loopback receive: %w", err)
	}
	fmt.Printf("| nothing | %.2f |\n", recv/gb)
	f, err := os.Create(filepath.Join(dir, "e"))
	if err != nil {
		return err
	}
	recv, err = receiveCPU(size, func(p []byte, off int64) error {
		if _, err := f.WriteAt(p, off); err != nil {
			return err
		}
		return unix.Fdatasync(int(f.Fd()))
	})
	f.Close()
	remove("e")
	if err != nil {
		return fmt.Errorf("loopback receive and write: %w", err)
	}
	fmt.Printf("| pwrite to a new file and fdatasync, per MiB | %.2f |\n", recv/gb)

	// What answering a Fetch from the page cache costs, both ends of the
	// connection counted: writev from the memory map (Potok's way) against
	// sendfile, which hands the socket references to the cached pages in
	// place of a copy.
	fmt.Println("\nA cached file sent over one loopback TCP connection in 1 MiB pieces, each after a 64 B header; sender and receiver (CPU s/GB):")
	fmt.Println()
	fmt.Println("| send | CPU s/GB | wall s/GB |")
	fmt.Println("|---|---:|---:|")
	span := min(size, 256<<20)
	sf, err := os.Create(filepath.Join(dir, "s"))
	if err != nil {
		return err
	}
	defer sf.Close()
	defer remove("s")
	for off := int64(0); off < span; off += chunk {
		if _, err := sf.WriteAt(buf, off); err != nil {
			return err
		}
	}
	for _, m := range []struct {
		name     string
		sendfile bool
	}{{"writev from the map", false}, {"sendfile", true}} {
		if err := step(m.name, func() error { return sendCached(sf, span, size, m.sendfile) }); err != nil {
			return err
		}
	}

	// What a durable broker does at 16 partitions: rounds of one unaligned
	// append to each of 16 files, each file fdatasynced after its append
	// (Potok at 1 KiB/16p in the benchmark syncs about 650 KB per
	// fdatasync: perf stat, docs/performance.md). Through the page cache,
	// and with O_DIRECT, where an append rewrites the partial block it ends
	// in (from memory the writer keeps, as a log written that way would).
	fmt.Println("\n16 files, rounds of a 512 KiB + 100 B append to each, an fdatasync per file per round (CPU s/GB):")
	fmt.Println()
	fmt.Println("| write | CPU s/GB | wall s/GB |")
	fmt.Println("|---|---:|---:|")
	const files, appendBytes, block = 16, 512<<10 + 100, 4096
	for _, m := range []struct {
		name  string
		flags int
	}{
		{"pwrite (page cache)", 0},
		{"O_DIRECT, the last block rewritten", unix.O_DIRECT},
	} {
		if err := step(m.name, func() error {
			fs := make([]*os.File, files)
			for i := range fs {
				f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("p%d", i)), os.O_RDWR|os.O_CREATE|os.O_TRUNC|m.flags, 0o644)
				if err != nil {
					return err
				}
				defer os.Remove(f.Name())
				defer f.Close()
				fs[i] = f
			}
			// Every round appends as much to each file: one end for all.
			for end := int64(0); end*files < size; end += appendBytes {
				from, to := end, end+appendBytes
				if m.flags != 0 {
					from, to = from/block*block, (to+block-1)/block*block
				}
				for _, f := range fs {
					if _, err := f.WriteAt(buf[:to-from], from); err != nil {
						return err
					}
					if err := unix.Fdatasync(int(f.Fd())); err != nil {
						return err
					}
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}

	fmt.Println("\nfdatasync after a 16 KiB write, 2,000 times, 1 ms apart (ms):")
	fmt.Println()
	fmt.Println("| write | p50 | p90 | p99 | p99.9 | max |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	const n, w = 2000, 16 << 10
	probeSync := func(name string, prepare func(*os.File) error) error {
		f, err := os.Create(filepath.Join(dir, "sync"))
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		if err := prepare(f); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		lat := make([]time.Duration, 0, n)
		for i := 0; i < n; i++ {
			t := time.Now()
			if _, err := f.WriteAt(buf[:w], int64(i)*w); err != nil {
				return err
			}
			if err := unix.Fdatasync(int(f.Fd())); err != nil {
				return err
			}
			lat = append(lat, time.Since(t))
			time.Sleep(time.Millisecond)
		}
		slices.Sort(lat)
		q := func(p float64) float64 { return float64(lat[min(int(p*n), n-1)]) / 1e6 }
		fmt.Printf("| %s | %.3f | %.3f | %.3f | %.3f | %.3f |\n", name, q(.5), q(.9), q(.99), q(.999), q(1))
		return nil
	}
	none := func(*os.File) error { return nil }
	written := func(f *os.File) error {
		for off := int64(0); off < n*w; off += chunk {
			if _, err := f.WriteAt(buf, off); err != nil {
				return err
			}
		}
		return unix.Fdatasync(int(f.Fd()))
	}
	fallocated := func(f *os.File) error {
		if err := unix.Fallocate(int(f.Fd()), 0, 0, n*w); err != nil {
			if errors.Is(err, syscall.EOPNOTSUPP) {
				return nil
			}
			return err
		}
		return unix.Fdatasync(int(f.Fd()))
	}
	for _, s := range []struct {
		name    string
		prepare func(*os.File) error
	}{
		{"append (the file grows: its size is written too)", none},
		{"overwrite of blocks written and synced before", written},
		{"into fallocated (unwritten) space", fallocated},
	} {
		if err := probeSync(s.name, s.prepare); err != nil {
			return err
		}
	}
	return nil
}
