package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
)

// defaultBase is where a new log's blocks start: a high ID, to show IDs
// are any 64-bit value, and out of the way of other users of the brick.
const defaultBase = 1 << 40

// opTimeout bounds one operation: a brick that stops answering is a
// failure, not a death (a dead brick's connection ends).
const opTimeout = time.Minute

// errGone: the brick went away mid-run, which is what work is for.
var errGone = errors.New("the brick went away")

// errUnreachable: there was no brick to start with.
var errUnreachable = errors.New("cannot reach the brick")

type workConfig struct {
	addr     string
	log      string
	duration time.Duration
	blocks   int // for a new log
	seed     uint64
	sessions int
}

// workResult counts what the brick acknowledged during a run.
type workResult struct {
	acked    totals
	checks   int64 // live read-back checks that matched
	inFlight int   // operations without an ack when the run ended
}

// work runs random operations from the state in cfg.log until the time is
// up or the brick goes away (then it returns errGone), recording each
// before it is issued and after it is acknowledged.
func work(ctx context.Context, cfg workConfig) (workResult, error) {
	var res workResult
	st, err := startLog(cfg)
	if err != nil {
		return res, err
	}
	lw, err := openLog(cfg.log, st)
	if err != nil {
		return res, err
	}
	defer lw.close()

	ws, err := dialWorkers(ctx, cfg, st, lw)
	defer func() {
		for _, w := range ws {
			if w != nil {
				w.c.Close()
			}
		}
	}()
	if err != nil {
		return res, err
	}
	first := runWorkers(ctx, ws, time.Now().Add(cfg.duration))
	for _, w := range ws {
		res.acked.add(w.acked)
		res.checks += w.checks
		if w.inFlight {
			res.inFlight++
		}
	}
	return res, first
}

// startLog loads the state in cfg.log, first writing a new one of
// cfg.blocks blocks if there is none. A log with operations in flight
// must be verified first.
func startLog(cfg workConfig) (*state, error) {
	if _, err := os.Stat(cfg.log); errors.Is(err, os.ErrNotExist) {
		if cfg.blocks <= 0 {
			return nil, fmt.Errorf("--blocks must be positive")
		}
		if err := newState(blockSet{base: defaultBase, n: cfg.blocks}).writeCheckpoint(cfg.log); err != nil {
			return nil, err
		}
	}
	st, err := loadLog(cfg.log)
	if err != nil {
		return nil, err
	}
	if n := len(st.pending); n > 0 {
		return nil, fmt.Errorf("%s ends with %d operations in flight: run verify first", cfg.log, n)
	}
	return st, nil
}

// dialWorkers opens one session per worker and deals the blocks out among
// them. On error it returns the workers dialled so far (nil for the rest),
// for the caller to close.
func dialWorkers(ctx context.Context, cfg workConfig, st *state, lw *logWriter) ([]*worker, error) {
	sessions := max(1, min(cfg.sessions, st.set.n))
	ws := make([]*worker, sessions)
	for i := range ws {
		opts := client.Options{}
		if i%2 == 1 {
			// Half the sessions persist by GPSPM, the others by the best
			// method the brick offers (FLUSH on the software RNIC).
			opts.PersistFeatures = protocol.FeatureGPSPM
		}
		dctx, cancel := context.WithTimeout(ctx, opTimeout)
		c, err := client.Dial(dctx, cfg.addr, opts)
		cancel()
		if err != nil {
			switch {
			case refusal(err):
				return ws, fmt.Errorf("the brick refused session %d: %w", i+1, err)
			case i == 0:
				return ws, fmt.Errorf("%w at %s: %v", errUnreachable, cfg.addr, err)
			}
			return ws, errGone // it was there for the first session
		}
		ws[i] = &worker{cfg: cfg, st: st, log: lw, c: c, buf: make([]byte, blockSize), want: make([]byte, blockSize),
			rng: rand.New(rand.NewPCG(cfg.seed, uint64(i)))}
	}
	for b := range st.set.n {
		ws[b%sessions].mine = append(ws[b%sessions].mine, b)
	}
	return ws, nil
}

// runWorkers runs ws until deadline and returns the first inconsistency,
// which stops the others, or else errGone if the brick went away.
func runWorkers(ctx context.Context, ws []*worker, deadline time.Time) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		first error // the first inconsistency, or errGone
		wg    sync.WaitGroup
	)
	for _, w := range ws {
		wg.Go(func() {
			err := w.run(ctx, deadline)
			if err == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if first == nil || errors.Is(first, errGone) && !errors.Is(err, errGone) {
				first = err
			}
			if !errors.Is(err, errGone) {
				cancel() // an inconsistency: stop the others
			}
		})
	}
	wg.Wait()
	return first
}

// worker is one session working on its own blocks, one operation at a time,
// so that it always knows their state exactly.
type worker struct {
	cfg       workConfig
	st        *state
	log       *logWriter
	c         *client.Client
	rng       *rand.Rand
	mine      []int  // block indexes
	buf, want []byte // a block's worth each
	acked     totals
	checks    int64
	inFlight  bool // the last intent has no ack
}

func (w *worker) run(ctx context.Context, deadline time.Time) error {
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return nil
		}
		i := w.mine[w.rng.IntN(len(w.mine))]
		b := &w.st.blocks[i]
		id := w.st.set.id(i)
		var err error
		switch r := w.rng.IntN(100); {
		case !b.allocated && r < 50: // allocated and mapped in one request (AllocMap), then written
			err = w.allocWrites(ctx, id, 1+w.rng.IntN(3), r < 10)
		case !b.allocated:
			err = w.do(ctx, op{Kind: opAlloc, ID: id}, func(ctx context.Context) error { return w.c.Alloc(ctx, id) })
		case r < 4:
			err = w.do(ctx, op{Kind: opFree, ID: id}, func(ctx context.Context) error { return w.c.Free(ctx, id) })
		case r < 8: // written, then freed by the same map (FreeUnmap)
			err = w.writes(ctx, id, 1+w.rng.IntN(3), true)
		case r < 20:
			err = w.check(ctx, id, b)
		default:
			err = w.writes(ctx, id, 1+w.rng.IntN(3), false)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// do logs o, runs it, and logs its acknowledgement or refusal.
func (w *worker) do(ctx context.Context, o op, run func(context.Context) error) error {
	o, err := w.log.intent(o)
	if err != nil {
		return err
	}
	w.inFlight = true
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := run(octx); err != nil {
		if refusal(err) {
			// A refused alloc or free did not happen; a write's bytes may
			// have landed before its persist was refused.
			if o.Kind != opWrite {
				w.inFlight = false
				if lerr := w.log.refused(o); lerr != nil {
					return lerr
				}
			}
			return fmt.Errorf("the brick refused %v, which the log says must succeed: %w", o, err)
		}
		return w.failed(ctx, err)
	}
	if err := w.log.ack(o); err != nil {
		return err
	}
	w.inFlight = false
	w.st.blocks[w.st.set.index(o.ID)].apply(o)
	w.acked.count(o)
	return nil
}

// writes maps block id read-write and writes and persists n random ranges;
// then it unmaps the block, or with free frees it through the map
// (Handle.Free: the revocation and the free in one request).
func (w *worker) writes(ctx context.Context, id uint64, n int, free bool) error {
	mctx, cancel := context.WithTimeout(ctx, opTimeout)
	h, err := w.c.Map(mctx, id, protocol.MapReadWrite)
	cancel()
	if err != nil {
		return w.failed(ctx, err)
	}
	return w.writeThrough(ctx, h, n, free)
}

// allocWrites allocates block id and maps it read-write in one request
// (Client.AllocMap: allocation, placement and mark in one commit), then
// writes through that map as writes does.
func (w *worker) allocWrites(ctx context.Context, id uint64, n int, free bool) error {
	var h *client.Handle
	err := w.do(ctx, op{Kind: opAlloc, ID: id}, func(ctx context.Context) (err error) {
		h, err = w.c.AllocMap(ctx, id, protocol.MapReadWrite)
		return err
	})
	if err != nil {
		return err
	}
	return w.writeThrough(ctx, h, n, free)
}

// writeThrough writes and persists n random ranges through h, then unmaps
// it or, with free, frees the block through it.
func (w *worker) writeThrough(ctx context.Context, h *client.Handle, n int, free bool) error {
	id := h.ID
	for range n {
		off, length := randomRange(w.rng)
		o := op{Kind: opWrite, ID: id, Off: off, Len: length, Seed: w.rng.Uint64() | 1}
		p := w.buf[:length]
		fill(p, id, o.Seed, off)
		err := w.do(ctx, o, func(ctx context.Context) error {
			if _, err := h.WriteAt(p, off); err != nil {
				return err
			}
			return h.Persist(ctx, off, length)
		})
		if err != nil {
			return err
		}
	}
	if free {
		return w.do(ctx, op{Kind: opFree, ID: id}, h.Free)
	}
	uctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := h.Unmap(uctx); err != nil {
		return w.failed(ctx, err)
	}
	return nil
}

// check reads a random range of block id back and compares it with the
// model: what the brick says live must match what it acknowledged.
func (w *worker) check(ctx context.Context, id uint64, b *block) error {
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	h, err := w.c.Map(octx, id, protocol.MapReadOnly)
	if err != nil {
		return w.failed(ctx, err)
	}
	off, n := randomRange(w.rng)
	got := w.buf[:n]
	if _, err := h.ReadAt(got, off); err != nil {
		return w.failed(ctx, err)
	}
	if err := h.Unmap(octx); err != nil {
		return w.failed(ctx, err)
	}
	b.expected(id, w.want)
	if i := firstDiff(got, w.want[off:off+n]); i >= 0 {
		return fmt.Errorf("live read of block %#x differs from what the brick acknowledged: %s",
			id, describeDiff(b, off+int64(i), w.want[off+int64(i)], got[i]))
	}
	w.checks++
	return nil
}

// failed classifies an error of a live session: the brick went away
// (errGone), or the brick is up and something is wrong.
func (w *worker) failed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err() // stopped because another session found an inconsistency
	}
	if refusal(err) {
		return fmt.Errorf("the brick refused an operation the log says must succeed: %w", err)
	}
	// A data operation can fail before the session is declared over.
	select {
	case <-w.c.Done():
	case <-time.After(10 * time.Second):
		return fmt.Errorf("an operation failed while the session lives: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, derr := client.Dial(ctx, w.cfg.addr, client.Options{})
	if derr != nil {
		return errGone
	}
	c.Close()
	return fmt.Errorf("the brick ended a session but still accepts new ones: %w", err)
}

// refusal reports whether err is the brick answering with a status: the
// request reached it and was refused.
func refusal(err error) bool {
	for _, s := range []error{client.ErrExist, client.ErrNoSpace, client.ErrInvalid, client.ErrNotFound, client.ErrBusy,
		client.ErrNotMapped, client.ErrPermission, client.ErrNotSupported, client.ErrLimit} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// randomRange picks a range of a block: mostly small, some up to the whole
// block, a quarter of them page-aligned.
func randomRange(rng *rand.Rand) (off, n int64) {
	switch r := rng.IntN(100); {
	case r < 50:
		n = 1 + rng.Int64N(4096)
	case r < 85:
		n = 1 + rng.Int64N(256<<10)
	default:
		n = 1 + rng.Int64N(blockSize)
	}
	if rng.IntN(4) == 0 {
		n = min(blockSize, (n+4095)&^4095)
		return rng.Int64N((blockSize-n)/4096+1) * 4096, n
	}
	return rng.Int64N(blockSize - n + 1), n
}

// firstDiff is the first index where a and b differ, or -1.
func firstDiff(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return len(a)
}

// describeDiff says where a wrong byte at off should have come from.
func describeDiff(b *block, off int64, want, got byte) string {
	src := "zero (no acknowledged write covers it)"
	if e, ok := b.at(off); ok {
		src = fmt.Sprintf("from write #%d of [%d, %d)", e.Seq, e.Off, e.Off+e.Len)
	}
	return fmt.Sprintf("offset %d holds %#02x, want %#02x %s", off, got, want, src)
}

func printWork(out io.Writer, r workResult, err error) {
	how := "ran its time"
	if errors.Is(err, errGone) {
		how = "the brick went away"
	}
	fmt.Fprintf(out, "work: %s; acknowledged %d allocs, %d frees, %d persisted writes (%d bytes), %d live read checks; %d operations in flight\n",
		how, r.acked.Allocs, r.acked.Frees, r.acked.Writes, r.acked.Bytes, r.checks, r.inFlight)
}
