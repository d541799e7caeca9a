package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/client"
)

func unmapCommand() *cli.Command {
	return idCommand(&cli.Command{
		Name:  "unmap",
		Usage: "revoke the maps of a block, whichever sessions hold them",
		Description: "An administrator's unmap: the brick revokes the block's maps held by any session\n" +
			"(brickctl map --hold, an application), as their own unmap would, and the keys are dead\n" +
			"when brickctl returns. The sessions stay and may map the block again; their next RDMA\n" +
			"access through a revoked key fails. brickctl sessions shows who holds what.",
	}, func(ctx context.Context, cl *client.Client, id uint64) (map[string]any, string, error) {
		n, err := cl.RevokeMap(ctx, id)
		if err != nil {
			return nil, "", err
		}
		return map[string]any{"unmapped": true, "maps": n}, fmt.Sprintf("unmapped %s: revoked %d map(s)", hexID(id), n), nil
	})
}
