package harness

import (
	"net"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// TestLifecycle starts a broker, restarts it gracefully and after SIGKILL,
// and checks that it comes back on the same port with the same data
// directory (its topics, which live in the metadata log, are still there)
// and that a stopped broker no longer listens.
func TestLifecycle(t *testing.T) {
	b := Start(t, Options{Settings: map[string]string{"num.partitions": "2"}})
	addr := b.Addr()
	if strings.HasSuffix(addr, ":9092") || strings.HasSuffix(addr, ":0") {
		t.Fatalf("broker address %s", addr)
	}
	CreateTopic(t, addr, "kept", 3, nil)
	for _, restart := range []struct {
		name string
		stop func()
	}{{"SIGTERM", b.Stop}, {"SIGKILL", b.Kill}} {
		restart.stop()
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Fatalf("after %s the broker still accepts connections", restart.name)
		}
		b.Restart()
		if b.Addr() != addr {
			t.Fatalf("after %s restart the broker is at %s, was %s", restart.name, b.Addr(), addr)
		}
		l, err := Admin(t, addr).ListTopics(Ctx(t, 10*time.Second))
		if err != nil || len(l["kept"].Partitions) != 3 {
			t.Fatalf("after %s restart: topics %v (%v), want kept with 3 partitions", restart.name, l.Names(), err)
		}
	}
	if n := strings.Count(b.Log(), "potok is ready"); n != 3 {
		t.Fatalf("the log shows %d starts, want 3", n)
	}
	if !strings.Contains(b.Log(), "stopped cleanly") {
		t.Fatalf("no clean stop in the log after SIGTERM")
	}
}
