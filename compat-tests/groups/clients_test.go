package groups

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/potok-io/potok/compat-tests/harness"
)

func child(role string) func(t *testing.T, a memberArgs) *exec.Cmd {
	return func(t *testing.T, a memberArgs) *exec.Cmd { return harness.ChildCommand(t, role, a) }
}

func TestSarama(t *testing.T) {
	t.Parallel()
	runScenarios(t, client{name: "sarama", command: child("sarama"), strategy: "range", reportsAssignment: true, static: true})
}

// TestSaramaV2_1 speaks the group APIs at the versions of Kafka 2.1
// (JoinGroup v3, SyncGroup v2, Heartbeat v2, LeaveGroup v2, OffsetCommit
// v4, OffsetFetch v4).
func TestSaramaV2_1(t *testing.T) {
	t.Parallel()
	runScenarios(t, client{name: "sarama", command: child("sarama"), strategy: "range", version: "2.1.0", reportsAssignment: true})
}

func TestKafkaGo(t *testing.T) {
	t.Parallel()
	runScenarios(t, client{name: "kafka-go", command: child("kafkago"), strategy: "range", reportsAssignment: true, quiescent: true, generations: true})
}

func TestConfluentRange(t *testing.T) {
	t.Parallel()
	runScenarios(t, client{name: "confluent", command: child("confluent"), strategy: "range", reportsAssignment: true, static: true})
}

func TestConfluentCooperativeSticky(t *testing.T) {
	t.Parallel()
	runScenarios(t, client{name: "confluent", command: child("confluent"), strategy: "cooperative-sticky", reportsAssignment: true, static: true})
}

func TestConfluentKIP848(t *testing.T) {
	t.Parallel()
	runScenarios(t, client{name: "confluent", command: child("confluent"), strategy: "consumer", kip848: true, reportsAssignment: true})
}

// jsDir is compat-tests/js, where npm ci installs kafkajs.
func jsDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "js")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "kafkajs")); err != nil {
		t.Fatalf("kafkajs is not installed in %s (run make deps, or npm ci there): %v", dir, err)
	}
	return dir
}

func TestKafkajs(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed: %v", err)
	}
	runScenarios(t, client{name: "kafkajs", strategy: "roundrobin", reportsAssignment: true,
		command: func(t *testing.T, a memberArgs) *exec.Cmd {
			dir := jsDir(t)
			args, _ := json.Marshal(a)
			cmd := exec.Command(node, filepath.Join(dir, "kafkajs-member.js"), string(args))
			cmd.Dir = dir
			return cmd
		}})
}
