package ibverbs

import (
	"flag"
	"os"
	"testing"

	"github.com/brick-storage/brick/internal/leaktest"
)

// warmup, set in builds with the provider, opens what libraries keep open
// for good before the leak check's baseline.
var warmup func()

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		// The fuzzing engine keeps goroutines and pipes of its own.
		os.Exit(m.Run())
	}
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		os.Exit(m.Run())
	}
	// The first pollable file opens the runtime's netpoller (an epoll fd
	// and an eventfd) for good. Open one before leaktest takes its fd
	// baseline, or the netpoller reads as two leaked fds in a package
	// whose init touches no files.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	if warmup != nil {
		warmup()
	}
	os.Exit(leaktest.Main(m))
}
