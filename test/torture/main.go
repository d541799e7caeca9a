// Command brick-torture proves that brickd keeps what it acknowledged when
// it dies mid-operation: a recording client (work), a checker (verify), and
// a loop that kills brickd with SIGKILL and checks it after each restart
// (kill). The power-cut torture, test/kernel/powercut.sh, drives work and
// verify around a simulated power cut of brickd's disk.
//
//	brick-torture work   --addr URL --log FILE [--seconds S] [--blocks N] [--seed S] [--sessions N]
//	brick-torture verify --addr URL --log FILE
//	brick-torture kill   --cycles N --dir DIR [--brickd PATH] [--seed S] [--blocks N] [--max-delay D]
//	brick-torture summary --log FILE [--name NAME]
//
// work records every operation in FILE before issuing it and again once the
// brick acknowledges it (synced), so the log outlives the brick; verify
// replays it against the restarted brick, then replaces it with a
// checkpoint of the verified state, from which the next work run goes on.
//
// Exit status: 0 success (for work also when the brick went away mid-run),
// 1 an inconsistency or another failure, 2 a bad command line, 3 no brick
// to connect to.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  brick-torture work    --addr URL --log FILE [--seconds S] [--blocks N] [--seed S] [--sessions N]
  brick-torture verify  --addr URL --log FILE
  brick-torture kill    --cycles N --dir DIR [--brickd PATH] [--seed S] [--blocks N] [--max-delay D]
  brick-torture summary --log FILE [--name NAME]
`

// run is the command line; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fs := flag.NewFlagSet("brick-torture "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "tcp://127.0.0.1:7470", "the brick's address")
	logPath := fs.String("log", "", "the operation log (outside the brick's disk)")
	seed := fs.Uint64("seed", 0, "random seed (0: from the clock)")
	blocks := fs.Int("blocks", 32, "block IDs to work on (when the log is new)")
	sessions := fs.Int("sessions", 4, "concurrent sessions")
	seconds := fs.Float64("seconds", 10, "work: run this long unless the brick goes away first")
	cycles := fs.Int("cycles", 500, "kill: cycles of work, kill -9, restart, verify")
	dir := fs.String("dir", "", "kill: directory for brickd's pmem image, metadata, log and the operation log")
	brickdPath := fs.String("brickd", "", "kill: brickd binary (default: on PATH, else built)")
	maxDelay := fs.Duration("max-delay", 2*time.Second, "kill: the longest a cycle runs before the kill")
	name := fs.String("name", "torture", "summary: the name on the line")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %q\n%s", fs.Args(), usage)
		return 2
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
	needLog := func() bool {
		if *logPath == "" {
			fmt.Fprintf(stderr, "%s needs --log FILE\n", args[0])
			return false
		}
		return true
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "brick-torture %s: %v\n", args[0], err)
		if errors.Is(err, errUnreachable) {
			return 3
		}
		return 1
	}
	switch args[0] {
	case "work":
		if !needLog() {
			return 2
		}
		fmt.Fprintf(stdout, "work: seed %d\n", *seed)
		r, err := work(ctx, workConfig{addr: *addr, log: *logPath, duration: time.Duration(*seconds * float64(time.Second)),
			blocks: *blocks, seed: *seed, sessions: *sessions})
		printWork(stdout, r, err)
		if err != nil && !errors.Is(err, errGone) {
			return fail(err)
		}
		return 0
	case "verify":
		if !needLog() {
			return 2
		}
		r, err := verify(ctx, *addr, *logPath)
		if r.state != nil {
			printVerify(stdout, r)
		}
		if err != nil {
			return fail(err)
		}
		fmt.Fprintln(stdout, summary("verified", r.verified.cycles, r.verified.totals, 0))
		return 0
	case "kill":
		if *dir == "" || *cycles <= 0 {
			fmt.Fprintf(stderr, "kill needs --dir DIR and --cycles N > 0\n")
			return 2
		}
		fmt.Fprintf(stdout, "kill -9 torture: seed %d, %d cycles in %s\n", *seed, *cycles, *dir)
		t0 := time.Now()
		r, err := killTorture(ctx, killConfig{cycles: *cycles, dir: *dir, brickd: *brickdPath, seed: *seed,
			blocks: *blocks, sessions: *sessions, maxDelay: *maxDelay}, stdout)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintln(stdout, summary("kill -9 torture", r.cycles, r.acked, 0))
		fmt.Fprintf(stdout, "kill -9 torture: %d operations in flight at a kill tolerated, %d bytes checked, %v\n",
			r.acked.InFlight, r.checked, time.Since(t0).Round(time.Second))
		return 0
	case "summary":
		if !needLog() {
			return 2
		}
		st, err := loadLog(*logPath)
		if err != nil {
			return fail(err)
		}
		if n := len(st.pending); n > 0 || st.acked != (totals{}) {
			return fail(fmt.Errorf("%s has operations since its last verify: run verify first", *logPath))
		}
		fmt.Fprintln(stdout, summary(*name, st.cycles, st.totals, 0))
		return 0
	}
	fmt.Fprintf(stderr, "unknown command %q\n%s", args[0], usage)
	return 2
}
