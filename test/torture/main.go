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

// options are the command line's flags.
type options struct {
	cmd                        string
	addr, logPath, dir, brickd string
	name                       string
	seed                       uint64
	blocks, sessions, cycles   int
	seconds                    float64
	maxDelay                   time.Duration
	stdout, stderr             io.Writer
}

// parseOptions parses the flags after the command; ok is false when the
// command line is wrong (the error is on stderr).
func parseOptions(args []string, stdout, stderr io.Writer) (o *options, ok bool) {
	o = &options{cmd: args[0], stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("brick-torture "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "tcp://127.0.0.1:7470", "the brick's address")
	fs.StringVar(&o.logPath, "log", "", "the operation log (outside the brick's disk)")
	fs.Uint64Var(&o.seed, "seed", 0, "random seed (0: from the clock)")
	fs.IntVar(&o.blocks, "blocks", 32, "block IDs to work on (when the log is new)")
	fs.IntVar(&o.sessions, "sessions", 4, "concurrent sessions")
	fs.Float64Var(&o.seconds, "seconds", 10, "work: run this long unless the brick goes away first")
	fs.IntVar(&o.cycles, "cycles", 500, "kill: cycles of work, kill -9, restart, verify")
	fs.StringVar(&o.dir, "dir", "", "kill: directory for brickd's pmem image, metadata, log and the operation log")
	fs.StringVar(&o.brickd, "brickd", "", "kill: brickd binary (default: on PATH, else built)")
	fs.DurationVar(&o.maxDelay, "max-delay", 2*time.Second, "kill: the longest a cycle runs before the kill")
	fs.StringVar(&o.name, "name", "torture", "summary: the name on the line")
	if err := fs.Parse(args[1:]); err != nil {
		return nil, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %q\n%s", fs.Args(), usage)
		return nil, false
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	return o, true
}

// run is the command line; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o, ok := parseOptions(args, stdout, stderr)
	if !ok {
		return 2
	}
	switch o.cmd {
	case "work":
		return o.cmdWork(ctx)
	case "verify":
		return o.cmdVerify(ctx)
	case "kill":
		return o.cmdKill(ctx)
	case "summary":
		return o.cmdSummary()
	}
	fmt.Fprintf(stderr, "unknown command %q\n%s", args[0], usage)
	return 2
}

func (o *options) needLog() bool {
	if o.logPath == "" {
		fmt.Fprintf(o.stderr, "%s needs --log FILE\n", o.cmd)
		return false
	}
	return true
}

// fail reports err and returns the exit status: 3 when the brick cannot
// be reached, else 1.
func (o *options) fail(err error) int {
	fmt.Fprintf(o.stderr, "brick-torture %s: %v\n", o.cmd, err)
	if errors.Is(err, errUnreachable) {
		return 3
	}
	return 1
}

func (o *options) cmdWork(ctx context.Context) int {
	if !o.needLog() {
		return 2
	}
	fmt.Fprintf(o.stdout, "work: seed %d\n", o.seed)
	r, err := work(ctx, workConfig{addr: o.addr, log: o.logPath, duration: time.Duration(o.seconds * float64(time.Second)),
		blocks: o.blocks, seed: o.seed, sessions: o.sessions})
	printWork(o.stdout, r, err)
	if err != nil && !errors.Is(err, errGone) {
		return o.fail(err)
	}
	return 0
}

func (o *options) cmdVerify(ctx context.Context) int {
	if !o.needLog() {
		return 2
	}
	r, err := verify(ctx, o.addr, o.logPath)
	if r.state != nil {
		printVerify(o.stdout, r)
	}
	if err != nil {
		return o.fail(err)
	}
	fmt.Fprintln(o.stdout, summary("verified", r.verified.cycles, r.verified.totals, 0))
	return 0
}

func (o *options) cmdKill(ctx context.Context) int {
	if o.dir == "" || o.cycles <= 0 {
		fmt.Fprintf(o.stderr, "kill needs --dir DIR and --cycles N > 0\n")
		return 2
	}
	fmt.Fprintf(o.stdout, "kill -9 torture: seed %d, %d cycles in %s\n", o.seed, o.cycles, o.dir)
	t0 := time.Now()
	r, err := killTorture(ctx, killConfig{cycles: o.cycles, dir: o.dir, brickd: o.brickd, seed: o.seed,
		blocks: o.blocks, sessions: o.sessions, maxDelay: o.maxDelay}, o.stdout)
	if err != nil {
		return o.fail(err)
	}
	fmt.Fprintln(o.stdout, summary("kill -9 torture", r.cycles, r.acked, 0))
	fmt.Fprintf(o.stdout, "kill -9 torture: %d operations in flight at a kill tolerated, %d bytes checked, %v\n",
		r.acked.InFlight, r.checked, time.Since(t0).Round(time.Second))
	return 0
}

func (o *options) cmdSummary() int {
	if !o.needLog() {
		return 2
	}
	st, err := loadLog(o.logPath)
	if err != nil {
		return o.fail(err)
	}
	if n := len(st.pending); n > 0 || st.acked != (totals{}) {
		return o.fail(fmt.Errorf("%s has operations since its last verify: run verify first", o.logPath))
	}
	fmt.Fprintln(o.stdout, summary(o.name, st.cycles, st.totals, 0))
	return 0
}
