package admin

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/potok-io/potok/compat-tests/harness"
)

// kafkajs's admin client (no flexible versions at all: every API must keep
// a non-flexible version in range, brief trap #37), by kafkajs_admin.cjs.
// kafkajs comes from compat-tests/js/node_modules (make deps).
func TestKafkajsAdmin(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	modules, _ := filepath.Abs(filepath.Join("..", "js", "node_modules"))
	if _, err := os.Stat(filepath.Join(modules, "kafkajs")); err != nil {
		t.Skip("kafkajs is not installed in compat-tests/js (make deps)")
	}
	b := harness.Start(t, harness.Options{})
	cmd := exec.Command("node", "kafkajs_admin.cjs", b.Addr(), harness.Topic(t, ""))
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kafkajs admin: %v\n%s", err, out)
	}
}
