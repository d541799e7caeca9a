package main

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/internal/bench"
	"github.com/brick-storage/brick/protocol"
)

// benchData runs one write, read or write+persist case: worker w uses
// session w/qd and block dataIDs[w], mapped for the case's duration.
func benchData(ctx context.Context, c *call, clients []*client.Client, bc benchCase, dataIDs []uint64, d time.Duration, tick func(bench.Live)) (bench.Result, error) {
	bcase := bench.Case{Group: bc.group, Op: bc.group, Size: bc.size, QD: bc.qd, Sessions: bc.ses}
	n := bc.qd * bc.ses
	flags := protocol.MapReadWrite
	if bc.group == "read" {
		flags = protocol.MapReadOnly
	}
	handles := make([]*client.Handle, 0, n)
	defer func() {
		for _, h := range handles {
			unmapQuietly(c, h)
		}
	}()
	for w := 0; w < n; w++ {
		octx, cancel := opContext(c)
		h, err := clients[w/bc.qd].Map(octx, dataIDs[w], flags)
		cancel()
		if err != nil {
			return bench.Result{Case: bcase, Error: err.Error()}, err
		}
		handles = append(handles, h)
	}
	if bc.group == "write+persist" {
		bcase.Method = handles[0].Method.String()
		if handles[0].Method == protocol.PersistNone {
			return bench.Result{Case: bcase, Skipped: "the brick's memory is volatile: nothing to persist"}, nil
		}
		if bc.method != 0 && handles[0].Method != bc.method {
			bcase.Method += " (asked for " + bc.method.String() + ")"
		}
	}
	slots := int64(protocol.BlockSize / bc.size) // offsets a worker cycles through
	ops := make([]bench.Op, n)
	for w := range ops {
		// Each worker has its own registered buffer, so the qd workers of
		// a session keep qd operations in flight on its queue pair, with
		// no copy through the client.
		buf, err := clients[w/bc.qd].NewBuffer(bc.size)
		if err != nil {
			return bench.Result{Case: bcase, Error: err.Error()}, err
		}
		defer buf.Free()
		rand.Read(buf.Bytes())
		ops[w] = dataOp(bc.group, handles[w], buf, bc.size, slots)
	}
	m := bench.Run(ctx, d, ops, 200*time.Millisecond, tick)
	return bench.NewResult(bcase, &m), m.Err
}

// dataOp is one worker's operation in a data case (group write, read or
// write+persist): size bytes between buf and the block, at offsets that
// cycle through the block's slots.
func dataOp(group string, h *client.Handle, buf *client.Buffer, size int, slots int64) bench.Op {
	var i int64
	next := func() int64 {
		off := (i % slots) * int64(size)
		i++
		return off
	}
	switch group {
	case "read":
		return func(ctx context.Context) (int, error) {
			return size, h.ReadInto(ctx, buf, 0, size, next())
		}
	case "write+persist":
		return func(ctx context.Context) (int, error) {
			off := next()
			if err := h.WriteFrom(ctx, buf, 0, size, off); err != nil {
				return 0, err
			}
			return size, h.Persist(ctx, off, int64(size))
		}
	}
	return func(ctx context.Context) (int, error) {
		return size, h.WriteFrom(ctx, buf, 0, size, next())
	}
}

// A controlCycle is the verbs of one control case, each timed on its own.
type controlCycle struct {
	verbs []string
	// run does one cycle of block id; timed(k, f) runs verb k.
	run func(ctx context.Context, cl *client.Client, id uint64, timed func(k int, f func() error) error) error
}

var controlCycles = map[string]controlCycle{
	// alloc → map rw → free, the free revoking the map in the same round
	// trip (Handle.Free).
	"control": {[]string{"alloc", "map-rw", "free"}, func(ctx context.Context, cl *client.Client, id uint64, timed func(int, func() error) error) error {
		var hd *client.Handle
		err := timed(0, func() error { return cl.Alloc(ctx, id) })
		if err == nil {
			err = timed(1, func() (err error) { hd, err = cl.Map(ctx, id, protocol.MapReadWrite); return err })
		}
		if err == nil {
			err = timed(2, func() error { return hd.Free(ctx) })
		}
		return err
	}},
	// alloc and map rw in one request (Client.AllocMap) → free.
	"alloc-map": {[]string{"alloc-map-rw", "free"}, func(ctx context.Context, cl *client.Client, id uint64, timed func(int, func() error) error) error {
		var hd *client.Handle
		err := timed(0, func() (err error) { hd, err = cl.AllocMap(ctx, id, protocol.MapReadWrite); return err })
		if err == nil {
			err = timed(1, func() error { return hd.Free(ctx) })
		}
		return err
	}},
}

// benchControl runs the cycles of a control case (controlCycles), worker
// w on the block ID ctlBase + w·2MiB, and reports each verb's latency and
// the whole cycle's.
func benchControl(ctx context.Context, clients []*client.Client, bc benchCase, ctlBase uint64, d time.Duration, tick func(bench.Live)) ([]bench.Result, error) {
	cy := controlCycles[bc.group]
	n := bc.qd * bc.ses
	hists := make([][]bench.Histogram, n)
	ops := make([]bench.Op, n)
	for w := range ops {
		cl := clients[w/bc.qd]
		id := ctlBase + uint64(w)*protocol.BlockSize
		h := make([]bench.Histogram, len(cy.verbs))
		hists[w] = h
		timed := func(k int, f func() error) error {
			t0 := time.Now()
			err := f()
			if err == nil {
				h[k].Record(time.Since(t0))
			}
			return err
		}
		ops[w] = func(ctx context.Context) (int, error) { return 0, cy.run(ctx, cl, id, timed) }
	}
	m := bench.Run(ctx, d, ops, 200*time.Millisecond, tick)
	out := make([]bench.Result, len(cy.verbs), len(cy.verbs)+1)
	for k, v := range cy.verbs {
		mv := bench.Measured{Elapsed: m.Elapsed, Ops: m.Ops, Err: m.Err}
		for w := range hists {
			mv.Latency.Merge(&hists[w][k])
		}
		out[k] = bench.NewResult(bench.Case{Group: bc.group, Op: v, QD: bc.qd, Sessions: bc.ses}, &mv)
	}
	// The whole cycle: its rate × bench.DurableVerbsPerCycle is the
	// durable verbs per second.
	out = append(out, bench.NewResult(bench.Case{Group: bc.group, Op: "cycle", QD: bc.qd, Sessions: bc.ses}, &m))
	return out, m.Err
}

// benchPing runs ping round trips, one at a time per worker: a message
// each way through the RNIC and the session, with no metadata commit. The
// session's receive goroutine answers a ping itself, where a verb also
// goes to the session's worker; so against a TCP request-reply of the
// same concurrency it bounds from below what the control verbs' messages
// cost apart from their work.
func benchPing(ctx context.Context, clients []*client.Client, bc benchCase, d time.Duration, tick func(bench.Live)) ([]bench.Result, error) {
	ops := make([]bench.Op, bc.qd*bc.ses)
	for w := range ops {
		cl := clients[w/bc.qd]
		ops[w] = func(ctx context.Context) (int, error) { return 0, cl.Ping(ctx) }
	}
	m := bench.Run(ctx, d, ops, 200*time.Millisecond, tick)
	return []bench.Result{bench.NewResult(bench.Case{Group: "ping", Op: "ping", QD: bc.qd, Sessions: bc.ses}, &m)}, m.Err
}
