package main

import (
	"context"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/client"
)

func unmapCommand() *cli.Command {
	return &cli.Command{
		Name:  "unmap",
		Usage: "revoke this session's map of a block",
		Description: "Maps belong to the session that made them: a map held by another process\n" +
			"(brickctl map --hold, an application) is revoked when that process unmaps or\n" +
			"disconnects. brickctl unmap asks in a new session, so the brick answers that the\n" +
			"block is not mapped by it unless it is unallocated (then: not allocated).",
		ArgsUsage: "ID",
		Action: action(func(c *call) error {
			id, err := idArg(c, 1)
			if err != nil {
				return err
			}
			return withClient(c, func(ctx context.Context, cl *client.Client) error {
				if err := cl.Unmap(ctx, id); err != nil {
					return err
				}
				return emit(c, map[string]any{"id": hexID(id), "unmapped": true}, "unmapped "+hexID(id))
			})
		}),
	}
}
