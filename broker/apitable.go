package broker

import (
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// APITableMarkdown renders the served APIs as the Markdown table the README
// shows; a test keeps the README in step with the registry.
func APITableMarkdown() string {
	var sb strings.Builder
	sb.WriteString("| Key | API | Versions |\n| ---: | --- | --- |\n")
	for _, a := range registry() {
		fmt.Fprintf(&sb, "| %d | %s | %d–%d |\n", a.key, kmsg.NameForKey(a.key), a.min, a.max)
	}
	return sb.String()
}
