package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/internal/bench"
	"github.com/brick-storage/brick/internal/oscall"
	"github.com/brick-storage/brick/protocol"
)

// The bench's operation groups, in the order they run.
var benchGroups = []string{"control", "alloc-map", "ping", "write", "read", "write+persist"}

// defaultGroups are the cases bench runs without --ops: ping measures the
// messaging under the control verbs and is asked for by name.
var defaultGroups = []string{"control", "write", "read", "write+persist"}

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure control-verb rate and data-path bandwidth and latency",
		Description: "Runs each case for --duration in a closed loop: qd × sessions workers, each on\n" +
			"its own block with its own registered buffer, each keeping one operation\n" +
			"outstanding (zero-copy RDMA from the buffer). Sessions are separate connections;\n" +
			"the qd workers of one session keep qd operations in flight on its queue pair. Cases: control (alloc → map rw → free\n" +
			"cycles, the free unmapping in the same round trip; latency per verb and per cycle; each verb waits for a synced commit, so durable\n" +
			"verbs/s is 3 × cycles/s), alloc-map (the same cycle with alloc and map rw in one request, asked for by name),\n" +
			"ping (asked for by name), and write, read, write+persist at each --size;\n" +
			"write+persist runs once per persist method the brick offers, in sessions that ask\n" +
			"for that method only. The bench allocates its blocks at consecutive IDs\n" +
			"from --base, refuses to start if any is allocated, and frees them at the end.\n" +
			"Prints a table (or --json); --html FILE writes a report with latency histograms.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "ops", Value: strings.Join(defaultGroups, ","), Usage: "cases to run: control, alloc-map, ping, write, read, write+persist"},
			&cli.StringFlag{Name: "size", Value: "4KiB,64KiB,2MiB", Usage: "payload sizes of data operations (at most 2MiB)"},
			&cli.StringFlag{Name: "qd", Value: "1", Usage: "queue depths: workers per session, comma-separated"},
			&cli.StringFlag{Name: "sessions", Value: "1", Usage: "session counts, comma-separated"},
			&cli.DurationFlag{Name: "duration", Value: 5 * time.Second, Usage: "how long each case runs"},
			&cli.StringFlag{Name: "base", Value: "0x400000000000", Usage: "first block ID the bench may use"},
			&cli.StringFlag{Name: "html", Usage: "write an HTML report with latency histograms to `FILE`", TakesFile: true},
		},
		Action: action(runBench),
	}
}

type benchPlan struct {
	groups          []string
	sizes, qds, ses []int
	d               time.Duration
	base            uint64
}

func parseBench(c *call) (*benchPlan, error) {
	p := &benchPlan{d: c.Duration("duration")}
	for _, g := range strings.Split(c.String("ops"), ",") {
		g = strings.TrimSpace(g)
		if g == "persist" {
			g = "write+persist"
		}
		if !slices.Contains(benchGroups, g) {
			return nil, usagef("--ops: %q is not a case; choose from %s", g, strings.Join(benchGroups, ", "))
		}
		if !slices.Contains(p.groups, g) {
			p.groups = append(p.groups, g)
		}
	}
	slices.SortFunc(p.groups, func(a, b string) int { return slices.Index(benchGroups, a) - slices.Index(benchGroups, b) })
	var err error
	if p.sizes, err = bench.ParseSizes(c.String("size")); err != nil {
		return nil, usagef("--size: %v", err)
	}
	for _, s := range p.sizes {
		if s > protocol.BlockSize {
			return nil, usagef("--size: %s is larger than a block (2MiB)", bench.SizeString(s))
		}
	}
	if p.qds, err = bench.ParseCounts(c.String("qd")); err != nil {
		return nil, usagef("--qd: %v", err)
	}
	if p.ses, err = bench.ParseCounts(c.String("sessions")); err != nil {
		return nil, usagef("--sessions: %v", err)
	}
	if p.d <= 0 {
		return nil, usagef("--duration must be positive")
	}
	if p.base, err = parseID(c.String("base")); err != nil {
		return nil, err
	}
	if p.base%protocol.BlockSize != 0 {
		return nil, usagef("--base %s is not a multiple of 2 MiB", hexID(p.base))
	}
	return p, nil
}

// benchCase is one case to run.
type benchCase struct {
	group         string
	size, qd, ses int
	// method is the persist method write+persist asks for (0: any).
	method protocol.PersistMethod
}

// cases lists every case; write+persist runs once per method the brick
// offers (none on volatile memory: one case that reports itself skipped).
func (p *benchPlan) cases(methods []protocol.PersistMethod) []benchCase {
	var out []benchCase
	for _, g := range p.groups {
		sizes := p.sizes
		if !dataGroup(g) {
			sizes = []int{0}
		}
		ms := []protocol.PersistMethod{0}
		if g == "write+persist" && len(methods) > 0 {
			ms = methods
		}
		for _, m := range ms {
			for _, size := range sizes {
				for _, s := range p.ses {
					for _, q := range p.qds {
						out = append(out, benchCase{g, size, q, s, m})
					}
				}
			}
		}
	}
	return out
}

// sessionPool dials sessions on demand: the plain ones, and per persist
// method ones whose hello asks for that method only (GPSPM is always
// asked for too, so the brick may still choose it; the result says which
// method the handles carried).
type sessionPool struct {
	c     *call
	byKey map[protocol.PersistMethod][]*client.Client
}

func (p *sessionPool) get(method protocol.PersistMethod, n int) ([]*client.Client, error) {
	cs := p.byKey[method]
	for len(cs) < n {
		var opts client.Options
		if method != 0 {
			opts.PersistFeatures = method.Feature()
		}
		cl, _, cancel, err := connectWith(p.c, opts)
		if err != nil {
			return nil, err
		}
		cancel()
		cs = append(cs, cl)
		p.byKey[method] = cs
	}
	return cs[:n], nil
}

func (p *sessionPool) close() {
	for _, cs := range p.byKey {
		for _, cl := range cs {
			cl.Close()
		}
	}
}

func runBench(c *call) error {
	p, err := parseBench(c)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, oscall.StopSignals...)
	defer stop()

	workers := slices.Max(p.qds) * slices.Max(p.ses)
	var nData, nCtl int
	if slices.ContainsFunc(p.groups, dataGroup) {
		nData = workers
	}
	if slices.ContainsFunc(p.groups, controlGroup) {
		nCtl = workers
	}
	last := p.base // a bench of pings alone uses no block
	if nData+nCtl > 0 {
		last += uint64(nData+nCtl-1) * protocol.BlockSize
	}
	if last < p.base || last > client.MaxID {
		return usagef("--base %s leaves no room for the %d blocks the bench needs", hexID(p.base), nData+nCtl)
	}

	pool := &sessionPool{c: c, byKey: map[protocol.PersistMethod][]*client.Client{}}
	defer pool.close()
	first, err := pool.get(0, 1)
	if err != nil {
		return err
	}
	cl := first[0]
	st, err := checkBenchRoom(c, cl, p.base, last, uint64(nData+nCtl))
	if err != nil {
		return err
	}

	// Data blocks, freed at the end whatever happens.
	dataIDs, err := allocBenchData(c, cl, p.base, nData)
	defer func() { freeAll(c, cl, dataIDs) }()
	if err != nil {
		return err
	}
	ctlBase := p.base + uint64(nData)*protocol.BlockSize
	defer func() { // control IDs a failed cycle may have left allocated
		ids := make([]uint64, nCtl)
		for i := range ids {
			ids[i] = ctlBase + uint64(i)*protocol.BlockSize
		}
		freeAll(c, cl, ids)
	}()

	rep := &bench.Report{
		Brick: c.String("addr"), Backend: backendName(st), Methods: methodNames(st.Methods),
		Started: time.Now(), Duration: p.d.Seconds(), Transport: transportName(c.String("addr")),
	}
	cases := p.cases(st.Methods.List())
	finished, runErr := runBenchCases(ctx, c, pool, p, cases, ctlBase, dataIDs, rep)

	interrupted := errors.Is(runErr, context.Canceled) && ctx.Err() != nil && c.Context.Err() == nil
	if interrupted && len(rep.Results) == 0 && !c.Bool("json") {
		return &interruptedError{"interrupted before any case finished: no results"}
	}
	if err := writeBenchReport(c, rep, p.d); err != nil {
		return err
	}
	if interrupted {
		return &interruptedError{fmt.Sprintf("interrupted; the results above are the %d of %d case(s) that finished", finished, len(cases))}
	}
	return runErr
}

// checkBenchRoom returns the brick's status after checking that the
// bench's need IDs base..last are all free, that need frames are (it
// maps its blocks), and that the brick admits need more blocks.
func checkBenchRoom(c *call, cl *client.Client, base, last, need uint64) (*protocol.StatusReply, error) {
	octx, cancel := opContext(c)
	st, err := cl.Status(octx)
	if err == nil && need > 0 {
		var ext []protocol.Extent
		if ext, err = cl.List(octx, base, last); err == nil && len(ext) > 0 {
			err = usagef("the bench uses block IDs %s…%s, but %s is allocated; choose another --base", hexID(base), hexID(last), hexID(ext[0].First))
		}
	}
	cancel()
	if err != nil {
		return nil, err
	}
	if st.FreeFrames < need {
		return nil, fmt.Errorf("the bench needs %d free frames and the brick has %d; lower --qd or --sessions: %w", need, st.FreeFrames, client.ErrNoSpace)
	}
	if room := st.BlockRoom(); room < need {
		return nil, fmt.Errorf("the bench needs %d blocks allocated and the brick has room for %d (%d of at most %d allocated); free some, or lower --qd or --sessions: %w",
			need, room, st.Blocks, st.BlockCapacity(), client.ErrNoSpace)
	}
	return st, nil
}

// allocBenchData allocates the n data blocks from base and returns those
// it allocated, also on error, for the caller to free.
func allocBenchData(c *call, cl *client.Client, base uint64, n int) ([]uint64, error) {
	var ids []uint64
	for i := 0; i < n; i++ {
		id := base + uint64(i)*protocol.BlockSize
		octx, cancel := opContext(c)
		err := cl.Alloc(octx, id)
		cancel()
		if err != nil {
			return ids, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// runBenchCases runs cases in order into rep until one fails or ctx ends,
// and returns how many finished.
func runBenchCases(ctx context.Context, c *call, pool *sessionPool, p *benchPlan, cases []benchCase, ctlBase uint64, dataIDs []uint64, rep *bench.Report) (int, error) {
	live := isTerminal(os.Stderr)
	finished := 0
	for i, bc := range cases {
		if ctx.Err() != nil {
			return finished, ctx.Err()
		}
		var tick func(bench.Live)
		if live {
			tick = benchProgress(fmt.Sprintf("[%d/%d] %s", i+1, len(cases), caseLabel(bc)), bc, p.d)
		}
		var rs []bench.Result
		clients, err := pool.get(bc.method, bc.ses)
		if err != nil {
			return finished, err
		}
		var runErr error
		switch bc.group {
		case "control", "alloc-map":
			rs, runErr = benchControl(ctx, clients, bc, ctlBase, p.d, tick)
		case "ping":
			rs, runErr = benchPing(ctx, clients, bc, p.d, tick)
		default:
			var r bench.Result
			r, runErr = benchData(ctx, c, clients, bc, dataIDs, p.d, tick)
			rs = []bench.Result{r}
		}
		if live {
			fmt.Fprint(os.Stderr, "\r\x1b[K")
		}
		if ctx.Err() != nil { // interrupted: this case was cut short of --duration
			return finished, ctx.Err()
		}
		rep.Results = append(rep.Results, rs...)
		finished++
		if runErr != nil {
			return finished, runErr
		}
	}
	return finished, nil
}

// benchProgress is a case's live line on a terminal.
func benchProgress(label string, bc benchCase, d time.Duration) func(bench.Live) {
	return func(l bench.Live) {
		fmt.Fprintf(os.Stderr, "\r%s  %4.1fs/%gs  %8.0f ops/s", label, l.Elapsed.Seconds(), d.Seconds(), float64(l.Ops)/l.Elapsed.Seconds())
		if bc.size > 0 {
			fmt.Fprintf(os.Stderr, "  %9.1f MiB/s", float64(l.Bytes)/l.Elapsed.Seconds()/(1<<20))
		}
		fmt.Fprint(os.Stderr, "\x1b[K")
	}
}

// writeBenchReport prints rep as a table or --json, and writes --html.
func writeBenchReport(c *call, rep *bench.Report, d time.Duration) error {
	if path := c.String("html"); path != "" {
		if err := bench.WriteHTMLFile(path, rep.HTML); err != nil {
			return err
		}
	}
	if c.Bool("json") {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Printf("brick %s (%s, %s), %s per case\n", rep.Brick, rep.Transport, rep.Backend, d)
	if err := rep.Table(os.Stdout); err != nil {
		return err
	}
	if path := c.String("html"); path != "" {
		fmt.Printf("report written to %s\n", path)
	}
	return nil
}

// dataGroup reports whether case group g reads or writes a mapped block
// (and so needs a block per worker and a --size).
func dataGroup(g string) bool { return !controlGroup(g) && g != "ping" }

func controlGroup(g string) bool { _, ok := controlCycles[g]; return ok }

func caseLabel(bc benchCase) string {
	s := bc.group
	if bc.method != 0 {
		s += "/" + bc.method.String()
	}
	if bc.size > 0 {
		s += " " + bench.SizeString(bc.size)
	}
	return fmt.Sprintf("%s qd%d s%d", s, bc.qd, bc.ses)
}

func transportName(addr string) string {
	switch {
	case strings.HasPrefix(addr, "tcp://"):
		return "tcp (software RNIC)"
	case strings.HasPrefix(addr, "rdma://"):
		return "rdma"
	}
	return addr
}

// freeAll frees ids, ignoring those not allocated; it runs on the way out,
// after an interrupt too, so it has its own deadline.
func freeAll(c *call, cl *client.Client, ids []uint64) {
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), c.Duration("timeout"))
		err := cl.Free(ctx, id)
		if errors.Is(err, client.ErrBusy) { // still mapped by this session after a failure
			cl.Unmap(ctx, id)
			err = cl.Free(ctx, id)
		}
		cancel()
		if err != nil && !errors.Is(err, client.ErrNotFound) {
			fmt.Fprintf(os.Stderr, "brickctl: warning: could not free bench block %s: %s\n", hexID(id), sentence(err))
		}
	}
}
