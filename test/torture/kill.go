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
		// Most kills land mid-run; one in ten early, in the sessions' setup.
		delay := time.Duration(rng.Int64N(int64(cfg.maxDelay) + 1))
		if rng.IntN(10) == 0 {
			delay /= 20
		}
		err := killDuringWork(ctx, d, wcfg, delay)
		d = nil
		if err != nil {
			return res, fmt.Errorf("cycle %d: %w", cycle, err)
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

// killDuringWork runs work against d and kills d with SIGKILL after delay,
// while the work runs; it returns when the work has seen brickd go. d is
// dead when it returns, whatever it returns.
func killDuringWork(ctx context.Context, d *brickd, wcfg workConfig, delay time.Duration) error {
	done := make(chan error, 1)
	go func() {
		_, err := work(ctx, wcfg)
		done <- err
	}()
	select {
	case <-time.After(delay):
	case err := <-done:
		d.stop(syscall.SIGKILL)
		return fmt.Errorf("work stopped before the kill: %v", err)
	}
	if err := d.stop(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill -9 brickd: %w", err)
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(3 * time.Minute):
		return errors.New("work did not notice brickd's death within 3 minutes")
	}
	if err != nil && !errors.Is(err, errGone) && !errors.Is(err, errUnreachable) {
		return fmt.Errorf("work: %w", err)
	}
	return nil
}
