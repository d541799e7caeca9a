package main

import (
	"context"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
)

func getCommand() *cli.Command {
	return &cli.Command{
		Name:  "get",
		Usage: "read a block (or part of it) into a file, or to stdout with -",
		Description: "Maps the block read-only, reads it with one-sided RDMA Reads, and unmaps.\n" +
			"The brick does not record file sizes: without --length the whole 2 MiB block is read.",
		ArgsUsage: "ID FILE",
		Flags: []cli.Flag{
			&cli.Int64Flag{Name: "offset", Usage: "byte offset in the block"},
			&cli.Int64Flag{Name: "length", Usage: "bytes to read (default: to the end of the block)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usagef("get needs a block ID and a file: brickctl get ID FILE")
			}
			id, err := parseID(c.Args().Get(0))
			if err != nil {
				return err
			}
			off := c.Int64("offset")
			n := c.Int64("length")
			if !c.IsSet("length") {
				n = client.BlockSize - off
			}
			if off < 0 || n < 0 || off+n > client.BlockSize {
				return usagef("range [%d, %d) is outside the 2 MiB block", off, off+n)
			}
			buf := make([]byte, n)
			err = withClient(c, func(ctx context.Context, cl *client.Client) error {
				h, err := cl.Map(ctx, id, protocol.MapReadOnly)
				if err != nil {
					return err
				}
				if _, err := h.ReadAt(buf, off); err != nil {
					return err
				}
				return h.Unmap(ctx)
			})
			if err != nil {
				return err
			}
			path := c.Args().Get(1)
			if path == "-" {
				_, err = os.Stdout.Write(buf)
				return err
			}
			if err := os.WriteFile(path, buf, 0o644); err != nil {
				return err
			}
			v := map[string]any{"id": hexID(id), "offset": off, "bytes": n, "file": path}
			return emit(c, v, fmt.Sprintf("read %d bytes from %s at offset %d into %s", n, hexID(id), off, path))
		},
	}
}
