package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed moves the flags that follow a subcommand's arguments in
// front of them, so that `coordinator start plan.yaml --out x.json` works
// as well as `coordinator start --out x.json plan.yaml`. The flag package
// that urfave/cli uses stops at the first argument that is not a flag.
// globals are the application's own flags, whose values are skipped.
func interspersed(globals []cli.Flag, commands []*cli.Command, args []string) []string {
	for i := 1; i < len(args); i++ {
		cmd := findCommand(commands, args[i])
		if cmd == nil {
			if strings.HasPrefix(args[i], "-") {
				// A global flag, and its value if it takes one.
				name := strings.TrimLeft(args[i], "-")
				if !strings.Contains(name, "=") && takesValue(globals, name) {
					i++
				}
				continue
			}
			return args
		}
		out := append([]string{}, args[:i+1]...)
		return append(out, reorder(cmd, args[i+1:])...)
	}
	return args
}

func findCommand(commands []*cli.Command, name string) *cli.Command {
	for _, c := range commands {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// reorder returns args with flags (and the values of flags that take one)
// first and other arguments after them, each group in its original order.
func reorder(cmd *cli.Command, args []string) []string {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			rest = append(rest, arg)
			continue
		}
		flags = append(flags, arg)
		name := strings.TrimLeft(arg, "-")
		if strings.Contains(name, "=") || !takesValue(cmd.Flags, name) || i+1 >= len(args) {
			continue
		}
		i++
		flags = append(flags, args[i])
	}
	return append(flags, rest...)
}

func takesValue(flags []cli.Flag, name string) bool {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			_, isBool := f.(*cli.BoolFlag)
			return !isBool
		}
	}
	return false
}
