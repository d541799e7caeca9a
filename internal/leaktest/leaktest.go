// Package leaktest checks that a test binary ends with the goroutines and
// file descriptors it started with: goroutines by identity with
// go.uber.org/goleak (any goroutine still running that was not there at the
// start, whatever else ended), file descriptors by count. Use it from
// TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(leaktest.Main(m)) }
//
// A suite that must leave no goroutine behind before the binary ends (the
// verbs conformance suite, run once per provider) uses Goroutines.
package leaktest

import (
	"fmt"
	"math"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// settle bounds how long background goroutines get to notice they are done
// (a variable for leaktest's own test).
var settle = 10 * time.Second

// Main runs the tests, then fails the binary if goroutines or fds leaked.
func Main(m *testing.M) int {
	if fuzzing() {
		// A fuzz run's coordinator and workers share state with the
		// fuzzing engine; their goroutines are not the tests' to account.
		return m.Run()
	}
	warmNetpoll()
	before, fd0 := goleak.IgnoreCurrent(), fds()
	code := m.Run()
	if code != 0 {
		return code
	}
	if err := wait(before, fd0); err != nil {
		fmt.Fprintln(os.Stderr, "leaktest:", err)
		return 1
	}
	return 0
}

// Goroutines notes the goroutines running now. The function it returns
// fails t if a goroutine started since is still running after settle.
func Goroutines(t testing.TB) (check func()) {
	before := goleak.IgnoreCurrent()
	return func() {
		t.Helper()
		if err := wait(before, math.MaxInt); err != nil { // no fd limit
			t.Fatalf("goroutines outlive the suite: %v", err)
		}
	}
}

// wait gives goroutines and fds until settle to go, then reports what
// stayed. goleak.Find retries for well under a second on its own.
func wait(before goleak.Option, fd0 int) error {
	deadline := time.Now().Add(settle)
	for {
		gerr := goleak.Find(before)
		fd := fds()
		if gerr == nil && fd <= fd0 {
			return nil
		}
		if time.Now().After(deadline) {
			if gerr != nil {
				return fmt.Errorf("%d fds (started with %d); %w", fd, fd0, gerr)
			}
			return fmt.Errorf("%d fds (started with %d): %s", fd, fd0, openFDs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fuzzing reports whether this binary runs as a fuzz coordinator or worker.
func fuzzing() bool {
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-test.fuzz=") || strings.HasPrefix(a, "-test.fuzzworker") {
			return true
		}
	}
	return false
}

// warmNetpoll makes the runtime open its network poller (an epoll fd and
// an eventfd that live for the rest of the process) before the baseline,
// so that they are not taken for a leak.
func warmNetpoll() {
	if l, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		l.Close()
	}
}

// fds counts this process's open file descriptors (-1 where /proc is absent).
func fds() int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(es)
}

// openFDs lists this process's open file descriptors and their targets.
func openFDs() string {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, e := range es {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		out = append(out, e.Name()+" → "+target)
	}
	return strings.Join(out, ", ")
}
