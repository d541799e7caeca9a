package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/internal/bench"
)

func scaleCommand() *cli.Command {
	return &cli.Command{
		Name:  "scale",
		Usage: "populate a brickd with --blocks blocks, then time its restart and a full list, read its resident memory per block, free every other block and list again, and open --sessions idle sessions",
		Description: "Starts brickd itself (--brickd, with --pmem-size sized to --blocks and the --brickd-arg flags),\n" +
			"allocates block IDs 0…blocks-1 from --parallel sessions, and measures:\n" +
			"  ready: from exec to the first successful status, after a restart with every block allocated\n" +
			"         (file backend only: the anonymous backend keeps nothing across a restart)\n" +
			"  list:  `brickctl list` of the whole brick, wall time (output discarded)\n" +
			"  RSS per block: brickd's VmRSS serving every block, less an empty brick's, over blocks\n" +
			"  list of blocks/2 extents: after freeing every other block\n" +
			"  idle session memory: VmRSS growth over --sessions sessions that are open and idle, per session\n" +
			"  sessions served: how many of them then answer a status",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "brickd", Value: "bin/brickd"},
			&cli.StringFlag{Name: "brickctl", Value: "bin/brickctl"},
			&cli.StringFlag{Name: "pmem", Required: true, Usage: "the image path (its file system must hold blocks × 2 MiB: images are fully allocated)"},
			&cli.StringFlag{Name: "meta", Required: true},
			&cli.StringFlag{Name: "backend", Value: "file", Usage: "file or anonymous"},
			&cli.StringFlag{Name: "listen", Value: "tcp://127.0.0.1:15470"},
			&cli.StringSliceFlag{Name: "brickd-arg", Usage: "more brickd flags (repeatable)"},
			&cli.IntFlag{Name: "blocks", Value: 1000000},
			&cli.IntFlag{Name: "parallel", Value: 64, Usage: "sessions allocating and freeing in parallel"},
			&cli.IntFlag{Name: "sessions", Value: 4096, Usage: "idle sessions to open"},
			&cli.StringFlag{Name: "log", Value: "/dev/null", Usage: "brickd's output goes here"},
			outFlag,
		},
		Action: action(runScale),
	}
}

// daemon is one brickd process.
type daemon struct {
	cmd  *exec.Cmd
	done chan error
}

func startBrickd(c *call) (*daemon, time.Time, error) {
	blocks := c.Int("blocks")
	args := []string{"--pmem", c.String("pmem"), "--meta", c.String("meta"), "--pmem-backend", c.String("backend"),
		"--pmem-size", strconv.FormatInt(int64(blocks+1)*client.BlockSize, 10), "--listen", c.String("listen"),
		"--metrics", "", "--max-sessions", strconv.Itoa(c.Int("sessions") + c.Int("parallel") + 16)}
	args = append(args, c.StringSlice("brickd-arg")...)
	log, err := os.OpenFile(c.String("log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, time.Time{}, err
	}
	cmd := exec.Command(c.String("brickd"), args...)
	cmd.Stdout, cmd.Stderr = log, log
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, t0, err
	}
	d := &daemon{cmd: cmd, done: make(chan error, 1)}
	go func() { d.done <- cmd.Wait(); log.Close() }()
	return d, t0, nil
}

// stop ends brickd with SIGTERM and waits (a clean stop, as an
// administrator's restart does).
func (d *daemon) stop() error {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		return err
	case <-time.After(2 * time.Minute):
		_ = d.cmd.Process.Kill()
		return errors.New("brickd did not stop within 2 minutes of SIGTERM")
	}
}

// waitReady dials and asks for status until brickd answers; it returns
// the moment it did.
func (d *daemon) waitReady(ctx context.Context, addr string) (time.Time, error) {
	deadline := time.Now().Add(10 * time.Minute)
	for {
		select {
		case err := <-d.done:
			return time.Time{}, fmt.Errorf("brickd exited before it was ready: %v", err)
		default:
		}
		cl, err := client.Dial(ctx, addr, client.Options{StagingSize: 4096})
		if err == nil {
			_, err = cl.Status(ctx)
			cl.Close()
			if err == nil {
				return time.Now(), nil
			}
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("brickd not ready after 10 minutes: %w", err)
		}
		time.Sleep(2 * time.Millisecond) // polling an external process: nothing to wait on
	}
}

// rss is VmRSS of pid in bytes.
func rss(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// inParallel runs f(i) for i from 0 to n-1 in width goroutines, every
// one of them whatever the others return, and returns the first error.
func inParallel(n, width int, f func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var first struct {
		sync.Mutex
		err error
	}
	for range width {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					first.Lock()
					if first.err == nil {
						first.err = err
					}
					first.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first.err
}

// forEach runs f(id) for ids in parallel sessions, printing progress.
func forEach(ctx context.Context, addr string, parallel int, ids []uint64, what string, f func(context.Context, *client.Client, uint64) error) error {
	var next, done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, parallel)
	t0 := time.Now()
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				n := done.Load()
				fmt.Fprintf(os.Stderr, "scale: %s %d/%d (%.0f/s)\n", what, n, len(ids), float64(n)/time.Since(t0).Seconds())
			}
		}
	}()
	defer close(stop)
	for range parallel {
		cl, err := client.Dial(ctx, addr, client.Options{StagingSize: 4096})
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.Close()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(ids)) {
					return
				}
				if err := f(ctx, cl, ids[i]); err != nil {
					errs <- err
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "scale: %s %d in %.1fs (%.0f/s)\n", what, len(ids), time.Since(t0).Seconds(), float64(len(ids))/time.Since(t0).Seconds())
	return nil
}

// timeClientList times client.List of the whole brick in this process:
// the protocol's share of a list, without brickctl's start and printing.
func timeClientList(ctx context.Context, addr string) (time.Duration, int, error) {
	cl, err := client.Dial(ctx, addr, client.Options{StagingSize: 4096})
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	t0 := time.Now()
	es, err := cl.List(ctx, 0, ^uint64(0))
	return time.Since(t0), len(es), err
}

// listNote says what the protocol's share of a timed list was.
func listNote(ctx context.Context, addr string) string {
	d, n, err := timeClientList(ctx, addr)
	if err != nil {
		return "client.List failed: " + err.Error()
	}
	return fmt.Sprintf("of which client.List in-process (no brickctl start, no printing): %.3f s for %d extents", d.Seconds(), n)
}

// timeList runs `brickctl list` of the whole brick and returns its wall
// time and the number of extents it printed (a header line aside).
func timeList(c *call, addr string) (time.Duration, int, error) {
	cmd := exec.Command(c.String("brickctl"), "--addr", addr, "--timeout", "5m", "list")
	t0 := time.Now()
	out, err := cmd.Output()
	d := time.Since(t0)
	if err != nil {
		return d, 0, fmt.Errorf("brickctl list: %w", err)
	}
	return d, strings.Count(string(out), "\n"), nil
}

func runScale(c *call) error {
	ctx := c.Context
	addr := c.String("listen")
	blocks := c.Int("blocks")
	persistent := c.String("backend") == "file"
	f := figures()
	f.Values[bench.FigScaleBlocks] = float64(blocks)
	f.Values[bench.FigSessionsWanted] = float64(c.Int("sessions"))

	d, _, err := startBrickd(c)
	if err != nil {
		return err
	}
	defer func() {
		if d != nil {
			_ = d.stop()
		}
	}()
	if _, err := d.waitReady(ctx, addr); err != nil {
		return err
	}
	empty, err := rss(d.cmd.Process.Pid)
	if err != nil {
		return err
	}
	ids := make([]uint64, blocks)
	for i := range ids {
		ids[i] = uint64(i) * client.BlockSize
	}
	err = forEach(ctx, addr, c.Int("parallel"), ids, "alloc", func(ctx context.Context, cl *client.Client, id uint64) error {
		return cl.Alloc(ctx, id)
	})
	if err != nil {
		return err
	}
	if persistent {
		if d, err = restartTimed(c, d, f); err != nil {
			return err
		}
	} else {
		f.Notes[bench.FigReadySec] = "the anonymous backend keeps nothing across a restart; a file-backed image of blocks × 2 MiB is needed (make bench uses brickd --pmem-sparse)"
	}
	full, err := rss(d.cmd.Process.Pid)
	if err != nil {
		return err
	}
	f.Values[bench.FigRSSPerBlockB] = float64(full-empty) / float64(blocks)
	if !persistent {
		f.Notes[bench.FigRSSPerBlockB] = "measured right after populating, without a restart (anonymous backend): includes garbage the Go heap has not returned"
	}
	fmt.Fprintf(os.Stderr, "scale: brickd VmRSS empty %d MiB, with %d blocks %d MiB\n", empty>>20, blocks, full>>20)
	if err := timeLists(c, addr, ids, f); err != nil {
		return err
	}

	served, perSession, err := idleSessions(ctx, addr, d.cmd.Process.Pid, c.Int("sessions"))
	if err != nil {
		f.Notes[bench.FigSessionsServed] = err.Error()
	}
	f.Values[bench.FigSessionsServed] = float64(served)
	if served > 0 {
		f.Values[bench.FigSessionIdleB] = perSession
	}
	if err := d.stop(); err != nil {
		return err
	}
	d = nil
	return emit(c, f)
}

// restartTimed stops d and starts brickd again on the populated image,
// recording how long it took to be ready. It returns the daemon to stop
// at the end: d if stopping it failed, else the new one (nil if it did
// not start).
func restartTimed(c *call, d *daemon, f *bench.Figures) (*daemon, error) {
	if err := d.stop(); err != nil {
		return d, fmt.Errorf("stopping brickd after population: %w", err)
	}
	d, t0, err := startBrickd(c)
	if err != nil {
		return d, err
	}
	ready, err := d.waitReady(c.Context, c.String("listen"))
	if err != nil {
		return d, err
	}
	f.Values[bench.FigReadySec] = ready.Sub(t0).Seconds()
	return d, nil
}

// timeLists times brickctl list of the populated blocks ids, one extent,
// then frees every other block and times it again, len(ids)/2 extents.
func timeLists(c *call, addr string, ids []uint64, f *bench.Figures) error {
	ctx := c.Context
	lt, n, err := timeList(c, addr)
	if err != nil {
		return err
	}
	f.Values[bench.FigListSec] = lt.Seconds()
	f.Notes[bench.FigListSec] = listNote(ctx, addr)
	fmt.Fprintf(os.Stderr, "scale: list of %d blocks: %d lines in %v\n", len(ids), n, lt)

	odd := make([]uint64, 0, len(ids)/2)
	for i := 1; i < len(ids); i += 2 {
		odd = append(odd, ids[i])
	}
	err = forEach(ctx, addr, c.Int("parallel"), odd, "free", func(ctx context.Context, cl *client.Client, id uint64) error {
		return cl.Free(ctx, id)
	})
	if err != nil {
		return err
	}
	lt, n, err = timeList(c, addr)
	if err != nil {
		return err
	}
	f.Values[bench.FigListHalfSec] = lt.Seconds()
	f.Notes[bench.FigListHalfSec] = listNote(ctx, addr)
	fmt.Fprintf(os.Stderr, "scale: list of %d extents: %d lines in %v\n", len(ids)-len(odd), n, lt)
	return nil
}

// idleSessions opens n sessions (64 dialling at a time), reads brickd's
// RSS growth per session once all are open, then asks each for its status:
// served is how many answered.
func idleSessions(ctx context.Context, addr string, pid, n int) (served int, perSession float64, err error) {
	before, err := rss(pid)
	if err != nil {
		return 0, 0, err
	}
	cls := make([]*client.Client, n)
	defer func() {
		for _, cl := range cls {
			if cl != nil {
				cl.Close()
			}
		}
	}()
	// A small staging buffer: the sessions are idle, and this process holds
	// all n of them.
	firstErr := inParallel(n, 64, func(i int) (err error) {
		cls[i], err = client.Dial(ctx, addr, client.Options{StagingSize: 4096})
		return err
	})
	open := 0
	for _, cl := range cls {
		if cl != nil {
			open++
		}
	}
	after, err := rss(pid)
	if err != nil {
		return 0, 0, err
	}
	if open > 0 {
		perSession = float64(after-before) / float64(open)
	}
	var ok atomic.Int64
	statusErr := inParallel(n, 64, func(i int) error {
		if cls[i] == nil {
			return nil
		}
		if _, err := cls[i].Status(ctx); err != nil {
			return err
		}
		ok.Add(1)
		return nil
	})
	fmt.Fprintf(os.Stderr, "scale: %d of %d sessions open, %d answered; brickd VmRSS %d → %d MiB\n", open, n, ok.Load(), before>>20, after>>20)
	if firstErr == nil {
		firstErr = statusErr
	}
	if firstErr != nil {
		firstErr = fmt.Errorf("%d of %d sessions served; first failure: %w", ok.Load(), n, firstErr)
	}
	return int(ok.Load()), perSession, firstErr
}
