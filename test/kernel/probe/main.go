// Command probe holds the lab's client probes, each a subcommand that
// drives a real brick through the client library and exits 0 when the
// brick and its RNIC behaved as the probe expects, 1 when they did not
// (with what each RNIC reported), and 2 on a mistake on the command line.
// test/kernel/run builds it as brick-probe; 20-interop.sh runs it in every
// pairing.
//
//	probe badrkey --addr rdma://10.0.3.15:7470 --id 0x200000 [--expect flushed]
//	probe sharedrw --addr rdma://10.0.3.15:7470 --id 0x5000000 --rounds 30
//	probe sharedrw --addr tcp://10.0.3.15:7470 --id 0x5000000 --optional-crc
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/client"
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

// probeCommand is a probe's subcommand: --addr, --id (idUsage says what
// the block must be), --optional-crc (the client option run gets in opts)
// and its own flag. run's error exits 1, unless it carries an exit code
// of its own (a usage error: 2).
func probeCommand(name, usage, idUsage string, flag cli.Flag, run func(cmd *cli.Command, addr string, id uint64, opts client.Options) error) *cli.Command {
	return &cli.Command{
		Name:  name,
		Usage: usage,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Usage: "brick address (tcp:// or rdma://)"},
			&cli.StringFlag{Name: "id", Value: "0x200000", Usage: idUsage},
			&cli.BoolFlag{Name: "optional-crc", Usage: "on tcp://, do not ask the brick for the MPA CRC (client.Options.OptionalCRC)"},
			flag,
		},
		OnUsageError: usageError,
		Action: func(_ context.Context, cmd *cli.Command) error {
			id, err := strconv.ParseUint(cmd.String("id"), 0, 64)
			if err != nil || cmd.String("addr") == "" {
				return cli.Exit("usage: probe "+name+" --addr URL --id ID", 2)
			}
			err = run(cmd, cmd.String("addr"), id, client.Options{OptionalCRC: cmd.Bool("optional-crc")})
			var coded cli.ExitCoder
			if err == nil || errors.As(err, &coded) {
				return err
			}
			return cli.Exit(name+": "+err.Error(), 1)
		},
	}
}
