// Command brickd is the brick daemon: it exports a persistent memory region
// as 2 MiB blocks over RDMA (or the software RNIC on tcp://).
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

var version = "dev"

func main() {
	app, err := newApp()
	if err == nil {
		err = app.Run(os.Args)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "brickd: %v\n", err)
		os.Exit(1)
	}
}

// newApp builds the command line; every flag can also come from the
// config file (config.go).
func newApp() (*cli.App, error) {
	fl, before, err := withConfig(flags())
	if err != nil {
		return nil, err
	}
	return &cli.App{
		Name:    "brickd",
		Usage:   "export persistent memory as 2 MiB RDMA blocks",
		Version: version,
		Flags:   fl,
		Before:  before,
		Action:  run,
		// Errors are printed once, as sentences, by main; a flag that does
		// not parse is one of them, without the whole help text.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return fmt.Errorf("%w; brickd --help lists the flags", err)
		},
	}, nil
}
