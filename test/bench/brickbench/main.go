// Command brick-bench holds the measuring programs of `make bench`
// (scripts/bench.sh) that are not brickctl: the baselines brick is compared
// with (TCP ping-pong and request-reply between two processes, raw Pebble
// synced commits with brick's options, msync of 4 KiB of brick's image),
// the scale measurements (populate, restart, list, resident memory, idle
// sessions) against a running brickd, and the report that turns every
// figure of one run into the goals table, JSON and HTML.
//
// Each measurement writes its figures as a bench.Figures JSON file (--out)
// and prints them; `report` merges the files of one run.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/internal/bench"
)

func main() {
	app := &cli.Command{
		Name:  "brick-bench",
		Usage: "baselines, scale measurements and the report of make bench",
		Commands: []*cli.Command{
			tcpServerCommand(), pingPongCommand(), requestReplyCommand(),
			pebbleCommand(), msyncCommand(), scaleCommand(), reportCommand(),
		},
	}
	if err := app.Run(context.Background(), os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "brick-bench:", err)
		os.Exit(1)
	}
}

// call is one run of a command: its context and parsed command line.
type call struct {
	Context context.Context
	*cli.Command
}

// action adapts a command's body to urfave/cli's ActionFunc.
func action(fn func(c *call) error) cli.ActionFunc {
	return func(ctx context.Context, cmd *cli.Command) error { return fn(&call{Context: ctx, Command: cmd}) }
}

var outFlag = &cli.StringFlag{Name: "out", Usage: "write the figures as JSON to `FILE`", TakesFile: true}

// emit prints figures and writes them to --out.
func emit(c *call, f *bench.Figures) error {
	for k, v := range f.Values {
		fmt.Printf("%s %s\n", k, strconv.FormatFloat(v, 'f', -1, 64))
	}
	for k, v := range f.Notes {
		if _, ok := f.Values[k]; ok {
			fmt.Printf("%s note: %s\n", k, v)
		} else {
			fmt.Printf("%s n/a: %s\n", k, v)
		}
	}
	if path := c.String(outFlag.Name); path != "" {
		return bench.WriteFigures(path, f)
	}
	return nil
}

func figures() *bench.Figures {
	return &bench.Figures{Values: map[string]float64{}, Notes: map[string]string{}}
}
