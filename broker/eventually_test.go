package broker

import (
	"testing"
	"time"
)

// eventually polls check until it returns nil or timeout passes, then fails
// the test with the last error: the one way tests here wait for something
// asynchronous (nats' checkFor).
func eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %v: %v", timeout, err)
		}
		time.Sleep(wait)
	}
}
