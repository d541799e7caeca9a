package main

import (
	"context"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/client"
)

func freeCommand() *cli.Command {
	return &cli.Command{
		Name:      "free",
		Usage:     "free a block; its ID can be allocated again",
		ArgsUsage: "ID",
		Action: action(func(c *call) error {
			id, err := idArg(c, 1)
			if err != nil {
				return err
			}
			return withClient(c, func(ctx context.Context, cl *client.Client) error {
				if err := cl.Free(ctx, id); err != nil {
					return err
				}
				return emit(c, map[string]any{"id": hexID(id), "freed": true}, "freed "+hexID(id))
			})
		}),
	}
}
