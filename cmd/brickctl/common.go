package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
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

// connect dials the brick named by --addr, bounded by --timeout, with the
// key from --auth-key or BRICK_AUTH_KEY.
func connect(c *cli.Context) (*client.Client, context.Context, context.CancelFunc, error) {
	return connectWith(c, client.Options{})
}

// noKeyWarning is printed once per process, however many sessions it opens.
var noKeyWarning sync.Once

// connectWith is connect with more client options (bench restricts the
// persist methods); the key is filled in here.
func connectWith(c *cli.Context, opts client.Options) (*client.Client, context.Context, context.CancelFunc, error) {
	key, err := authKey(c)
	if err != nil {
		return nil, nil, nil, err
	}
	opts.AuthKey = key
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	cl, err := client.Dial(ctx, c.String("addr"), opts)
	if err != nil {
		cancel()
		return nil, nil, nil, &connectError{addr: c.String("addr"), err: err}
	}
	if !cl.Authenticated() {
		noKeyWarning.Do(func() {
			fmt.Fprintf(os.Stderr, "brickctl: warning: the brick at %s has no key (brickd --auth-key): any peer that reaches it can read, write and free its blocks.\n", c.String("addr"))
		})
	}
	return cl, ctx, cancel, nil
}

// authKey is the pre-shared key: the file named by --auth-key
// (BRICK_AUTH_KEY_FILE), else the contents of BRICK_AUTH_KEY, else none.
func authKey(c *cli.Context) ([]byte, error) {
	if path := c.String("auth-key"); path != "" {
		key, err := protocol.ReadKeyFile(path)
		if err != nil {
			return nil, usagef("--auth-key: %v", err)
		}
		return key, nil
	}
	if k, ok := os.LookupEnv("BRICK_AUTH_KEY"); ok {
		key := []byte(k)
		if err := protocol.CheckKey(key); err != nil {
			return nil, usagef("BRICK_AUTH_KEY: %v", err)
		}
		return key, nil
	}
	return nil, nil
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
func humanBytes(n uint64) string { return string(appendHumanBytes(nil, n)) }

// appendHumanBytes appends humanBytes(n) to b.
func appendHumanBytes(b []byte, n uint64) []byte {
	const unit = 1024
	if n < unit {
		return append(strconv.AppendUint(b, n, 10), " B"...)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	b = strconv.AppendFloat(b, float64(n)/float64(div), 'f', 1, 64)
	return append(b, ' ', "KMGTP"[exp], 'i', 'B')
}
