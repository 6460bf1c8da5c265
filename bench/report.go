//go:build linux

package bench

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// Section is the outcome of one figure: its tables, the commands behind
// them and the conditions they were measured in.
type Section struct {
	// Figure is the name given to -figures, such as throughput.
	Figure string
	Title  string
	// Commands are the command lines that produced the figure, as run.
	Commands []string
	// Conditions describe the machine's state, such as load averages.
	Conditions []string
	Tables     []Table
	// Notes are facts a reader needs to read the tables, and the tools
	// that were skipped and why.
	Notes []string
}

// Table is a Markdown table.
type Table struct {
	Header []string
	Rows   [][]string
}

// addRow appends a row to the table.
func (t *Table) addRow(cells ...string) { t.Rows = append(t.Rows, cells) }

// WriteMarkdown writes the sections as Markdown.
func WriteMarkdown(w io.Writer, sections []Section) {
	for _, s := range sections {
		fmt.Fprintf(w, "## %s\n\n", s.Title)
		if len(s.Commands) > 0 {
			fmt.Fprintf(w, "```sh\n%s\n```\n\n", strings.Join(s.Commands, "\n"))
		}
		for _, c := range s.Conditions {
			fmt.Fprintf(w, "%s\n\n", c)
		}
		for _, t := range s.Tables {
			writeTable(w, t)
			fmt.Fprintln(w)
		}
		for _, n := range s.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
		if len(s.Notes) > 0 {
			fmt.Fprintln(w)
		}
	}
}

func writeTable(w io.Writer, t Table) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(t.Header, " | "))
	seps := make([]string, len(t.Header))
	for i := range seps {
		seps[i] = "---"
	}
	fmt.Fprintf(w, "|%s|\n", strings.Join(seps, "|"))
	for _, row := range t.Rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
}

// shellJoin joins args into a command line, quoting those that the shell
// would split or expand.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$`\\|&;<>()*?[]{}#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// display shortens the absolute paths in args to their base names, so
// that a command line reads as it would with the programs in PATH and the
// files in the current directory.
func (e *env) display(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if filepath.IsAbs(a) {
			a = filepath.Base(a)
		}
		out[i] = a
	}
	return out
}

// commentLines prefixes every line of text with "# ".
func commentLines(text string) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "#   " + l
	}
	return strings.Join(lines, "\n")
}
