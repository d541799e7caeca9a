package brick_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
)

// loadDuration is how long TestLoad runs: a few seconds in make test,
// BRICK_SOAK (a Go duration) in make soak.
func loadDuration(t *testing.T) time.Duration {
	if s := os.Getenv("BRICK_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("BRICK_SOAK=%q: %v", s, err)
		}
		return d
	}
	if testing.Short() {
		return 500 * time.Millisecond
	}
	return 2 * time.Second
}

// latencies collects per-operation samples.
type latencies struct {
	mu sync.Mutex
	m  map[string][]time.Duration
}

func (l *latencies) add(op string, d time.Duration) {
	l.mu.Lock()
	l.m[op] = append(l.m[op], d)
	l.mu.Unlock()
}

func (l *latencies) report(t *testing.T, elapsed time.Duration) {
	ops := make([]string, 0, len(l.m))
	for op := range l.m {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	for _, op := range ops {
		s := l.m[op]
		slices.Sort(s)
		pct := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
		t.Logf("%-8s n=%-7d %8.0f/s  p50=%-10v p90=%-10v p99=%-10v max=%v",
			op, len(s), float64(len(s))/elapsed.Seconds(), pct(.5), pct(.9), pct(.99), s[len(s)-1])
	}
}

// TestLoad: 256 concurrent sessions doing mixed verbs and data for a
// bounded time. No operation may fail, and afterwards nothing may be left:
// no session, no map, no block, and the process's goroutines, fds and
// resident memory are back where they were before the sessions (and
// TestMain's leaktest checks the whole binary).
//
// Resident memory is compared after a short warm-up round of the same
// sessions: the first round grows what a process keeps once it has needed
// it (allocator arenas, and under the race detector its shadow memory and
// per-goroutine pools, hundreds of MiB for 256 sessions). The measured
// round must then leave it where the warm-up did; what 256 sessions would
// leak (their message and staging buffers, over 300 KiB each at the brick
// and the client) is well above the slack.
func TestLoad(t *testing.T) {
	const sessions = 256
	d := loadDuration(t)
	warmup := min(d, 2*time.Second)
	lb := &logBuffer{}
	// The brick and the test's calls live for both rounds plus set-up and
	// tear-down of the sessions (minutes under the race detector).
	e := newEnv(t, envOpts{frames: sessions + 8, log: lb, lifetime: d + warmup + 5*time.Minute})
	admin := e.dial()
	const shared = 0 // block every session maps read-only now and then
	if err := admin.Alloc(e.ctx, shared); err != nil {
		t.Fatal(err)
	}
	// The admin's own map keeps the shared block from a session's Free.
	hold, err := admin.Map(e.ctx, shared, protocol.MapReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	base := measure(t, e.region)
	loadRound(t, e, sessions, warmup)
	warm := settled(t, e.region, base, -1)
	loadRound(t, e, sessions, d)
	after := settled(t, e.region, warm, 32<<10)
	t.Logf("footprint before the sessions: %v; after the warm-up: %v; after the load: %v", base, warm, after)

	if err := hold.Free(e.ctx); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	e.waitSessions(0)
	st := e.srv.Status()
	if st.Mapped != 0 || st.Blocks != 0 || st.FreeFrames != st.Frames {
		t.Fatalf("left behind: %+v", st)
	}
	if strings := lb.String(); bytes.Contains([]byte(strings), []byte("level=ERROR")) {
		t.Fatalf("the brick logged errors:\n%s", strings)
	}
}

// loadRound dials n sessions, has each allocate and map its own block,
// runs loadSession on every one for d, and closes them once they have
// unmapped and freed their blocks. One session (TestLoad's admin) stays.
func loadRound(t *testing.T, e *env, n int, d time.Duration) {
	t.Helper()
	clients := make([]*client.Client, n)
	var wg sync.WaitGroup
	dialErr := make(chan error, n)
	sem := make(chan struct{}, 32) // stay under the listener's handshake bound
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := client.Dial(e.ctx, e.addr, client.Options{StagingSize: 64 << 10, RecvDepth: 8})
			if err != nil {
				dialErr <- err
				return
			}
			clients[i] = c
		}()
	}
	wg.Wait()
	close(dialErr)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
		e.waitSessions(1)
	}()
	for err := range dialErr {
		t.Fatalf("dial: %v", err)
	}
	if got := e.srv.Sessions(); got != n+1 {
		t.Fatalf("%d sessions at the brick, want %d", got, n+1)
	}

	lat := &latencies{m: make(map[string][]time.Duration)}
	handles := make([]*client.Handle, n)
	errc := make(chan error, n)
	for i, c := range clients { // setup: each session allocates and maps its block, half of them in one request
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			id := uint64(i+1) * block
			if i%2 == 1 { // half in one request (AllocMap)
				errc <- timed(lat, id, "alloc-map", func() error {
					var err error
					handles[i], err = c.AllocMap(e.ctx, id, protocol.MapReadWrite)
					return err
				})
				return
			}
			err := timed(lat, id, "alloc", func() error { return c.Alloc(e.ctx, id) })
			if err == nil {
				err = timed(lat, id, "map", func() error {
					var err error
					handles[i], err = c.Map(e.ctx, id, protocol.MapReadWrite)
					return err
				})
			}
			errc <- err
		}()
	}
	wg.Wait()
	for range clients {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithTimeout(e.ctx, d)
	defer cancel()
	start := time.Now()
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- loadSession(ctx, e.ctx, c, handles[i], lat)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	for range clients {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
	t.Logf("%d sessions, %v of mixed load (setup: alloc and map, or alloc-map; teardown: unmap and free):", n, elapsed.Round(time.Millisecond))
	lat.report(t, elapsed)
}

func timed(lat *latencies, id uint64, op string, f func() error) error {
	t0 := time.Now()
	err := f()
	lat.add(op, time.Since(t0))
	if err != nil {
		return fmt.Errorf("block %#x: %s: %w", id, op, err)
	}
	return nil
}

// loadSession runs one session's mix on its mapped block until ctx ends:
// data (write, read back, compare), status, list, ping, and a map of the
// shared block, now and then a Free of it that the admin's map refuses,
// and its unmap;
// then it frees its block, unmapping in the same request for half the
// sessions and with an Unmap first for the others. setup is the context
// for the verbs.
func loadSession(ctx, setup context.Context, c *client.Client, h *client.Handle, lat *latencies) error {
	id := h.ID
	rng := rand.New(rand.NewPCG(id, 1))
	buf, got := make([]byte, 16<<10), make([]byte, 16<<10)
	for i := 0; ctx.Err() == nil; i++ {
		n := 512 + rng.IntN(len(buf)-512)
		off := int64(rng.IntN(client.BlockSize - n))
		for j := range buf[:n] {
			buf[j] = byte(rng.Uint32())
		}
		var err error
		switch i % 6 {
		case 0, 1, 2:
			err = timed(lat, id, "write", func() error { _, err := h.WriteAt(buf[:n], off); return err })
			if err == nil {
				err = timed(lat, id, "read", func() error { _, err := h.ReadAt(got[:n], off); return err })
			}
			if err == nil && !bytes.Equal(got[:n], buf[:n]) {
				err = fmt.Errorf("block %#x: read back differs at %#x+%d", id, off, n)
			}
		case 3:
			err = timed(lat, id, "status", func() error { _, err := c.Status(setup); return err })
		case 4:
			err = timed(lat, id, "list", func() error { _, err := c.List(setup, id, id); return err })
			if err == nil {
				err = timed(lat, id, "ping", func() error { return c.Ping(setup) })
			}
		case 5:
			var sh *client.Handle
			err = timed(lat, id, "map-ro", func() error {
				var err error
				sh, err = c.Map(setup, 0, protocol.MapReadOnly)
				return err
			})
			// Now and then: each refusal is a debug line in the test's
			// log, which TestLoad keeps in memory and checks the size of.
			if err == nil && i/6%64 == 0 {
				err = timed(lat, id, "free-busy", func() error {
					if err := sh.Free(setup); !errors.Is(err, client.ErrBusy) {
						return fmt.Errorf("free of the shared block: got %v, want ErrBusy", err)
					}
					return nil
				})
			}
			if err == nil {
				err = timed(lat, id, "unmap", func() error { return sh.Unmap(setup) })
			}
		}
		if err != nil {
			return err
		}
	}
	if id/client.BlockSize%2 == 0 {
		return timed(lat, id, "free", func() error { return h.Free(setup) })
	}
	if err := timed(lat, id, "unmap", func() error { return h.Unmap(setup) }); err != nil {
		return err
	}
	return timed(lat, id, "free", func() error { return c.Free(setup, id) })
}
