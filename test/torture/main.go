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
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v3"
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

// flags are every command's flags: each command takes them all and uses
// its own.
func flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "addr", Value: "tcp://127.0.0.1:7470", Usage: "the brick's address"},
		&cli.StringFlag{Name: "log", Usage: "the operation log (outside the brick's disk)"},
		&cli.Uint64Flag{Name: "seed", Usage: "random seed (0: from the clock)"},
		&cli.IntFlag{Name: "blocks", Value: 32, Usage: "block IDs to work on (when the log is new)"},
		&cli.IntFlag{Name: "sessions", Value: 4, Usage: "concurrent sessions"},
		&cli.FloatFlag{Name: "seconds", Value: 10, Usage: "work: run this long unless the brick goes away first"},
		&cli.IntFlag{Name: "cycles", Value: 500, Usage: "kill: cycles of work, kill -9, restart, verify"},
		&cli.StringFlag{Name: "dir", Usage: "kill: directory for brickd's pmem image, metadata, log and the operation log"},
		&cli.StringFlag{Name: "brickd", Usage: "kill: brickd binary (default: on PATH, else built)"},
		&cli.DurationFlag{Name: "max-delay", Value: 2 * time.Second, Usage: "kill: the longest a cycle runs before the kill"},
		&cli.StringFlag{Name: "name", Value: "torture", Usage: "summary: the name on the line"},
	}
}

// newOptions reads the flags of the command c.
func newOptions(c *cli.Command, stdout, stderr io.Writer) *options {
	o := &options{cmd: c.Name, addr: c.String("addr"), logPath: c.String("log"), dir: c.String("dir"),
		brickd: c.String("brickd"), name: c.String("name"), seed: c.Uint64("seed"), blocks: c.Int("blocks"),
		sessions: c.Int("sessions"), cycles: c.Int("cycles"), seconds: c.Float("seconds"),
		maxDelay: c.Duration("max-delay"), stdout: stdout, stderr: stderr}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	return o
}

// run is the command line; it returns the exit status. A wrong command
// line is one sentence and the usage on stderr, and status 2.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	status := 0
	command := func(name, use string, body func(*options, context.Context) int) *cli.Command {
		return &cli.Command{Name: name, Usage: use, Flags: flags(), OnUsageError: usageError,
			Action: func(ctx context.Context, c *cli.Command) error {
				if c.NArg() > 0 {
					return fmt.Errorf("unexpected arguments: %q", c.Args().Slice())
				}
				status = body(newOptions(c, stdout, stderr), ctx)
				return nil
			}}
	}
	app := &cli.Command{
		Name:         "brick-torture",
		Usage:        "kill brickd mid-operation and check that it kept what it acknowledged",
		Writer:       stdout,
		ErrWriter:    stderr,
		OnUsageError: usageError,
		Commands: []*cli.Command{
			command("work", "record operations against the brick until --seconds or until it goes away", (*options).cmdWork),
			command("verify", "replay the log against the brick, then checkpoint it", (*options).cmdVerify),
			command("kill", "cycles of work, kill -9, restart and verify", (*options).cmdKill),
			command("summary", "print the totals of a verified log", func(o *options, _ context.Context) int { return o.cmdSummary() }),
		},
		Action: func(_ context.Context, c *cli.Command) error {
			if c.Args().Present() {
				return fmt.Errorf("unknown command %q", c.Args().First())
			}
			fmt.Fprint(stderr, usage)
			status = 2
			return nil
		},
	}
	if err := app.Run(ctx, append([]string{"brick-torture"}, args...)); err != nil {
		fmt.Fprintf(stderr, "%v\n%s", err, usage)
		return 2
	}
	return status
}

// usageError hands a flag mistake to run, which prints it with the usage,
// instead of urfave/cli's help text.
func usageError(_ context.Context, _ *cli.Command, err error, _ bool) error { return err }

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
