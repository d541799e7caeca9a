package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
)

func putCommand() *cli.Command {
	return &cli.Command{
		Name:  "put",
		Usage: "write a file (up to 2 MiB) into an allocated block and make it persistent",
		Description: "Maps the block read-write, writes the file with one-sided RDMA Writes at\n" +
			"--offset, makes the bytes persistent by the method the brick chose, and unmaps.\n" +
			"The rest of the block keeps its contents.",
		ArgsUsage: "ID FILE",
		Flags: []cli.Flag{
			&cli.Int64Flag{Name: "offset", Usage: "byte offset in the block"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usagef("put needs a block ID and a file: brickctl put ID FILE")
			}
			id, err := parseID(c.Args().Get(0))
			if err != nil {
				return err
			}
			path := c.Args().Get(1)
			data, err := readSmallFile(path, client.BlockSize)
			if err != nil {
				return err
			}
			off := c.Int64("offset")
			if off < 0 || off+int64(len(data)) > client.BlockSize {
				return usagef("%s (%d bytes) at offset %d does not fit in a 2 MiB block", path, len(data), off)
			}
			return withClient(c, func(ctx context.Context, cl *client.Client) error {
				h, err := cl.Map(ctx, id, protocol.MapReadWrite)
				if err != nil {
					return err
				}
				if _, err := h.WriteAt(data, off); err != nil {
					return err
				}
				persistent := true
				if err := h.Persist(ctx, off, int64(len(data))); err != nil {
					if !errors.Is(err, client.ErrVolatile) {
						return err
					}
					persistent = false
					fmt.Fprintln(os.Stderr, "brickctl: warning: the brick's memory is volatile; the data will not survive a brickd restart.")
				}
				if err := h.Unmap(ctx); err != nil {
					return err
				}
				v := map[string]any{"id": hexID(id), "offset": off, "bytes": len(data), "persistent": persistent, "method": h.Method.String()}
				return emit(c, v, fmt.Sprintf("wrote %d bytes to %s at offset %d (persisted by %s)", len(data), hexID(id), off, h.Method))
			})
		},
	}
}

// readSmallFile reads path, refusing files larger than limit.
func readSmallFile(path string, limit int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, usagef("%s is %d bytes; put writes at most one 2 MiB block (%d bytes)", path, st.Size(), limit)
	}
	return os.ReadFile(path)
}
