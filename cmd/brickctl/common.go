package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/brick-storage/brick/client"
)

const defaultTimeout = 30 * time.Second

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// parseID reads a block ID in hex (0x…) or decimal.
func parseID(s string) (uint64, error) {
	v, err := strconv.ParseUint(strings.ReplaceAll(s, "_", ""), 0, 64)
	if err != nil {
		return 0, usagef("%q is not a block ID: give a number, hex (0x200000) or decimal", s)
	}
	return v, nil
}

// idArg reads the command's first argument as a block ID.
func idArg(c *cli.Context, want int) (uint64, error) {
	if c.NArg() != want {
		return 0, usagef("%s needs %d argument(s): %s", c.Command.Name, want, c.Command.ArgsUsage)
	}
	return parseID(c.Args().First())
}

// connect dials the brick named by --addr, bounded by --timeout.
func connect(c *cli.Context) (*client.Client, context.Context, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	cl, err := client.Dial(ctx, c.String("addr"), client.Options{})
	if err != nil {
		cancel()
		return nil, nil, nil, &connectError{addr: c.String("addr"), err: err}
	}
	return cl, ctx, cancel, nil
}

// withClient runs fn with a connected client and closes it after.
func withClient(c *cli.Context, fn func(ctx context.Context, cl *client.Client) error) error {
	cl, ctx, cancel, err := connect(c)
	if err != nil {
		return err
	}
	defer cancel()
	defer cl.Close()
	return fn(ctx, cl)
}

// emit prints v as JSON with --json, or the human text otherwise.
func emit(c *cli.Context, v any, human string) error {
	if c.Bool("json") {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	if human != "" {
		fmt.Println(human)
	}
	return nil
}

func hexID(id uint64) string { return fmt.Sprintf("%#x", id) }

// humanBytes prints n in binary units.
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
