package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/alloc2m"
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
	return st.List(first, last, 0, nil).Extents, nil
}

// printExtents prints the extents as a table (or, with --json, an array
// of objects) straight to stdout. A brick with every other block allocated
// lists one extent a block, so this is written for a million lines: it
// makes one pass to size the columns and writes each line once, where
// text/tabwriter and encoding/json would buffer every line and cell. The
// output is byte for byte theirs (list_test.go checks it).
func printExtents(c *call, extents []protocol.Extent) error {
	w := bufio.NewWriterSize(os.Stdout, 1<<16)
	writeExtents(w, extents, c.Bool("json"))
	return w.Flush()
}

// writeExtents is printExtents to w.
func writeExtents(w *bufio.Writer, extents []protocol.Extent, asJSON bool) {
	if asJSON {
		writeExtentsJSON(w, extents)
	} else {
		writeExtentsTable(w, extents)
	}
}

// writeExtentsJSON writes the extents as printExtents's JSON array.
func writeExtentsJSON(w *bufio.Writer, extents []protocol.Extent) {
	var num []byte
	if len(extents) == 0 {
		w.WriteString("[]\n")
		return
	}
	w.WriteString("[\n")
	for i, e := range extents {
		w.WriteString("  {\n    \"first\": \"")
		w.Write(appendHexID(num[:0], e.First))
		w.WriteString("\",\n    \"last\": \"")
		w.Write(appendHexID(num[:0], lastOf(e)))
		w.WriteString("\",\n    \"blocks\": ")
		w.Write(strconv.AppendUint(num[:0], e.Blocks, 10))
		w.WriteString(",\n    \"bytes\": ")
		w.Write(strconv.AppendUint(num[:0], e.Blocks*protocol.BlockSize, 10))
		w.WriteString(",\n    \"state\": ")
		num = strconv.AppendQuote(num[:0], e.State.String())
		w.Write(num)
		if i < len(extents)-1 {
			w.WriteString("\n  },\n")
		} else {
			w.WriteString("\n  }\n")
		}
	}
	w.WriteString("]\n")
}

// writeExtentsTable writes the extents as printExtents's table, and a total.
func writeExtentsTable(w *bufio.Writer, extents []protocol.Extent) {
	if len(extents) == 0 {
		w.WriteString("no blocks allocated\n")
		return
	}
	var num []byte
	// Column widths: the widest cell of each, header included.
	head := []string{"FIRST", "LAST", "BLOCKS", "SIZE"}
	var width [4]int
	for i, h := range head {
		width[i] = len(h)
	}
	var total uint64
	for _, e := range extents {
		width[0] = max(width[0], len(appendHexID(num[:0], e.First)))
		width[1] = max(width[1], len(appendHexID(num[:0], lastOf(e))))
		width[2] = max(width[2], len(strconv.AppendUint(num[:0], e.Blocks, 10)))
		width[3] = max(width[3], len(appendHumanBytes(num[:0], e.Blocks*protocol.BlockSize)))
		total += e.Blocks
	}
	const gap = 2
	cell := func(col int, b []byte) {
		w.Write(b)
		for n := len(b); n < width[col]+gap; n++ {
			w.WriteByte(' ')
		}
	}
	for i, h := range head {
		cell(i, []byte(h))
	}
	w.WriteString("STATE\n")
	for _, e := range extents {
		num = appendHexID(num[:0], e.First)
		cell(0, num)
		num = appendHexID(num[:0], lastOf(e))
		cell(1, num)
		num = strconv.AppendUint(num[:0], e.Blocks, 10)
		cell(2, num)
		num = appendHumanBytes(num[:0], e.Blocks*protocol.BlockSize)
		cell(3, num)
		w.WriteString(e.State.String())
		w.WriteByte('\n')
	}
	fmt.Fprintf(w, "%d extent(s), %d block(s)\n", len(extents), total)
}

// lastOf is the ID of an extent's last block.
func lastOf(e protocol.Extent) uint64 { return e.First + (e.Blocks-1)*protocol.BlockSize }

// appendHexID appends hexID(id).
func appendHexID(b []byte, id uint64) []byte {
	return strconv.AppendUint(append(b, "0x"...), id, 16)
}
