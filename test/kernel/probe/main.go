// Command probe holds the lab's client probes, each a subcommand that
// drives a real brick through the client library and exits 0 when the
// brick and its RNIC behaved as the probe expects, 1 when they did not
// (with what each RNIC reported), and 2 on a mistake on the command line.
// test/kernel/run builds it as brick-probe; 20-interop.sh runs it in every
// pairing.
//
//	probe badrkey --addr rdma://10.0.3.15:7470 --id 0x200000 [--expect flushed]
//	probe sharedrw --addr rdma://10.0.3.15:7470 --id 0x5000000 --rounds 30
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/urfave/cli/v3"
)

func main() {
	app := &cli.Command{
		Name:     "probe",
		Usage:    "lab probes of a brick through the client library",
		Commands: []*cli.Command{badRKeyCommand(), sharedRWCommand()},
		// A mistake on the command line exits 2, a failed probe 1.
		OnUsageError: usageError,
	}
	if err := app.Run(context.Background(), os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func usageError(_ context.Context, cmd *cli.Command, err error, _ bool) error {
	return cli.Exit(cmd.Name+": "+err.Error(), 2)
}

// target reads --addr and --id, which every probe takes.
func target(cmd *cli.Command) (string, uint64, error) {
	id, err := strconv.ParseUint(cmd.String("id"), 0, 64)
	if err != nil || cmd.String("addr") == "" {
		return "", 0, cli.Exit("usage: probe "+cmd.Name+" --addr URL --id ID", 2)
	}
	return cmd.String("addr"), id, nil
}

// failed makes a probe's error its exit status 1.
func failed(cmd *cli.Command, err error) error {
	if err == nil {
		return nil
	}
	return cli.Exit(cmd.Name+": "+err.Error(), 1)
}

var addrFlag = &cli.StringFlag{Name: "addr", Usage: "brick address (tcp:// or rdma://)"}
