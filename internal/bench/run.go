package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Op is one operation of a worker; it returns the payload bytes it moved.
// Ops of one worker run one after another (closed loop): a worker is one
// outstanding operation, so the workers are the queue depth.
type Op func(ctx context.Context) (bytes int, err error)

// Live is what the runner reports while a case runs.
type Live struct {
	Elapsed time.Duration
	Ops     uint64
	Bytes   uint64
}

// Measured is what one run of Run observed.
type Measured struct {
	Elapsed time.Duration
	Ops     uint64 // successful operations
	Bytes   uint64
	Errors  uint64
	Err     error // the first error, which stops the run
	Latency Histogram
}

// Run runs each of ops in its own goroutine, back to back, until d passes
// or ctx ends, and merges their latencies. The first error stops every
// worker: a benchmark that fails half its operations measures nothing
// useful. tick, if not nil, is called about every interval from its own
// goroutine.
func Run(ctx context.Context, d time.Duration, ops []Op, interval time.Duration, tick func(Live)) Measured {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		nOps, nBytes atomic.Uint64
		errOnce      sync.Once
		first        error
		nErr         atomic.Uint64
		wg           sync.WaitGroup
	)
	hists := make([]Histogram, len(ops))
	start := time.Now()
	deadline := start.Add(d)
	for i, op := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := &hists[i]
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				n, err := op(ctx)
				if err != nil {
					if ctx.Err() != nil {
						return // stopped mid-operation: not a failure of the op
					}
					nErr.Add(1)
					errOnce.Do(func() { first = err; cancel() })
					return
				}
				h.Record(time.Since(t0))
				nOps.Add(1)
				nBytes.Add(uint64(n))
			}
		}()
	}
	done := make(chan struct{})
	var tickWG sync.WaitGroup
	if tick != nil && interval > 0 {
		tickWG.Add(1)
		go func() {
			defer tickWG.Done()
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					tick(Live{Elapsed: time.Since(start), Ops: nOps.Load(), Bytes: nBytes.Load()})
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	tickWG.Wait()
	m := Measured{Elapsed: time.Since(start), Ops: nOps.Load(), Bytes: nBytes.Load(), Errors: nErr.Load(), Err: first}
	for i := range hists {
		m.Latency.Merge(&hists[i])
	}
	return m
}
