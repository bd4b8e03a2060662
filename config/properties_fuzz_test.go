package config

import (
	"strings"
	"testing"
)

// escapeProperty writes s so that a .properties parser reads it back as s,
// as java.util.Properties.store does.
func escapeProperty(s string, key bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' || c == '=' || c == ':' || c == '#' || c == '!':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == ' ' && (key || i == 0):
			b.WriteString(`\ `)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\f':
			b.WriteString(`\f`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// FuzzParseProperties: any bytes (a meta.properties or server.properties
// on disk) parse or fail without panicking, and a key and value written
// the way Java writes them read back unchanged, after any other line.
func FuzzParseProperties(f *testing.F) {
	f.Add("#\n#Tue, 01 Jan 2030\nversion=1\nnode.id=1\ncluster.id=abc\n", "directory.id", "x=y: z")
	f.Add("a\\\n  b = c\\\\\n", "key with spaces", " leading")
	f.Add("\\", "k", "\\")
	f.Add("x:\t\f=\n!c\n", "\t", "\r\n")
	f.Fuzz(func(t *testing.T, file, key, value string) {
		ParseProperties(strings.NewReader(file))
		if key == "" || strings.ContainsAny(file, "\r") {
			return
		}
		prefix := file
		if prefix != "" && !strings.HasSuffix(prefix, "\n") {
			prefix += "\n"
		}
		if continuesAll(prefix) {
			return // the last line continues onto ours
		}
		doc := prefix + escapeProperty(key, true) + "=" + escapeProperty(value, false) + "\n"
		v, err := ParseProperties(strings.NewReader(doc))
		if err != nil {
			// A bad line in the prefix may fail the file.
			if _, perr := ParseProperties(strings.NewReader(prefix)); perr == nil {
				t.Fatalf("%q: %v", doc, err)
			}
			return
		}
		if got, ok := v[key]; !ok || got != value {
			t.Fatalf("%q: key %q reads back as %q (present %v), want %q", doc, key, got, ok, value)
		}
	})
}

// continuesAll reports whether the text's last logical line is still
// open: its last line ends in a line continuation. Comment and blank lines
// only count as such outside a continuation, as in Java.
func continuesAll(s string) bool {
	open := false
	for _, raw := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		line := strings.TrimLeft(raw, " \t\f")
		if !open && (line == "" || line[0] == '#' || line[0] == '!') {
			continue
		}
		open = continues(line)
	}
	return open
}
