package main

import (
	"context"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/client"
)

func allocCommand() *cli.Command {
	return idCommand(&cli.Command{
		Name:  "alloc",
		Usage: "allocate a zero-filled 2 MiB block at a logical ID",
	}, func(ctx context.Context, cl *client.Client, id uint64) (map[string]any, string, error) {
		if err := cl.Alloc(ctx, id); err != nil {
			return nil, "", err
		}
		return map[string]any{"allocated": true}, "allocated " + hexID(id), nil
	})
}
