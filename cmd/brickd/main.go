// Command brickd is the brick daemon: it exports a persistent memory region
// as 2 MiB blocks over RDMA (or the software RNIC on tcp://).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/urfave/cli/v3"
)

var version = "dev"

func main() {
	app, err := newApp()
	if err == nil {
		err = app.Run(context.Background(), os.Args)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "brickd: %v\n", err)
		os.Exit(1)
	}
}

// call is brickd's run: its context and the parsed command line.
type call struct {
	Context context.Context
	*cli.Command
}

// newApp builds the command line; every flag can also come from the
// config file (config.go).
func newApp() (*cli.Command, error) {
	fl, before, err := withConfig(flags())
	if err != nil {
		return nil, err
	}
	return &cli.Command{
		Name:    "brickd",
		Usage:   "export persistent memory as 2 MiB RDMA blocks",
		Version: version,
		Flags:   fl,
		Before:  before,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return run(&call{Context: ctx, Command: cmd})
		},
		// brickd has no commands, so no help command: --help is the help.
		HideHelpCommand: true,
		// Errors are printed once, as sentences, by main; a flag that does
		// not parse is one of them, without the whole help text.
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
		OnUsageError: func(_ context.Context, _ *cli.Command, err error, _ bool) error {
			return fmt.Errorf("%w; brickd --help lists the flags", err)
		},
	}, nil
}
