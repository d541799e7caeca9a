package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/internal/brickdproc"
	"github.com/brick-storage/brick/protocol"
)

var brickdBin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "brick-torture-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := brickdproc.Build(dir, nil, "github.com/brick-storage/brick/cmd/brickd"); err != nil {
		fmt.Fprintln(os.Stderr, "building brickd:", err)
		return 1
	}
	brickdBin = filepath.Join(dir, "brickd")
	return m.Run()
}

// TestKillTortureShort is the CI-sized kill -9 torture: ten cycles of work,
// SIGKILL at a random moment, restart, verify. Each cycle must find
// everything acknowledged, and the kills must catch operations in flight.
func TestKillTortureShort(t *testing.T) {
	if testing.Short() {
		t.Skip("the kill -9 torture is not short")
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	r, err := killTorture(ctx, killConfig{cycles: 10, dir: dir, brickd: brickdBin, seed: uint64(time.Now().UnixNano()),
		blocks: 8, sessions: 4, maxDelay: time.Second}, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if r.cycles != 10 || r.acked.Allocs == 0 || r.acked.Writes == 0 || r.acked.InFlight == 0 || r.checked == 0 {
		t.Errorf("ten cycles should acknowledge allocs and writes, check bytes and catch operations in flight: %+v", r)
	}
	st, err := loadLog(filepath.Join(dir, "torture.log"))
	if err != nil {
		t.Fatal(err)
	}
	if st.cycles != 10 || st.totals != r.acked {
		t.Errorf("the log's checkpoint says %d cycles, %+v; the run %+v", st.cycles, st.totals, r.acked)
	}
}

// TestVerifyCatchesLoss: verify passes a brick that holds what the log
// says, and reports every kind of loss on one that does not (a wrong byte,
// a block freed behind the log's back, one allocated behind it), leaving
// the log as it was for inspection.
func TestVerifyCatchesLoss(t *testing.T) {
	ctx, d, path := tortureBrick(t)
	if _, err := work(ctx, workConfig{addr: d.Addr, log: path, duration: time.Second, blocks: 6, seed: 9, sessions: 2}); err != nil {
		t.Fatal(err)
	}
	v, err := verify(ctx, d.Addr, path)
	if err != nil || v.acked.InFlight != 0 || v.checked == 0 {
		t.Fatalf("verify after a clean run: %v, %+v", err, v)
	}

	// Break the brick behind the log's back: a byte of an acknowledged
	// write, a block it says is allocated, a block it says is free.
	st := v.verified
	written, allocated, free := -1, -1, -1
	for i, b := range st.blocks {
		switch {
		case len(b.extents) > 0 && written < 0:
			written = i
		case b.allocated && allocated < 0:
			allocated = i
		case !b.allocated && free < 0:
			free = i
		}
	}
	if written < 0 || allocated < 0 {
		t.Fatalf("a second of work left no written block and another allocated one: %+v", st.blocks)
	}
	c, err := client.Dial(ctx, d.Addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e := st.blocks[written].extents[0]
	want := make([]byte, blockSize)
	st.blocks[written].expected(st.set.id(written), want)
	h, err := c.Map(ctx, st.set.id(written), protocol.MapReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt([]byte{^want[e.Off]}, e.Off); err != nil {
		t.Fatal(err)
	}
	if err := h.Persist(ctx, e.Off, 1); err != nil {
		t.Fatal(err)
	}
	if err := h.Unmap(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Free(ctx, st.set.id(allocated)); err != nil {
		t.Fatal(err)
	}
	wantLosses := []string{
		fmt.Sprintf("block %#x: 1 of its bytes in [0, %d) differ", st.set.id(written), blockSize),
		fmt.Sprintf("block %#x: acknowledged allocated, but the brick does not have it", st.set.id(allocated)),
	}
	if free >= 0 {
		if err := c.Alloc(ctx, st.set.id(free)); err != nil {
			t.Fatal(err)
		}
		wantLosses = append(wantLosses, fmt.Sprintf("block %#x: acknowledged free, but the brick has it allocated", st.set.id(free)))
	}
	before, _ := os.ReadFile(path)
	v, err = verify(ctx, d.Addr, path)
	if !errors.Is(err, errLost) || len(v.losses) != len(wantLosses) {
		t.Fatalf("verify of a broken brick: %v, losses %q", err, v.losses)
	}
	for _, l := range wantLosses {
		if !slices.ContainsFunc(v.losses, func(s string) bool { return strings.Contains(s, l) }) {
			t.Errorf("no loss says %q: %q", l, v.losses)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("verify changed the log of a brick that lost data")
	}
}

// TestVerifyInFlightWrite: a write in flight when brickd is killed may leave
// anything in its range; verify tolerates it there (and only there), wants
// the block listed unclean, and settles the range so that the next verify
// knows every byte again.
func TestVerifyInFlightWrite(t *testing.T) {
	ctx, d, path := tortureBrick(t)
	st := newState(blockSet{base: defaultBase, n: 2})
	if err := st.writeCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	lw, err := openLog(path, st)
	if err != nil {
		t.Fatal(err)
	}
	defer lw.close()
	c, err := client.Dial(ctx, d.Addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := st.set.id(1)
	if err := c.Alloc(ctx, id); err != nil {
		t.Fatal(err)
	}
	h, err := c.Map(ctx, id, protocol.MapReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	// Half the write lands, then brickd dies before it is persisted.
	o := op{Kind: opAlloc, ID: id}
	if o, err = lw.intent(o); err == nil {
		err = lw.ack(o)
	}
	w := op{Kind: opWrite, ID: id, Off: 4096, Len: 8192, Seed: 77}
	if err == nil {
		w, err = lw.intent(w)
	}
	if err != nil {
		t.Fatal(err)
	}
	half := make([]byte, w.Len/2)
	fill(half, id, w.Seed, w.Off)
	if _, err := h.WriteAt(half, w.Off); err != nil {
		t.Fatal(err)
	}
	if err := d.stop(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d = startTestBrickd(t, filepath.Dir(path))

	v, err := verify(ctx, d.Addr, path)
	if err != nil || v.acked.InFlight != 1 || v.unclean != 1 || v.checked != blockSize-w.Len {
		t.Fatalf("verify with a write in flight: %v, %+v", err, v)
	}
	v, err = verify(ctx, d.Addr, path)
	if err != nil || v.acked.InFlight != 0 || v.checked != blockSize {
		t.Fatalf("verify after settling: %v, %+v", err, v)
	}
	if e := v.state.blocks[1].extents; len(e) != 1 || e[0] != (extent{w.Off, w.Len, w.Seed, w.Seq}) {
		t.Errorf("the settled block's extents: %+v", e)
	}
}

func startTestBrickd(t *testing.T, dir string) *brickd {
	t.Helper()
	d, err := startBrickd(brickdBin, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Kill)
	return d
}

// tortureBrick starts brickd in a fresh directory for a test of up to three
// minutes, and returns the test's context, the brickd and the path of a
// torture log beside it.
func tortureBrick(t *testing.T) (context.Context, *brickd, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	dir := t.TempDir()
	return ctx, startTestBrickd(t, dir), filepath.Join(dir, "torture.log")
}
