package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
)

func putCommand() *cli.Command {
	return &cli.Command{
		Name:  "put",
		Usage: "write a file into consecutive blocks from ID and make it persistent",
		Description: "Writes FILE at byte --offset of block ID; a file that does not fit continues in\n" +
			"the next blocks (ID+0x200000, ID+0x400000, …). Block by block, put maps read-write,\n" +
			"writes with one-sided RDMA Writes, makes the bytes persistent by the method the\n" +
			"brick chose, and unmaps. Every block must be allocated (put checks before writing\n" +
			"anything); --alloc allocates the missing ones. Bytes of a block outside the file\n" +
			"keep their contents. The brick records no file size: give `get --length` the size\n" +
			"put reports.",
		ArgsUsage: "ID FILE",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "offset", Usage: "byte offset in block ID where the file starts (4096, 64KiB, 1MiB)", DefaultText: "0"},
			&cli.BoolFlag{Name: "alloc", Usage: "allocate blocks of the span that are not allocated"},
		},
		Action: action(runPut),
	}
}

func runPut(c *call) error {
	id, off, path, err := spanArgs(c, "put")
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return usagef("%s is not a regular file: put needs to know the size before it writes", path)
	}
	ps, err := pieces(id, off, st.Size())
	if err != nil {
		return err
	}
	cl, err := dial(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	allocated, err := prepareSpan(c, cl, ps, c.Bool("alloc"))
	if err != nil {
		return err
	}
	bar := newProgress(c, "put", st.Size())
	persistent, method, err := putPieces(c, cl, f, ps, bar)
	bar.end()
	if err != nil {
		return err
	}
	if !persistent {
		fmt.Fprintln(os.Stderr, "brickctl: warning: the brick's memory is volatile; the data will not survive a brickd restart.")
	}
	first, last := ps[0], ps[len(ps)-1]
	v := spanFields(ps, st.Size())
	v["allocated"], v["persistent"], v["method"] = allocated, persistent, method.String()
	human := fmt.Sprintf("wrote %d bytes to %s at offset %d (persisted by %s)", st.Size(), hexID(first.id), first.off, method)
	if len(ps) > 1 {
		getArgs := fmt.Sprintf("--length %d", st.Size())
		if first.off > 0 {
			getArgs = fmt.Sprintf("--offset %d %s", first.off, getArgs)
		}
		human = fmt.Sprintf("wrote %d bytes to %d blocks %s…%s from offset %d (persisted by %s); read them back with get %s",
			st.Size(), len(ps), hexID(first.id), hexID(last.id), first.off, method, getArgs)
	}
	if allocated > 0 {
		human += fmt.Sprintf("\nallocated %d block(s)", allocated)
	}
	return emit(c, v, human)
}

// prepareSpan checks that every block of the span is allocated, allocating
// the missing ones when alloc is set, before any byte is written. It
// returns how many it allocated.
func prepareSpan(c *call, cl *client.Client, ps []piece, alloc bool) (int, error) {
	ctx, cancel := opContext(c)
	defer cancel()
	ext, err := cl.List(ctx, ps[0].id, ps[len(ps)-1].id)
	if err != nil {
		return 0, err
	}
	have := make(map[uint64]bool)
	for _, e := range ext {
		for i := uint64(0); i < e.Blocks; i++ {
			have[e.First+i*protocol.BlockSize] = true
		}
	}
	var missing []uint64
	for _, p := range ps {
		if !have[p.id] {
			missing = append(missing, p.id)
		}
	}
	if len(missing) == 0 {
		return 0, nil
	}
	if !alloc {
		verb := "is"
		if len(missing) > 1 {
			verb = "are"
		}
		return 0, notAllocated(missing, "of the span "+verb+" not allocated; allocate them with brickctl alloc, or give put --alloc")
	}
	st, err := cl.Status(ctx)
	if err != nil {
		return 0, err
	}
	if room := st.BlockRoom(); uint64(len(missing)) > room {
		return 0, fmt.Errorf("the span needs %d block(s) allocated and the brick has room for %d (%d of at most %d allocated); nothing was allocated or written: %w",
			len(missing), room, st.Blocks, st.BlockCapacity(), client.ErrNoSpace)
	}
	var allocated []uint64
	for _, id := range missing {
		ctx, cancel := opContext(c)
		err := cl.Alloc(ctx, id)
		cancel()
		switch {
		case err == nil:
			allocated = append(allocated, id)
		case errors.Is(err, client.ErrExist): // allocated since the List: fine
		default:
			return 0, fmt.Errorf("%w%s", err, undoAllocs(c, cl, allocated))
		}
	}
	return len(allocated), nil
}

// undoAllocs frees the blocks a put allocated before one of its allocs
// failed, so that a put that writes nothing leaves nothing behind, and
// says what it did for the error's sentence.
func undoAllocs(c *call, cl *client.Client, ids []uint64) string {
	if len(ids) == 0 {
		return ""
	}
	for i, id := range ids {
		ctx, cancel := opContext(c)
		err := cl.Free(ctx, id)
		cancel()
		if err != nil && !errors.Is(err, client.ErrNotFound) {
			return fmt.Sprintf("; %d of the %d block(s) this put allocated are still allocated, from %s on (freeing it: %v)",
				len(ids)-i, len(ids), hexID(id), err)
		}
	}
	return fmt.Sprintf("; the %d block(s) this put allocated were freed again", len(ids))
}

// putPieces writes each piece from f, persists it and unmaps.
func putPieces(c *call, cl *client.Client, f io.ReaderAt, ps []piece, bar *progress) (persistent bool, method protocol.PersistMethod, err error) {
	buf := make([]byte, chunk)
	persistent = true
	err = eachBlock(c, cl, ps, protocol.MapReadWrite, func(h *client.Handle, p piece) error {
		method = h.Method
		err := copyChunks(p.n, bar, func(off, k int64) error {
			if n, err := f.ReadAt(buf[:k], p.fileOff+off); n < int(k) {
				return fmt.Errorf("reading the file at %d: %w (did it shrink?)", p.fileOff+off, err)
			}
			_, err := h.WriteAt(buf[:k], p.off+off)
			return err
		})
		if err != nil {
			return err
		}
		ctx, cancel := opContext(c)
		defer cancel()
		if err := h.Persist(ctx, p.off, p.n); errors.Is(err, client.ErrVolatile) {
			persistent = false
		} else if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return false, method, err
	}
	return persistent, method, nil
}

// unmapQuietly is used on error paths where the unmap's own error would
// hide the first one; the session's end revokes the map anyway.
func unmapQuietly(c *call, h *client.Handle) {
	ctx, cancel := context.WithTimeout(context.Background(), c.Duration("timeout"))
	defer cancel()
	h.Unmap(ctx)
}
