package main

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
)

func getCommand() *cli.Command {
	return &cli.Command{
		Name:  "get",
		Usage: "read consecutive blocks from ID into a file, or to stdout with -",
		Description: "Reads from byte --offset of block ID, continuing into the next blocks\n" +
			"(ID+0x200000, …) as needed. Block by block, get maps read-only, reads with\n" +
			"one-sided RDMA Reads, and unmaps.\n" +
			"The brick records no file sizes. With --length N, get reads exactly N bytes and\n" +
			"every block they span must be allocated. Without --length it reads to the end of\n" +
			"the run of consecutive allocated blocks that starts at ID: one block (2 MiB) when\n" +
			"the next ID is not allocated, the whole run after a multi-block put (give --length\n" +
			"the size put reported to get the file back without the block's tail).",
		ArgsUsage: "ID FILE",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "offset", Usage: "byte offset in block ID where reading starts (4096, 64KiB, 1MiB)", DefaultText: "0"},
			&cli.StringFlag{Name: "length", Usage: "bytes to read (4096, 64KiB, 1MiB, 1.5GiB)", DefaultText: "to the end of the consecutive allocated run"},
		},
		Action: action(runGet),
	}
}

func runGet(c *call) error {
	id, off, path, err := spanArgs(c, "get")
	if err != nil {
		return err
	}
	n, err := sizeFlag(c, "length")
	if err != nil {
		return err
	}
	if _, err := pieces(id, off, n); err != nil {
		return err
	}
	cl, err := dial(c)
	if err != nil {
		return err
	}
	defer cl.Close()

	ps, n, unclean, err := getSpan(c, cl, id, off, n)
	if err != nil {
		return err
	}
	if unclean > 0 {
		fmt.Fprintf(os.Stderr, "brickctl: warning: %d block(s) of the span are unclean: they were mapped read-write when brickd last stopped uncleanly, and may hold torn writes (brickctl list shows which).\n", unclean)
	}
	if err := getInto(c, cl, path, ps, n); err != nil {
		return err
	}
	if path == "-" {
		return nil
	}
	v := spanFields(ps, n)
	v["file"], v["unclean_blocks"] = path, unclean
	human := fmt.Sprintf("read %d bytes from %s at offset %d into %s", n, hexID(ps[0].id), ps[0].off, path)
	if len(ps) > 1 {
		human = fmt.Sprintf("read %d bytes from %d blocks %s…%s from offset %d into %s", n, len(ps), hexID(ps[0].id), hexID(ps[len(ps)-1].id), ps[0].off, path)
	}
	return emit(c, v, human)
}

// getSpan returns the pieces get reads, their length, and how many of
// their blocks are unclean: every block must be allocated; without
// --length, the run of allocated blocks.
func getSpan(c *call, cl *client.Client, id uint64, off, n int64) ([]piece, int64, uint64, error) {
	startID := id + uint64(off/protocol.BlockSize)*protocol.BlockSize
	var want uint64
	if c.IsSet("length") {
		ps, _ := pieces(id, off, n)
		want = uint64(len(ps))
	}
	ctx, cancel := opContext(c)
	run, unclean, err := allocatedRun(ctx, cl, startID, want)
	cancel()
	if err != nil {
		return nil, 0, 0, err
	}
	if !c.IsSet("length") {
		if run == 0 {
			return nil, 0, 0, notAllocated([]uint64{startID}, "is not allocated; allocate it first with brickctl alloc")
		}
		n = int64(run)*protocol.BlockSize - off%protocol.BlockSize
	}
	ps, err := pieces(id, off, n)
	if err != nil {
		return nil, 0, 0, err
	}
	if run < uint64(len(ps)) {
		var missing []uint64
		for _, p := range ps[run:] {
			missing = append(missing, p.id)
		}
		return nil, 0, 0, notAllocated(missing[:1], fmt.Sprintf("(block %d of the %d the range spans) is not allocated", run+1, len(ps)))
	}
	return ps, n, uncleanIn(unclean, ps), nil
}

// getInto reads the n bytes of ps into the file at path (- for stdout).
func getInto(c *call, cl *client.Client, path string, ps []piece, n int64) error {
	var out *os.File
	if path == "-" {
		out = os.Stdout
	} else {
		var err error
		if out, err = os.Create(path); err != nil {
			return err
		}
	}
	w := bufio.NewWriterSize(out, chunk)
	bar := newProgress(c, "get", n)
	err := getPieces(c, cl, w, ps, bar)
	bar.end()
	if err == nil {
		err = w.Flush()
	}
	if path != "-" {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// getPieces reads each piece into w, mapping and unmapping block by block.
func getPieces(c *call, cl *client.Client, w io.Writer, ps []piece, bar *progress) error {
	buf := make([]byte, chunk)
	return eachBlock(c, cl, ps, protocol.MapReadOnly, func(h *client.Handle, p piece) error {
		return copyChunks(p.n, bar, func(off, k int64) error {
			if _, err := h.ReadAt(buf[:k], p.off+off); err != nil {
				return err
			}
			_, err := w.Write(buf[:k])
			return err
		})
	})
}
