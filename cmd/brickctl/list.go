package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/alloc2m"
	"github.com/brick-storage/brick/brick"
	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
)

func listCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list allocated blocks as extents: runs of consecutive IDs in one state",
		Description: "States: resident (allocated, not mapped), tiered (on the slow tier; brought back\n" +
			"into pmem by its next map), mapped-ro, mapped-rw, and unclean\n" +
			"(mapped read-write when the brick last stopped uncleanly: may hold torn writes).\n" +
			"With --meta DIR, reads the metadata directly while brickd is down (the after-crash view).",
		ArgsUsage: "[FIRST [LAST]]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "meta", Usage: "read the metadata directory DIR instead of asking brickd (brickd must be stopped)"},
		},
		Action: action(func(c *call) error {
			first, last := uint64(0), ^uint64(0)
			var err error
			if c.NArg() > 0 {
				if first, err = parseID(c.Args().Get(0)); err != nil {
					return err
				}
			}
			if c.NArg() > 1 {
				if last, err = parseID(c.Args().Get(1)); err != nil {
					return err
				}
			}
			if c.NArg() > 2 || first > last {
				return usagef("list takes an optional range FIRST [LAST] with FIRST ≤ LAST")
			}
			var extents []protocol.Extent
			if dir := c.String("meta"); dir != "" {
				extents, err = listOffline(dir, first, last)
			} else {
				err = withClient(c, func(ctx context.Context, cl *client.Client) error {
					extents, err = cl.List(ctx, first, last)
					return err
				})
			}
			if err != nil {
				return err
			}
			return printExtents(c, extents)
		}),
	}
}

// listOffline reads the extents straight from a stopped brick's metadata.
func listOffline(dir string, first, last uint64) ([]protocol.Extent, error) {
	// The store logs for a daemon (e.g. a warning about unclean blocks);
	// here the table says it all, and errors come back as errors.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	st, err := alloc2m.OpenReadOnly(dir)
	if errors.Is(err, alloc2m.ErrLocked) {
		return nil, &metaInUseError{dir: dir, err: err}
	}
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var out []protocol.Extent
	for {
		r := brick.ListStore(st, first, last, protocol.MaxExtentsPerList, brick.BlockState)
		out = append(out, r.Extents...)
		if !r.More {
			return out, nil
		}
		first = r.Next
	}
}

type extentJSON struct {
	First  string `json:"first"`
	Last   string `json:"last"`
	Blocks uint64 `json:"blocks"`
	Bytes  uint64 `json:"bytes"`
	State  string `json:"state"`
}

func printExtents(c *call, extents []protocol.Extent) error {
	js := make([]extentJSON, 0, len(extents))
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FIRST\tLAST\tBLOCKS\tSIZE\tSTATE")
	var total uint64
	for _, e := range extents {
		lastID := e.First + (e.Blocks-1)*alloc2m.BlockSize
		js = append(js, extentJSON{First: hexID(e.First), Last: hexID(lastID), Blocks: e.Blocks, Bytes: e.Blocks * alloc2m.BlockSize, State: e.State.String()})
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", hexID(e.First), hexID(lastID), e.Blocks, humanBytes(e.Blocks*alloc2m.BlockSize), e.State)
		total += e.Blocks
	}
	tw.Flush()
	human := strings.TrimRight(b.String(), "\n") + fmt.Sprintf("\n%d extent(s), %d block(s)", len(extents), total)
	if len(extents) == 0 {
		human = "no blocks allocated"
	}
	return emit(c, js, human)
}
