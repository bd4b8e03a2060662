package main

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// pacer wakes its caller every interval, on time. Go's runtime timers
// (time.Sleep, time.Ticker) are served by epoll_wait with a timeout in
// whole milliseconds, so when the process is otherwise idle a 100 µs sleep
// lasts a millisecond or more: a fixed-rate producer built on them sends in
// bursts, and the records at the head of each burst count up to a
// millisecond of the harness's own lateness against the broker. A timerfd
// expires on the kernel's high-resolution clock and wakes the netpoller
// through its file descriptor, without holding a thread.
type pacer struct {
	f   *os.File
	buf [8]byte
}

// newPacer starts a periodic timer whose first tick is at start.
func newPacer(start time.Time, interval time.Duration) (*pacer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("timerfd: %w", err)
	}
	first := max(time.Until(start), time.Microsecond)
	spec := unix.ItimerSpec{Interval: unix.NsecToTimespec(int64(interval)), Value: unix.NsecToTimespec(int64(first))}
	if err := unix.TimerfdSettime(fd, 0, &spec, nil); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("timerfd: %w", err)
	}
	// A non-blocking descriptor is registered with the netpoller: Read
	// parks the goroutine until the timer expires.
	return &pacer{f: os.NewFile(uintptr(fd), "pacer")}, nil
}

// wait blocks until the next tick (returning at once if ticks were missed).
func (p *pacer) wait() error {
	_, err := p.f.Read(p.buf[:])
	return err
}

func (p *pacer) close() { p.f.Close() }
