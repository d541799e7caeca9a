package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

type killConfig struct {
	cycles   int
	dir      string
	brickd   string
	seed     uint64
	blocks   int
	sessions int
	maxDelay time.Duration // the kill comes after a random delay up to this
}

// killResult sums a kill run's cycles.
type killResult struct {
	cycles  int
	acked   totals
	checked int64
}

// killTorture runs cfg.cycles cycles of: work against brickd, kill -9
// brickd at a random moment, restart it, verify. It stops at the first
// cycle that finds an inconsistency and leaves cfg.dir for inspection.
func killTorture(ctx context.Context, cfg killConfig, out io.Writer) (killResult, error) {
	var res killResult
	if err := os.MkdirAll(cfg.dir, 0o755); err != nil {
		return res, err
	}
	path, err := findBrickd(cfg.brickd, cfg.dir)
	if err != nil {
		return res, err
	}
	logPath := filepath.Join(cfg.dir, "torture.log")
	d, err := startBrickd(path, cfg.dir)
	if err != nil {
		return res, err
	}
	defer func() {
		if d != nil {
			d.stop(syscall.SIGKILL)
		}
	}()
	rng := rand.New(rand.NewPCG(cfg.seed, 0x6b696c6c))
	for res.cycles < cfg.cycles {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		cycle := res.cycles + 1
		wcfg := workConfig{addr: d.Addr, log: logPath, duration: 10 * time.Minute, blocks: cfg.blocks,
			seed: cfg.seed + uint64(cycle), sessions: cfg.sessions}
		type outcome struct {
			r   workResult
			err error
		}
		done := make(chan outcome, 1)
		go func() {
			r, err := work(ctx, wcfg)
			done <- outcome{r, err}
		}()
		// Most kills land mid-run; one in ten early, in the sessions' setup.
		delay := time.Duration(rng.Int64N(int64(cfg.maxDelay) + 1))
		if rng.IntN(10) == 0 {
			delay /= 20
		}
		var w outcome
		select {
		case <-time.After(delay):
		case w = <-done:
			return res, fmt.Errorf("cycle %d: work stopped before the kill: %v", cycle, w.err)
		}
		if err := d.stop(syscall.SIGKILL); err != nil {
			return res, fmt.Errorf("cycle %d: kill -9 brickd: %w", cycle, err)
		}
		d = nil
		select {
		case w = <-done:
		case <-time.After(3 * time.Minute):
			return res, fmt.Errorf("cycle %d: work did not notice brickd's death within 3 minutes", cycle)
		}
		if w.err != nil && !errors.Is(w.err, errGone) && !errors.Is(w.err, errUnreachable) {
			return res, fmt.Errorf("cycle %d: work: %w", cycle, w.err)
		}
		if d, err = startBrickd(path, cfg.dir); err != nil {
			return res, fmt.Errorf("cycle %d: restart after kill -9: %w", cycle, err)
		}
		v, err := verify(ctx, d.Addr, logPath)
		if err != nil {
			printVerify(out, v)
			return res, fmt.Errorf("cycle %d (killed after %v): verify: %w; the brick and log are in %s", cycle, delay.Round(time.Millisecond), err, cfg.dir)
		}
		res.cycles++
		res.acked.add(v.acked)
		res.checked += v.checked
		fmt.Fprintf(out, "cycle %d/%d: killed after %v with %d operations in flight; %d allocs, %d frees, %d persisted writes acknowledged; %d bytes checked, 0 lost\n",
			cycle, cfg.cycles, delay.Round(time.Millisecond), v.acked.InFlight, v.acked.Allocs, v.acked.Frees, v.acked.Writes, v.checked)
	}
	err = d.stop(syscall.SIGTERM)
	d = nil
	if err != nil {
		return res, fmt.Errorf("brickd did not stop cleanly after the last cycle: %w", err)
	}
	return res, nil
}
