package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/client"
)

func unmapCommand() *cli.Command {
	return &cli.Command{
		Name:  "unmap",
		Usage: "revoke the maps of a block, whichever sessions hold them",
		Description: "An administrator's unmap: the brick revokes the block's maps held by any session\n" +
			"(brickctl map --hold, an application), as their own unmap would, and the keys are dead\n" +
			"when brickctl returns. The sessions stay and may map the block again; their next RDMA\n" +
			"access through a revoked key fails. brickctl sessions shows who holds what.",
		ArgsUsage: "ID",
		Action: action(func(c *call) error {
			id, err := idArg(c, 1)
			if err != nil {
				return err
			}
			return withClient(c, func(ctx context.Context, cl *client.Client) error {
				n, err := cl.RevokeMap(ctx, id)
				if err != nil {
					return err
				}
				return emit(c, map[string]any{"id": hexID(id), "unmapped": true, "maps": n},
					fmt.Sprintf("unmapped %s: revoked %d map(s)", hexID(id), n))
			})
		}),
	}
}
