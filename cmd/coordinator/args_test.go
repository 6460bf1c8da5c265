package main

import (
	"slices"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestInterspersedMovesFlagsBeforePlan(t *testing.T) {
	globals := globalFlags()
	commands := []*cli.Command{startCommand(), validateCommand()}
	cases := []struct {
		name string
		in   []string
		want []string
	}{
		{"flags after the plan",
			[]string{"coordinator", "start", "plan.yaml", "--out", "x.json", "--local-workers=0"},
			[]string{"coordinator", "start", "--out", "x.json", "--local-workers=0", "plan.yaml"}},
		{"flags before the plan stay",
			[]string{"coordinator", "start", "--out", "x.json", "plan.yaml"},
			[]string{"coordinator", "start", "--out", "x.json", "plan.yaml"}},
		{"global flag before the command",
			[]string{"coordinator", "--log-level", "debug", "validate", "plan.yaml"},
			[]string{"coordinator", "--log-level", "debug", "validate", "plan.yaml"}},
		{"global flag before the command and flags after the plan",
			[]string{"coordinator", "--log-level", "warn", "start", "plan.yaml", "--listen", "127.0.0.1:0"},
			[]string{"coordinator", "--log-level", "warn", "start", "--listen", "127.0.0.1:0", "plan.yaml"}},
		{"double dash ends flags",
			[]string{"coordinator", "start", "--", "--odd.yaml"},
			[]string{"coordinator", "start", "--", "--odd.yaml"}},
		{"unknown command is left alone",
			[]string{"coordinator", "nope", "x", "--out", "y"},
			[]string{"coordinator", "nope", "x", "--out", "y"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := interspersed(globals, commands, c.in)
			if !slices.Equal(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}
