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
	app := &cli.App{
		Name:    "brickd",
		Usage:   "export persistent memory as 2 MiB RDMA blocks",
		Version: version,
		Flags:   flags(),
		Action:  run,
		// Errors are printed once, as sentences, by main.
		ExitErrHandler: func(*cli.Context, error) {},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "brickd: %v\n", err)
		os.Exit(1)
	}
}
