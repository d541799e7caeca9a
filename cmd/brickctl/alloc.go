package main

import (
	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/client"
)

func allocCommand() *cli.Command {
	return idCommand(&cli.Command{
		Name:  "alloc",
		Usage: "allocate a zero-filled 2 MiB block at a logical ID",
	}, doneVerb((*client.Client).Alloc, "allocated"))
}
