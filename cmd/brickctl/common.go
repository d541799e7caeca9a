package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/internal/size"
	"github.com/brick-storage/brick/protocol"
)

const defaultTimeout = 30 * time.Second

// call is one run of a command: its context and the parsed command line,
// whose flags include the root's (--addr, --json, …).
type call struct {
	Context context.Context
	*cli.Command
}

// action adapts a command's body to urfave/cli's ActionFunc.
func action(fn func(c *call) error) cli.ActionFunc {
	return func(ctx context.Context, cmd *cli.Command) error { return fn(&call{Context: ctx, Command: cmd}) }
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// parseID reads a block ID in hex (0x…) or decimal; block IDs are
// multiples of 2 MiB, so anything else is refused here rather than by the
// brick.
func parseID(s string) (uint64, error) {
	v, err := strconv.ParseUint(strings.ReplaceAll(s, "_", ""), 0, 64)
	if err != nil {
		return 0, usagef("%q is not a block ID: give a number, hex (0x200000) or decimal", s)
	}
	if v%protocol.BlockSize != 0 {
		return 0, usagef("%s is not a block ID: block IDs are multiples of 2 MiB (0x200000); the nearest are %s and %s",
			s, hexID(v/protocol.BlockSize*protocol.BlockSize), hexID(v/protocol.BlockSize*protocol.BlockSize+protocol.BlockSize))
	}
	return v, nil
}

// idArg reads the command's first argument as a block ID.
func idArg(c *call, want int) (uint64, error) {
	if c.NArg() != want {
		return 0, usagef("%s needs %d argument(s): %s", c.Name, want, c.ArgsUsage)
	}
	return parseID(c.Args().First())
}

// sizeFlag reads a byte count flag (--offset, --length) in the forms of
// internal/size: 4096, 64KiB, 1MiB.
func sizeFlag(c *call, name string) (int64, error) {
	s := c.String(name)
	if s == "" {
		return 0, nil
	}
	n, err := size.Parse(s)
	if err != nil {
		return 0, usagef("--%s: %s", name, strings.TrimSuffix(err.Error(), ": "+size.ErrInvalid.Error()))
	}
	return n, nil
}

// checkAddr refuses an --addr the client could never dial, before
// dialing (client.CheckAddr), with the forms it takes.
func checkAddr(addr string) error {
	if client.CheckAddr(addr) == nil {
		return nil
	}
	return usagef("--addr %q is not a brick address: give tcp://HOST:PORT (software RNIC) or rdma://HOST:PORT, e.g. tcp://127.0.0.1:7470", addr)
}

// connect dials the brick named by --addr, bounded by --timeout, with the
// key from --auth-key or BRICK_AUTH_KEY.
func connect(c *call) (*client.Client, context.Context, context.CancelFunc, error) {
	return connectWith(c, client.Options{})
}

// noKeyWarning is printed once per process, however many sessions it opens.
var noKeyWarning sync.Once

// connectWith is connect with more client options (bench restricts the
// persist methods); the key is filled in here.
func connectWith(c *call, opts client.Options) (*client.Client, context.Context, context.CancelFunc, error) {
	addr := c.String("addr")
	if err := checkAddr(addr); err != nil {
		return nil, nil, nil, err
	}
	key, err := authKey(c)
	if err != nil {
		return nil, nil, nil, err
	}
	opts.AuthKey = key
	opts.OptionalCRC = c.Bool("optional-crc")
	if d := c.Duration("timeout"); d <= 0 {
		return nil, nil, nil, usagef("--timeout %v: give a positive duration, e.g. 30s (BRICK_TIMEOUT likewise)", d)
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	cl, err := client.Dial(ctx, addr, opts)
	if errors.Is(err, client.ErrAddress) {
		cancel()
		return nil, nil, nil, usagef("--addr %s: %v", addr, err)
	}
	if err != nil {
		cancel()
		return nil, nil, nil, &connectError{addr: addr, err: err}
	}
	if !cl.Authenticated() && !c.Bool("no-key-ok") {
		noKeyWarning.Do(func() {
			fmt.Fprintf(os.Stderr, "brickctl: warning: the brick at %s has no key (brickd --auth-key): any peer that reaches it can read, write and free its blocks; --no-key-ok (BRICK_NO_KEY_OK=1) silences this warning.\n", addr)
		})
	}
	return cl, ctx, cancel, nil
}

// authKey is the pre-shared key: the file named by --auth-key
// (BRICK_AUTH_KEY_FILE), else the contents of BRICK_AUTH_KEY, else none.
func authKey(c *call) ([]byte, error) {
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
func withClient(c *call, fn func(ctx context.Context, cl *client.Client) error) error {
	cl, ctx, cancel, err := connect(c)
	if err != nil {
		return err
	}
	defer cancel()
	defer cl.Close()
	return fn(ctx, cl)
}

// emit prints v as JSON with --json, or the human text otherwise.
func emit(c *call, v any, human string) error {
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

// humanBytes prints n in binary units (internal/size).
func humanBytes(n uint64) string { return size.Format(int64(n)) }

// appendHumanBytes appends humanBytes(n) to b.
func appendHumanBytes(b []byte, n uint64) []byte { return append(b, humanBytes(n)...) }
