package main

// The probes. Each maps through the client library as an application
// would and checks one behaviour of the brick's RNIC that only a real
// peer shows.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
)

// badrkey maps a block read-only, reads it with the handle's rkey altered,
// and checks that the brick's RNIC refuses with a remote access error that
// ends only that session; a fresh session must then read the block.
//
// --expect flushed is for an initiator whose RNIC reports the target's
// Terminate by flushing the request (Linux siw: it logs "siw: got
// TERMINATE" with the layer, type and code, and flushes the QP); the
// default, remote-access, is what rxe and the software RNIC report.
func badRKeyCommand() *cli.Command {
	expect := &cli.StringFlag{Name: "expect", Value: "remote-access", Usage: "what the initiator reports: remote-access or flushed"}
	return probeCommand("badrkey", "read a mapped block with an altered rkey and check that only that session fails",
		"an allocated block", expect, func(cmd *cli.Command, addr string, id uint64, opts client.Options) error {
			want := verbs.ErrRemoteAccess
			if cmd.String("expect") == "flushed" {
				want = verbs.ErrFlushed
			}
			return badRKey(addr, id, want, opts)
		})
}

func badRKey(addr string, id uint64, want error, opts client.Options) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := client.Dial(ctx, addr, opts)
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
	c2, err := client.Dial(ctx, addr, opts)
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

// sharedrw: two sessions map one block read-write and shared; one writes
// the whole block over and over, changing its bytes each time, while the
// other reads it; then the reader unmaps and the writer frees the block
// through its map (Handle.Free). RDMA leaves the bytes a Read returns
// undefined while a Write changes them, but nothing may fail: an RNIC
// that checksums the target's memory and lets it change before the bytes
// leave (the MPA CRC of an iWARP FPDU) sends a CRC its peer rejects, and
// the peer ends the session.
func sharedRWCommand() *cli.Command {
	rounds := &cli.IntFlag{Name: "rounds", Value: 40, Usage: "whole-block Writes, and as many Reads"}
	return probeCommand("sharedrw", "write a shared read-write block from one session while another reads it",
		"a block to allocate (freed at the end)", rounds, func(cmd *cli.Command, addr string, id uint64, opts client.Options) error {
			if cmd.Int("rounds") < 1 {
				return cli.Exit("usage: probe sharedrw --rounds N (N ≥ 1)", 2)
			}
			return sharedRW(addr, id, int(cmd.Int("rounds")), opts)
		})
}

func sharedRW(addr string, id uint64, rounds int, opts client.Options) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	w, err := client.Dial(ctx, addr, opts)
	if err != nil {
		return fmt.Errorf("dial the writer: %w", err)
	}
	defer w.Close()
	r, err := client.Dial(ctx, addr, opts)
	if err != nil {
		return fmt.Errorf("dial the reader: %w", err)
	}
	defer r.Close()
	// The writer allocates and maps in one request (AllocMap); a block
	// left by an earlier, failed run is mapped as it is.
	defer w.Free(context.Background(), id)
	flags := protocol.MapReadWrite | protocol.MapShared
	how := "allocated and mapped in one request"
	hw, err := w.AllocMap(ctx, id, flags)
	if errors.Is(err, client.ErrExist) {
		how = "mapped a block left allocated"
		hw, err = w.Map(ctx, id, flags)
	}
	if err != nil {
		return fmt.Errorf("alloc-map %#x for the writer: %w", id, err)
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
	// The reader lets go; the writer frees the block through its map, one
	// request that revokes the key and frees (FreeUnmap).
	if err := hr.Unmap(ctx); err != nil {
		return fmt.Errorf("the reader's unmap: %w", err)
	}
	if err := hw.Free(ctx); err != nil {
		return fmt.Errorf("the writer's free through its map: %w", err)
	}
	fmt.Printf("%d writes and %d reads of %d bytes, all completed; %s, freed through the writer's map%s\n", rounds, reads, hr.Length, how, crcNote(r))
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

// crcNote says whether the reader's connection negotiated the MPA CRC,
// over tcp://: what the lab checks --optional-crc against real siw by.
func crcNote(c *client.Client) string {
	if m := c.MPACRC(); m != "" {
		return "; MPA CRC " + m
	}
	return ""
}
