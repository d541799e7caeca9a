// Command sharedrw is a lab probe: two sessions map one block read-write
// and shared; one writes the whole block over and over, changing its
// bytes each time, while the other reads it. RDMA leaves the bytes a Read
// returns undefined while a Write changes them, but nothing may fail: an
// RNIC that checksums the target's memory and lets it change before the
// bytes leave (the MPA CRC of an iWARP FPDU) sends a CRC its peer rejects,
// and the peer ends the session. It exits 0 when every Write and Read
// completed, and prints how many of each ran.
//
//	sharedrw --addr rdma://10.0.3.15:7470 --id 0x200000 --rounds 40
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
)

func main() {
	app := &cli.Command{
		Name:  "sharedrw",
		Usage: "write a shared read-write block from one session while another reads it",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Usage: "brick address (tcp:// or rdma://)"},
			&cli.StringFlag{Name: "id", Value: "0x200000", Usage: "a block to allocate (freed at the end)"},
			&cli.IntFlag{Name: "rounds", Value: 40, Usage: "whole-block Writes, and as many Reads"},
		},
		// A mistake on the command line exits 2, a failed probe 1.
		OnUsageError: func(_ context.Context, _ *cli.Command, err error, _ bool) error {
			return cli.Exit("sharedrw: "+err.Error(), 2)
		},
		Action: func(_ context.Context, cmd *cli.Command) error {
			id, err := strconv.ParseUint(cmd.String("id"), 0, 64)
			if err != nil || cmd.String("addr") == "" || cmd.Int("rounds") < 1 {
				return cli.Exit("usage: sharedrw --addr URL --id ID --rounds N", 2)
			}
			if err := run(cmd.String("addr"), id, int(cmd.Int("rounds"))); err != nil {
				return cli.Exit("sharedrw: "+err.Error(), 1)
			}
			return nil
		},
	}
	if err := app.Run(context.Background(), os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "sharedrw:", err)
		os.Exit(1)
	}
}

func run(addr string, id uint64, rounds int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	w, err := client.Dial(ctx, addr, client.Options{})
	if err != nil {
		return fmt.Errorf("dial the writer: %w", err)
	}
	defer w.Close()
	r, err := client.Dial(ctx, addr, client.Options{})
	if err != nil {
		return fmt.Errorf("dial the reader: %w", err)
	}
	defer r.Close()
	if err := w.Alloc(ctx, id); err != nil && !errors.Is(err, client.ErrExist) {
		return fmt.Errorf("alloc %#x: %w", id, err)
	}
	defer w.Free(context.Background(), id)
	flags := protocol.MapReadWrite | protocol.MapShared
	hw, err := w.Map(ctx, id, flags)
	if err != nil {
		return fmt.Errorf("map %#x for the writer: %w", id, err)
	}
	defer hw.Unmap(context.Background())
	hr, err := r.Map(ctx, id, flags)
	if err != nil {
		return fmt.Errorf("map %#x for the reader: %w", id, err)
	}
	defer hr.Unmap(context.Background())

	wrote := make(chan error, 1)
	go func() { wrote <- write(hw, rounds) }()
	buf := make([]byte, hr.Length)
	var readErr error
	reads := 0
	for ; reads < rounds; reads++ {
		if _, err := hr.ReadAt(buf, 0); err != nil {
			readErr = fmt.Errorf("read %d of %d while the block is written: %w", reads+1, rounds, err)
			break
		}
	}
	writeErr := <-wrote
	if err := errors.Join(writeErr, readErr); err != nil {
		return err
	}
	fmt.Printf("%d writes and %d reads of %d bytes, all completed\n", rounds, reads, hr.Length)
	return nil
}

// write writes the whole block rounds times, each time with other bytes.
func write(h *client.Handle, rounds int) error {
	buf := make([]byte, h.Length)
	for i := range rounds {
		for j := range buf {
			buf[j] = byte(i + j)
		}
		if _, err := h.WriteAt(buf, 0); err != nil {
			return fmt.Errorf("write %d of %d while the block is read: %w", i+1, rounds, err)
		}
	}
	return nil
}
