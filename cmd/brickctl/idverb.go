package main

import (
	"context"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/client"
)

// idVerb does one thing to one block with a session and returns what to
// report: the JSON fields beside "id", and the sentence for a person.
type idVerb func(ctx context.Context, cl *client.Client, id uint64) (fields map[string]any, human string, err error)

// idCommand makes cmd a command on one block ID argument that runs do.
func idCommand(cmd *cli.Command, do idVerb) *cli.Command {
	cmd.ArgsUsage = "ID"
	cmd.Action = action(func(c *call) error {
		id, err := idArg(c, 1)
		if err != nil {
			return err
		}
		return runIDVerb(c, id, do)
	})
	return cmd
}

// runIDVerb runs do on id in a session and reports its result.
func runIDVerb(c *call, id uint64, do idVerb) error {
	return withClient(c, func(ctx context.Context, cl *client.Client) error {
		v, human, err := do(ctx, cl, id)
		if err != nil {
			return err
		}
		v["id"] = hexID(id)
		return emit(c, v, human)
	})
}

// doneVerb is the idVerb of a call that returns only an error (alloc,
// free): it reports {past: true} and "past ID".
func doneVerb(call func(*client.Client, context.Context, uint64) error, past string) idVerb {
	return func(ctx context.Context, cl *client.Client, id uint64) (map[string]any, string, error) {
		if err := call(cl, ctx, id); err != nil {
			return nil, "", err
		}
		return map[string]any{past: true}, past + " " + hexID(id), nil
	}
}
