package config

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// ParseProperties reads a Java .properties file as kafka-server-start.sh
// takes one: key=value or key: value or key value, # and ! comments,
// backslash line continuations and escapes.
func ParseProperties(r io.Reader) (Values, error) {
	out := Values{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var pending strings.Builder
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimLeft(sc.Text(), " \t\f")
		if pending.Len() == 0 && (line == "" || line[0] == '#' || line[0] == '!') {
			continue
		}
		if continues(line) {
			pending.WriteString(line[:len(line)-1])
			continue
		}
		pending.WriteString(line)
		full := pending.String()
		pending.Reset()
		k, v := splitProperty(full)
		if k == "" {
			return nil, fmt.Errorf("line %d: no key", lineNo)
		}
		out[unescape(k)] = unescape(v)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if pending.Len() > 0 {
		k, v := splitProperty(pending.String())
		out[unescape(k)] = unescape(v)
	}
	return out, nil
}

// continues reports whether a line ends with an odd number of backslashes.
func continues(line string) bool {
	n := 0
	for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

func splitProperty(s string) (string, string) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '=', ':', ' ', '\t', '\f':
			k := s[:i]
			rest := strings.TrimLeft(s[i:], " \t\f")
			if rest != "" && (rest[0] == '=' || rest[0] == ':') && (s[i] == ' ' || s[i] == '\t' || s[i] == '\f') {
				rest = rest[1:]
			} else if s[i] == '=' || s[i] == ':' {
				rest = s[i+1:]
			}
			return k, strings.TrimLeft(rest, " \t\f")
		}
	}
	return s, ""
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
