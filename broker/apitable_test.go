package broker

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeAPITable fails when README.md's API table differs from the
// registry. Regenerate it with `make readme`.
func TestReadmeAPITable(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), APITableMarkdown()) {
		t.Fatalf("README.md's API table is stale; regenerate it with `make readme`:\n%s", APITableMarkdown())
	}
}
