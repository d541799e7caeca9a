package main

import (
	"context"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/client"
)

func allocCommand() *cli.Command {
	return &cli.Command{
		Name:      "alloc",
		Usage:     "allocate a zero-filled 2 MiB block at a logical ID",
		ArgsUsage: "ID",
		Action: action(func(c *call) error {
			id, err := idArg(c, 1)
			if err != nil {
				return err
			}
			return withClient(c, func(ctx context.Context, cl *client.Client) error {
				if err := cl.Alloc(ctx, id); err != nil {
					return err
				}
				return emit(c, map[string]any{"id": hexID(id), "allocated": true}, "allocated "+hexID(id))
			})
		}),
	}
}
