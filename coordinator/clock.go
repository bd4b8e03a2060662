package coordinator

import "time"

// Clock is the coordinator's time: the current time and timers. Production
// uses the wall clock; tests use a logical clock they advance by hand, so a
// session timeout is a command in a transcript, not a sleep.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f on its own goroutine (or, for a logical clock, on
	// the goroutine that advances time) once d has passed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc.
type Timer interface {
	// Stop prevents the call if it has not started; it reports whether
	// it did.
	Stop() bool
}

// WallClock is the real clock.
type WallClock struct{}

// Now implements Clock.
func (WallClock) Now() time.Time { return time.Now() }

// AfterFunc implements Clock.
func (WallClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// deadline is one re-armable timer owned by a group or a member. Arming it
// again or disarming it makes an earlier firing that already started a
// no-op: the callback checks the sequence number under the shard lock.
type deadline struct {
	t   Timer
	seq uint64
}

// armLocked (re)starts d to run fn under the shard lock after after.
func (s *shard) armLocked(d *deadline, after time.Duration, fn func()) {
	if d.t != nil {
		d.t.Stop()
	}
	d.seq++
	seq := d.seq
	d.t = s.c.clock.AfterFunc(max(after, 0), func() {
		s.do(func() {
			if d.seq != seq {
				return
			}
			d.t = nil
			fn()
		})
	})
}

// disarmLocked stops d.
func disarmLocked(d *deadline) {
	if d.t != nil {
		d.t.Stop()
		d.t = nil
	}
	d.seq++
}
