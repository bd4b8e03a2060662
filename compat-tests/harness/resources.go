package harness

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The process's resources, for the tests that check the broker stays within
// bounds (limits, soak). They read Linux's /proc and the broker's /metrics.

// PID returns the process id of the running broker, 0 when it is not
// running.
func (b *Broker) PID() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil || b.cmd.Process == nil {
		return 0
	}
	return b.cmd.Process.Pid
}

// Usage is a sample of the broker process's resources.
type Usage struct {
	RSS int64 // resident set size, bytes (VmRSS)
	HWM int64 // peak resident set size since start, bytes (VmHWM)
	// Anon is the anonymous part of RSS (RssAnon): the heap, stacks and
	// buffers, without the pages of memory-mapped log segments, which
	// count in RSS while they are read but belong to the page cache.
	Anon    int64
	Threads int // OS threads
	FDs     int // open file descriptors
}

func (p Usage) String() string {
	return fmt.Sprintf("rss %.1f MiB (anon %.1f MiB, peak %.1f MiB), %d threads, %d fds",
		float64(p.RSS)/(1<<20), float64(p.Anon)/(1<<20), float64(p.HWM)/(1<<20), p.Threads, p.FDs)
}

// Usage samples the running broker's /proc entries.
func (b *Broker) Usage() (Usage, error) {
	pid := b.PID()
	if pid == 0 {
		return Usage{}, errors.New("broker not running")
	}
	return ReadUsage(pid)
}

// ReadUsage samples /proc/<pid>.
func ReadUsage(pid int) (Usage, error) {
	var p Usage
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, err
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			p.RSS = n << 10
		case "VmHWM":
			p.HWM = n << 10
		case "RssAnon":
			p.Anon = n << 10
		case "Threads":
			p.Threads = int(n)
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return p, err
	}
	p.FDs = len(fds)
	return p, nil
}

// ResetPeak resets the process's peak RSS (VmHWM) to its current RSS, so
// that a test measures the peak of what it does (Linux: writing 5 to
// /proc/<pid>/clear_refs).
func (b *Broker) ResetPeak() error {
	pid := b.PID()
	if pid == 0 {
		return errors.New("broker not running")
	}
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

var httpAddrRE = regexp.MustCompile(`potok is ready[^\n]* http=http://([^ \n]+)`)

// HTTPAddr returns host:port of the broker's HTTP admin listener as the
// latest run announced it ("" unless potok.http.listener is set).
func (b *Broker) HTTPAddr() string {
	m := httpAddrRE.FindAllStringSubmatch(b.Log(), -1)
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1][1]
}

// Metric returns the value of an unlabelled metric from the broker's
// /metrics (potok.http.listener must be set).
func (b *Broker) Metric(name string) (float64, error) {
	addr := b.HTTPAddr()
	if addr == "" {
		return 0, errors.New("no HTTP admin listener (set potok.http.listener)")
	}
	cl := http.Client{Timeout: 10 * time.Second}
	resp, err := cl.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("metric %s not found", name)
}

// Sampler samples a process's /proc every interval and keeps the largest
// anonymous RSS, thread and fd counts seen.
type Sampler struct {
	done chan struct{}
	wg   sync.WaitGroup

	mu   sync.Mutex
	peak Usage // guarded by mu: the largest of each field
	n    int   // guarded by mu: samples taken
}

// SampleUsage starts sampling pid every interval until Stop.
func SampleUsage(pid int, interval time.Duration) *Sampler {
	s := &Sampler{done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			if p, err := ReadUsage(pid); err == nil {
				s.mu.Lock()
				s.peak.RSS = max(s.peak.RSS, p.RSS)
				s.peak.Anon = max(s.peak.Anon, p.Anon)
				s.peak.HWM = max(s.peak.HWM, p.HWM)
				s.peak.Threads = max(s.peak.Threads, p.Threads)
				s.peak.FDs = max(s.peak.FDs, p.FDs)
				s.n++
				s.mu.Unlock()
			}
			select {
			case <-s.done:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// Stop ends sampling and returns the peaks.
func (s *Sampler) Stop() Usage {
	close(s.done)
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}
