package engine

import (
	"strconv"
	"strings"
)

// urlTemplate is a task URL with ${name} variables, split into the literal
// text between them and the variables.
type urlTemplate struct {
	literals  []string // one more than variables
	variables []string
}

// parseURLTemplate splits url at its ${name} variables. It returns nil for
// a URL without variables. The plan has already checked the names.
func parseURLTemplate(url string) *urlTemplate {
	if !strings.Contains(url, "${") {
		return nil
	}
	t := &urlTemplate{}
	rest := url
	for {
		start := strings.Index(rest, "${")
		end := strings.IndexByte(rest[max(start, 0):], '}')
		if start < 0 || end < 0 {
			t.literals = append(t.literals, rest)
			return t
		}
		t.literals = append(t.literals, rest[:start])
		t.variables = append(t.variables, rest[start+2:start+end])
		rest = rest[start+end+1:]
	}
}

// expand appends the URL with the user's values to buf.
func (t *urlTemplate) expand(buf []byte, u *user) []byte {
	for i, name := range t.variables {
		buf = append(buf, t.literals[i]...)
		switch name {
		case "seq":
			buf = strconv.AppendInt(buf, u.engine.seq.Add(1), 10)
		case "user":
			buf = strconv.AppendInt(buf, int64(u.id), 10)
		case "random":
			buf = strconv.AppendUint(buf, u.rng.Uint64(), 10)
		}
	}
	return append(buf, t.literals[len(t.literals)-1]...)
}
