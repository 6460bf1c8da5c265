package plan

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a plan, located at the YAML key or
// value that caused it.
type Problem struct {
	// Line and Column are 1-based positions in the plan file. They are 0
	// when the problem concerns the input as a whole, such as its size.
	Line   int
	Column int

	// Key is the dotted path of the key involved, such as workers.min or
	// tasks[1].weight, with tasks counted from 0. It is empty when the
	// problem concerns the whole plan.
	Key string

	// Message states the value, what is wrong with it and how to fix it.
	Message string
}

// String formats the problem as "line 7, column 13: key: message",
// leaving out the position or the key when they are unknown.
func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.Line > 0 && p.Column > 0:
		fmt.Fprintf(&b, "line %d, column %d: ", p.Line, p.Column)
	case p.Line > 0:
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Errors is every problem found in a plan, sorted by line and column.
// Parse returns it as its error, so callers can recover the list with
// errors.As.
type Errors []Problem

// Error returns one problem per line.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, p := range e {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// problems collects Problems while a plan is decoded.
type problems struct {
	list Errors
}

// addf records a problem at node n, which may be nil when the problem has
// no position.
func (ps *problems) addf(n *yaml.Node, key, format string, args ...any) {
	p := Problem{Key: key, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	ps.list = append(ps.list, p)
}

// sorted returns the problems ordered by position, keeping the order in
// which they were found for problems at the same position.
func (ps *problems) sorted() Errors {
	slices.SortStableFunc(ps.list, func(a, b Problem) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	return ps.list
}
