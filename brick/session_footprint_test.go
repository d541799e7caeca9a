package brick_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/brick-storage/brick/brick"
	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/internal/bricktest"
)

// footprintSessions is how many idle sessions BenchmarkSessionFootprint
// holds; issue 12 asks for at most 64 KiB of the brick's memory each, and
// for 4,096 of them (cmd/brickd's default --max-sessions).
const footprintSessions = 512

var quiet = slog.New(slog.DiscardHandler)

// BenchmarkSessionFootprint reports what an idle session costs the brick:
// resident memory (outside the pmem region), goroutines and fds per
// session. The clients run in a child process (TestFootprintClients), so
// that only the brick's side is counted, and each sends more pings than
// the brick posts receives, as the keep-alives of a long-idle session do,
// so that every receive slot has been touched.
func BenchmarkSessionFootprint(b *testing.B) {
	if raceDetector {
		b.Skip("the race detector's own memory grows with the sessions")
	}
	br := bricktest.Start(b, bricktest.Options{Frames: 2, StoreLogger: quiet, Lifetime: time.Hour,
		Config: brick.Config{MaxSessions: footprintSessions, Logger: quiet}})
	srv, region := br.Server, br.Region

	var per struct{ kib, goroutines, fds float64 }
	for b.Loop() {
		before := measure(b, region)
		cmd := exec.Command(os.Args[0], "-test.run=^TestFootprintClients$", "-test.count=1")
		cmd.Env = append(os.Environ(), "BRICK_FOOTPRINT_ADDR="+br.Addr, "BRICK_FOOTPRINT_N="+strconv.Itoa(footprintSessions))
		stdin, err := cmd.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
			b.Fatalf("client process: %q, %v", line, err)
		}
		if n := srv.Sessions(); n != footprintSessions {
			b.Fatalf("brick holds %d sessions, want %d", n, footprintSessions)
		}
		held := measure(b, region)
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			b.Fatalf("client process: %v", err)
		}
		for srv.Sessions() != 0 {
			time.Sleep(10 * time.Millisecond)
		}
		per.kib = float64(held.rssKiB-before.rssKiB) / footprintSessions
		per.goroutines = float64(held.goroutines-before.goroutines) / footprintSessions
		per.fds = float64(held.fds-before.fds) / footprintSessions
	}
	b.ReportMetric(per.kib, "KiB/session")
	b.ReportMetric(per.goroutines, "goroutines/session")
	b.ReportMetric(per.fds, "fds/session")
}

// TestFootprintClients is BenchmarkSessionFootprint's client process: it
// opens BRICK_FOOTPRINT_N sessions to BRICK_FOOTPRINT_ADDR, pings each
// past the brick's receive depth, says "ready" and holds them until its
// stdin closes. Without the variables it does nothing.
func TestFootprintClients(t *testing.T) {
	addr := os.Getenv("BRICK_FOOTPRINT_ADDR")
	if addr == "" {
		t.Skip("the client process of BenchmarkSessionFootprint")
	}
	n, err := strconv.Atoi(os.Getenv("BRICK_FOOTPRINT_N"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cs := make([]*client.Client, 0, n)
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	for range n {
		c, err := client.Dial(ctx, addr, client.Options{StagingSize: 4096, KeepAlive: -1})
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
		for range int(c.Hello().RecvDepth) + 1 {
			if err := c.Ping(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
}
