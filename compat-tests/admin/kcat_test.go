package admin

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/potok-io/potok/compat-tests/harness"
)

// kcat -L lists the broker as controller and every topic with its
// partitions, leaders, replicas and ISRs (brief §2.3).
func TestKcatList(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat is not installed (make deps installs it)")
	}
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 3, nil)
	out, err := exec.Command("kcat", "-L", "-b", b.Addr(), "-m", "10").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -L: %v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{
		"1 brokers:", "broker 1 at 127.0.0.1:" + strings.Split(b.Addr(), ":")[1] + " (controller)",
		fmt.Sprintf("topic \"%s\" with 3 partitions:", topic),
		"partition 2, leader 1, replicas: 1, isrs: 1",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("kcat -L lacks %q:\n%s", want, s)
		}
	}
}
