package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/client"
)

func revokeCommand() *cli.Command {
	return &cli.Command{
		Name:  "revoke",
		Usage: "revoke every map a session holds, or end the session",
		Description: "The keys are dead when brickctl returns. Without --end the session stays and may\n" +
			"map again; with --end it is disconnected. brickctl sessions lists the session IDs.",
		ArgsUsage: "SESSION",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "end", Usage: "end the session too"},
		},
		Action: action(func(c *call) error {
			if c.NArg() != 1 {
				return usagef("revoke needs a session ID (brickctl sessions lists them)")
			}
			id, err := strconv.ParseUint(c.Args().First(), 10, 64)
			if err != nil || id == 0 {
				return usagef("%q is not a session ID: give the number brickctl sessions shows", c.Args().First())
			}
			end, op, format := false, (*client.Client).RevokeSession, "revoked %[2]d map(s) of session %[1]d"
			if c.Bool("end") {
				end, op, format = true, (*client.Client).EndSession, "ended session %d; the %d map(s) it held are revoked"
			}
			return withClient(c, func(ctx context.Context, cl *client.Client) error {
				n, err := op(cl, ctx, id)
				if err != nil {
					return err
				}
				return emit(c, map[string]any{"session": id, "ended": end, "maps": n}, fmt.Sprintf(format, id, n))
			})
		}),
	}
}
