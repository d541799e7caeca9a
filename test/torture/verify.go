package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
)

// maxShown bounds the losses printed one by one.
const maxShown = 20

// verifyResult is what verify found.
type verifyResult struct {
	acked    totals // acknowledged since the checkpoint (InFlight: tolerated)
	checked  int64  // bytes compared exactly
	losses   []string
	unclean  int    // blocks the brick lists as mapped read-write at the cut
	state    *state // the log, replayed
	verified *state // the new checkpoint (nil when something was lost)
}

// errLost: the brick does not hold what it acknowledged.
var errLost = errors.New("the brick lost acknowledged operations")

// verify checks the brick at addr against the log: every acknowledged
// alloc, free and persisted write must be there, byte for byte. A block
// with an operation in flight at the cut may be in either state (for a
// write, its range may hold anything). When nothing is lost, it rewrites
// those ranges with the in-flight write's bytes, so the block is exactly
// known again, and replaces the log with a checkpoint of the verified
// state: the next work run continues from it.
func verify(ctx context.Context, addr, path string) (verifyResult, error) {
	var res verifyResult
	st, err := loadLog(path)
	if err != nil {
		return res, err
	}
	res.state = st
	res.acked = st.acked
	res.acked.InFlight = int64(len(st.pending))
	c, err := client.Dial(ctx, addr, client.Options{})
	if err != nil {
		return res, fmt.Errorf("%w at %s: %v", errUnreachable, addr, err)
	}
	defer c.Close()
	listed, err := listStates(ctx, c, st.set)
	if err != nil {
		return res, err
	}

	v := &checker{c: c, got: make([]byte, blockSize), want: make([]byte, blockSize)}
	next := newState(st.set)
	for i := range st.set.n {
		if listed[i] == protocol.StateUnclean {
			res.unclean++
		}
		p, inFlight := st.pending[i]
		var pp *op
		if inFlight {
			pp = &p
		}
		next.blocks[i] = v.check(ctx, st.set.id(i), st.blocks[i], pp, listed[i])
		if v.err != nil {
			return res, v.err
		}
	}
	res.checked, res.losses = v.checked, v.losses
	if len(res.losses) > 0 {
		return res, fmt.Errorf("%w: %d losses", errLost, len(res.losses))
	}
	if err := settle(ctx, c, st, next); err != nil {
		return res, err
	}
	next.cycles = st.cycles + 1
	next.nextSeq = st.nextSeq
	next.totals = st.totals
	next.totals.add(res.acked)
	if err := next.writeCheckpoint(path); err != nil {
		return res, err
	}
	res.verified = next
	return res, nil
}

// listStates is each block's state on the brick, by index in set (0: not
// allocated).
func listStates(ctx context.Context, c *client.Client, set blockSet) ([]protocol.ExtentState, error) {
	exts, err := c.List(ctx, set.base, set.last())
	if err != nil {
		return nil, err
	}
	listed := make([]protocol.ExtentState, set.n)
	for _, e := range exts {
		for k := range e.Blocks {
			if i := set.index(e.First + k*blockSize); i >= 0 {
				listed[i] = e.State
			}
		}
	}
	return listed, nil
}

// check compares block id, acknowledged as b with p in flight (nil: none)
// and listed by the brick as listed, and returns what the block holds now.
func (v *checker) check(ctx context.Context, id uint64, b block, p *op, listed protocol.ExtentState) block {
	have := listed != 0
	switch {
	case p == nil && have != b.allocated:
		if b.allocated {
			v.lose("block %#x: acknowledged allocated, but the brick does not have it", id)
		} else {
			v.lose("block %#x: acknowledged free, but the brick has it allocated", id)
		}
	case p == nil:
		if have {
			v.compare(ctx, id, &b, nil)
		}
	case p.Kind == opAlloc && have:
		b = block{allocated: true} // the alloc happened: zero-filled
		v.compare(ctx, id, &b, nil)
	case p.Kind == opFree && !have:
		b = block{}
	case p.Kind == opWrite && !have:
		v.lose("block %#x: allocated with %v in flight, but the brick does not have it", id, *p)
	case p.Kind == opWrite:
		if listed != protocol.StateUnclean {
			// The brick makes a read-write map durable before it
			// hands out the key, and the write's map was open.
			v.lose("block %#x: %v was in flight, but the brick does not list the block unclean (%v)", id, *p, listed)
		}
		v.compare(ctx, id, &b, p)
	default: // alloc that did not happen, free that did not: the block is unchanged
		if have {
			v.compare(ctx, id, &b, nil)
		}
	}
	return b
}

// settle writes the writes that were in flight again, whole, so that next
// knows those blocks exactly.
func settle(ctx context.Context, c *client.Client, st, next *state) error {
	for i, p := range st.pending {
		if p.Kind != opWrite {
			continue
		}
		if err := rewrite(ctx, c, p); err != nil {
			return err
		}
		next.blocks[i].apply(p)
	}
	return nil
}

// checker compares blocks and collects losses.
type checker struct {
	c         *client.Client
	got, want []byte
	checked   int64
	losses    []string
	err       error // the brick could not be read: verify cannot go on
}

func (v *checker) lose(format string, args ...any) {
	v.losses = append(v.losses, fmt.Sprintf(format, args...))
}

// compare reads block id and compares it with b, except in the range of
// an in-flight write.
func (v *checker) compare(ctx context.Context, id uint64, b *block, skip *op) {
	h, err := v.c.Map(ctx, id, protocol.MapReadOnly)
	if err == nil {
		_, err = h.ReadAt(v.got, 0)
		if uerr := h.Unmap(ctx); err == nil {
			err = uerr
		}
	}
	if err != nil {
		v.err = fmt.Errorf("read block %#x: %w", id, err)
		return
	}
	b.expected(id, v.want)
	ranges := [][2]int64{{0, blockSize}}
	if skip != nil {
		ranges = [][2]int64{{0, skip.Off}, {skip.Off + skip.Len, blockSize}}
	}
	for _, r := range ranges {
		got, want := v.got[r[0]:r[1]], v.want[r[0]:r[1]]
		v.checked += int64(len(got))
		i := firstDiff(got, want)
		if i < 0 {
			continue
		}
		off := r[0] + int64(i)
		n := 0
		for j := i; j < len(got); j++ {
			if got[j] != want[j] {
				n++
			}
		}
		v.lose("block %#x: %d of its bytes in [%d, %d) differ; first: %s", id, n, r[0], r[1], describeDiff(b, off, v.want[off], v.got[off]))
	}
}

// rewrite writes and persists an in-flight write's range with its bytes.
func rewrite(ctx context.Context, c *client.Client, p op) error {
	h, err := c.Map(ctx, p.ID, protocol.MapReadWrite)
	if err != nil {
		return fmt.Errorf("settle %v: %w", p, err)
	}
	buf := make([]byte, p.Len)
	fill(buf, p.ID, p.Seed, p.Off)
	if _, err = h.WriteAt(buf, p.Off); err == nil {
		err = h.Persist(ctx, p.Off, p.Len)
	}
	if uerr := h.Unmap(ctx); err == nil {
		err = uerr
	}
	if err != nil {
		return fmt.Errorf("settle %v: %w", p, err)
	}
	return nil
}

func printVerify(out io.Writer, r verifyResult) {
	a := r.acked
	fmt.Fprintf(out, "verify: %d acknowledged allocs, %d frees, %d persisted writes (%d bytes); %d bytes checked; %d in flight tolerated; %d unclean; %d lost\n",
		a.Allocs, a.Frees, a.Writes, a.Bytes, r.checked, a.InFlight, r.unclean, len(r.losses))
	for i, l := range r.losses {
		if i == maxShown {
			fmt.Fprintf(out, "  … and %d more\n", len(r.losses)-maxShown)
			break
		}
		fmt.Fprintf(out, "  LOST %s\n", l)
	}
}

// summary is the line a torture run ends with.
func summary(name string, cycles int, t totals, lost int) string {
	return fmt.Sprintf("%s: %d cycles, %d allocs, %d frees, %d persisted writes (%d bytes) acknowledged, %d lost",
		name, cycles, t.Allocs, t.Frees, t.Writes, t.Bytes, lost)
}
