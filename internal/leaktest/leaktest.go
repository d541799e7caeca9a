// Package leaktest checks that a test binary ends with the goroutines and
// file descriptors it started with. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(leaktest.Main(m)) }
package leaktest

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// settle bounds how long background goroutines get to notice they are done.
const settle = 10 * time.Second

// Main runs the tests, then fails the binary if goroutines or fds leaked.
func Main(m *testing.M) int {
	if fuzzing() {
		// A fuzz run's coordinator and workers share state with the
		// fuzzing engine; their goroutines are not the tests' to account.
		return m.Run()
	}
	warmNetpoll()
	g0, fd0 := runtime.NumGoroutine(), fds()
	code := m.Run()
	if code != 0 {
		return code
	}
	if err := wait(g0, fd0); err != nil {
		fmt.Fprintln(os.Stderr, "leaktest:", err)
		return 1
	}
	return 0
}

// wait polls until the counts fall back to the baselines or settle passes.
func wait(g0, fd0 int) error {
	deadline := time.Now().Add(settle)
	for {
		g, fd := runtime.NumGoroutine(), fds()
		if g <= g0 && fd <= fd0 {
			return nil
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			return fmt.Errorf("%d goroutines (started with %d), %d fds (started with %d):\n%s",
				g, g0, fd, fd0, interesting(string(buf)))
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

// interesting drops the test runner's own goroutines from a stack dump.
func interesting(dump string) string {
	var out []string
	for _, g := range strings.Split(dump, "\n\n") {
		if strings.Contains(g, "testing.(*M).") || strings.Contains(g, "testing.tRunner") && strings.Contains(g, "leaktest") {
			continue
		}
		out = append(out, g)
	}
	return strings.Join(out, "\n\n")
}
