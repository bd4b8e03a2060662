package broker

import (
	"testing"
	"time"
)

// eventually polls cond until it returns nil or timeout passes, then fails
// the test naming what it waited for: the one way tests here wait for
// something asynchronous (nats' checkFor).
func eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(wait)
	}
}
