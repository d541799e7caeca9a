// Command badrkey is a lab probe: through the client library, it maps a
// block read-only, reads it with the handle's rkey altered, and checks
// that the brick's RNIC refuses with a remote access error that ends only
// that session; a fresh session must then read the block. It exits 0 when
// both hold and prints what each RNIC reported.
//
//	badrkey --addr rdma://10.0.3.15:7470 --id 0x200000 [--expect flushed]
//
// --expect flushed is for an initiator whose RNIC reports the target's
// Terminate by flushing the request (Linux siw: it logs "siw: got
// TERMINATE" with the layer, type and code, and flushes the QP); the
// default, remote-access, is what rxe and the software RNIC report.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
)

func main() {
	app := &cli.Command{
		Name:  "badrkey",
		Usage: "read a mapped block with an altered rkey and check that only that session fails",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Usage: "brick address (tcp:// or rdma://)"},
			&cli.StringFlag{Name: "id", Value: "0x200000", Usage: "an allocated block"},
			&cli.StringFlag{Name: "expect", Value: "remote-access", Usage: "what the initiator reports: remote-access or flushed"},
		},
		// A mistake on the command line exits 2, a failed probe 1.
		OnUsageError: func(_ context.Context, _ *cli.Command, err error, _ bool) error {
			return cli.Exit("badrkey: "+err.Error(), 2)
		},
		Action: func(_ context.Context, cmd *cli.Command) error {
			want := verbs.ErrRemoteAccess
			if cmd.String("expect") == "flushed" {
				want = verbs.ErrFlushed
			}
			id, err := strconv.ParseUint(cmd.String("id"), 0, 64)
			if err != nil || cmd.String("addr") == "" {
				return cli.Exit("usage: badrkey --addr URL --id ID", 2)
			}
			if err := run(cmd.String("addr"), id, want); err != nil {
				return cli.Exit("badrkey: "+err.Error(), 1)
			}
			return nil
		},
	}
	if err := app.Run(context.Background(), os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "badrkey:", err)
		os.Exit(1)
	}
}

func run(addr string, id uint64, want error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := client.Dial(ctx, addr, client.Options{})
	if err != nil {
		return err
	}
	h, err := c.Map(ctx, id, protocol.MapReadOnly)
	if err != nil {
		c.Close()
		return fmt.Errorf("map: %w", err)
	}
	good := h.RKey
	h.RKey ^= 0x5a5a00 // another key, same index bits untouched or not: either way not this map's
	buf := make([]byte, 4096)
	_, rerr := h.ReadAt(buf, 0)
	c.Close()
	fmt.Printf("read with rkey %#x instead of %#x: %v\n", h.RKey, good, rerr)
	if !errors.Is(rerr, want) {
		return fmt.Errorf("read with a bad rkey: %v, want %v", rerr, want)
	}
	c2, err := client.Dial(ctx, addr, client.Options{})
	if err != nil {
		return fmt.Errorf("the brick after the fault: %w", err)
	}
	defer c2.Close()
	h2, err := c2.Map(ctx, id, protocol.MapReadOnly)
	if err != nil {
		return fmt.Errorf("map after the fault: %w", err)
	}
	if _, err := h2.ReadAt(buf, 0); err != nil {
		return fmt.Errorf("read after the fault: %w", err)
	}
	fmt.Println("a new session reads the block: the fault ended only its own session")
	return h2.Unmap(ctx)
}
