package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/barrage-load/barrage/internal/plan"
)

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check a plan and print every problem with its line; exit 0 or 2",
		ArgsUsage: "PLAN",
		Action: func(c *cli.Context) error {
			p, err := loadPlan(c)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "%s: valid: %s, %s\n", c.Args().First(), count(p.Users, "user"), count(len(p.Tasks), "task"))
			return nil
		},
	}
}

// loadPlan reads the plan named by the only argument. Its errors carry
// exitInvalid, and a plan's problems are printed one per line.
func loadPlan(c *cli.Context) (*plan.Plan, error) {
	if c.NArg() != 1 {
		return nil, cli.Exit(fmt.Sprintf("expected one plan file, got %d arguments; usage: coordinator %s PLAN", c.NArg(), c.Command.Name), exitInvalid)
	}
	path := c.Args().First()
	p, err := plan.Load(path)
	if err == nil {
		return p, nil
	}
	var problems plan.Errors
	if errors.As(err, &problems) {
		for _, line := range problemLines(path, problems) {
			fmt.Fprintln(c.App.ErrWriter, line)
		}
		count := fmt.Sprintf("%d problems", len(problems))
		if len(problems) == 1 {
			count = "1 problem"
		}
		return nil, cli.Exit(fmt.Sprintf("%s: invalid plan: %s; fix and run validate again", path, count), exitInvalid)
	}
	return nil, cli.Exit(err.Error(), exitInvalid)
}

// problemLines formats problems as PATH:LINE:COLUMN: KEY: MESSAGE, the form
// editors and compilers use.
func problemLines(path string, problems plan.Errors) []string {
	lines := make([]string, len(problems))
	for i, p := range problems {
		pos := path
		switch {
		case p.Line > 0 && p.Column > 0:
			pos = fmt.Sprintf("%s:%d:%d", path, p.Line, p.Column)
		case p.Line > 0:
			pos = fmt.Sprintf("%s:%d", path, p.Line)
		}
		key := ""
		if p.Key != "" {
			key = p.Key + ": "
		}
		lines[i] = fmt.Sprintf("%s: %s%s", pos, key, p.Message)
	}
	return lines
}

// count returns "1 user" or "3 users".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
