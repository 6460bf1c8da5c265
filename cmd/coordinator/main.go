// Command coordinator runs load-test plans over NATS and prints their
// results. See `coordinator --help`.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes shared with scripts.
const (
	exitOK      = 0
	exitFailed  = 1 // a threshold failed or the run could not complete
	exitInvalid = 2 // usage error or invalid plan; nothing was started
)

func main() {
	app := &cli.App{
		Name:           "coordinator",
		Usage:          "run distributed HTTP load tests over NATS",
		Flags:          globalFlags(),
		Version:        version,
		Commands:       []*cli.Command{startCommand(), validateCommand()},
		ExitErrHandler: func(*cli.Context, error) {},
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(c.App.ErrWriter, "coordinator: unknown command %q; use start or validate (coordinator --help)\n", name)
			os.Exit(exitInvalid)
		},
	}
	os.Exit(exitCode(app.Run(interspersed(app.Flags, app.Commands, os.Args))))
}

// exitCode prints err and returns the process exit code for it: the code
// carried by a cli.ExitCoder, or exitInvalid for flag and usage errors.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var coder cli.ExitCoder
	if errors.As(err, &coder) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "coordinator:", msg)
		}
		return coder.ExitCode()
	}
	fmt.Fprintln(os.Stderr, "coordinator:", err)
	return exitInvalid
}

// globalFlags are the flags given before the command. A --log-level here
// applies to the command unless the command sets its own.
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "log level: debug, info, warn or error"},
	}
}

// logLevel returns the command's --log-level, or the global one when only
// that was set.
func logLevel(c *cli.Context) string {
	if !c.IsSet("log-level") {
		for _, parent := range c.Lineage()[1:] {
			if parent.IsSet("log-level") {
				return parent.String("log-level")
			}
		}
	}
	return c.String("log-level")
}
