package main

import (
	"context"
	"fmt"
	"os/signal"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/internal/oscall"
	"github.com/brick-storage/brick/protocol"
)

func mapCommand() *cli.Command {
	return &cli.Command{
		Name:  "map",
		Usage: "map a block and print its RDMA handle",
		Description: "A map belongs to the session that made it and is revoked when that session ends.\n" +
			"Without --hold, brickctl maps, prints the handle and exits, which unmaps: useful to check\n" +
			"that a block can be mapped. With --hold it keeps the session (and the handle) until\n" +
			"interrupted, then unmaps.",
		ArgsUsage: "ID",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "rw", Usage: "map read-write; without it the map is read-only"},
			&cli.BoolFlag{Name: "shared", Usage: "let shared read-write maps of the block coexist with this one (read-only or, with --rw, read-write)"},
			&cli.BoolFlag{Name: "hold", Usage: "keep the map until interrupted"},
		},
		Action: action(func(c *call) error {
			id, err := idArg(c, 1)
			if err != nil {
				return err
			}
			flags := protocol.MapReadOnly
			if c.Bool("rw") {
				flags = protocol.MapReadWrite
			}
			if c.Bool("shared") {
				flags |= protocol.MapShared
			}
			// --hold's interrupt is caught before the map is printed: a
			// script may send it as soon as it reads the line.
			interrupted := context.Background().Done() // never, without --hold
			if c.Bool("hold") {
				sig, stop := signal.NotifyContext(c.Context, oscall.StopSignals...)
				defer stop()
				interrupted = sig.Done()
			}
			return withClient(c, func(ctx context.Context, cl *client.Client) error {
				h, err := cl.Map(ctx, id, flags)
				if err != nil {
					return err
				}
				access := "read-only"
				if h.Writable() {
					access = "read-write"
				}
				v := map[string]any{
					"id": hexID(id), "rkey": fmt.Sprintf("%#x", h.RKey), "addr": fmt.Sprintf("%#x", h.Addr),
					"length": h.Length, "access": access, "persist_method": h.Method.String(),
				}
				human := fmt.Sprintf("mapped %s %s: rkey %#x addr %#x length %d persist %s",
					hexID(id), access, h.RKey, h.Addr, h.Length, h.Method)
				if err := emit(c, v, human); err != nil {
					return err
				}
				if c.Bool("hold") {
					select {
					case <-interrupted:
					case <-cl.Done():
						return fmt.Errorf("holding the map of %s: %w", hexID(id), cl.Err())
					}
				}
				uctx, cancel := context.WithTimeout(context.Background(), c.Duration("timeout"))
				defer cancel()
				return h.Unmap(uctx)
			})
		}),
	}
}
