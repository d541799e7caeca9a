package leaktest

import (
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestWait(t *testing.T) {
	defer func(s time.Duration) { settle = s }(settle)
	settle = 200 * time.Millisecond

	before, fd0 := goleak.IgnoreCurrent(), fds()
	if err := wait(before, fd0); err != nil {
		t.Fatalf("nothing started, yet: %v", err)
	}

	stop := make(chan struct{})
	go leakedForTest(stop)
	err := wait(before, fd0)
	close(stop)
	if err == nil || !strings.Contains(err.Error(), "leakedForTest") {
		t.Errorf("a goroutine left running: %v, want it named", err)
	}

	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	err = wait(before, fd0)
	f.Close()
	if err == nil || !strings.Contains(err.Error(), os.DevNull) {
		t.Errorf("a file left open: %v, want it named", err)
	}
	if err := wait(before, fd0); err != nil {
		t.Errorf("after the goroutine ended and the file was closed: %v", err)
	}
}

func leakedForTest(stop chan struct{}) { <-stop }
