package main

// put and get move a byte range that may span consecutive blocks: byte x of
// the range lives in block first + (offset+x)/2MiB·2MiB. The brick records
// no file sizes and no links between blocks; consecutive IDs are the only
// structure, so that is what a span is.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
)

// piece is the part of a span that falls in one block.
type piece struct {
	id      uint64 // block ID
	off     int64  // offset in the block
	n       int64  // bytes in the block
	fileOff int64  // offset in the file
}

// pieces splits n bytes starting at byte off of block first into one piece
// per block. It refuses spans that run past the last block ID.
func pieces(first uint64, off, n int64) ([]piece, error) {
	if off < 0 || n < 0 {
		return nil, usagef("offsets and lengths cannot be negative")
	}
	if first%protocol.BlockSize != 0 {
		return nil, usagef("%s is not a block ID: block IDs are multiples of 2 MiB (0x200000)", hexID(first))
	}
	id := first + uint64(off/protocol.BlockSize)*protocol.BlockSize
	if id < first {
		return nil, usagef("offset %d runs past the last block ID", off)
	}
	off %= protocol.BlockSize
	var out []piece
	var done int64
	for done < n || len(out) == 0 {
		k := min(n-done, protocol.BlockSize-off)
		out = append(out, piece{id: id, off: off, n: k, fileOff: done})
		done += k
		if done < n {
			if id == client.MaxID {
				return nil, usagef("%d bytes from %s run past the last block ID", n, hexID(first))
			}
			id += protocol.BlockSize
		}
		off = 0
	}
	return out, nil
}

// spanArgs reads the ID FILE arguments and --offset of get and put.
func spanArgs(c *call, verb string) (id uint64, off int64, path string, err error) {
	if c.NArg() != 2 {
		return 0, 0, "", usagef("%s needs a block ID and a file: brickctl %s ID FILE", verb, verb)
	}
	if id, err = parseID(c.Args().Get(0)); err != nil {
		return 0, 0, "", err
	}
	if off, err = sizeFlag(c, "offset"); err != nil {
		return 0, 0, "", err
	}
	return id, off, c.Args().Get(1), nil
}

// spanFields are the JSON fields get and put report for the span they
// moved: n bytes in the blocks of ps, from the first piece's block and
// offset (an --offset of 2 MiB or more starts in a later block than ID).
func spanFields(ps []piece, n int64) map[string]any {
	return map[string]any{"id": hexID(ps[0].id), "last": hexID(ps[len(ps)-1].id), "blocks": len(ps), "offset": ps[0].off, "bytes": n}
}

// eachBlock maps each piece's block with flags, calls do on it and unmaps
// it, one block at a time, so that a span of any length holds one map. On
// do's error the block is unmapped quietly and the error returned.
func eachBlock(c *call, cl *client.Client, ps []piece, flags uint32, do func(h *client.Handle, p piece) error) error {
	for _, p := range ps {
		ctx, cancel := opContext(c)
		h, err := cl.Map(ctx, p.id, flags)
		cancel()
		if err != nil {
			return err
		}
		if err := do(h, p); err != nil {
			unmapQuietly(c, h)
			return err
		}
		ctx, cancel = opContext(c)
		err = h.Unmap(ctx)
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

// listWindow is how many blocks one List request covers while following a
// run: a run that is all one state costs one request per window.
const listWindow = 1024

// allocatedRun returns how many consecutive blocks starting at first are
// allocated, stopping once it has found limit (0: no limit), and the
// extents of the run that are unclean.
func allocatedRun(ctx context.Context, cl *client.Client, first uint64, limit uint64) (run uint64, unclean []protocol.Extent, err error) {
	next := first
	for limit == 0 || run < limit {
		last := next + (listWindow-1)*protocol.BlockSize
		if last < next || last > client.MaxID {
			last = client.MaxID
		}
		ext, err := cl.List(ctx, next, last)
		if err != nil {
			return 0, nil, err
		}
		for _, e := range ext {
			if e.First != next {
				return run, unclean, nil
			}
			if e.State == protocol.StateUnclean {
				unclean = append(unclean, e)
			}
			run += e.Blocks
			next += e.Blocks * protocol.BlockSize
		}
		if next == 0 || next <= last {
			return run, unclean, nil // past the last ID, or the run ended in this window
		}
	}
	return run, unclean, nil
}

// uncleanIn is how many blocks of the extents lie in the span of ps.
func uncleanIn(unclean []protocol.Extent, ps []piece) uint64 {
	lo, hi := ps[0].id, ps[len(ps)-1].id
	var n uint64
	for _, e := range unclean {
		for i := uint64(0); i < e.Blocks; i++ {
			if id := e.First + i*protocol.BlockSize; id >= lo && id <= hi {
				n++
			}
		}
	}
	return n
}

// opContext bounds one verb by --timeout: a long put or get is many verbs,
// each with the full timeout, rather than one deadline for the transfer.
func opContext(c *call) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Context, c.Duration("timeout"))
}

// dial connects for a long transfer; the dial itself is bounded by
// --timeout.
func dial(c *call) (*client.Client, error) {
	cl, _, cancel, err := connect(c)
	if err != nil {
		return nil, err
	}
	cancel()
	return cl, nil
}

// notAllocated names the missing blocks of a span in a sentence.
func notAllocated(missing []uint64, hint string) error {
	names := make([]string, 0, min(len(missing), 4))
	for _, id := range missing[:min(len(missing), 4)] {
		names = append(names, hexID(id))
	}
	more := ""
	if len(missing) > 4 {
		more = fmt.Sprintf(" and %d more", len(missing)-4)
	}
	noun := "block"
	if len(missing) > 1 {
		noun = "blocks"
	}
	return &spanError{msg: fmt.Sprintf("%s %s%s %s", noun, strings.Join(names, ", "), more, hint)}
}

// progress is the bar put and get draw on stderr when it is a terminal
// and the output is not --json; a nil bar draws nothing.
type progress struct{ bar *progressbar.ProgressBar }

// isTerminal reports whether f is a terminal (not a pipe, a file or
// /dev/null).
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

func newProgress(c *call, verb string, total int64) *progress {
	if c.Bool("json") || !isTerminal(os.Stderr) {
		return &progress{}
	}
	return &progress{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(verb),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}

func (p *progress) add(n int64) {
	if p.bar != nil {
		p.bar.Add64(n)
	}
}

// end clears the bar, whether the transfer finished or failed.
func (p *progress) end() {
	if p.bar != nil {
		p.bar.Clear()
	}
}

// chunk is the size data moves in, so the bar advances within a block.
const chunk = 512 << 10

// copyChunks calls fn for successive chunks of [0, n), advancing p.
func copyChunks(n int64, p *progress, fn func(off, k int64) error) error {
	for off := int64(0); off < n; off += chunk {
		k := min(chunk, n-off)
		if err := fn(off, k); err != nil {
			return err
		}
		p.add(k)
	}
	return nil
}
