package main

import (
	"context"
	"crypto/rand"
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
var benchGroups = []string{"control", "write", "read", "write+persist"}

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure control-verb rate and data-path bandwidth and latency",
		Description: "Runs each case for --duration in a closed loop: qd × sessions workers, each on\n" +
			"its own block with its own registered buffer, each keeping one operation\n" +
			"outstanding (zero-copy RDMA from the buffer). Sessions are separate connections;\n" +
			"the qd workers of one session keep qd operations in flight on its queue pair. Cases: control (alloc → map rw → unmap → free\n" +
			"cycles, latency per verb and per cycle; alloc, map rw and free each wait for a synced commit, so durable\n" +
			"verbs/s is 3 × cycles/s), and write, read, write+persist at each --size;\n" +
			"write+persist runs once per persist method the brick offers, in sessions that ask\n" +
			"for that method only. The bench allocates its blocks at consecutive IDs\n" +
			"from --base, refuses to start if any is allocated, and frees them at the end.\n" +
			"Prints a table (or --json); --html FILE writes a report with latency histograms.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "ops", Value: strings.Join(benchGroups, ","), Usage: "cases to run: control, write, read, write+persist"},
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
		if s > blockSize {
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
	if p.base%blockSize != 0 {
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
		if g == "control" {
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

// methodFeature is the hello feature that asks for a persist method.
var methodFeature = map[protocol.PersistMethod]uint64{
	protocol.PersistGPSPM: protocol.FeatureGPSPM,
	protocol.PersistAPM:   protocol.FeatureAPM,
	protocol.PersistFlush: protocol.FeatureFlush,
}

// offeredMethods lists the persist methods in a status's bit set.
func offeredMethods(bits uint8) []protocol.PersistMethod {
	var out []protocol.PersistMethod
	for m := range methodFeature {
		if bits&(1<<m) != 0 {
			out = append(out, m)
		}
	}
	slices.Sort(out)
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
			opts.PersistFeatures = methodFeature[method]
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
	if slices.ContainsFunc(p.groups, func(g string) bool { return g != "control" }) {
		nData = workers
	}
	if slices.Contains(p.groups, "control") {
		nCtl = workers
	}
	last := p.base + uint64(nData+nCtl-1)*blockSize
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
	octx, cancel := opContext(c)
	st, err := cl.Status(octx)
	if err == nil {
		var ext []protocol.Extent
		if ext, err = cl.List(octx, p.base, last); err == nil && len(ext) > 0 {
			err = usagef("the bench uses block IDs %s…%s, but %s is allocated; choose another --base", hexID(p.base), hexID(last), hexID(ext[0].First))
		}
	}
	cancel()
	if err != nil {
		return err
	}
	if need := uint64(nData + nCtl); st.FreeFrames < need {
		return fmt.Errorf("the bench needs %d free frames and the brick has %d; lower --qd or --sessions: %w", need, st.FreeFrames, protocol.ErrNoSpace)
	}

	// Data blocks, freed at the end whatever happens.
	var dataIDs []uint64
	defer func() { freeAll(c, cl, dataIDs) }()
	for i := 0; i < nData; i++ {
		id := p.base + uint64(i)*blockSize
		octx, cancel := opContext(c)
		err := cl.Alloc(octx, id)
		cancel()
		if err != nil {
			return err
		}
		dataIDs = append(dataIDs, id)
	}
	ctlBase := p.base + uint64(nData)*blockSize
	defer func() { // control IDs a failed cycle may have left allocated
		ids := make([]uint64, nCtl)
		for i := range ids {
			ids[i] = ctlBase + uint64(i)*blockSize
		}
		freeAll(c, cl, ids)
	}()

	rep := &bench.Report{
		Brick: c.String("addr"), Backend: backendName(st), Methods: methodNames(st.Methods),
		Started: time.Now(), Duration: p.d.Seconds(), Transport: transportName(c.String("addr")),
	}
	cases := p.cases(offeredMethods(st.Methods))
	live := isTerminal(os.Stderr)
	var runErr error
	finished := 0
	for i, bc := range cases {
		if ctx.Err() != nil {
			runErr = ctx.Err()
			break
		}
		label := fmt.Sprintf("[%d/%d] %s", i+1, len(cases), caseLabel(bc))
		tick := func(l bench.Live) {
			fmt.Fprintf(os.Stderr, "\r%s  %4.1fs/%gs  %8.0f ops/s", label, l.Elapsed.Seconds(), p.d.Seconds(), float64(l.Ops)/l.Elapsed.Seconds())
			if bc.size > 0 {
				fmt.Fprintf(os.Stderr, "  %9.1f MiB/s", float64(l.Bytes)/l.Elapsed.Seconds()/(1<<20))
			}
			fmt.Fprint(os.Stderr, "\x1b[K")
		}
		if !live {
			tick = nil
		}
		var rs []bench.Result
		clients, err := pool.get(bc.method, bc.ses)
		if err != nil {
			runErr = err
			break
		}
		if bc.group == "control" {
			rs, runErr = benchControl(ctx, c, clients, bc, ctlBase, p.d, tick)
		} else {
			var r bench.Result
			r, runErr = benchData(ctx, c, clients, bc, dataIDs, p.d, tick)
			rs = []bench.Result{r}
		}
		if live {
			fmt.Fprint(os.Stderr, "\r\x1b[K")
		}
		if ctx.Err() != nil { // interrupted: this case was cut short of --duration
			runErr = ctx.Err()
			break
		}
		rep.Results = append(rep.Results, rs...)
		finished++
		if runErr != nil {
			break
		}
	}

	interrupted := errors.Is(runErr, context.Canceled) && ctx.Err() != nil && c.Context.Err() == nil
	if interrupted && len(rep.Results) == 0 && !c.Bool("json") {
		return &interruptedError{"interrupted before any case finished: no results"}
	}
	if path := c.String("html"); path != "" {
		if err := writeHTML(path, rep); err != nil {
			return err
		}
	}
	if c.Bool("json") {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		fmt.Printf("brick %s (%s, %s), %s per case\n", rep.Brick, rep.Transport, rep.Backend, p.d)
		if err := rep.Table(os.Stdout); err != nil {
			return err
		}
		if path := c.String("html"); path != "" {
			fmt.Printf("report written to %s\n", path)
		}
	}
	if interrupted {
		return &interruptedError{fmt.Sprintf("interrupted; the results above are the %d of %d case(s) that finished", finished, len(cases))}
	}
	return runErr
}

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

func writeHTML(path string, rep *bench.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := rep.HTML(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// freeAll frees ids, ignoring those not allocated; it runs on the way out,
// after an interrupt too, so it has its own deadline.
func freeAll(c *call, cl *client.Client, ids []uint64) {
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), c.Duration("timeout"))
		err := cl.Free(ctx, id)
		if errors.Is(err, protocol.ErrBusy) { // still mapped by this session after a failure
			cl.Unmap(ctx, id)
			err = cl.Free(ctx, id)
		}
		cancel()
		if err != nil && !errors.Is(err, protocol.ErrNotFound) {
			fmt.Fprintf(os.Stderr, "brickctl: warning: could not free bench block %s: %s\n", hexID(id), sentence(err))
		}
	}
}

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
	slots := int64(blockSize / bc.size) // offsets a worker cycles through
	ops := make([]bench.Op, n)
	for w := range ops {
		h := handles[w]
		// Each worker has its own registered buffer, so the qd workers of
		// a session keep qd operations in flight on its queue pair, with
		// no copy through the client.
		buf, err := clients[w/bc.qd].NewBuffer(bc.size)
		if err != nil {
			return bench.Result{Case: bcase, Error: err.Error()}, err
		}
		defer buf.Free()
		rand.Read(buf.Bytes())
		var i int64
		size := int64(bc.size)
		switch bc.group {
		case "write":
			ops[w] = func(ctx context.Context) (int, error) {
				off := (i % slots) * size
				i++
				return bc.size, h.WriteFrom(ctx, buf, 0, bc.size, off)
			}
		case "read":
			ops[w] = func(ctx context.Context) (int, error) {
				off := (i % slots) * size
				i++
				return bc.size, h.ReadInto(ctx, buf, 0, bc.size, off)
			}
		case "write+persist":
			ops[w] = func(ctx context.Context) (int, error) {
				off := (i % slots) * size
				i++
				if err := h.WriteFrom(ctx, buf, 0, bc.size, off); err != nil {
					return 0, err
				}
				return bc.size, h.Persist(ctx, off, size)
			}
		}
	}
	m := bench.Run(ctx, d, ops, 200*time.Millisecond, tick)
	return bench.NewResult(bcase, &m), m.Err
}

// benchControl runs alloc → map rw → unmap → free cycles, worker w on the
// block ID ctlBase + w·2MiB, and reports each verb's latency.
func benchControl(ctx context.Context, c *call, clients []*client.Client, bc benchCase, ctlBase uint64, d time.Duration, tick func(bench.Live)) ([]bench.Result, error) {
	verbs := []string{"alloc", "map-rw", "unmap", "free"}
	n := bc.qd * bc.ses
	hists := make([][4]bench.Histogram, n)
	ops := make([]bench.Op, n)
	for w := range ops {
		cl := clients[w/bc.qd]
		id := ctlBase + uint64(w)*blockSize
		h := &hists[w]
		timed := func(k int, f func() error) error {
			t0 := time.Now()
			err := f()
			if err == nil {
				h[k].Record(time.Since(t0))
			}
			return err
		}
		ops[w] = func(ctx context.Context) (int, error) {
			var hd *client.Handle
			err := timed(0, func() error { return cl.Alloc(ctx, id) })
			if err == nil {
				err = timed(1, func() (err error) { hd, err = cl.Map(ctx, id, protocol.MapReadWrite); return err })
			}
			if err == nil {
				err = timed(2, func() error { return hd.Unmap(ctx) })
			}
			if err == nil {
				err = timed(3, func() error { return cl.Free(ctx, id) })
			}
			return 0, err
		}
	}
	m := bench.Run(ctx, d, ops, 200*time.Millisecond, tick)
	out := make([]bench.Result, len(verbs), len(verbs)+1)
	for k, v := range verbs {
		mv := bench.Measured{Elapsed: m.Elapsed, Ops: m.Ops, Err: m.Err}
		for w := range hists {
			mv.Latency.Merge(&hists[w][k])
		}
		out[k] = bench.NewResult(bench.Case{Group: "control", Op: v, QD: bc.qd, Sessions: bc.ses}, &mv)
	}
	// The whole cycle: its rate × bench.DurableVerbsPerCycle is the
	// durable verbs per second (unmap's commit is not synced).
	out = append(out, bench.NewResult(bench.Case{Group: "control", Op: "cycle", QD: bc.qd, Sessions: bc.ses}, &m))
	return out, m.Err
}
