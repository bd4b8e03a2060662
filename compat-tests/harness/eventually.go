package harness

import (
	"testing"
	"time"
)

// pollInterval is how often Eventually retries.
const pollInterval = 20 * time.Millisecond

// Eventually calls check until it returns nil, failing the test with the
// last error if that does not happen within timeout. It is the one way the
// compatibility tests wait for something asynchronous.
func Eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	if err := Poll(timeout, check); err != nil {
		t.Fatalf("not true within %v: %v", timeout, err)
	}
}

// Poll calls check until it returns nil or timeout passes, and returns the
// last error (nil on success). Use it where a failure should be reported
// rather than fatal.
func Poll(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		<-tick.C
	}
}
