package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/client"
)

func freeCommand() *cli.Command {
	return &cli.Command{
		Name:  "free",
		Usage: "free a block, or every allocated block of a range; their IDs can be allocated again",
		Description: "FIRST..LAST (inclusive) frees the allocated blocks of the range in one session;\n" +
			"IDs never allocated are skipped. A mapped block is never freed: it is left allocated,\n" +
			"and brickctl exits 15 after freeing the others (brickctl unmap ID revokes a map).",
		ArgsUsage: "ID | FIRST..LAST",
		Action: action(func(c *call) error {
			if c.NArg() != 1 {
				return usagef("free needs a block ID or a range FIRST..LAST")
			}
			lo, hi, isRange := strings.Cut(c.Args().First(), "..")
			if !isRange {
				return freeOne(c, lo)
			}
			first, err := parseID(lo)
			if err != nil {
				return err
			}
			last, err := parseID(hi)
			if err != nil {
				return err
			}
			if first > last {
				return usagef("free %s: FIRST is above LAST", c.Args().First())
			}
			return withClient(c, func(ctx context.Context, cl *client.Client) error {
				r, err := cl.FreeRange(ctx, first, last)
				if err != nil {
					return err
				}
				v := map[string]any{"first": hexID(first), "last": hexID(last), "freed": r.Freed, "mapped": r.Busy}
				human := fmt.Sprintf("freed %d block(s) in %s..%s", r.Freed, hexID(first), hexID(last))
				if r.Busy > 0 {
					v["first_mapped"] = hexID(r.FirstBusy)
				}
				if err := emit(c, v, human); err != nil {
					return err
				}
				if r.Busy > 0 {
					return &busyRangeError{n: r.Busy, first: r.FirstBusy}
				}
				return nil
			})
		}),
	}
}

func freeOne(c *call, arg string) error {
	id, err := parseID(arg)
	if err != nil {
		return err
	}
	return runIDVerb(c, id, doneVerb((*client.Client).Free, "freed"))
}
