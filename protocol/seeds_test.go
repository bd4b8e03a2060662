package protocol

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func writeSeeds() bool { return os.Getenv("POTOK_WRITE_FUZZ_SEEDS") != "" }

// writeCorpus writes seed files for a fuzz target, one per name, each
// holding the target's arguments (all []byte) in go test's corpus format.
func writeCorpus(t *testing.T, target string, seeds map[string][][]byte) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, args := range seeds {
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, a := range args {
			fmt.Fprintf(&b, "[]byte(%q)\n", a)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
